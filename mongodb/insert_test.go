package mongodb_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"

	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestInsertDecodesOnlyTheID: the driver's InsertMany decodes each document
// into the very type the store's insert registry reads up to _id (were the
// driver to change it, the count below would fall to zero), and the ids it
// reports are what the driver's own decoder gives: a string, another type,
// an _id that is not the first element.
func TestInsertDecodesOnlyTheID(t *testing.T) {
	s := devtest.MustOpenStore(t)
	var calls atomic.Int64
	reg := bson.NewRegistry()
	reg.RegisterTypeDecoder(mongodb.IDOnly, bson.ValueDecoderFunc(func(dc bson.DecodeContext, vr bson.ValueReader, v reflect.Value) error {
		calls.Add(1)
		return mongodb.DecodeIDOnly(dc, vr, v)
	}))
	oid := bson.NewObjectID()
	docs := []any{
		bson.D{{Key: "_id", Value: "t/inspections/a"}, {Key: "n", Value: 1}, {Key: "sub", Value: bson.D{{Key: "_id", Value: "inner"}}}},
		bson.D{{Key: "a", Value: bson.A{1, "x"}}, {Key: "b", Value: bson.D{{Key: "c", Value: 2.5}}}, {Key: "_id", Value: "second"}},
		bson.D{{Key: "_id", Value: int64(42)}, {Key: "x", Value: "y"}},
		bson.D{{Key: "_id", Value: oid}},
		bson.D{{Key: "_id", Value: bson.D{{Key: "k", Value: "v"}}}},
	}
	raws := make([]any, len(docs))
	for i, d := range docs {
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		raws[i] = bson.Raw(b)
	}
	ctx := context.Background()
	got, err := s.DB.Collection("ids", options.Collection().SetRegistry(reg)).InsertMany(ctx, raws)
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.DB.Collection("ids_default").InsertMany(ctx, raws)
	if err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != int64(len(docs)) {
		t.Errorf("the insert registry's decoder ran %d times, want %d (once a document)", n, len(docs))
	}
	if !reflect.DeepEqual(got.InsertedIDs, want.InsertedIDs) {
		t.Errorf("inserted ids: got %#v, want the driver's own %#v", got.InsertedIDs, want.InsertedIDs)
	}
}
