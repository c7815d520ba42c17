package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

func seedDemo(ctx context.Context, app *App, out io.Writer) error {
	seeded, err := app.auth.SeedDemo(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "tenant %s: sites A=%s B=%s\n", fieldsync.DemoTenant, fieldsync.DemoSiteA, fieldsync.DemoSiteB)
	for _, s := range seeded {
		state := "exists "
		if s.Created {
			state = "created"
		}
		fmt.Fprintf(out, "user %s %-10s role=%-10s sites=%s id=%s\n", state, s.User.Username, s.User.Role, strings.Join(s.User.SiteIDs, ","), s.User.ID)
	}
	fmt.Fprintf(out, "password of every demo user: %s\n", auth.DemoPassword)
	ids := map[string]string{}
	for _, s := range seeded {
		ids[s.User.Username] = s.User.ID
	}
	open := func(ctx context.Context, o fsync.Options) (*fsync.Engine, error) {
		return fsync.Open(ctx, app.store.Sync(), o)
	}
	n, err := field.SeedDemo(ctx, open, field.DemoSeed{Users: ids, Now: time.Now()})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "demo records: %d created (sites, checkpoints, routes, a week of activity at site A)\n", n)
	return nil
}

func userAdd(ctx context.Context, app *App, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(out)
	var in auth.NewUser
	var role, sites string
	fs.StringVar(&in.TenantID, "tenant", app.cfg.DefaultTenant, "tenant (default FIELDSYNC_DEFAULT_TENANT)")
	fs.StringVar(&in.Username, "username", "", "login name, unique in the tenant")
	fs.StringVar(&in.Password, "password", "", "password (8-256 characters)")
	fs.StringVar(&in.Name, "name", "", "display name")
	fs.StringVar(&role, "role", "", "guard, technician, cs_agent, supervisor or admin")
	fs.StringVar(&in.Department, "department", "", "technicians: engineering or environment")
	fs.StringVar(&sites, "sites", "", "comma-separated site ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	in.Role = fieldsync.Role(role)
	for _, s := range strings.Split(sites, ",") {
		if s = strings.TrimSpace(s); s != "" {
			in.SiteIDs = append(in.SiteIDs, s)
		}
	}
	u, err := app.auth.CreateUser(ctx, in)
	if err != nil {
		return fmt.Errorf("user add: %s", fieldsync.ErrorMessage(err)+fieldOf(err))
	}
	fmt.Fprintf(out, "created user %s (%s) in tenant %s with id %s\n", u.Username, u.Role, u.TenantID, u.ID)
	return nil
}

func fieldOf(err error) string {
	if f := fieldsync.ErrorField(err); f != "" {
		return " (" + f + ")"
	}
	return ""
}

// runKeysRotate adds a signing key to the key directory. Running instances
// publish it at their next reload (auth.KeyReload) and sign with it
// auth.KeyActivation after its creation; the previous key keeps verifying for
// one access-token lifetime after that, so tokens already issued stay good
// until they expire. No restart, no refused token.
func runKeysRotate(cfg Config, out io.Writer) error {
	if cfg.Auth.KeyFile != "" {
		return errors.New("keys rotate: signing keys come from FIELDSYNC_JWT_KEY_FILE; rotate by moving it to FIELDSYNC_JWT_PREVIOUS_KEY_FILES and setting a new one")
	}
	if _, err := auth.LoadKeyDir(cfg.Auth.KeyDir, cfg.Auth.AccessTTL, time.Now()); err != nil {
		return err
	}
	kid, err := auth.AddKeyFile(cfg.Auth.KeyDir, time.Now())
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	fmt.Fprintf(out, "new signing key %s in %s: published within %s, signing from %s\n",
		kid, cfg.Auth.KeyDir, cfg.Auth.KeyReload, time.Now().Add(auth.KeyActivation).UTC().Format(time.RFC3339))
	return nil
}
