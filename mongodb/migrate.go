package mongodb

import (
	"context"
	"time"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// legacyRecordsPrefix named the records collections before the readable layout.
const legacyRecordsPrefix = "sync_records_"

// migrateBatch is how many records the migration copies per insert.
const migrateBatch = 500

// migrate rewrites the records earlier versions stored — in the one records
// collection of old (RecordsCollection), then in one collection per synced
// collection named sync_records_<name> with short names and packed fields
// (packed.go) — into the readable layout (layout.go), in the collection
// named after their synced collection. Each record is copied (insert, a
// record already there is kept: it was copied by a run that died, or
// changed since by a live instance) before its old collection is dropped,
// so a kill at any point loses nothing and the next start goes on.
// Idempotent.
func (s *SyncStore) migrate(ctx context.Context) (int, error) {
	olds := []string{RecordsCollection}
	for _, n := range s.names {
		olds = append(olds, legacyRecordsPrefix+n)
	}
	moved := 0
	for _, old := range olds {
		n, err := s.migrateFrom(ctx, s.db.Collection(old))
		if err != nil {
			return moved, err
		}
		moved += n
	}
	if moved > 0 {
		_, err := s.db.Collection(metaCollection).UpdateOne(ctx, bson.M{"_id": "migrations"},
			bson.M{"$set": bson.M{"readable_records": time.Now().UTC()}}, options.UpdateOne().SetUpsert(true))
		if err != nil {
			return moved, mapError(err)
		}
	}
	return moved, nil
}

// migrateFrom copies old's records into their collections and drops old.
func (s *SyncStore) migrateFrom(ctx context.Context, old *mongo.Collection) (int, error) {
	cur, err := old.Find(ctx, bson.M{}, options.Find().SetBatchSize(migrateBatch))
	if err != nil {
		return 0, mapError(err)
	}
	defer cur.Close(ctx)
	n := 0
	by := map[string][]any{}
	flush := func(c string) error {
		docs := by[c]
		if len(docs) == 0 {
			return nil
		}
		by[c] = nil
		s.faultAt(fsync.FaultMigrating)
		_, err := s.records(c).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		if _, ok := DuplicateKeys(err); ok {
			return nil
		}
		return mapError(err)
	}
	for cur.Next(ctx) {
		r, err := decodeRecord(cur.Current)
		if err != nil {
			return n, mapError(err)
		}
		doc, err := encodeRecord(r, s.colls[r.Collection])
		if err != nil {
			return n, mapError(err)
		}
		by[r.Collection] = append(by[r.Collection], doc)
		n++
		if len(by[r.Collection]) >= migrateBatch {
			if err := flush(r.Collection); err != nil {
				return n, err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return n, mapError(err)
	}
	for c := range by {
		if err := flush(c); err != nil {
			return n, err
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, mapError(old.Drop(ctx))
}
