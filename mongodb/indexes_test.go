package mongodb_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"

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
