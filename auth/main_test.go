package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a service on a fresh database with one guard.
type fixture struct {
	svc   *auth.Service
	store *mongodb.Store
	keys  *auth.KeySet
	clock *clock
	guard *fieldsync.User
}

func newFixture(tb testing.TB, adjust func(*auth.Options)) *fixture {
	tb.Helper()
	f := &fixture{store: devtest.MustOpenStore(tb), clock: newClock()}
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
