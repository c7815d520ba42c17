//go:build !noembed

package devstack

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestFrontIndexesID shows SQLite plans FerretDB's look-up by _id through
// the index the front adds to every collection's table.
func TestFrontIndexesID(t *testing.T) {
	s := startDB(t, false)
	ctx := context.Background()
	coll := connect(t, s.MongoURI).Database("front").Collection("things")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "a", "n": 1}); err != nil {
		t.Fatal(err)
	}
	db, err := s.lock.ferret.sqlite("front")
	if err != nil {
		t.Fatal(err)
	}
	table, err := TableOf(ctx, db, "things")
	if err != nil || table == "" {
		t.Fatalf("table of things: %q, %v", table, err)
	}
	// The statement FerretDB runs for {_id: <string>} (backends/sqlite/collection.go).
	plan := explain(t, db, fmt.Sprintf(`SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table), "a")
	if !strings.Contains(plan, IndexPrefix+"id") {
		t.Fatalf("query plan %q does not use the front's index", plan)
	}
	// Dropped and created again: a new table, indexed again.
	if err := coll.Drop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "b"}); err != nil {
		t.Fatal(err)
	}
	table, _ = TableOf(ctx, db, "things")
	if plan := explain(t, db, fmt.Sprintf(`SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table), "b"); !strings.Contains(plan, IndexPrefix+"id") {
		t.Fatalf("after a drop, query plan %q does not use the front's index", plan)
	}
}

func explain(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	plan, err := QueryPlan(context.Background(), db, q, args...)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestFrontCompareAndSet runs random version-checked replaces and updates
// through the front and through a filter the front leaves alone (a $gte
// that matches only the same version), on two identical collections, and
// wants the same outcome each time: the front's rewrite changes no answer.
func TestFrontCompareAndSet(t *testing.T) {
	s := startDB(t, false)
	ctx := context.Background()
	db := connect(t, s.MongoURI).Database("cas")
	fast, plain := db.Collection("fast"), db.Collection("plain")
	r := rand.New(rand.NewPCG(1, 2))
	const docs = 20
	for i := range docs {
		d := bson.M{"_id": fmt.Sprint("k", i), "_sync": bson.M{"version": int64(1)}, "tags": bson.A{"a", fmt.Sprint("t", i%3)}, "n": int32(i)}
		for _, c := range []*mongo.Collection{fast, plain} {
			if _, err := c.InsertOne(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := s.lock.ferret.casRewritten.Load()
	for step := range 300 {
		id := fmt.Sprint("k", r.IntN(docs+2)) // some do not exist
		var want any
		switch r.IntN(5) {
		case 0:
			want = int32(1 + r.IntN(4)) // another number type than stored
		case 1:
			want = float64(1 + r.IntN(4))
		case 2:
			want = "1" // another type: never equal
		default:
			want = int64(1 + r.IntN(4))
		}
		extra := bson.E{Key: "tags", Value: fmt.Sprint("t", r.IntN(3))} // an element of a stored array
		if r.IntN(2) == 0 {
			extra = bson.E{Key: "n", Value: int64(r.IntN(docs))}
		}
		var fastRes, plainRes *mongo.UpdateResult
		var err1, err2 error
		if r.IntN(2) == 0 {
			repl := bson.M{"_sync": bson.M{"version": int64(step + 10)}, "tags": bson.A{"a", fmt.Sprint("t", r.IntN(3))}, "n": int32(r.IntN(docs))}
			fastRes, err1 = fast.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "_sync.version", Value: want}, extra}, repl)
			plainRes, err2 = plain.ReplaceOne(ctx, bson.D{{Key: "_id", Value: bson.M{"$gte": id, "$lte": id}}, {Key: "_sync.version", Value: want}, extra}, repl)
		} else {
			upd := bson.M{"$set": bson.M{"_sync.version": int64(step + 10)}}
			fastRes, err1 = fast.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "_sync.version", Value: want}, extra}, upd)
			plainRes, err2 = plain.UpdateOne(ctx, bson.D{{Key: "_id", Value: bson.M{"$gte": id, "$lte": id}}, {Key: "_sync.version", Value: want}, extra}, upd)
		}
		if err1 != nil || err2 != nil {
			t.Fatalf("step %d: %v / %v", step, err1, err2)
		}
		if fastRes.MatchedCount != plainRes.MatchedCount || fastRes.ModifiedCount != plainRes.ModifiedCount {
			t.Fatalf("step %d (%s, version %v, %v): through the front matched %d modified %d, plain matched %d modified %d",
				step, id, want, extra, fastRes.MatchedCount, fastRes.ModifiedCount, plainRes.MatchedCount, plainRes.ModifiedCount)
		}
	}
	var fastDocs, plainDocs []bson.M
	for c, out := range map[*mongo.Collection]*[]bson.M{fast: &fastDocs, plain: &plainDocs} {
		cur, err := c.Find(ctx, bson.M{}, options.Find().SetSort(bson.M{"_id": 1}))
		if err != nil {
			t.Fatal(err)
		}
		if err := cur.All(ctx, out); err != nil {
			t.Fatal(err)
		}
	}
	if !reflect.DeepEqual(fastDocs, plainDocs) {
		t.Fatalf("the collections differ:\n%v\n%v", fastDocs, plainDocs)
	}
	// A bulk of several: one statement each, in one command.
	models := []mongo.WriteModel{
		mongo.NewReplaceOneModel().SetFilter(bson.M{"_id": "k1", "n": bson.M{"$exists": true}}).SetReplacement(bson.M{"x": 1}),
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: "k2"}, {Key: "missing", Value: 1}}).SetReplacement(bson.M{"x": 1}),
	}
	br, err := fast.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err != nil || br.MatchedCount != 1 {
		t.Fatalf("bulk: matched %v, err %v; want 1 (k1 by its $exists, not k2)", br, err)
	}
	// Two version-checked replaces of one document from the same version in
	// one command (a group commit with two writers of one record): the
	// first lands, the second finds the version moved on.
	sameDoc := []mongo.WriteModel{
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: "k5"}, {Key: "n", Value: int32(5)}}).SetReplacement(bson.M{"n": int32(50), "by": "first"}),
		mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: "k5"}, {Key: "n", Value: int32(5)}}).SetReplacement(bson.M{"n": int32(50), "by": "second"}),
	}
	for _, c := range []*mongo.Collection{fast, plain} {
		if _, err := c.ReplaceOne(ctx, bson.M{"_id": "k5"}, bson.M{"n": int32(5)}); err != nil {
			t.Fatal(err)
		}
		br, err := c.BulkWrite(ctx, sameDoc, options.BulkWrite().SetOrdered(false))
		if err != nil || br.MatchedCount != 1 {
			t.Fatalf("%s: two replaces of k5 from one version matched %v (err %v), want 1", c.Name(), br, err)
		}
		var got bson.M
		if err := c.FindOne(ctx, bson.M{"_id": "k5"}).Decode(&got); err != nil || got["by"] != "first" {
			t.Fatalf("%s: k5 is %v (err %v), want the first replace's", c.Name(), got, err)
		}
	}
	// Read-then-compare-and-set from two connection pools (two processes)
	// at once: every success advances the version once, through the rewrite.
	rewrote := s.lock.ferret.casRewritten.Load()
	succ, adv := versionedUpdates(t, []*mongo.Client{connect(t, s.MongoURI), connect(t, s.MongoURI)}, 4, 50)
	if succ != adv || succ == 0 {
		t.Fatalf("got %d successful compare-and-sets but the version advanced %d", succ, adv)
	}
	if s.lock.ferret.casRewritten.Load()-rewrote < 200 {
		t.Fatalf("the front rewrote %d of 200 concurrent compare-and-sets", s.lock.ferret.casRewritten.Load()-rewrote)
	}
	if n := s.lock.ferret.casRewritten.Load() - before; n < 300 {
		t.Fatalf("the front rewrote %d version-checked statements, want at least 300", n)
	}
}

