package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fieldsync/auth"
)

func TestAuthConfig(t *testing.T) {
	chdirPkg(t)
	for _, tc := range []struct{ name, value string }{
		{"FIELDSYNC_ACCESS_TOKEN_TTL", "15"},
		{"FIELDSYNC_JWT_KEY_RELOAD", "soon"},
		{"FIELDSYNC_ACCESS_TOKEN_TTL", "48h"},
		{"FIELDSYNC_REFRESH_TOKEN_TTL", "1m"},
		{"FIELDSYNC_REFRESH_REUSE_GRACE", "-1s"},
		{"FIELDSYNC_AUTH_CACHE_TTL", "soon"},
		{"FIELDSYNC_LOGIN_WINDOW", "0s"},
		{"FIELDSYNC_LOGIN_MAX_FAILURES_USER", "0"},
		{"FIELDSYNC_LOGIN_MAX_FAILURES_ADDR", "many"},
		{"FIELDSYNC_JWT_PREVIOUS_KEY_FILES", "/old.pem"},
		{"FIELDSYNC_TRUSTED_PROXIES", "10.0.0.0/8, lb.internal"},
	} {
		_, err := LoadConfig(envOf(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: got error %v, want one naming %s", tc.name, tc.value, err, tc.name)
		}
	}
	c, err := LoadConfig(envOf(map[string]string{"FIELDSYNC_DATA_DIR": "/srv/fs"}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if a.AccessTTL != 15*time.Minute || a.RefreshTTL != 720*time.Hour || a.ReuseGrace != 720*time.Hour || a.CacheTTL != 5*time.Second ||
		a.KeyDir != "/srv/fs/keys" || a.KeyReload != 30*time.Second || a.MaxFailsUser != 5 || a.MaxFailsAddr != 30 || a.MaxFailsAcct != 100 ||
		a.ThrottleWindow != 15*time.Minute {
		t.Fatalf("got auth defaults %+v", a)
	}
}

// TestSeedDemoUserAddAndKeys: seed demo is idempotent and prints what it
// made, user add creates a user who can log in with the default tenant, and
// keys rotate adds a signing key that is published at once.
func TestSeedDemoUserAddAndKeys(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"FIELDSYNC_DATA_DIR": dir} // no FIELDSYNC_DEFAULT_TENANT: the seed records demo
	cfg, err := LoadConfig(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out bytes.Buffer
	if err := run(ctx, []string{"seed", "demo"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "user created"); n != len(auth.DemoUsers) || !strings.Contains(out.String(), "manager.a1") {
		t.Fatalf("first seed: got %d users created:\n%s", n, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"seed", "demo"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "user exists"); n != len(auth.DemoUsers) {
		t.Fatalf("second seed: got %d existing users, want %d:\n%s", n, len(auth.DemoUsers), out.String())
	}
	add := []string{"user", "add", "--tenant", "demo", "--username", "night.guard", "--password", "night-pass-2026", "--name", "Night Guard", "--role", "guard", "--sites", "site-1,site-2"}
	if err := run(ctx, add, envOf(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, add, envOf(env), &out, io.Discard); err == nil || !strings.Contains(err.Error(), "username") {
		t.Fatalf("second user add: got %v, want a username conflict", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "keys"))
	if len(entries) != 1 {
		t.Fatalf("got %d key files, want 1 generated", len(entries))
	}
	time.Sleep(time.Second) // key files are named by their creation second
	if err := run(ctx, []string{"keys", "rotate"}, envOf(env), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	app, err := OpenApp(ctx, cfg, newLogger(cfg, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	srv := app.Server()
	for _, body := range []string{
		`{"username":"night.guard","password":"night-pass-2026","device_id":"p1"}`,
		`{"username":"super.a1","password":"demo-pass-2026","device_id":"p1"}`,
	} {
		req := httptest.NewRequest("POST", "/v1/auth/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("login %s: got %d %s", body, resp.StatusCode, b)
		}
	}
	if got := len(app.auth.Keys().JWKS(time.Now()).Keys); got != 2 {
		t.Fatalf("got %d published keys after rotation, want the new and the previous", got)
	}
}
