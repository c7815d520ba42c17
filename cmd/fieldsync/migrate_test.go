package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/client"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestMigrationKilledHalfWayLosesNothing: a database written by the packed
// layout of earlier versions (records in sync_records_<name> with their
// fields in one binary value, and in the one sync_records collection of
// older still) is rewritten into the readable layout when the server
// starts. The first start is killed with SIGKILL in the middle of the
// migration (frozen with SIGSTOP until some records are copied and the old
// collection is still there); the next start finishes it, and every record
// is then in its collection, readable by field name and type, and pulled
// by the desk with the fields it had. A third start has nothing to do.
func TestMigrationKilledHalfWayLosesNothing(t *testing.T) {
	dir := t.TempDir()
	stores, mc := seededStores(t, dir)
	ctx := context.Background()
	db := mc.Database("fieldsync")
	inspections := db.Collection(fieldsync.CollInspections)
	before, err := inspections.CountDocuments(ctx, bson.M{})
	if err != nil {
		t.Fatal(err)
	}

	// The old layout, as the previous version wrote it, at positions of their own.
	const packedN, plainN = 4000, 200
	var counter struct {
		N int64 `bson:"n"`
	}
	if err := db.Collection("sync_counters").FindOneAndUpdate(ctx, bson.M{"_id": fieldsync.DemoTenant},
		bson.M{"$inc": bson.M{"n": int64(packedN + plainN)}}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&counter); err != nil {
		t.Fatal(err)
	}
	pos := counter.N - packedN - plainN
	created := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	want := map[string]string{} // id → description
	var packedDocs, plainDocs []any
	for i := range packedN + plainN {
		pos++
		id := uuid.NewString()
		desc := fmt.Sprintf("旧记录 %d", i)
		want[id] = desc
		fields := bson.M{"site_id": fieldsync.DemoSiteA, "category": "sanitation", "severity": "low", "description": desc,
			"observed_at": "2026-12-01T09:30:00+08:00"}
		top := bson.M{"_id": fieldsync.DemoTenant + "/inspections/" + id, "t": fieldsync.DemoTenant, "c": "inspections",
			"s": fieldsync.DemoSiteA, "v": int64(1), "p": pos, "del": false, "ca": created, "ud": "d-old"}
		if i < packedN {
			b, err := bson.Marshal(bson.M{"i": id, "cb": "u-old", "ua": created, "ub": "u-old", "f": fields,
				"m": bson.A{bson.M{"i": uuid.NewString(), "s": "applied", "v": int64(1)}}})
			if err != nil {
				t.Fatal(err)
			}
			top["b"] = b
			packedDocs = append(packedDocs, top)
		} else {
			top["i"], top["cb"], top["ua"], top["ub"], top["f"] = id, "u-old", created, "u-old", fields
			plainDocs = append(plainDocs, top)
		}
	}
	if _, err := db.Collection("sync_records_inspections").InsertMany(ctx, packedDocs); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("sync_records").InsertMany(ctx, plainDocs); err != nil {
		t.Fatal(err)
	}
	total := before + packedN + plainN

	// First start: killed half-way through the migration.
	env := append([]string{"FIELDSYNC_DATA_DIR=" + dir, "FIELDSYNC_RATE_PER_DEVICE=off", "FIELDSYNC_RATE_PER_ADDRESS=off"}, stores...)
	cmd := exec.Command(fieldsyncBinary(t), "serve")
	cmd.Env = append(os.Environ(), append(env, "FIELDSYNC_ADDR=127.0.0.1:0")...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	oldLeft := func() bool {
		names, err := db.ListCollectionNames(ctx, bson.M{"name": bson.M{"$in": bson.A{"sync_records", "sync_records_inspections"}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(names) > 0
	}
	killed := false
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline) && !killed; {
		_ = cmd.Process.Signal(syscall.SIGSTOP)
		n, err := inspections.CountDocuments(ctx, bson.M{})
		if err != nil {
			t.Fatal(err)
		}
		if n > before && oldLeft() {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			<-done
			done <- nil
			killed = true
			t.Logf("killed with %d of %d records copied", n-before, packedN+plainN)
			break
		}
		_ = cmd.Process.Signal(syscall.SIGCONT)
		select {
		case err := <-done:
			done <- err
			t.Fatalf("the first start exited before it was killed: %v", err)
		case <-time.After(3 * time.Millisecond):
		}
	}
	if !killed {
		t.Fatal("never caught the migration half-way")
	}

	// Second start: finishes the migration, then serves.
	p := startProcess(t, dir, append(env[1:], "FIELDSYNC_ADDR="+freePort(t))...)
	if oldLeft() {
		t.Fatal("the old records collections are still there after the migration")
	}
	if n, err := inspections.CountDocuments(ctx, bson.M{}); err != nil || n != total {
		t.Fatalf("inspections after the migration: got %d (%v), want %d", n, err, total)
	}
	cur, err := inspections.Find(ctx, bson.M{"created_by": "u-old"})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs) != packedN+plainN {
		t.Fatalf("migrated records by created_by: got %d, want %d", len(docs), packedN+plainN)
	}
	for _, d := range docs {
		id, _ := d["id"].(string)
		if d["description"] != want[id] || d["category"] != "sanitation" || d["tenant_id"] != fieldsync.DemoTenant {
			t.Fatalf("migrated record: got %v", d)
		}
		if _, ok := d["observed_at"].(bson.DateTime); !ok {
			t.Fatalf("migrated observed_at: got %#v, want a date", d["observed_at"])
		}
		if _, ok := d["b"]; ok {
			t.Fatalf("migrated record still packed: %v", d)
		}
	}
	desk := newDevice(t, p.Base, "cs.a1", 0)
	got := map[string]bool{}
	if _, _, err := desk.c.PullAll(ctx, "", 500, func(ch client.Change) error {
		if ch.Collection != fieldsync.CollInspections {
			return nil
		}
		var doc map[string]any
		if err := json.Unmarshal(ch.Doc, &doc); err != nil {
			return err
		}
		if d, ok := want[ch.ID]; ok {
			if doc["description"] != d || doc["observed_at"] != "2026-12-01T09:30:00+08:00" {
				return fmt.Errorf("pulled %s: got %v", ch.ID, doc)
			}
			got[ch.ID] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("the desk pulled %d of the %d migrated records", len(got), len(want))
	}
	if err := p.term(t); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	// Third start: nothing left to migrate, nothing changed.
	p = startProcess(t, dir, append(env[1:], "FIELDSYNC_ADDR="+freePort(t))...)
	if n, err := inspections.CountDocuments(ctx, bson.M{}); err != nil || n != total {
		t.Fatalf("inspections after a third start: got %d (%v), want %d", n, err, total)
	}
	_ = p.term(t)
}
