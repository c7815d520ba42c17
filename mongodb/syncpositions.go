package mongodb

import (
	"context"
	"errors"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A tenant's counter in CountersCollection:
//
//	{_id: tenant, n: <highest position handed out>,
//	 r: {<token>: {lb: <lower bound>, exp: ISODate, in: <instance>}},
//	 w: {<device key>: <last released position>}, lt: <logged from>}

// tenantCounter is a tenant's counter as stored.
type tenantCounter struct {
	Tenant string `bson:"_id"`
	N      int64  `bson:"n"`
	R      map[string]struct {
		LB  int64     `bson:"lb"`
		Exp time.Time `bson:"exp"`
		In  string    `bson:"in"`
	} `bson:"r"`
	W  map[string]int64 `bson:"w"`
	LT int64            `bson:"lt"`
}

func (d *tenantCounter) counter() fsync.Counter {
	c := fsync.Counter{Tenant: d.Tenant, Head: d.N, Pushed: d.W, Logged: d.LT}
	if len(d.R) > 0 {
		c.Reservations = make(map[string]fsync.Reservation, len(d.R))
		for tok, r := range d.R {
			c.Reservations[tok] = fsync.Reservation{Token: tok, Lower: r.LB, Expires: r.Exp, Instance: r.In}
		}
	}
	return c
}

func (s *SyncStore) counters() *mongo.Collection { return s.db.Collection(CountersCollection) }

// Reserve implements fsync.PositionStore: one findOneAndUpdate ($inc, and
// the reservation set; end's release in the same update).
func (s *SyncStore) Reserve(ctx context.Context, tenant string, n int, r fsync.Reservation, end *fsync.Release) (int64, error) {
	entry := bson.M{"lb": r.Lower, "exp": r.Expires}
	if r.Instance != "" {
		entry["in"] = r.Instance
	}
	update := bson.M{"$inc": bson.M{"n": int64(n)}, "$set": bson.M{"r." + r.Token: entry}}
	if end != nil {
		for k, v := range releasing(*end) {
			update[k] = v
		}
	}
	var doc struct {
		N int64 `bson:"n"`
	}
	err := s.counters().FindOneAndUpdate(ctx, bson.M{"_id": tenant}, update,
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&doc)
	if err != nil {
		return 0, mapError(err)
	}
	return doc.N, nil
}

// releasing is the counter update that ends rel.
func releasing(rel fsync.Release) bson.M {
	pushed := bson.M{}
	for dev, p := range rel.Pushed {
		pushed["w."+dev] = p
	}
	return bson.M{"$unset": bson.M{"r." + rel.Token: ""}, "$max": pushed}
}

// Release implements fsync.PositionStore.
func (s *SyncStore) Release(ctx context.Context, tenant string, rel fsync.Release) error {
	_, err := s.counters().UpdateOne(ctx, bson.M{"_id": tenant}, releasing(rel))
	return mapError(err)
}

// Counter implements fsync.PositionStore.
func (s *SyncStore) Counter(ctx context.Context, tenant string) (fsync.Counter, error) {
	var doc tenantCounter
	err := s.counters().FindOne(ctx, bson.M{"_id": tenant}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return fsync.Counter{Tenant: tenant}, nil
	}
	if err != nil {
		return fsync.Counter{}, mapError(err)
	}
	return doc.counter(), nil
}

// Head implements fsync.PositionStore.
func (s *SyncStore) Head(ctx context.Context, tenant string) (int64, error) {
	return s.counterField(ctx, tenant, "n")
}

// counterField reads one number of tenant's counter (0 when it has none).
func (s *SyncStore) counterField(ctx context.Context, tenant, field string) (int64, error) {
	var doc bson.Raw
	err := s.counters().FindOne(ctx, bson.M{"_id": tenant}, options.FindOne().SetProjection(bson.M{field: 1})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, mapError(err)
	}
	return intOf(doc.Lookup(field)), nil
}

// Forget implements fsync.PositionStore.
func (s *SyncStore) Forget(ctx context.Context, tenant string, tokens []string) error {
	if len(tokens) == 0 {
		return nil
	}
	unset := bson.M{}
	for _, t := range tokens {
		unset["r."+t] = ""
	}
	_, err := s.counters().UpdateOne(ctx, bson.M{"_id": tenant}, bson.M{"$unset": unset})
	return mapError(err)
}

// Counters implements fsync.PositionStore.
func (s *SyncStore) Counters(ctx context.Context) ([]fsync.Counter, error) {
	docs, err := findAll[tenantCounter](ctx, s.counters(), bson.M{}, options.Find().SetProjection(bson.M{"r": 1}))
	if err != nil {
		return nil, err
	}
	out := make([]fsync.Counter, len(docs))
	for i := range docs {
		out[i] = docs[i].counter()
	}
	return out, nil
}
