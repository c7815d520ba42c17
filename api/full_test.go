package api_test

import (
	"context"
	"sync"
	"testing"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/media"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// fullDeps are what newFullServer wired, for tests that reach behind the API
// (seed users, move the clock, read the store). Get them with depsOf(tb, srv).
type fullDeps struct {
	Store   *mongodb.Store
	Objects *media.ObjectStore
	Auth    *auth.Service
	Engine  *fsync.Engine
	Media   *media.Service
	Clock   *devtest.Clock
}

var depsByServer sync.Map // *api.Server → *fullDeps

// depsOf returns the dependencies newFullServer built srv on.
func depsOf(tb testing.TB, srv *api.Server) *fullDeps {
	tb.Helper()
	d, ok := depsByServer.Load(srv)
	if !ok {
		tb.Fatal("server not built by newFullServer")
	}
	return d.(*fullDeps)
}

// newFullServer builds the server with every service wired, over the real
// embedded stores. Issues extend it as services land.
func newFullServer(tb testing.TB) *api.Server {
	tb.Helper()
	return newFullServerWith(tb, nil)
}

// fullConfig is what newFullServerWith lets a test change before the server is built.
type fullConfig struct {
	API  api.Options
	Auth auth.Options
	// Sync configures the engine; Collections default to the field collections
	// with assignees checked against the auth service.
	Sync fsync.Options
	// Media tunes the photo-evidence service (its clock is the test clock).
	Media media.Options
	// Objects replaces the test's object store (e.g. one behind a devtest.Proxy).
	Objects *media.ObjectStore
	// Tuning, when set, fixes the engine store's tuning (default: chosen for the server).
	Tuning *mongodb.Tuning
}

// newFullServerWith is newFullServer with the options adjusted by configure (when not nil).
func newFullServerWith(tb testing.TB, configure func(*fullConfig)) *api.Server {
	tb.Helper()
	return newFullServerOn(tb, devtest.MustOpenStoreDB(tb, devtest.DBName(tb), mongodb.Options{Collections: field.Registry()}), configure)
}

// newFullServerOn is newFullServerWith over store (one opened with a monitor).
func newFullServerOn(tb testing.TB, store *mongodb.Store, configure func(*fullConfig)) *api.Server {
	tb.Helper()
	d := &fullDeps{Store: store, Objects: devtest.MustOpenObjects(tb), Clock: devtest.NewClock()}
	cfg := fullConfig{
		API: api.Options{Ready: map[string]api.Pinger{"database": d.Store, "object_store": d.Objects}, Reports: &mongodb.Reports{Store: d.Store},
			PendingMedia: mongodb.NewMediaStore(d.Store).CountPending,
			// The rate limits count real seconds: a test that runs fast on an
			// idle machine must not meet them by accident. The tests of the
			// limits set their own (abuse_test.go, attacker_test.go, ratelimit_test.go).
			AddressLimit: api.RateLimit{Rate: -1}, DeviceLimit: api.RateLimit{Rate: -1}},
		Auth: auth.Options{Store: d.Store, Keys: mustKeySet(tb), Now: d.Clock.Now, DefaultTenant: "demo",
			Password: testPasswordParams},
	}
	if configure != nil {
		configure(&cfg)
	}
	if cfg.Objects != nil {
		d.Objects = cfg.Objects
		cfg.API.Ready["object_store"] = cfg.Objects
	}
	d.Auth = auth.New(cfg.Auth)
	cfg.API.Auth = d.Auth
	settings := &mongodb.Settings{Store: d.Store}
	if cfg.API.Settings == nil {
		cfg.API.Settings = settings
	}
	if cfg.Sync.Collections == nil {
		// Settings apply at once (not cached) so a test sees its change.
		cfg.Sync.Collections = field.Collections(field.Options{Users: d.Auth, Deadlines: settings, DeadlineTTL: -1})
	}
	if cfg.Sync.Cites == nil { // the engine asks the media service, built after it
		cfg.Sync.Cites = fieldsync.CiteCheckerFunc(func(ctx context.Context, c *fieldsync.Caller, ids []string) (map[string]fieldsync.CiteRule, error) {
			return d.Media.CiteRules(ctx, c, ids)
		})
	}
	syncStore := d.Store.Sync()
	if cfg.Tuning != nil {
		syncStore = d.Store.SyncTuned(*cfg.Tuning)
	}
	engine, err := fsync.Open(context.Background(), syncStore, cfg.Sync)
	if err != nil {
		tb.Fatal(err)
	}
	d.Engine = engine
	cfg.API.Sync = engine
	cfg.API.Audit = engine
	cfg.API.Units = &field.UnitService{Engine: engine}
	cfg.Media.Now = d.Clock.Now
	cfg.Media.Collections = field.Registry()
	d.Media = media.NewService(mongodb.NewMediaStore(d.Store), d.Objects, d.Engine, cfg.Media)
	tb.Cleanup(d.Media.Wait)
	cfg.API.Media = d.Media
	srv := api.New(cfg.API)
	depsByServer.Store(srv, d)
	tb.Cleanup(func() { depsByServer.Delete(srv) })
	return srv
}

// testPasswordParams make API tests' password hashing cheap; the auth
// package's own tests run the production parameters.
var testPasswordParams = auth.PasswordParams{MemoryKiB: 256, Time: 1}

// mustKeySet returns a key set with a fresh signing key.
func mustKeySet(tb testing.TB) *auth.KeySet {
	tb.Helper()
	k, err := auth.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return auth.NewKeySet(k)
}
