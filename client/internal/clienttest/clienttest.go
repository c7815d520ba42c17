// Package clienttest serves the real fieldsync API over the embedded stores
// on a loopback port, for the client's and the simulator's tests: they talk
// to it over HTTP exactly as a phone does.
package clienttest

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"fieldsync/api"
	"fieldsync/auth"
	"fieldsync/devstack/devtest"
)

// Tenant is the tenant StartServer seeds (the demo tenant).
const Tenant = "demo"

// StartServer serves the API with every service wired on a fresh database,
// the demo tenant seeded (auth.DemoUsers, password auth.DemoPassword) and the
// rate limits off, until the test ends. It returns the base URL.
func StartServer(tb testing.TB) string {
	tb.Helper()
	ctx := context.Background()
	store := devtest.MustOpenStore(tb)
	key, err := auth.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	as := auth.New(auth.Options{Store: store, Keys: auth.NewKeySet(key), DefaultTenant: Tenant, Logger: quiet})
	if _, err := as.SeedDemo(ctx); err != nil {
		tb.Fatal(err)
	}
	off := api.RateLimit{Rate: -1}
	srv := api.New(api.Options{Logger: quiet, Auth: as, AddressLimit: off, DeviceLimit: off,
		Ready: map[string]api.Pinger{"database": store}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}