// TestFrontCreatesAskedIndexes asks the front for an index before the
// collection exists and after a drop: SQLite plans a SELECT on those
// values through it each time.
func TestFrontCreatesAskedIndexes(t *testing.T) {
	s := startDB(t, false)
	ctx := context.Background()
	mdb := connect(t, s.MongoURI).Database("front")
	ask := bson.D{{Key: IndexCommand, Value: "people"}, {Key: "name", Value: "team_name"}, {Key: "paths", Value: bson.A{"team", "who.name"}}}
	if err := mdb.RunCommand(ctx, ask).Err(); err != nil {
		t.Fatal(err)
	}
	bad := bson.D{{Key: IndexCommand, Value: "people"}, {Key: "name", Value: "x"}, {Key: "paths", Value: bson.A{"a') --"}}}
	if err := mdb.RunCommand(ctx, bad).Err(); err == nil {
		t.Fatal("the front took a path that is not a plain dotted name")
	}
	db, err := s.lock.ferret.sqlite("front")
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		if _, err := mdb.Collection("people").InsertOne(ctx, bson.M{"_id": fmt.Sprint(round), "team": "a", "who": bson.M{"name": "b"}}); err != nil {
			t.Fatal(err)
		}
		table, err := TableOf(ctx, db, "people")
		if err != nil || table == "" {
			t.Fatalf("table of people: %q, %v", table, err)
		}
		// The front creates the index after it has relayed the reply of
		// the command that created the table: wait for it to appear.
		for deadline := time.Now().Add(10 * time.Second); ; {
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name LIKE ?`,
				table, "%"+IndexPrefix+"team_name").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		q := fmt.Sprintf(`SELECT 1 FROM %q WHERE _ferretdb_sjson->>'$.team' = ? AND _ferretdb_sjson->>'$.who.name' = ?`, table)
		if plan := explain(t, db, q, "a", "b"); !strings.Contains(plan, IndexPrefix+"team_name") {
			t.Fatalf("round %d: query plan %q does not use the asked index", round, plan)
		}
		if err := mdb.Collection("people").Drop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
