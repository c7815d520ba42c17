package main

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// rawSystem is the floor: the same documents straight through the driver
// against the same database, insertMany to write and one find cursor to read.
type rawSystem struct {
	client *mongo.Client
	coll   *mongo.Collection
	page   int
}

func newRawSystem(ctx context.Context, uri, db string, page int) (*rawSystem, error) {
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, err
	}
	coll := c.Database(db).Collection("inspections")
	_ = coll.Drop(ctx)
	return &rawSystem{client: c, coll: coll, page: page}, nil
}

func (s *rawSystem) close() { _ = s.client.Disconnect(context.Background()) }

func (s *rawSystem) push(ctx context.Context, b batch) error {
	docs := make([]any, len(b.Records))
	for i, r := range b.Records {
		d := make(bson.D, 0, len(r.Fields)+1)
		d = append(d, bson.E{Key: "_id", Value: r.ID})
		for k, v := range r.Fields {
			d = append(d, bson.E{Key: k, Value: v})
		}
		docs[i] = d
	}
	_, err := s.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(true))
	return err
}

// read reads every document with _id above after (all for "") in one cursor
// of batches of batchSize, and returns the greatest _id seen (record ids are
// UUIDv7, so later records sort after earlier ones).
func (s *rawSystem) read(ctx context.Context, after string, batchSize int, seen func(id string)) (string, time.Duration, error) {
	t := time.Now()
	filter := bson.D{}
	if after != "" {
		filter = bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}}
	}
	cur, err := s.coll.Find(ctx, filter, options.Find().SetBatchSize(int32(batchSize)))
	if err != nil {
		return after, 0, err
	}
	defer cur.Close(ctx)
	last := after
	for cur.Next(ctx) {
		id, ok := cur.Current.Lookup("_id").StringValueOK()
		if !ok {
			return last, 0, fmt.Errorf("raw: document without a string _id")
		}
		seen(id)
		last = max(last, id)
	}
	return last, time.Since(t), cur.Err()
}

// pull is the driver's cursor read: one request as far as latency goes.
func (s *rawSystem) pull(ctx context.Context, after string, seen func(string)) (string, latencies, error) {
	last, d, err := s.read(ctx, after, s.page, seen)
	return last, latencies{d}, err
}

// stream is the same single cursor read (the floor for the bootstrap stream).
func (s *rawSystem) stream(ctx context.Context, seen func(string)) (bool, error) {
	_, _, err := s.read(ctx, "", s.page, seen)
	return true, err
}

func (s *rawSystem) commands(context.Context) (int64, bool) { return 0, false }
