package mongodb

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// index declares one index. Every collection's indexes are declared in
// Indexes and created idempotently at start-up by EnsureIndexes.
type index struct {
	Collection string
	Keys       bson.D
	Unique     bool
	Name       string
}

// indexes is the single declaration of every index fieldsync relies on. The
// adapters' files append to it in their init functions, beside their queries.
var indexes []index

func declareIndex(coll, name string, unique bool, keys ...string) {
	d := bson.D{}
	for _, k := range keys {
		dir := 1
		if k[0] == '-' {
			dir, k = -1, k[1:]
		}
		d = append(d, bson.E{Key: k, Value: dir})
	}
	indexes = append(indexes, index{Collection: coll, Keys: d, Unique: unique, Name: name})
}

// EnsureIndexes creates every declared index that does not exist yet and
// records the schema version it applied in the fieldsync_meta collection.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	for _, ix := range indexes {
		m := mongo.IndexModel{Keys: ix.Keys, Options: options.Index().SetName(ix.Name)}
		if ix.Unique {
			m.Options.SetUnique(true)
		}
		if _, err := s.DB.Collection(ix.Collection).Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("mongodb: index %s.%s: %w", ix.Collection, ix.Name, mapError(err))
		}
	}
	_, err := s.DB.Collection("fieldsync_meta").UpdateOne(ctx, bson.M{"_id": "indexes"},
		bson.M{"$set": bson.M{"count": len(indexes)}}, options.UpdateOne().SetUpsert(true))
	return mapError(err)
}
