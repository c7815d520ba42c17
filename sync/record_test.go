package sync_test

import (
	"context"
	"testing"
	"time"

	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// A record stored by an earlier version (in the one records collection of
// old, fields under "f", per-field versions, receipts and bookkeeping at the
// top level) is moved to its collection at the next start, read whole,
// recognises a retry, merges an update, and is stored in the packed form.
func TestRecordStoredByAnEarlierVersion(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	ctx := context.Background()
	id, created := newID(), h.now.Now().Add(-time.Hour).Truncate(time.Millisecond)
	key := tenant + "/inspections/" + id
	oldMutation := newID()
	old := bson.M{"_id": key, "t": tenant, "c": "inspections", "i": id, "s": "s1", "v": int64(2), "p": int64(1),
		"del": false, "cb": guard1.UserID, "ca": created, "ua": created, "ub": agent1.UserID, "ud": agent1.DeviceID,
		"f":  bson.M{"site_id": "s1", "category": "sanitation", "severity": "low", "description": "old layout"},
		"fv": bson.M{"severity": int64(2)}, "fd": bson.M{"severity": agent1.DeviceID},
		"m": bson.A{bson.M{"i": oldMutation, "s": "applied", "v": int64(2)}}}
	if _, err := h.store.DB.Collection(mongodb.RecordsCollection).InsertOne(ctx, old); err != nil {
		t.Fatal(err)
	}
	h = openOn(t, h.store, fsync.Options{Now: h.now.Now}) // the next start
	if n, err := h.store.DB.Collection(mongodb.RecordsCollection).CountDocuments(ctx, bson.M{}); err != nil || n != 0 {
		t.Fatalf("the old records collection still holds %d records (%v)", n, err)
	}
	r := newReplica(agent1)
	r.sync(t, h.e, 0)
	doc := r.docs["inspections/"+id].Doc
	if doc["description"] != "old layout" || doc["created_by"] != guard1.UserID || doc["updated_by"] != agent1.UserID || doc["id"] != id {
		t.Fatalf("got %v, want the record as stored", doc)
	}
	// The old receipt still answers a retry.
	retry := update("inspections", id, 1, "severity", "high")
	retry.MutationID = oldMutation
	res := h.push(agent1, retry)
	wantStatus(t, res, "duplicate")
	// A stale update of a field changed at version 2 by another device conflicts; the rest merges.
	res = h.push(guard1, update("inspections", id, 1, "severity", "high", "description", "new"))
	wantStatus(t, res, "conflict")
	var raw bson.M
	if err := h.store.DB.Collection(mongodb.RecordsCollectionFor("inspections")).FindOne(ctx, bson.M{"_id": key}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"i", "cb", "ub", "ua", "fv", "fd", "m"} {
		if _, ok := raw[k]; ok {
			t.Fatalf("rewritten record still has %q at the top level: %v", k, raw)
		}
	}
	r.sync(t, h.e, 0)
	doc = r.docs["inspections/"+id].Doc
	if doc["description"] != "new" || doc["severity"] != "low" || doc["created_by"] != guard1.UserID || doc["version"] != float64(3) && doc["version"] != int64(3) {
		t.Fatalf("after the update: %v", doc)
	}
}
