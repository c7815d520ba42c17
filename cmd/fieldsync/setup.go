package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"sync"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
)

// setupTTL is how long the first-run setup URL stays valid; a restart logs a new one.
const setupTTL = time.Hour

// firstRun is the one-time setup of a server whose data has no user: the
// token is logged once at start (as a loopback URL), kept only as a hash,
// expires after setupTTL and is spent by the first admin it creates.
type firstRun struct {
	app     *App
	hash    [32]byte
	expires time.Time
	now     func() time.Time

	mu    sync.Mutex
	spent bool
}

// openFirstRun returns the setup and its token when no user exists, else nil.
func openFirstRun(ctx context.Context, app *App) (*firstRun, string, error) {
	has, err := app.store.HasUsers(ctx)
	if err != nil || has {
		return nil, "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, "", err
	}
	token := hex.EncodeToString(b)
	return &firstRun{app: app, hash: sha256.Sum256([]byte(token)), expires: time.Now().Add(setupTTL), now: time.Now}, token, nil
}

// setupURL is the console's setup page on the loopback address of the
// listener's port (the setup answers only there).
func setupURL(addr net.Addr, token string) string {
	port := "8080"
	if _, p, err := net.SplitHostPort(addr.String()); err == nil {
		port = p
	}
	return "http://127.0.0.1:" + port + "/console#/setup?token=" + token
}

// CreateFirstAdmin implements api.FirstRun.
func (f *firstRun) CreateFirstAdmin(ctx context.Context, token string, in api.FirstAdmin) (*fieldsync.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := sha256.Sum256([]byte(token))
	if f.spent || f.now().After(f.expires) || subtle.ConstantTimeCompare(h[:], f.hash[:]) != 1 {
		return nil, &fieldsync.Error{Code: fieldsync.EForbidden, Message: "the setup token is wrong, spent or expired; restart the server for a new one"}
	}
	if in.Tenant == "" {
		return nil, &fieldsync.Error{Code: fieldsync.EInvalid, Field: "tenant", Message: "tenant is required"}
	}
	has, err := f.app.store.HasUsers(ctx)
	if err != nil {
		return nil, err
	}
	if has {
		f.spent = true
		return nil, &fieldsync.Error{Code: fieldsync.EConflict, Message: "a user exists already; log in instead"}
	}
	u, err := f.app.auth.CreateUser(ctx, auth.NewUser{TenantID: in.Tenant, Username: in.Username, Password: in.Password, Name: in.Name, Role: fieldsync.RoleAdmin})
	if err != nil {
		return nil, err
	}
	f.spent = true
	// Logins that name no tenant use this one (unless FIELDSYNC_DEFAULT_TENANT says otherwise).
	if err := f.app.store.SetDefaultTenantIfUnset(ctx, in.Tenant); err != nil {
		return nil, err
	}
	return u, nil
}
