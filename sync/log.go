package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"fieldsync/mongodb"

	"github.com/klauspost/compress/s2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The recent change log. Every record carries the position of its latest
// change, so the records are their own change log; but reading the changes
// after a position from them needs an index on it, and the embedded FerretDB
// uses none: it decodes the whole collection for every query (and even a
// lookup by _id is a table scan underneath). So each change is also written,
// as a copy of the record in one binary value, to a small collection holding
// only the last Options.LogWindow positions of each tenant. An incremental pull or
// the event poller reads that window — a few thousand small documents — not
// every record; a device further behind than the window is served from the
// records (slower, the same answer).
//
// Entries are written after their records and before the positions'
// reservation is released, so a puller never passes a position whose entry is
// missing — unless a writer died in between: then its reservation expires and
// the first puller to see that logs its records again (repairLog) before
// passing them. Trimming raises the tenant's "logged from" mark (lt) first and
// deletes below it after; a reader checks the mark again after its query.
const (
	// LogCollection holds the window.
	LogCollection = "sync_log"
	// DefaultLogWindow is how many of a tenant's latest positions the window
	// holds (Options.LogWindow).
	DefaultLogWindow = 3072
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
// reservation) in the window, in documents of at most MaxMutations changes.
// The same changes entered again (a repair racing a live writer) are
// harmless: a reader keeps each record once.
func (e *Engine) logWrites(ctx context.Context, tenant string, recs []bson.Raw) error {
	var docs []any
	for len(recs) > 0 {
		n := min(len(recs), MaxMutations)
		d, err := logDocOf(tenant, recs[:n])
		if err != nil {
			return err
		}
		docs, recs = append(docs, d), recs[n:]
	}
	if len(docs) == 0 {
		return nil
	}
	_, err := e.logs.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if _, ok := mongodb.DuplicateKeys(err); ok {
		return nil
	}
	return storeError(err)
}

func logDocOf(tenant string, recs []bson.Raw) (logDoc, error) {
	var d logDoc
	es := logEntries{E: make([]logEntry, 0, len(recs))}
	for i, doc := range recs {
		pos, ok := doc.Lookup(keySync, "position").Int64OK()
		if !ok {
			return d, fmt.Errorf("sync: log: a record without a position")
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
		return d, fmt.Errorf("sync: log: %w", err)
	}
	// Compressed: FerretDB's cost of storing, reading and trimming the window
	// grows with its bytes (it base64-decodes every value it scans).
	d.ID, d.Packed = fmt.Sprintf("%s/%016d-%016d", tenant, d.Lo, d.Hi), s2.Encode(nil, b)
	return d, nil
}

// readLog returns the records logged at from < p ≤ to, in position order, each
// once: an entry whose record was logged again later in the range is left out
// (the later one carries it at its latest version).
func (e *Engine) readLog(ctx context.Context, tenant string, from, to int64) ([]*Record, error) {
	if to <= from {
		return nil, nil
	}
	docs, err := findAll[logDoc](ctx, e.logs, bson.M{"t": tenant, "q": bson.M{"$gt": from}, "p": bson.M{"$lte": to}},
		options.Find().SetSort(bson.D{{Key: "p", Value: 1}}).SetBatchSize(1000))
	if err != nil {
		return nil, err
	}
	var recs []*Record
	for _, d := range docs {
		var es logEntries
		b, err := s2.Decode(nil, d.Packed)
		if err == nil {
			err = bson.Unmarshal(b, &es)
		}
		if err != nil {
			return nil, storeError(err)
		}
		for _, le := range es.E {
			if le.Pos <= from || le.Pos > to {
				continue
			}
			r := new(Record)
			if le.Copy != nil {
				err = bson.Unmarshal(le.Copy, r)
			} else {
				err = e.recsFor(collOfKey(le.Key)).FindOne(ctx, bson.M{"_id": le.Key}).Decode(r)
				if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && r.Pos != le.Pos) {
					continue // moved on since: its later entry carries it
				}
			}
			if err != nil {
				return nil, storeError(err)
			}
			if err := normalizeRecord(r); err != nil {
				return nil, err
			}
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b *Record) int { return cmp.Compare(a.Pos, b.Pos) })
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

// loggedFrom returns the tenant's "logged from" mark again: the window holds
// every position above it.
func (e *Engine) loggedFrom(ctx context.Context, tenant string) (int64, error) {
	var doc struct {
		LT int64 `bson:"lt"`
	}
	err := e.counters.FindOne(ctx, bson.M{"_id": tenant}, options.FindOne().SetProjection(bson.M{"lt": 1})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	return doc.LT, storeError(err)
}

// trimLog keeps the window at Options.LogWindow positions once a write at hi
// crossed a multiple of it since lo (the window holds up to 2 × LogWindow):
// the mark first, then the deletion. A deletion decodes the window on
// FerretDB, so it runs seldom.
func (e *Engine) trimLog(ctx context.Context, tenant string, lo, hi int64) error {
	window := int64(e.opts.LogWindow)
	if hi <= window || (lo-1)/window == hi/window {
		return nil
	}
	below := hi - window
	// The devices' last-push marks at or below the window's start go too: a
	// held walk of such a device is then just not continued (read-your-writes
	// kept), and the counter stays small however many devices a tenant had.
	// (A mark renewed between this read and the update is dropped as well;
	// that also only stops a held walk, unless the walk began before the
	// device's first mark and that push released a whole window behind the
	// head — a write slower than ReservationTTL/2 allows.)
	var doc struct {
		W map[string]int64 `bson:"w"`
	}
	if err := e.counters.FindOne(ctx, bson.M{"_id": tenant}).Decode(&doc); err != nil {
		return storeError(err)
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
	if _, err := e.counters.UpdateOne(ctx, bson.M{"_id": tenant}, update); err != nil {
		return storeError(err)
	}
	_, err := e.logs.DeleteMany(ctx, bson.M{"t": tenant, "q": bson.M{"$lte": below}})
	return storeError(err)
}

// repairLog logs again every record at or after position lb: after a writer
// died between writing its records and logging them.
func (e *Engine) repairLog(ctx context.Context, tenant string, lb int64) error {
	recs, err := findEach[bson.Raw](ctx, e, bson.M{keyTenant: tenant, keyPos: bson.M{"$gte": lb}})
	if err != nil {
		return err
	}
	e.log.Warn("sync: logging again the changes after a writer died", "tenant", tenant, "from", lb, "records", len(recs))
	return e.logWrites(ctx, tenant, recs)
}
