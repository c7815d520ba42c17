package mongodb_test

import (
	"context"
	"slices"
	"testing"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// TestJobSelectionsAreIndexed runs the field jobs twice (the second looks
// at the unit of an order changed in between) on MongoDB's query path and
// wants each of their selections bounded past the tenant by the field it
// selects on — a work order's status and unit, a complaint's stage, a
// round's status — so that on MongoDB a run reads through an index only
// what time can still change, not the history.
func TestJobSelectionsAreIndexed(t *testing.T) {
	ctx := context.Background()
	mon := mongodb.NewCommandCounter()
	store := devtest.MustOpenStoreDB(t, devtest.DBName(t), mongodb.Options{Monitor: mon, Collections: field.Registry()})
	e, err := fsync.Open(ctx, store.SyncTuned(mongodb.Tuning{}), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	order := func(set map[string]any) {
		t.Helper()
		set["title"] = "t"
		if err := e.Apply(ctx, "t1", []fsync.Write{{Collection: fieldsync.CollWorkOrders, ID: uuid.NewString(), Create: true, SiteID: "s1", Set: set}}); err != nil {
			t.Fatal(err)
		}
	}
	order(map[string]any{"unit": "1-101"})
	order(map[string]any{"status": fieldsync.WOCompleted, "unit": "1-101"})
	jobs := fsync.JobOptions{Holder: "t", Jobs: field.Jobs}
	if _, err := e.RunJobsOnce(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	mon.RecordShapes()
	order(map[string]any{"unit": "1-102"})
	if _, err := e.RunJobsOnce(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	selected := map[string]bool{}
	for _, q := range mon.Shapes() {
		for _, f := range []string{"status", "stage", "unit"} {
			if !slices.Contains(q.Fields, f) {
				continue
			}
			selected[q.Collection+" "+f] = true
			if b := store.Bounds(q); !slices.Contains(b, f) {
				t.Errorf("%s: index %q bounds only %v, not %s", q, store.Index(q), b, f)
			} else {
				t.Logf("%-90s %s %v", q, store.Index(q), b)
			}
		}
	}
	for _, want := range []string{"work_orders status", "work_orders unit", "complaints stage", "patrol_rounds status"} {
		if !selected[want] {
			t.Errorf("the jobs sent no selection by %s (%v)", want, selected)
		}
	}
}
