package mongodb_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// sideAndPlain starts two sync stores on store for schema: one that reads
// through the embedded FerretDB's side door where it can, one that asks
// the driver only; ferret reports whether store is the embedded FerretDB
// (and then the side door must be open).
func sideAndPlain(tb testing.TB, store *mongodb.Store, schema fsync.Schema) (side, plain *mongodb.SyncStore, ferret bool) {
	tb.Helper()
	ctx := context.Background()
	side, plain = store.SyncTuned(mongodb.Tuning{PointLoads: true, ScopedReads: true}), store.SyncTuned(mongodb.Tuning{})
	for _, s := range []*mongodb.SyncStore{side, plain} {
		if _, err := s.Start(ctx, schema); err != nil {
			tb.Fatal(err)
		}
	}
	ferret, err := store.IsFerretDB(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if ferret && !side.Tuning().ScopedReads {
		tb.Fatal("the embedded store opened no side door")
	}
	return side, plain, ferret
}

// TestScopedReadsMatchTheDriver stores random records and runs random
// scoped queries (a technician's or a guard's bootstrap) through a store
// that reads them through the embedded FerretDB's side door and through one
// that sends the driver's filter: both answer the same records, in the
// same order.
func TestScopedReadsMatchTheDriver(t *testing.T) {
	ctx := context.Background()
	store := devtest.MustOpenStoreDB(t, devtest.DBName(t), mongodb.Options{})
	side, plain, ferret := sideAndPlain(t, store, fsync.Schema{Collections: field.Collections(field.Options{})})

	r, rs := rand.New(rand.NewPCG(7, 17)), rand.New(rand.NewPCG(9, 19))
	people := []string{"p1", "p2", "p3", "p4"}
	sites := []string{"s1", "s2", "s3"}
	tenants := []string{"ta", "tb"}
	colls := []string{fieldsync.CollWorkOrders, fieldsync.CollInspections}
	now := time.Now().UTC().Truncate(time.Millisecond)
	var puts = map[string][]fsync.Put{}
	for i := range 400 {
		coll := colls[r.IntN(len(colls))]
		tenant := tenants[r.IntN(len(tenants))]
		id := fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
		var assignees []string
		for _, p := range people {
			if r.IntN(4) == 0 {
				assignees = append(assignees, p)
			}
		}
		created := now.Add(-time.Duration(r.IntN(30*24)) * time.Hour)
		rec := &fsync.Record{Key: tenant + "/" + coll + "/" + id, Tenant: tenant, Collection: coll, ID: id,
			SiteID: sites[r.IntN(len(sites))], Version: 1, Pos: int64(i + 1), Deleted: r.IntN(6) == 0,
			CreatedBy: people[r.IntN(len(people))], CreatedAt: created, UpdatedAt: created, UpdatedBy: "x",
			Assignees: assignees, Fields: map[string]any{"title": "t"}}
		selectable(rs, rec)
		puts[tenant] = append(puts[tenant], fsync.Put{Record: rec})
	}
	for tenant, ps := range puts {
		if _, err := plain.Commit(ctx, fsync.Commit{Tenant: tenant, Records: ps}); err != nil {
			t.Fatal(err)
		}
	}

	keys := func(recs []*fsync.Record) string {
		out := make([]string, len(recs))
		for i, rec := range recs {
			out[i] = fmt.Sprint(rec.Pos, " ", rec.Key)
		}
		return strings.Join(out, ",")
	}
	walk := func(s *mongodb.SyncStore, tenant, coll string, q fsync.Query) []*fsync.Record {
		out, _ := drain(t, s, tenant, coll, q)
		return out
	}
	// findBoth runs q through both stores, wants the same records, and returns them.
	findBoth := func(label, tenant, coll string, q fsync.Query) []*fsync.Record {
		t.Helper()
		want, err := plain.Find(ctx, tenant, coll, q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := side.Find(ctx, tenant, coll, q)
		if err != nil {
			t.Fatal(err)
		}
		if keys(got) != keys(want) {
			t.Fatalf("%s %+v on %s/%s:\nside door %s\ndriver    %s", label, q, tenant, coll, keys(got), keys(want))
		}
		return want
	}
	nonEmpty := 0
	for i := range 150 {
		rd := &fsync.Mine{User: people[r.IntN(len(people))], Creator: r.IntN(2) == 0, Assignee: r.IntN(2) == 0}
		if r.IntN(2) == 0 {
			rd.Since = now.Add(-time.Duration(r.IntN(30*24)) * time.Hour)
		}
		q := fsync.Query{Mine: rd, Live: r.IntN(2) == 0, Order: fsync.ByPosition}
		switch r.IntN(3) {
		case 0:
			q.Sites = []string{sites[r.IntN(len(sites))]}
		case 1:
			q.Sites = sites[:2]
		}
		if r.IntN(3) == 0 {
			q.After = int64(r.IntN(400))
		}
		if r.IntN(4) == 0 {
			q.Upto = q.After + int64(r.IntN(200))
		}
		if r.IntN(4) == 0 {
			q.Limit = 1 + r.IntN(20)
		}
		tenant, coll := tenants[r.IntN(len(tenants))], colls[r.IntN(len(colls))]
		want := findBoth(fmt.Sprintf("query %d %+v", i, *rd), tenant, coll, q)
		q.Limit = 0
		if w, g := walk(plain, tenant, coll, q), walk(side, tenant, coll, q); keys(g) != keys(w) {
			t.Fatalf("walk %d %+v %+v on %s/%s:\nside door %s\ndriver    %s", i, q, *rd, tenant, coll, keys(g), keys(w))
		}
		if len(want) > 0 {
			nonEmpty++
		}
	}
	// The inspections that left a guard's window: a creation range, by
	// creation, paged after a key, a page at most.
	var all []*fsync.Record
	for _, ps := range puts {
		for _, p := range ps {
			all = append(all, p.Record)
		}
	}
	windows := 0
	for i := range 100 {
		from := now.Add(-time.Duration(r.IntN(30*24)) * time.Hour)
		q := fsync.Query{Live: r.IntN(2) == 0, CreatedFrom: from, CreatedBefore: from.Add(time.Duration(1+r.IntN(10*24)) * time.Hour),
			Order: fsync.ByCreation, Limit: 1 + r.IntN(30)}
		if r.IntN(2) == 0 {
			q.Sites = sites[:1+r.IntN(len(sites))]
		}
		if r.IntN(3) == 0 {
			// From a record created exactly then, after its key.
			at := all[r.IntN(len(all))]
			q.CreatedFrom, q.CreatedAfterKey = at.CreatedAt, at.Key
		}
		want := findBoth(fmt.Sprint("window ", i), tenants[r.IntN(len(tenants))], colls[r.IntN(len(colls))], q)
		if len(want) > 0 {
			windows++
		}
	}
	if windows < 30 {
		t.Fatalf("only %d of 100 windows found records: the comparison proves little", windows)
	}
	// Each condition of a scope is one index search: SQLite parses only the
	// documents it names.
	if ferret {
		for _, rd := range []*fsync.Mine{{User: "p1", Creator: true, Assignee: true, Since: now}} {
			plan, err := mongodb.SideDoorPlan(ctx, side, "ta", fieldsync.CollInspections, fsync.Query{Mine: rd, Sites: sites[:1], Live: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("side door plan: %s", plan)
			for _, ix := range []string{"fieldsync_creator", "fieldsync_assignees", "fieldsync_created"} {
				if !strings.Contains(plan, ix) {
					t.Errorf("the side door's plan %q does not search %s", plan, ix)
				}
			}
			if strings.Contains(plan, "SCAN ") {
				t.Errorf("the side door's plan %q scans a table", plan)
			}
		}
	}
	if nonEmpty < 50 {
		t.Fatalf("only %d of 150 queries found records: the comparison proves little", nonEmpty)
	}
	// The server jobs' selections (Query.In): records holding one of some
	// values, or none, of a field or two, since a creation time or not.
	selected := 0
	for i := range 100 {
		q := fsync.Query{In: map[string][]any{}, Live: r.IntN(2) == 0, Order: fsync.ByPosition}
		for _, f := range []string{"status", "unit", "accepted_at"}[:1+r.IntN(3)] {
			q.In[f] = randomValues(r, f)
		}
		if r.IntN(3) == 0 {
			q.CreatedFrom = now.Add(-time.Duration(r.IntN(30*24)) * time.Hour)
		}
		if r.IntN(3) == 0 {
			q.Sites = sites[:1+r.IntN(len(sites))]
		}
		tenant, coll := tenants[r.IntN(len(tenants))], colls[r.IntN(len(colls))]
		want := findBoth(fmt.Sprint("selection ", i), tenant, coll, q)
		if w, g := walk(plain, tenant, coll, q), walk(side, tenant, coll, q); keys(g) != keys(w) {
			t.Fatalf("walk of selection %d %+v on %s/%s:\nside door %s\ndriver    %s", i, q, tenant, coll, keys(g), keys(w))
		}
		for _, rec := range want {
			for f, vs := range q.In {
				if v := rec.Fields[f]; !slices.Contains(vs, v) && (v != nil || !slices.Contains(vs, nil)) {
					t.Fatalf("selection %d %+v answered %s holding %s=%v", i, q, rec.Key, f, v)
				}
			}
		}
		if len(want) > 0 {
			selected++
		}
	}
	if selected < 30 {
		t.Fatalf("only %d of 100 selections found records: the comparison proves little", selected)
	}
	// A selection searches the index the front keeps for it, bounded by
	// each field it names; SQLite parses only the documents it names.
	if ferret {
		done := []any{fieldsync.WOCompleted, fieldsync.WOVerified}
		two, three := " (<expr>=? AND <expr>=?)", " (<expr>=? AND <expr>=? AND <expr>=?)"
		for _, c := range []struct {
			in           map[string][]any
			index, bound string
		}{
			{map[string][]any{"status": {nil, fieldsync.WOOpen}}, "fieldsync_jobs_", two}, // any of the three
			{map[string][]any{"status": done, "accepted_at": {nil, ""}}, "fieldsync_jobs_status", three},
			{map[string][]any{"status": done, "completed_at": {nil, ""}}, "fieldsync_jobs_completed", three},
			{map[string][]any{"status": {fieldsync.WOCancelled}, "cancelled_at": {nil, ""}}, "fieldsync_jobs_cancelled", three},
		} {
			plan, err := mongodb.SideDoorPlan(ctx, side, "ta", fieldsync.CollWorkOrders, fsync.Query{In: c.in, Live: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("side door plan of %v: %s", c.in, plan)
			n := strings.Count(plan, "SEARCH ")
			if n == 0 || strings.Count(plan, c.index) != n || strings.Count(plan, c.bound) != n || strings.Contains(plan, "SCAN ") {
				t.Errorf("the side door's plan %q of %v does not search %s%s in every branch", plan, c.in, c.index, c.bound)
			}
		}
	}
	mine, err := side.Find(ctx, "ta", fieldsync.CollWorkOrders, fsync.Query{Mine: &fsync.Mine{User: "p1", Assignee: true}, Order: fsync.ByPosition})
	if err != nil || len(mine) == 0 {
		t.Fatalf("p1's orders: %d, %v", len(mine), err)
	}
	if !slices.IsSortedFunc(mine, func(a, b *fsync.Record) int { return int(a.Pos - b.Pos) }) {
		t.Fatal("the side door's records are not in position order")
	}
	// A side door that fails degrades to the driver's query, not to an error
	// or another answer.
	if ferret {
		mongodb.BreakSideDoor(side)
		again, err := side.Find(ctx, "ta", fieldsync.CollWorkOrders, fsync.Query{Mine: &fsync.Mine{User: "p1", Assignee: true}, Order: fsync.ByPosition})
		if err != nil || keys(again) != keys(mine) {
			t.Fatalf("with the side door broken: %v, %s; want %s", err, keys(again), keys(mine))
		}
	}
}

// selectable gives rec some of the fields the jobs select by, or none.
func selectable(r *rand.Rand, rec *fsync.Record) {
	for _, f := range []string{"status", "unit", "accepted_at"} {
		if v := randomValues(r, f)[0]; v != nil {
			rec.Fields[f] = v
		}
	}
}

// randomValues is one to three values of field f, nil among them at times.
func randomValues(r *rand.Rand, f string) []any {
	pool := map[string][]any{
		"status":      {nil, fieldsync.WOOpen, fieldsync.WOAssigned, fieldsync.WOCompleted, fieldsync.WOCancelled},
		"unit":        {nil, "1-101", "1-102", "2-201"},
		"accepted_at": {nil, "2026-01-02T03:04:05.000Z"},
	}[f]
	var out []any
	for range 1 + r.IntN(3) {
		if v := pool[r.IntN(len(pool))]; !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// openSideDoorStore opens a fresh database and an engine store on it that
// reads through the side door (on the embedded store: fails when it opens none).
func openSideDoorStore(t *testing.T) (*mongodb.Store, *mongodb.SyncStore) {
	t.Helper()
	ctx := context.Background()
	store := devtest.MustOpenStoreDB(t, devtest.DBName(t), mongodb.Options{})
	s := store.SyncTuned(mongodb.Tuning{PointLoads: true, ScopedReads: true})
	if _, err := s.Start(ctx, fsync.Schema{Collections: field.Collections(field.Options{})}); err != nil {
		t.Fatal(err)
	}
	if ferret, err := store.IsFerretDB(ctx); err != nil || ferret && !s.Tuning().ScopedReads {
		t.Fatalf("the embedded store opened no side door (%v)", err)
	}
	return store, s
}

// TestAuditSweepBySideDoor sweeps more expired entries than one delete
// command takes, through the side door on the embedded store: exactly the
// tenant's entries older than the cutoff go.
func TestAuditSweepBySideDoor(t *testing.T) {
	ctx := context.Background()
	_, s := openSideDoorStore(t)
	cutoff := time.Now().UTC().Truncate(time.Millisecond)
	want := map[string][]string{}
	for _, tenant := range []string{"ta", "tb"} {
		var links []*fsync.AuditLink
		for i := range 1300 {
			at := cutoff.Add(time.Duration(i-1000) * time.Minute) // 1000 before the cutoff, one at it
			l := &fsync.AuditLink{ID: fmt.Sprint(tenant, "-", i), Tenant: tenant, Collection: fieldsync.CollWorkOrders, Record: "r", At: at}
			links = append(links, l)
			if tenant == "tb" || !at.Before(cutoff) {
				want[tenant] = append(want[tenant], l.ID)
			}
		}
		if _, err := s.Commit(ctx, fsync.Commit{Tenant: tenant, Audit: links}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SweepAudit(ctx, "ta", cutoff); err != nil {
		t.Fatal(err)
	}
	for tenant, ids := range want {
		got, err := s.AuditOf(ctx, tenant, fieldsync.CollWorkOrders, "")
		if err != nil {
			t.Fatal(err)
		}
		var gotIDs []string
		for _, l := range got {
			gotIDs = append(gotIDs, l.ID)
		}
		slices.Sort(gotIDs)
		slices.Sort(ids)
		if !slices.Equal(gotIDs, ids) {
			t.Fatalf("%s keeps %d entries, want %d", tenant, len(gotIDs), len(ids))
		}
	}
}

// TestWarnEmbeddedSize warns about the tenant past the limit, not the other.
func TestWarnEmbeddedSize(t *testing.T) {
	ctx := context.Background()
	store, s := openSideDoorStore(t)
	now := time.Now().UTC()
	for tenant, n := range map[string]int{"ta": 3, "tb": 1} {
		var puts []fsync.Put
		for i := range n {
			id := fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
			puts = append(puts, fsync.Put{Record: &fsync.Record{Key: tenant + "/work_orders/" + id, Tenant: tenant, Collection: fieldsync.CollWorkOrders,
				ID: id, SiteID: "s", Version: 1, Pos: int64(i + 1), CreatedAt: now, UpdatedAt: now, Fields: map[string]any{}}})
		}
		if _, err := s.Commit(ctx, fsync.Commit{Tenant: tenant, Records: puts}); err != nil {
			t.Fatal(err)
		}
	}
	var buf strings.Builder
	if err := store.WarnEmbeddedSize(ctx, slog.New(slog.NewTextHandler(&buf, nil)), 2); err != nil {
		t.Fatal(err)
	}
	ferret, err := store.IsFerretDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !ferret {
		if out != "" {
			t.Fatalf("warned on another server: %s", out)
		}
		return
	}
	if strings.Count(out, "level=WARN") != 1 || !strings.Contains(out, "tenant=ta") || !strings.Contains(out, "work_orders=3") || !strings.Contains(out, "docs/DEPLOY.md") {
		t.Fatalf("want one warning for ta (3 work orders) pointing at docs/DEPLOY.md, got:\n%s", out)
	}
}
