package mongodb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fieldsync/devstack/devtest"

	"go.mongodb.org/mongo-driver/v2/bson"
)

func TestZZProbe(t *testing.T) {
	ctx := context.Background()
	s := devtest.MustOpenStore(t)
	c := s.DB.Collection("probe")
	var docs []any
	for i := range 20000 {
		docs = append(docs, bson.M{"_id": fmt.Sprintf("acme/inspections/%08d", i), "t": "acme", "v": int64(1), "p": int64(i), "b": make([]byte, 400)})
	}
	for i := 0; i < len(docs); i += 1000 {
		if _, err := c.InsertMany(ctx, docs[i:i+1000]); err != nil {
			t.Fatal(err)
		}
	}
	k := "acme/inspections/00012345"
	for _, tc := range []struct {
		name string
		f    bson.M
	}{
		{"lone _id", bson.M{"_id": k}},
		{"_id $in", bson.M{"_id": bson.M{"$in": bson.A{k}}}},
		{"_id and v", bson.M{"_id": k, "v": int64(1)}},
	} {
		start := time.Now()
		n := 0
		for range 5 {
			var out bson.M
			if err := c.FindOne(ctx, tc.f).Decode(&out); err != nil {
				t.Fatal(err)
			}
			n++
		}
		t.Logf("find %s: %v each", tc.name, time.Since(start)/5)
		start = time.Now()
		for range 5 {
			r, err := c.UpdateOne(ctx, tc.f, bson.M{"$set": bson.M{"x": 1}})
			if err != nil || r.MatchedCount != 1 {
				t.Fatal(err, r)
			}
		}
		t.Logf("update %s: %v each", tc.name, time.Since(start)/5)
		start = time.Now()
		for range 5 {
			r, err := c.ReplaceOne(ctx, tc.f, bson.M{"_id": k, "t": "acme", "v": int64(1), "p": int64(5), "b": make([]byte, 400)})
			if err != nil || r.MatchedCount != 1 {
				t.Fatal(err, r)
			}
		}
		t.Logf("replace %s: %v each", tc.name, time.Since(start)/5)
	}
}
