package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"fieldsync"
	"fieldsync/field"
)

func runImport(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "units" {
		return errors.New("usage: fieldsync import units --tenant T --file F")
	}
	app, err := OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	return importUnits(ctx, app, args[1:], stdout)
}

// importUnits imports a units CSV as the server: everything or, naming every
// bad line, nothing.
func importUnits(ctx context.Context, app *App, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("import units", flag.ContinueOnError)
	fs.SetOutput(out)
	tenant := fs.String("tenant", app.cfg.DefaultTenant, "tenant (default FIELDSYNC_DEFAULT_TENANT)")
	file := fs.String("file", "", "the CSV file (header: site_id,building,unit_number[,floor,area_m2,status,notes,owner_name,owner_phone,resident_name,resident_phone,move_in_date,household_notes])")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" || *file == "" {
		return errors.New("import units: --tenant and --file are required")
	}
	f, err := os.Open(*file)
	if err != nil {
		return fmt.Errorf("import units: %w", err)
	}
	defer f.Close()
	res, err := (&field.UnitService{Engine: app.engine}).ImportUnits(ctx, *tenant, f)
	if err != nil {
		var fe *fieldsync.Error
		if errors.As(err, &fe) && len(fe.Problems) > 0 {
			for _, p := range fe.Problems {
				fmt.Fprintf(out, "%s: %s\n", p.Field, p.Detail)
			}
			return fmt.Errorf("import units: %d bad line(s), nothing imported", len(fe.Problems))
		}
		return fmt.Errorf("import units: %s%s", fieldsync.ErrorMessage(err), fieldOf(err))
	}
	fmt.Fprintf(out, "imported %d rows: %d units created, %d updated; %d households created, %d updated\n",
		res.Rows, res.UnitsCreated, res.UnitsUpdated, res.HouseholdsCreated, res.HouseholdsUpdated)
	return nil
}
