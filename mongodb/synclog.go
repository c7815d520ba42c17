package mongodb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	fsync "fieldsync/sync"

	"github.com/klauspost/compress/s2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The recent change log (fsync.ChangeLog) in LogCollection. Every record
// carries the position of its latest change, so the records are their own
// change log; but reading the changes after a position from them needs an
// index on it, and the embedded FerretDB uses none: it decodes the whole
// collection for every query (and even a lookup by _id is a table scan
// underneath). So each change is also written, as a copy of the record in
// one binary value, to a small collection holding only the last
// fsync.Options.LogWindow positions of each tenant. An incremental pull or
// the event poller reads that window — a few thousand small documents — not
// every record.
//
// Commit writes the entries after their records; trimming raises the
// tenant's "logged from" mark (lt, in its counter) first and deletes below
// it after, and ReadLog checks the mark again after its query.
const (
	// maxLogCopy is the largest record copied into the window; a larger one
	// is logged by its key and read from the records. A write's copies (at most
	// 500 mutations and their actions' writes) stay far below MongoDB's 16 MiB
	// document limit.
	maxLogCopy = 8 << 10
)

// logDoc is one write's changes in the window: the positions lo..hi of one
// reservation. One document per write, its entries packed in one binary
// value: FerretDB's cost is per document and per structured value, and it
// decodes the whole window for every read and trim.
type logDoc struct {
	ID     string `bson:"_id"` // tenant/lo-hi
	Tenant string `bson:"t"`
	Lo     int64  `bson:"p"`
	Hi     int64  `bson:"q"`
	Packed []byte `bson:"r"` // logEntries (BSON), S2-compressed
}

type logEntries struct {
	E []logEntry `bson:"e"`
}

// logEntry is one change: a copy of the record as written, or its key when it
// was too large to copy.
type logEntry struct {
	Pos  int64  `bson:"p"`
	Copy []byte `bson:"r,omitempty"`
	Key  string `bson:"k,omitempty"`
}

// logWrites enters recs (stored documents just written under one
// reservation) in the window, in documents of at most fsync.MaxMutations
// changes. The same changes entered again (a relog racing a live writer)
// are harmless: a reader keeps each record once.
func (s *SyncStore) logWrites(ctx context.Context, tenant string, recs []bson.Raw) error {
	var docs []any
	for len(recs) > 0 {
		n := min(len(recs), fsync.MaxMutations)
		d, err := logDocOf(tenant, recs[:n])
		if err != nil {
			return mapError(err)
		}
		docs, recs = append(docs, d), recs[n:]
	}
	if len(docs) == 0 {
		return nil
	}
	_, err := s.db.Collection(LogCollection).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if _, ok := DuplicateKeys(err); ok {
		return nil
	}
	return mapError(err)
}

func logDocOf(tenant string, recs []bson.Raw) (logDoc, error) {
	var d logDoc
	es := logEntries{E: make([]logEntry, 0, len(recs))}
	for i, doc := range recs {
		pos, ok := doc.Lookup(keySync, "position").Int64OK()
		if !ok {
			return d, fmt.Errorf("mongodb: log: a record without a position")
		}
		le := logEntry{Pos: pos}
		if len(doc) <= maxLogCopy {
			le.Copy = doc
		} else {
			le.Key, _ = doc.Lookup("_id").StringValueOK()
		}
		es.E = append(es.E, le)
		if i == 0 {
			d.Lo, d.Hi = pos, pos
		}
		d.Lo, d.Hi = min(d.Lo, pos), max(d.Hi, pos)
	}
	d.Tenant = tenant
	b, err := bson.Marshal(es)
	if err != nil {
		return d, fmt.Errorf("mongodb: log: %w", err)
	}
	// Compressed: FerretDB's cost of storing, reading and trimming the window
	// grows with its bytes (it base64-decodes every value it scans).
	d.ID, d.Packed = fmt.Sprintf("%s/%016d-%016d", tenant, d.Lo, d.Hi), s2.Encode(nil, b)
	return d, nil
}

