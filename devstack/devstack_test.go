//go:build !noembed

package devstack

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The embedded S3 gateway can run once per process, so the object store is
// tested in one test and the database tests start database-only stacks.

func startDB(t *testing.T, unlocked bool) *Stack {
	t.Helper()
	s, err := Start(context.Background(), Options{Dir: t.TempDir(), NoObjectStore: true, UnlockedWrites: unlocked})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func connect(t *testing.T, uri string) *mongo.Client {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetMaxPoolSize(8))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c
}

// incDistinct runs workers × n findOneAndUpdate $inc spread over clients and
// returns how many distinct values came back and the final counter.
func incDistinct(t *testing.T, clients []*mongo.Client, workers, n int) (distinct int, final int64) {
	t.Helper()
	ctx := context.Background()
	coll := clients[0].Database("atom").Collection("counters")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "c", "n": int64(0)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		c := clients[w%len(clients)].Database("atom").Collection("counters")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				var doc struct{ N int64 }
				err := c.FindOneAndUpdate(ctx, bson.M{"_id": "c"}, bson.M{"$inc": bson.M{"n": int64(1)}},
					options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&doc)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[doc.N] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var doc struct{ N int64 }
	if err := coll.FindOne(ctx, bson.M{"_id": "c"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return len(seen), doc.N
}

// versionedUpdates runs workers × n read-then-compare-and-set updates on one
// document's version and returns the successes and the version's advance.
func versionedUpdates(t *testing.T, clients []*mongo.Client, workers, n int) (successes, advance int64) {
	t.Helper()
	ctx := context.Background()
	coll := clients[0].Database("atom").Collection("docs")
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "d", "version": int64(0)}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		c := clients[w%len(clients)].Database("atom").Collection("docs")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				var doc struct{ Version int64 }
				if err := c.FindOne(ctx, bson.M{"_id": "d"}).Decode(&doc); err != nil {
					t.Error(err)
					return
				}
				res, err := c.UpdateOne(ctx, bson.M{"_id": "d", "version": doc.Version},
					bson.M{"$set": bson.M{"version": doc.Version + 1, "by": fmt.Sprint(w, "-", i)}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				successes += res.ModifiedCount
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	var doc struct{ Version int64 }
	if err := coll.FindOne(ctx, bson.M{"_id": "d"}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return successes, doc.Version
}

// forPools runs check on a fresh database with its clients split across 1 and
// then 2 connection pools (two processes sharing the database).
func forPools(t *testing.T, check func(t *testing.T, clients []*mongo.Client)) {
	for _, pools := range []int{1, 2} {
		t.Run(fmt.Sprintf("pools=%d", pools), func(t *testing.T) {
			s := startDB(t, false)
			var clients []*mongo.Client
			for range pools {
				clients = append(clients, connect(t, s.MongoURI))
			}
			check(t, clients)
		})
	}
}

func TestAtomicIncrement(t *testing.T) {
	forPools(t, func(t *testing.T, clients []*mongo.Client) {
		distinct, final := incDistinct(t, clients, 4, 250)
		if distinct != 1000 || final != 1000 {
			t.Fatalf("got %d distinct values and final %d, want 1000 and 1000", distinct, final)
		}
	})
}

func TestAtomicVersionedUpdate(t *testing.T) {
	forPools(t, func(t *testing.T, clients []*mongo.Client) {
		succ, adv := versionedUpdates(t, clients, 4, 100)
		if succ != adv {
			t.Fatalf("got %d successful updates but the version advanced %d", succ, adv)
		}
	})
}

// TestAtomicityNeedsTheLock shows the tests above can fail: with the write
// front's lock off, FerretDB loses concurrent updates (measured here: 220–330
// of 1000 increments survive), so the tests above would catch its removal.
func TestAtomicityNeedsTheLock(t *testing.T) {
	s := startDB(t, true)
	clients := []*mongo.Client{connect(t, s.MongoURI), connect(t, s.MongoURI)}
	distinct, final := incDistinct(t, clients, 4, 250)
	t.Logf("without the lock: %d distinct values, final %d (of 1000)", distinct, final)
	if distinct == 1000 && final == 1000 {
		t.Fatal("no update was lost without the lock; the atomicity tests would not catch a regression")
	}
}

func TestDatabaseKeepsDataAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for i := range 2 {
		s, err := Start(ctx, Options{Dir: dir, NoObjectStore: true})
		if err != nil {
			t.Fatal(err)
		}
		c, err := mongo.Connect(options.Client().ApplyURI(s.MongoURI))
		if err != nil {
			t.Fatal(err)
		}
		coll := c.Database("keep").Collection("x")
		if i == 0 {
			if _, err := coll.InsertOne(ctx, bson.M{"_id": "a"}); err != nil {
				t.Fatal(err)
			}
		} else {
			n, err := coll.CountDocuments(ctx, bson.M{})
			if err != nil || n != 1 {
				t.Fatalf("after restart got %d docs (err %v), want 1", n, err)
			}
		}
		_ = c.Disconnect(ctx)
		s.Close()
	}
}

func TestPauseAndResumeDatabase(t *testing.T) {
	s := startDB(t, false)
	c, err := mongo.Connect(options.Client().ApplyURI(s.MongoURI).SetServerSelectionTimeout(300 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(context.Background())
	ping := func() error {
		return c.Database("x").RunCommand(context.Background(), bson.D{{Key: "ping", Value: 1}}).Err()
	}
	if err := ping(); err != nil {
		t.Fatal(err)
	}
	s.PauseDatabase()
	if err := ping(); err == nil {
		t.Fatal("ping succeeded while the database was paused")
	}
	if err := s.ResumeDatabase(); err != nil {
		t.Fatal(err)
	}
	var err2 error
	for range 50 {
		if err2 = ping(); err2 == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("database did not come back: %v", err2)
}

// TestDataDirHasOneOwner: a second stack on a data dir in use is refused, and
// the dir is free again once the first stops.
func TestDataDirHasOneOwner(t *testing.T) {
	dir := t.TempDir()
	first, err := Start(context.Background(), Options{Dir: dir, NoObjectStore: true})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Start(context.Background(), Options{Dir: dir, NoObjectStore: true}); err == nil {
		s.Close()
		t.Fatal("a second stack started on a data dir in use")
	}
	first.Close()
	again, err := Start(context.Background(), Options{Dir: dir, NoObjectStore: true})
	if err != nil {
		t.Fatalf("data dir still locked after Close: %v", err)
	}
	again.Close()
}
