package sync

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// The change log, in chunks. Every record carries the position of its latest
// change, so the records are their own change log; but a query on positions
// needs an index, and the embedded FerretDB uses none (it decodes the whole
// collection for any filter but a lone _id). So the log is also kept as
// chunks of chunkSize consecutive positions, one document each, read by _id:
// an incremental pull reads the few chunks after its cursor instead of
// scanning every record, on either database.
//
// A chunk maps each position to the record as written at that position (its
// stored document, as one binary value; a record too large to copy is logged
// by its key and read from the records). A record's earlier entry is removed
// when it moves to a new position. Entries are written after their records
// and before the positions' reservation is released, so a puller never passes
// a position whose entry is missing — except after a writer died in between;
// then the reservation expires and the first puller to see it rewrites the
// entries from the records (repairLog) before passing it.
const (
	// LogCollection holds the chunks.
	LogCollection = "sync_log"
	chunkSize     = 128
	// maxLogCopy is the largest record copied into a chunk (a chunk stays
	// far below MongoDB's 16 MiB document limit).
	maxLogCopy = 16 << 10
)

func chunkID(tenant string, n int64) string { return tenant + "/" + strconv.FormatInt(n, 10) }

func posKey(p int64) string { return "e." + strconv.FormatInt(p, 10) }

// logWrites enters recs (just written) at their positions and removes the
// entries of their previous positions (prev: key → position; 0 for none).
// New entries are written before old ones are removed, so a walk that is
// sweeping ahead meets a moving record at least once.
func (e *Engine) logWrites(ctx context.Context, tenant string, recs []*Record, prev map[string]int64) error {
	if len(recs) == 0 {
		return nil
	}
	sets, unsets := map[int64]bson.M{}, map[int64]bson.M{}
	for _, r := range recs {
		var v any = r.Key
		if b, err := bson.Marshal(r); err == nil && len(b) <= maxLogCopy {
			v = b
		}
		n := r.Pos / chunkSize
		if sets[n] == nil {
			sets[n] = bson.M{"t": tenant}
		}
		sets[n][posKey(r.Pos)] = v
		if old := prev[r.Key]; old > 0 && old != r.Pos {
			on := old / chunkSize
			if unsets[on] == nil {
				unsets[on] = bson.M{}
			}
			unsets[on][posKey(old)] = ""
		}
	}
	var models []mongo.WriteModel
	for _, n := range sortedKeys(sets) {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": chunkID(tenant, n)}).
			SetUpdate(bson.M{"$set": sets[n]}).SetUpsert(true))
	}
	for _, n := range sortedKeys(unsets) {
		models = append(models, mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": chunkID(tenant, n)}).
			SetUpdate(bson.M{"$unset": unsets[n]}))
	}
	_, err := e.chunks.BulkWrite(ctx, models)
	return storeError(err)
}

func sortedKeys(m map[int64]bson.M) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readLog returns, in position order, the logged records with from < p ≤ to
// that keep accepts, at most limit of them, and whether more follow.
func (e *Engine) readLog(ctx context.Context, tenant string, from, to int64, keep func(*Record) bool, limit int) ([]*Record, bool, error) {
	var out []*Record
	for n := (from + 1) / chunkSize; n <= to/chunkSize; n++ {
		recs, err := e.readChunk(ctx, tenant, n, from, to)
		if err != nil {
			return nil, false, err
		}
		for _, r := range recs {
			if keep == nil || keep(r) {
				out = append(out, r)
			}
			if len(out) > limit {
				return out[:limit], true, nil
			}
		}
	}
	return out, false, nil
}

// readChunk returns chunk n's records with from < p ≤ to, in position order.
func (e *Engine) readChunk(ctx context.Context, tenant string, n, from, to int64) ([]*Record, error) {
	var doc struct {
		E map[string]bson.RawValue `bson:"e"`
	}
	err := e.chunks.FindOne(ctx, bson.M{"_id": chunkID(tenant, n)}).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, storeError(err)
	}
	recs := make([]*Record, 0, len(doc.E))
	for k, v := range doc.E {
		p, err := strconv.ParseInt(k, 10, 64)
		if err != nil || p <= from || p > to {
			continue
		}
		r, err := e.logEntry(ctx, p, v)
		if err != nil {
			return nil, err
		}
		if r != nil {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b *Record) int { return cmp.Compare(a.Pos, b.Pos) })
	return recs, nil
}

// logEntry decodes the entry at position p: the record copy, or the record
// itself when only its key was logged (nil when it has moved on since).
func (e *Engine) logEntry(ctx context.Context, p int64, v bson.RawValue) (*Record, error) {
	r := new(Record)
	switch v.Type {
	case bson.TypeBinary:
		_, b := v.Binary()
		if err := bson.Unmarshal(b, r); err != nil {
			return nil, storeError(err)
		}
	case bson.TypeString:
		err := e.recs.FindOne(ctx, bson.M{"_id": v.StringValue()}).Decode(r)
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil, nil
		}
		if err != nil {
			return nil, storeError(err)
		}
		if r.Pos != p {
			return nil, nil
		}
	default:
		return nil, nil
	}
	if err := normalizeRecord(r); err != nil {
		return nil, err
	}
	return r, nil
}

// repairLog rewrites the log entries of every record at or after position
// lb: after a writer died between writing its records and logging them.
func (e *Engine) repairLog(ctx context.Context, tenant string, lb int64) error {
	cur, err := e.recs.Find(ctx, bson.M{"t": tenant, "p": bson.M{"$gte": lb}})
	if err != nil {
		return storeError(err)
	}
	var recs []*Record
	if err := cur.All(ctx, &recs); err != nil {
		return storeError(err)
	}
	e.log.Warn("sync: rewrote change-log entries after a writer died", "tenant", tenant, "from", lb, "records", len(recs))
	return e.logWrites(ctx, tenant, recs, nil)
}