// ReadLog implements fsync.ChangeLog: an entry whose record was logged again
// later in the range is left out (the later one carries it at its latest
// version).
func (s *SyncStore) ReadLog(ctx context.Context, tenant string, from, to int64) ([]*fsync.Record, bool, error) {
	recs, err := s.readLog(ctx, tenant, from, to)
	if err != nil {
		return nil, false, err
	}
	lt, err := s.counterField(ctx, tenant, "lt")
	if err != nil || lt > from {
		return nil, false, err // trimmed under us
	}
	return recs, true, nil
}

func (s *SyncStore) readLog(ctx context.Context, tenant string, from, to int64) ([]*fsync.Record, error) {
	if to <= from {
		return nil, nil
	}
	docs, err := findAll[logDoc](ctx, s.db.Collection(LogCollection), bson.M{"t": tenant, "q": bson.M{"$gt": from}, "p": bson.M{"$lte": to}},
		options.Find().SetSort(bson.D{{Key: "p", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return nil, err
	}
	var recs []*fsync.Record
	for _, d := range docs {
		var es logEntries
		b, err := s2.Decode(nil, d.Packed)
		if err == nil {
			err = bson.Unmarshal(b, &es)
		}
		if err != nil {
			return nil, mapError(err)
		}
		for _, le := range es.E {
			if le.Pos <= from || le.Pos > to {
				continue
			}
			raw := bson.Raw(le.Copy)
			if le.Copy == nil {
				raw, err = s.records(collOfKey(le.Key)).FindOne(ctx, bson.M{"_id": le.Key}).Raw()
				if errors.Is(err, mongo.ErrNoDocuments) {
					continue // gone since: nothing to hand out
				}
				if err != nil {
					return nil, mapError(err)
				}
			}
			r, err := decodeRecord(raw)
			if err != nil {
				return nil, mapError(err)
			}
			if le.Copy == nil && r.Pos != le.Pos {
				continue // moved on since: its later entry carries it
			}
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b *fsync.Record) int { return cmp.Compare(a.Pos, b.Pos) })
	last := make(map[string]int, len(recs))
	for i, r := range recs {
		last[r.Key] = i
	}
	out := recs[:0]
	for i, r := range recs {
		if last[r.Key] == i {
			out = append(out, r)
		}
	}
	return out, nil
}

// TrimLog implements fsync.ChangeLog: the mark and the last-push marks in
// one update of the counter, then the deletion (which decodes the window on
// FerretDB; the engine trims seldom).
func (s *SyncStore) TrimLog(ctx context.Context, tenant string, below int64) error {
	var doc struct {
		W map[string]int64 `bson:"w"`
	}
	if err := s.counters().FindOne(ctx, bson.M{"_id": tenant}).Decode(&doc); err != nil {
		return mapError(err)
	}
	update := bson.M{"$max": bson.M{"lt": below}}
	old := bson.M{}
	for dev, p := range doc.W {
		if p <= below {
			old["w."+dev] = ""
		}
	}
	if len(old) > 0 {
		update["$unset"] = old
	}
	if _, err := s.counters().UpdateOne(ctx, bson.M{"_id": tenant}, update); err != nil {
		return mapError(err)
	}
	_, err := s.db.Collection(LogCollection).DeleteMany(ctx, bson.M{"t": tenant, "q": bson.M{"$lte": below}})
	return mapError(err)
}

// Relog implements fsync.ChangeLog.
func (s *SyncStore) Relog(ctx context.Context, tenant string, from int64) (int, error) {
	var recs []bson.Raw
	for _, name := range s.names {
		some, err := findAll[bson.Raw](ctx, s.records(name), bson.M{keyTenant: tenant, keyPos: bson.M{"$gte": from}})
		if err != nil {
			return 0, err
		}
		recs = append(recs, some...)
	}
	return len(recs), s.logWrites(ctx, tenant, recs)
}

// collOfKey is the synced collection of a record key (tenant/collection/id).
func collOfKey(k string) string {
	_, rest, _ := strings.Cut(k, "/")
	c, _, _ := strings.Cut(rest, "/")
	return c
}
