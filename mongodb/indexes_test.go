package mongodb_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func indexNames(t *testing.T, c *mongo.Collection) []string {
	t.Helper()
	specs, err := c.Indexes().ListSpecifications(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range specs {
		names = append(names, s.Name)
	}
	return names
}

// On FerretDB the secondary indexes are pure write cost (its SQLite backend
// never uses them for a query), so only unique ones are kept, and stale ones
// from an earlier start are dropped. Real MongoDB gets every declared index.
func TestEnsureIndexesPerBackend(t *testing.T) {
	ctx := context.Background()
	s := devtest.MustOpenStoreDB(t, devtest.DBName(t), mongodb.Options{Collections: []fieldsync.SyncedCollection{{Name: "inspections"}}})
	ferret, err := s.IsFerretDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("FIELDSYNC_TEST_MONGO_URI") == "" && !ferret {
		t.Fatal("IsFerretDB = false on the embedded FerretDB")
	}
	users, recs := s.DB.Collection("users"), s.DB.Collection("inspections")
	if !slices.Contains(indexNames(t, users), "tenant_username") {
		t.Fatalf("unique index missing: %v", indexNames(t, users))
	}
	if got := slices.Contains(indexNames(t, recs), "tenant_pos"); got == ferret {
		t.Fatalf("sync_records_inspections has tenant_pos = %v on FerretDB = %v", got, ferret)
	}
	if !ferret {
		return
	}
	// An index left by an earlier version is dropped at the next start.
	if _, err := recs.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "t", Value: 1}, {Key: "p", Value: 1}},
		Options: options.Index().SetName("tenant_pos")}); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	if names := indexNames(t, recs); slices.Contains(names, "tenant_pos") {
		t.Fatalf("stale index kept: %v", names)
	}
}

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
