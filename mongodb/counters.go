package mongodb

import (
	"context"
	"time"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collCounters holds fixed-window counters shared by every API instance on
// the database (login throttling). Embedded FerretDB has no TTL indexes, so
// expired counters are deleted by PurgeCounters.
const collCounters = "counters"

func init() {
	declareIndex(collCounters, "expires_at", false, "expires_at")
}

type counterDoc struct {
	ID        string    `bson:"_id"`
	N         int       `bson:"n"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// Counters returns the values of the counters ids (absent ones are missing from the map), in one query.
func (s *Store) Counters(ctx context.Context, ids []string) (map[string]int, error) {
	cur, err := s.DB.Collection(collCounters).Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, mapError(err)
	}
	var docs []counterDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapError(err)
	}
	out := make(map[string]int, len(docs))
	for _, d := range docs {
		out[d.ID] = d.N
	}
	return out, nil
}

// IncrementCounter adds one to counter id, creating it to expire at expires.
func (s *Store) IncrementCounter(ctx context.Context, id string, expires time.Time) error {
	up := bson.M{"$inc": bson.M{"n": 1}, "$setOnInsert": bson.M{"expires_at": expires}}
	_, err := s.DB.Collection(collCounters).UpdateOne(ctx, bson.M{"_id": id}, up, options.UpdateOne().SetUpsert(true))
	if err != nil && fieldsync.ErrorCode(mapError(err)) == fieldsync.EConflict {
		// Two concurrent upserts of a new counter: the loser increments the winner's document.
		_, err = s.DB.Collection(collCounters).UpdateOne(ctx, bson.M{"_id": id}, up)
	}
	return mapError(err)
}

// DeleteCounters removes the counters ids.
func (s *Store) DeleteCounters(ctx context.Context, ids []string) error {
	_, err := s.DB.Collection(collCounters).DeleteMany(ctx, bson.M{"_id": bson.M{"$in": ids}})
	return mapError(err)
}

// PurgeCounters removes counters that expired before now.
func (s *Store) PurgeCounters(ctx context.Context, now time.Time) error {
	_, err := s.DB.Collection(collCounters).DeleteMany(ctx, bson.M{"expires_at": bson.M{"$lt": now}})
	return mapError(err)
}
