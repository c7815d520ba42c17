package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// errAuditBroken is returned (exit status 1) when a chain is broken.
var errAuditBroken = errors.New("audit verify: broken chain")

func runAudit(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if len(args) < 1 || args[0] != "verify" {
		return errors.New("usage: fieldsync audit verify --tenant T [--collection C [--id ID]]")
	}
	app, err := OpenApp(ctx, cfg, newLogger(cfg, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	return auditVerify(ctx, app, args[1:], stdout)
}

// auditVerify walks the audit chains of a tenant (a collection, a record)
// and prints the outcome and every broken link.
func auditVerify(ctx context.Context, app *App, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(out)
	tenant := fs.String("tenant", app.cfg.DefaultTenant, "tenant (default FIELDSYNC_DEFAULT_TENANT)")
	coll := fs.String("collection", "", "only this collection")
	id := fs.String("id", "", "only this record (with --collection)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tenant == "" {
		return errors.New("audit verify: --tenant is required")
	}
	if *id != "" && *coll == "" {
		return errors.New("audit verify: --id needs --collection")
	}
	v, err := app.engine.VerifyAudit(ctx, *tenant, *coll, *id)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	fmt.Fprintf(out, "records %d, entries %d, uncommitted %d, broken %d\n", v.Records, v.Entries, v.Uncommitted, len(v.Problems))
	for _, p := range v.Problems {
		fmt.Fprintf(out, "BROKEN %s/%s version %d: %s\n", p.Collection, p.RecordID, p.Version, p.Detail)
	}
	if len(v.Problems) > 0 {
		return errAuditBroken
	}
	fmt.Fprintln(out, "ok")
	return nil
}
