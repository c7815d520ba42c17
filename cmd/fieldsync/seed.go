package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"fieldsync"
	"fieldsync/auth"
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
