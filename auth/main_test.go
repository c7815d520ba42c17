package auth_test

import (
	"context"
	"testing"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// fixture is a service on a fresh database with one guard.
type fixture struct {
	svc   *auth.Service
	store *mongodb.Store
	keys  *auth.KeySet
	clock *devtest.Clock
	guard *fieldsync.User
}

func newFixture(tb testing.TB, adjust func(*auth.Options)) *fixture {
	tb.Helper()
	f := &fixture{store: devtest.MustOpenStore(tb), clock: devtest.NewClock()}
	k, err := auth.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	f.keys = auth.NewKeySet(k)
	opts := auth.Options{Store: f.store, Keys: f.keys, Now: f.clock.Now}
	if adjust != nil {
		adjust(&opts)
	}
	f.svc = auth.New(opts)
	f.guard, err = f.svc.CreateUser(context.Background(), auth.NewUser{
		TenantID: "t1", Username: "Guard.One", Password: "correct horse", Name: "Guard One",
		Role: fieldsync.RoleGuard, SiteIDs: []string{"site-a"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func (f *fixture) login(tb testing.TB, device string) *auth.Tokens {
	tb.Helper()
	t, err := f.svc.Login(context.Background(), auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "correct horse", DeviceID: device, Addr: "10.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := fieldsync.ErrorCode(err); got != code {
		tb.Fatalf("got error %v (code %q), want code %q", err, got, code)
	}
}
