package client_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"fieldsync/auth"
	"fieldsync/client"
	"fieldsync/client/internal/clienttest"
	"fieldsync/devstack/devtest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

func mustLogin(tb testing.TB, base, user, password, device string) *client.Client {
	tb.Helper()
	c, err := client.New(base, client.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Login(context.Background(), client.Credentials{Username: user, Password: password, DeviceID: device, Tenant: clienttest.Tenant}); err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestLoginRefreshAndAdminAgainstRealServer drives the auth half of the
// contract through the client: login, refresh rotation, admin user creation
// (and its conflict), and a wrong password as a typed problem.
func TestLoginRefreshAndAdminAgainstRealServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := clienttest.StartServer(t)

	c := mustLogin(t, base, "guard.a1", auth.DemoPassword, "phone-1")
	if u := c.User(); u.Role != "guard" || len(u.SiteIDs) != 1 {
		t.Fatalf("got user %+v, want guard.a1 with one site", u)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	admin := mustLogin(t, base, "admin", auth.DemoPassword, "admin-desk")
	nu := client.NewUser{Username: "client-test-tech", Password: "long-enough-pass", Name: "Client Test", Role: "technician",
		Department: "engineering", SiteIDs: []string{"site-x"}}
	u, err := admin.CreateUser(ctx, nu)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == "" || u.Role != "technician" {
		t.Fatalf("got %+v, want the new technician", u)
	}
	_, err = admin.CreateUser(ctx, nu)
	var p *client.Problem
	if !errors.As(err, &p) || p.Status != http.StatusConflict {
		t.Fatalf("got %v creating the same user again, want a 409 problem", err)
	}
	tech := mustLogin(t, base, nu.Username, nu.Password, "tech-phone")
	if tech.User().ID != u.ID {
		t.Fatalf("got user id %q, want %q", tech.User().ID, u.ID)
	}

	bad, _ := client.New(base, client.Options{})
	_, err = bad.Login(ctx, client.Credentials{Username: "guard.a1", Password: "wrong-password", DeviceID: "x", Tenant: clienttest.Tenant})
	if !errors.As(err, &p) || p.Status != http.StatusUnauthorized || p.Code != "unauthorized" {
		t.Fatalf("got %v, want 401 unauthorized", err)
	}
}
