package mongodb

import (
	"context"
	"encoding/hex"
	"errors"
	"sort"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The sync engine's collections (besides the records: one collection per
// synced collection, RecordsCollectionFor).
const (
	// RecordsCollection held every record before they were kept one
	// collection per synced collection; Start moves what it finds there.
	RecordsCollection = "sync_records"
	// CountersCollection holds each tenant's counter: positions handed out,
	// live reservations, devices' last pushes, the log's "logged from" mark.
	CountersCollection = "sync_counters"
	// LogCollection holds the recent change log (synclog.go).
	LogCollection = "sync_log"
	// AuditCollection holds the audit entries of every tenant.
	AuditCollection = "sync_audit"
	// LeasesCollection holds the job leases: one document per lease naming
	// the API instance that holds it until it expires.
	LeasesCollection = "sync_leases"
	metaCollection   = "fieldsync_meta"
)

// RecordsCollectionFor names the database collection holding the records of
// the synced collection coll: the synced collection's own name
// (inspections, work_orders, …), so a person with mongosh finds them. One
// per synced collection, which also lets the embedded database, which
// scans a whole collection for every lookup, scan only the work orders to
// edit one.
func RecordsCollectionFor(coll string) string { return recordsOf(coll) }

// Tuning says how a SyncStore reads. Neither changes an answer, only what
// it costs; Start picks them for the server it finds unless SyncTuned fixed
// them.
type Tuning struct {
	// UnsortedScans walks a bootstrap's collections in the database's own
	// order (fsync.ByPositionOrCheaper) instead of by position: the first
	// page comes without waiting for the database to sort the whole
	// collection, which the embedded FerretDB does by reading all of it
	// first (real MongoDB walks its index, so it is off there). The engine
	// goes on with such a walk only through the cursor its previous page
	// left open (sync/held.go); a page that finds it gone walks that
	// collection again by position.
	UnsortedScans bool
	// PointLoads reads the few records a push must know one _id look-up at
	// a time instead of one $in query: the embedded FerretDB evaluates a
	// lone _id filter inside SQLite but decodes the whole collection for an
	// $in (measured at 20,000 records: ~0.1 s against ~1 s).
	PointLoads bool
	// ScopedReads selects a technician's or a guard's bootstrap (a query
	// with Mine) through ids read straight from the embedded FerretDB's
	// SQLite file, then loads those records by _id (ferretside.go): FerretDB
	// would decode every record of the collection to filter them. The
	// other bootstrap and pull walks read the stored documents there
	// themselves (ferretwalk.go). Only where the server is the embedded
	// FerretDB behind fieldsync's wire front on this machine; elsewhere it
	// is ignored.
	ScopedReads bool
}

// SyncStore is the sync engine's store on this database (fsync.Store):
// the records in the readable layout (layout.go), the counters, the recent
// change log, the audit entries and the job leases. One per engine.
type SyncStore struct {
	db    *mongo.Database
	store *Store
	side  *sideDoor // with Tuning.ScopedReads, when the server has one
	// indexedIDs: the server is the embedded FerretDB behind fieldsync's
	// front, which indexes its look-ups by _id.
	indexedIDs bool
	tuning     Tuning
	tuned      bool // tuning fixed by SyncTuned
	colls      map[string]*fsync.Collection
	names      []string
	fault      func(string)
}

var _ fsync.Store = (*SyncStore)(nil)

// Sync returns a new store for one sync engine on s's database, tuned at
// Start for the server it finds: on the embedded FerretDB it walks
// bootstraps unsorted and loads a push's records by _id (Tuning).
func (s *Store) Sync() *SyncStore { return &SyncStore{db: s.DB, store: s} }

// SyncTuned is Sync with the tuning t whatever the server (tests and
// benchmarks compare both).
func (s *Store) SyncTuned(t Tuning) *SyncStore {
	return &SyncStore{db: s.DB, store: s, tuning: t, tuned: true}
}

// Tuning returns the store's tuning (after Start: the one it chose).
func (s *SyncStore) Tuning() Tuning { return s.tuning }

// Start implements fsync.Store: it learns the declared collections, tunes
// the store for the server and rewrites the records an earlier version
// stored (migrate.go).
func (s *SyncStore) Start(ctx context.Context, schema fsync.Schema) (int, error) {
	s.colls = make(map[string]*fsync.Collection, len(schema.Collections))
	s.names = s.names[:0]
	for _, c := range schema.Collections {
		s.colls[c.Name] = c
		s.names = append(s.names, c.Name)
	}
	sort.Strings(s.names)
	s.fault = schema.Fault
	if !s.tuned {
		ferret, err := (&Store{DB: s.db}).IsFerretDB(ctx)
		if err != nil {
			return 0, err
		}
		s.tuning = Tuning{UnsortedScans: ferret, PointLoads: ferret, ScopedReads: ferret}
	}
	if s.tuning.ScopedReads || s.tuning.PointLoads {
		side, err := s.store.sideDoor(ctx)
		if err != nil {
			return 0, err
		}
		// Behind fieldsync's front a look-up by _id is an index probe
		// (devstack/ferretfront.go), cheaper than an $in however many.
		s.indexedIDs = side != nil
		if s.tuning.ScopedReads {
			s.side = side
			s.tuning.ScopedReads = side != nil
		}
		if s.side != nil {
			if err := askIndexes(ctx, s.db); err != nil {
				return 0, mapError(err)
			}
			if err := askWalkIndexes(ctx, s.db, s.names); err != nil {
				return 0, mapError(err)
			}
		}
	}
	return s.migrate(ctx)
}

func (s *SyncStore) faultAt(point string) {
	if s.fault != nil {
		s.fault(point)
	}
}

func (s *SyncStore) records(coll string) *mongo.Collection { return s.db.Collection(recordsOf(coll)) }

// CursorKey implements fsync.Store: the key is kept in fieldsync_meta.
func (s *SyncStore) CursorKey(ctx context.Context, key []byte) ([]byte, error) {
	meta := s.db.Collection(metaCollection)
	_, err := meta.UpdateOne(ctx, bson.M{"_id": "sync_cursor_key"},
		bson.M{"$setOnInsert": bson.M{"key": hex.EncodeToString(key)}}, options.UpdateOne().SetUpsert(true))
	if err := mapError(err); err != nil && fieldsync.ErrorCode(err) != fieldsync.EConflict {
		return nil, err
	}
	var doc struct{ Key string }
	if err := meta.FindOne(ctx, bson.M{"_id": "sync_cursor_key"}).Decode(&doc); err != nil {
		return nil, mapError(err)
	}
	k, err := hex.DecodeString(doc.Key)
	if err != nil {
		return nil, fieldsync.WrapError(fieldsync.EInternal, "stored cursor key unreadable", err)
	}
	return k, nil
}

// ResetCursorKey replaces the cursor key every engine on the store shares
// with key: every cursor handed out before then expires (the sync engine
// answers it cursor_expired and the phone bootstraps again), which is what
// a database restored from a backup needs, since the phones' cursors may
// name positions the restored change log hands out again. Engines already
// running keep the key they read at start. Codes: unavailable, internal.
func (s *SyncStore) ResetCursorKey(ctx context.Context, key []byte) error {
	_, err := s.db.Collection(metaCollection).UpdateOne(ctx, bson.M{"_id": "sync_cursor_key"},
		bson.M{"$set": bson.M{"key": hex.EncodeToString(key)}}, options.UpdateOne().SetUpsert(true))
	return mapError(err)
}

// Claim implements fsync.LeaseStore with one atomic findOneAndUpdate: it
// matches when the lease is free, expired or already holder's; when another
// holder has it the upsert hits the unique _id and the claim fails.
func (s *SyncStore) Claim(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	err := s.db.Collection(LeasesCollection).FindOneAndUpdate(ctx,
		bson.M{"_id": name, "$or": bson.A{bson.M{"exp": bson.M{"$lte": now}}, bson.M{"holder": holder}}},
		bson.M{"$set": bson.M{"holder": holder, "exp": now.Add(ttl)}},
		options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Err()
	switch {
	case err == nil:
		return true, nil
	case mongo.IsDuplicateKeyError(err), errors.Is(err, mongo.ErrNoDocuments):
		return false, nil
	}
	return false, mapError(err)
}

// findAll returns every document of coll matching filter.
func findAll[T any](ctx context.Context, coll *mongo.Collection, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return nil, mapError(err)
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, mapError(err)
	}
	return out, nil
}
