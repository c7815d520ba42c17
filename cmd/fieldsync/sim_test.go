package main

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"fieldsync/client/sim"
)

// TestSimAgainstTheServer is the demo of the README: the simulator plays site
// A's staff against `fieldsync serve` on a seeded data dir, with offline
// periods and lost answers; every collection it plays is accepted and every
// device ends equal to a fresh bootstrap of its scope.
func TestSimAgainstTheServer(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	env := envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir})
	if err := run(ctx, []string{"seed", "demo"}, env, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	serveOnce(t, dir, func(base string) {
		accounts, err := simAccounts(ctx, &simFlags{url: base})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := sim.Run(ctx, sim.Options{BaseURL: base, Tenant: "demo", Accounts: accounts, Duration: 6 * time.Second,
			Think: 50 * time.Millisecond, OfflineRate: 0.1, OfflineFor: time.Second, LostRate: 0.05, PhotoRate: 0.3, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Diverged > 0 || rep.Converged != rep.Devices {
			t.Fatalf("%d of %d devices diverged: %v", rep.Diverged, rep.Devices, rep.Divergences)
		}
		for _, coll := range []string{"complaints", "inspections", "work_orders"} {
			if !slices.Contains(rep.Collections, coll) {
				t.Errorf("the run wrote %v, not %s", rep.Collections, coll)
			}
		}
		if n := rep.Rejected["invalid_input"]; n > 0 {
			t.Errorf("%d mutations the simulator made were invalid_input: %v", n, rep.Rejected)
		}
		if rep.Photos == 0 || rep.PhotoErrors > 0 {
			t.Errorf("photos through the resumable upload: %d stored, %d failed", rep.Photos, rep.PhotoErrors)
		}
		if rep.Applied == 0 || rep.Pulled == 0 {
			t.Fatalf("nothing happened: %+v", rep)
		}
	})
}
