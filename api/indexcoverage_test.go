package api_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// unindexed are the query shapes that may scan, each with its reason.
var unindexed = map[string]string{
	"sync_counters find [] sort []":  "one document per tenant: a start-up and the jobs list the tenants",
	"fieldsync_meta find [] sort []": "none: listed only so a change shows",
}

// TestEveryQueryHasAnIndex drives the whole API over a store that records
// the shape of every query it sends — pushes (creates, updates, actions,
// deletes), paged and streamed bootstraps, incremental pulls, every report,
// pending evidence, a unit's history, the audit trail and its verifier, the
// server jobs — and checks each shape against the declared indexes by the
// prefix rule (mongodb.QueryShape.Index): a new query without an index on
// MongoDB fails here. On the embedded store the indexes are not created
// (they are never used there); the engine's store is tuned as on MongoDB,
// so it sends the shapes MongoDB gets. A technician's or a guard's
// bootstrap reads only their scope's records: each branch of its scope is
// served by an index that holds the scope's field.
func TestEveryQueryHasAnIndex(t *testing.T) {
	mon := mongodb.NewCommandCounter()
	store := devtest.MustOpenStoreDB(t, devtest.DBName(t), mongodb.Options{Monitor: mon, Collections: field.Registry()})
	clock := devtest.NewClock()
	srv := newFullServerOn(t, store, func(c *fullConfig) { c.Sync.Now = clock.Now; c.Tuning = &mongodb.Tuning{} })
	mon.RecordShapes()
	users := mustSeedUsers(t, srv)
	d := depsOf(t, srv)
	ctx := context.Background()
	ids := map[string]string{}
	for name, u := range users {
		ids[name] = u.ID
	}
	if _, err := field.SeedDemo(ctx, func(ctx context.Context, o fsync.Options) (*fsync.Engine, error) {
		return fsync.Open(ctx, d.Store.Sync(), o)
	}, field.DemoSeed{Users: ids, Now: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	guard := mustLoginSession(t, srv, "guard.a1", "")
	cs := mustLoginSession(t, srv, "cs.a1", "")
	tech := mustLoginSession(t, srv, "tech.a1", "")
	super := mustLoginSession(t, srv, "super.a1", "")
	admin := mustLoginSession(t, srv, "admin", "")

	cursors := map[string]string{}
	for name, s := range map[string]session{"guard": guard, "cs": cs, "tech": tech, "admin": admin} {
		_, _, cursors[name] = pullAll(t, srv, s.Headers(), "")
		mustDo(t, srv, "GET", "/v1/sync/bootstrap", "", s.Headers(), 200, nil)
	}
	ins := uuid.NewString()
	wfOne(t, srv, guard, fieldsync.StatusApplied, create(in, ins, map[string]any{"site_id": fieldsync.DemoSiteA,
		"category": "sanitation", "description": "垃圾桶满了", "photo_ids": []string{uuid.NewString()}}))
	r := wfOne(t, srv, guard, fieldsync.StatusApplied, update(in, ins, 1, map[string]any{"description": "垃圾桶满了两天"}))
	wfOne(t, srv, cs, fieldsync.StatusConflict, update(in, ins, 1, map[string]any{"description": "stale"}))
	order, w := wfOrder(t, srv, cs, nil)
	w = wfOne(t, srv, cs, fieldsync.StatusApplied, action(wo, order, w.Version, "assign", map[string]any{"assignee_id": users["tech.a1"].ID}))
	wfOne(t, srv, tech, fieldsync.StatusApplied, action(wo, order, w.Version, "accept", nil))
	wfOne(t, srv, guard, fieldsync.StatusApplied, del(in, ins, r.Version))
	for name, s := range map[string]session{"guard": guard, "cs": cs, "tech": tech, "admin": admin} {
		pullAll(t, srv, s.Headers(), cursors[name])
	}
	clock.Advance(8 * 24 * time.Hour) // the guard's window moves past the demo's inspections
	pullAll(t, srv, guard.Headers(), cursors["guard"])

	span := "&from=" + url.QueryEscape(clock.Now().AddDate(0, 0, -20).Format(time.RFC3339)) + "&to=" + url.QueryEscape(clock.Now().Format(time.RFC3339))
	siteA := "site=" + fieldsync.DemoSiteA + span
	for _, kind := range []string{"complaints", "work-orders"} {
		mustDo(t, srv, "GET", "/v1/reports/"+kind+"?"+siteA, "", cs.Headers(), 200, nil)
		mustDo(t, srv, "GET", "/v1/reports/"+kind+"/periods?period=day&"+siteA, "", cs.Headers(), 200, nil)
		mustDo(t, srv, "GET", "/v1/reports/"+kind+"/records?"+siteA, "", cs.Headers(), 200, nil)
		mustDo(t, srv, "GET", "/v1/reports/"+kind+"/sites?"+strings.TrimPrefix(span, "&"), "", admin.Headers(), 200, nil)
	}
	mustDo(t, srv, "GET", "/v1/reports/work-orders/staff?"+siteA, "", cs.Headers(), 200, nil)
	mustDo(t, srv, "GET", "/v1/media?status=pending&site_id="+fieldsync.DemoSiteA, "", cs.Headers(), 200, nil)
	mustDo(t, srv, "GET", "/v1/audit/work_orders/"+order, "", super.Headers(), 200, nil)
	if _, err := d.Engine.VerifyAudit(ctx, fieldsync.DemoTenant, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Engine.VerifyAudit(ctx, fieldsync.DemoTenant, wo, order); err != nil {
		t.Fatal(err)
	}
	var units []string
	if err := d.Engine.Records(ctx, fieldsync.DemoTenant, fieldsync.CollUnits, func(r *fsync.Record) error {
		units = append(units, r.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, u := range units[:min(1, len(units))] {
		mustDo(t, srv, "GET", "/v1/units/"+u+"/history", "", cs.Headers(), 200, nil)
	}
	if _, err := d.Engine.RunJobsOnce(ctx, fsync.JobOptions{Holder: "t", Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}

	shapes := mon.Shapes()
	if len(shapes) < 20 {
		t.Fatalf("only %d query shapes recorded: %v", len(shapes), shapes)
	}
	for _, q := range shapes {
		ix := store.Index(q)
		why, ok := unindexed[q.String()]
		if strings.HasPrefix(q.Collection, "sync_records") && len(q.Fields) == 0 {
			why, ok = "the start-up migration reads what an earlier version left (mongodb/migrate.go); gone once migrated", true
		}
		if ok {
			t.Logf("%-90s scans: %s", q, why)
			continue
		}
		if ix == "" {
			t.Errorf("no declared index serves %s", q)
			continue
		}
		t.Logf("%-90s %s", q, ix)
	}

	// A guard's and a technician's bootstraps (paged and streamed) read their
	// own records, not every record of their sites: each query of a
	// collection they read part of is bounded by an index past tenant and
	// site to that part, and a collection they read nothing of is not read.
	scoped := map[string]bool{"created_by": true, "_sync.assignees": true, "created_at": true}
	var synced []string
	for _, c := range field.Registry() {
		synced = append(synced, c.Name)
	}
	for role, s := range map[fieldsync.Role]session{fieldsync.RoleGuard: guard, fieldsync.RoleTechnician: tech} {
		mon.ForgetShapes()
		pullAll(t, srv, s.Headers(), "")
		mustDo(t, srv, "GET", "/v1/sync/bootstrap", "", s.Headers(), 200, nil)
		seen := map[string]bool{}
		for _, q := range mon.Shapes() {
			sc := fieldsync.ReadScopeOf(role, q.Collection)
			if q.Command != "find" || !slices.Contains(synced, q.Collection) || sc.All() {
				continue
			}
			bounds := store.Bounds(q)
			if sc.None || !slices.ContainsFunc(bounds, func(k string) bool { return scoped[k] }) {
				t.Errorf("%s bootstrap: %s is bounded to %v only (index %s)", role, q, bounds, store.Index(q))
			}
			seen[q.Collection] = true
			t.Logf("%s bootstrap: %-80s bounded by %v", role, q, bounds)
		}
		for _, coll := range synced {
			if sc := fieldsync.ReadScopeOf(role, coll); !sc.None && !sc.All() && !seen[coll] {
				t.Errorf("%s bootstrap: no scoped query of %s", role, coll)
			}
		}
	}
}
