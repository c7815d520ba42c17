package mongodb

import (
	"context"
	"fmt"

	"fieldsync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// index declares one index. Every collection's indexes are declared in
// indexes, and the synced collections' in recordIndexes; EnsureIndexes
// creates them idempotently at start-up.
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
	indexes = append(indexes, newIndex(coll, name, unique, keys...))
}

// newIndex is the index name of coll on keys (a leading '-': descending).
func newIndex(coll, name string, unique bool, keys ...string) index {
	d := bson.D{}
	for _, k := range keys {
		dir := 1
		if k[0] == '-' {
			dir, k = -1, k[1:]
		}
		d = append(d, bson.E{Key: k, Value: dir})
	}
	return index{Collection: coll, Keys: d, Unique: unique, Name: name}
}

// EnsureIndexes creates every declared index (those of the store's synced
// collections too, Options.Collections) that does not exist yet and
// records the schema version it applied in the fieldsync_meta collection.
//
// On FerretDB only the unique indexes are created, and non-unique ones left by
// an earlier start are dropped: its SQLite backend never uses a secondary index
// for a query (only a filter that is exactly a string _id is pushed down) but
// evaluates every index expression on every insert and update — measured, a
// third of the embedded database's CPU per inserted record. Unique indexes stay
// for the constraint they enforce.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	ferret, err := s.IsFerretDB(ctx)
	if err != nil {
		return err
	}
	created := 0
	for _, ix := range s.indexes {
		if ferret && !ix.Unique {
			if err := s.dropIndex(ctx, ix); err != nil {
				return err
			}
			continue
		}
		m := mongo.IndexModel{Keys: ix.Keys, Options: options.Index().SetName(ix.Name)}
		if ix.Unique {
			m.Options.SetUnique(true)
		}
		if _, err := s.DB.Collection(ix.Collection).Indexes().CreateOne(ctx, m); err != nil {
			return fmt.Errorf("mongodb: index %s.%s: %w", ix.Collection, ix.Name, mapError(err))
		}
		created++
	}
	_, err = s.DB.Collection("fieldsync_meta").UpdateOne(ctx, bson.M{"_id": "indexes"},
		bson.M{"$set": bson.M{"count": len(s.indexes), "created": created}}, options.UpdateOne().SetUpsert(true))
	return mapError(err)
}

// dropIndex removes ix if it exists.
func (s *Store) dropIndex(ctx context.Context, ix index) error {
	names, err := s.DB.Collection(ix.Collection).Indexes().ListSpecifications(ctx)
	if err != nil {
		return fmt.Errorf("mongodb: indexes of %s: %w", ix.Collection, mapError(err))
	}
	for _, n := range names {
		if n.Name == ix.Name {
			if err := s.DB.Collection(ix.Collection).Indexes().DropOne(ctx, ix.Name); err != nil {
				return fmt.Errorf("mongodb: drop index %s.%s: %w", ix.Collection, ix.Name, mapError(err))
			}
		}
	}
	return nil
}

// IsFerretDB reports whether the server is FerretDB (its buildInfo names its
// own version beside the MongoDB one it emulates).
func (s *Store) IsFerretDB(ctx context.Context) (bool, error) {
	var info bson.M
	if err := s.DB.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("mongodb: buildInfo: %w", mapError(err))
	}
	_, ok := info["ferretdbVersion"]
	return ok, nil
}

// jobSelection is an index of the server jobs' selections (field.Jobs):
// after the tenant, the fields whose values select the records that time
// can still change, so that a run reads those and not the history.
type jobSelection struct {
	coll, name string
	paths      []string
}

// jobSelections serve the jobs' selections: the work orders by status (a
// finished order is read only while a time its flags count from is
// missing: accepted, completed or cancelled — an index each, so that each
// selection is one search, not a scan of the finished orders), a unit's
// orders (the repeat repairs of the orders changed since the last run),
// the complaints by stage, the rounds by status and creation (the ended
// ones of the last days). MongoDB gets them as indexes of the records (recordIndexes), the
// embedded FerretDB as indexes of its SQLite tables (sideIndexes).
var jobSelections = []jobSelection{
	{fieldsync.CollWorkOrders, "jobs_status", []string{"status", "accepted_at"}},
	{fieldsync.CollWorkOrders, "jobs_completed", []string{"status", "completed_at"}},
	{fieldsync.CollWorkOrders, "jobs_cancelled", []string{"status", "cancelled_at"}},
	{fieldsync.CollWorkOrders, "jobs_unit", []string{"unit"}},
	{fieldsync.CollComplaints, "jobs_stage", []string{"stage"}},
	{fieldsync.CollPatrolRounds, "jobs_status", []string{"status", keyCreated}},
}

// jobIndexes are the MongoDB indexes of jobSelections on the records of coll.
func jobIndexes(coll string) []index {
	var out []index
	for _, j := range jobSelections {
		if j.coll == coll {
			out = append(out, newIndex(recordsOf(coll), j.name, false, append([]string{recTenant}, j.paths...)...))
		}
	}
	return out
}
