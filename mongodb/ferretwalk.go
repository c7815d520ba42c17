//go:build !noembed

package mongodb

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"

	"fieldsync"
	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// A bootstrap (or a pull's rescan) of a desk, supervisor or admin reads
// every record of a collection at their sites: through FerretDB, every
// one of them is decoded from FerretDB's stored JSON into its own values,
// then into BSON, then sent and decoded again by the driver — most of the
// embedded database's CPU in a bootstrap. The side door's walk reads the
// stored JSON straight from the SQLite file instead, in position order
// through an index the wire front keeps (walkIndexes), a batch at a time,
// and turns it into the BSON FerretDB would have sent (sjsonToBSON), which
// decodeRecord reads as it reads the driver's.
//
// Each batch is its own SELECT, after the (position, _id) of the last row
// read: a record's new version always takes a later position than its
// last, so a record there when the walk began and changed while it goes
// on is met at its new position if the walk has not passed it yet (never
// skipped), and is handed out once (walkCursor.seen) — a newer version
// left out comes with the changes after the walk began, as it would
// through a database cursor. No statement stays open between batches: a
// held walk pins no connection and no WAL snapshot.

// sideWalkServes reports whether the side door walks q: the tenant's
// records by sites, liveness and positions, in position order (or any),
// and nothing else — a condition Query gains later is not served until
// walkQuery and matches know it.
func sideWalkServes(q fsync.Query) bool {
	rest := q
	rest.Sites, rest.Live, rest.After, rest.Upto, rest.Order, rest.Limit, rest.Batch = nil, false, 0, 0, 0, 0, 0
	return q.Order != fsync.ByCreation && reflect.DeepEqual(rest, fsync.Query{})
}

// sideWalked and sideFellBack count the documents side-door walks read
// and those of them they read through FerretDB instead (tests).
var sideWalked, sideFellBack atomic.Int64

// walkBatch is a side-door walk's batch when the query sets none.
const walkBatch = 1000

// Stored paths of a walk's SQL.
var (
	sqlPos = field(keyPos)
	sqlID  = field("_id")
)

// sideWalk opens a side-door walk of q on tenant's records of coll and
// reads its first batch; ok is false when SQLite could not answer (the
// caller then asks the driver).
func (s *SyncStore) sideWalk(ctx context.Context, tenant, coll string, q fsync.Query) (cur fsync.RecordCursor, ok bool, err error) {
	table, err := s.side.table(ctx, recordsOf(coll))
	if err != nil {
		return nil, false, nil
	}
	c := &walkCursor{s: s, table: table, tenant: tenant, coll: coll, q: q, after: q.After, seen: map[string]struct{}{}}
	if table == "" {
		c.done = true // no record of coll was ever written
		return c, true, nil
	}
	if err := c.fill(ctx); err != nil {
		return nil, false, nil
	}
	return c, true, nil
}

// walkCursor hands out a side-door walk's records.
type walkCursor struct {
	s                   *SyncStore
	table, tenant, coll string
	q                   fsync.Query
	// after and afterID are the (position, _id) of the last row read; no
	// row read yet while afterID is "".
	after   int64
	afterID string
	recs    []*fsync.Record
	seen    map[string]struct{}
	handed  int // records handed out (q.Limit)
	done    bool
	dec     sjDecoder
}

// walkQuery is the SQL of the batch after c's last row: served by the
// index on (tenant, position, _id, …) (walkIndexes), in its order.
func (c *walkCursor) walkQuery(limit int) (string, []any) {
	q := c.q
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT _ferretdb_sjson, %s, %s FROM %q WHERE %s = ?", sqlPos, sqlID, c.table, field(keyTenant))
	args := []any{c.tenant}
	if c.afterID == "" {
		b.WriteString(" AND " + sqlPos + " > ?")
		args = append(args, c.after)
	} else {
		// Not the row value (position, _id) > (?, ?), which SQLite does
		// not search an expression index by.
		b.WriteString(" AND " + sqlPos + " >= ? AND (" + sqlPos + " > ? OR " + sqlID + " > ?)")
		args = append(args, c.after, c.after, c.afterID)
	}
	if q.Upto > 0 {
		b.WriteString(" AND " + sqlPos + " <= ?")
		args = append(args, q.Upto)
	}
	if q.Sites != nil {
		b.WriteString(" AND " + field(keySite) + " IN (?" + strings.Repeat(",?", len(q.Sites)-1) + ")")
		for _, site := range q.Sites {
			args = append(args, site)
		}
	}
	if q.Live {
		// FerretDB keeps false as JSON false, which SQLite reads as 0.
		b.WriteString(" AND " + field(keyDeleted) + " = 0")
	}
	fmt.Fprintf(&b, " ORDER BY %s, %s LIMIT %d", sqlPos, sqlID, limit)
	return b.String(), args
}

// fill reads c's next batch.
func (c *walkCursor) fill(ctx context.Context) error {
	limit := c.q.Batch
	if limit <= 0 {
		limit = walkBatch
	}
	if c.q.Limit > 0 {
		limit = min(limit, c.q.Limit-c.handed)
	}
	if c.q.Sites != nil && len(c.q.Sites) == 0 || limit <= 0 {
		c.done = true
		return nil
	}
	query, args := c.walkQuery(limit)
	rows, err := c.s.side.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	var fallback []string
	placeholders := map[*fsync.Record]bool{}
	for rows.Next() {
		var doc sql.RawBytes
		var pos sql.NullInt64
		var id sql.NullString
		if err := rows.Scan(&doc, &pos, &id); err != nil {
			return err
		}
		if !pos.Valid || !id.Valid {
			// The keyset needs both (every record of the readable layout has them).
			return fmt.Errorf("mongodb: record without position or _id in %s", c.table)
		}
		n++
		c.after, c.afterID = pos.Int64, id.String
		raw, err := c.dec.sjsonToBSON(doc)
		if err != nil {
			fallback = append(fallback, id.String)
			p := &fsync.Record{Key: id.String, Pos: pos.Int64} // in its place until loadFallback
			placeholders[p] = true
			c.recs = append(c.recs, p)
			continue
		}
		r, err := decodeRecord(raw)
		if err != nil {
			return err
		}
		c.recs = append(c.recs, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n < limit {
		c.done = true
	}
	sideWalked.Add(int64(n))
	if len(fallback) > 0 {
		sideFellBack.Add(int64(len(fallback)))
		return c.loadFallback(ctx, fallback, placeholders)
	}
	return nil
}

// loadFallback replaces the placeholders of keys (documents sjsonToBSON
// does not read) with the records read through FerretDB, when they are
// still the version the SELECT met; a record changed since has a new
// position, after the walk began, and is left out here like any record
// changed during the walk.
func (c *walkCursor) loadFallback(ctx context.Context, keys []string, placeholders map[*fsync.Record]bool) error {
	loaded, err := c.s.loadEach(ctx, c.coll, keys)
	if err != nil {
		return err
	}
	byKey := make(map[string]*fsync.Record, len(loaded))
	for _, r := range loaded {
		byKey[r.Key] = r
	}
	kept := c.recs[:0]
	for _, r := range c.recs {
		if placeholders[r] {
			got := byKey[r.Key]
			if got == nil || got.Pos != r.Pos {
				continue
			}
			r = got
		}
		kept = append(kept, r)
	}
	c.recs = kept
	return nil
}

// Next implements fsync.RecordCursor.
func (c *walkCursor) Next(ctx context.Context) (*fsync.Record, error) {
	for {
		for len(c.recs) > 0 {
			r := c.recs[0]
			c.recs[0] = nil
			c.recs = c.recs[1:]
			if _, dup := c.seen[r.Key]; dup || !matches(r, c.tenant, c.q) {
				continue
			}
			c.seen[r.Key] = struct{}{}
			c.handed++
			return r, nil
		}
		if c.done {
			return nil, nil
		}
		if err := c.fill(ctx); err != nil {
			c.done = true
			return nil, fieldsync.WrapError(fieldsync.EUnavailable, "side-door walk of "+c.coll, err)
		}
	}
}

// ByPosition implements fsync.RecordCursor: the walk is by position.
func (c *walkCursor) ByPosition() bool { return true }

// Close implements fsync.RecordCursor.
func (c *walkCursor) Close(context.Context) error {
	c.recs, c.done = nil, true
	return nil
}

// sideFind is Find's answer for q on one collection through a side-door
// walk; ok is false when SQLite could not answer.
func (s *SyncStore) sideFind(ctx context.Context, tenant, coll string, q fsync.Query) ([]*fsync.Record, bool, error) {
	cur, ok, err := s.sideWalk(ctx, tenant, coll, q)
	if !ok || err != nil {
		return nil, ok, err
	}
	var out []*fsync.Record
	for {
		r, err := cur.Next(ctx)
		if err != nil {
			return nil, false, err
		}
		if r == nil {
			return out, true, nil
		}
		out = append(out, r)
	}
}

// walkIndexes are the indexes of the side door's walks: every records
// collection's (tenant, position, _id), then the site and whether deleted,
// which SQLite then reads from the index instead of parsing each row's
// JSON for them (only the rows that match are read from the table).
func walkIndexes(colls []string) []sideIndex {
	out := make([]sideIndex, 0, len(colls))
	for _, c := range colls {
		out = append(out, sideIndex{recordsOf(c), "walk", []string{keyTenant, keyPos, "_id", keySite, keyDeleted}})
	}
	return out
}

// askWalkIndexes asks the wire front for walkIndexes on mdb.
func askWalkIndexes(ctx context.Context, mdb *mongo.Database, colls []string) error {
	return askFor(ctx, mdb, walkIndexes(colls))
}

// askFor asks the wire front for the indexes ixs on mdb.
func askFor(ctx context.Context, mdb *mongo.Database, ixs []sideIndex) error {
	for _, ix := range ixs {
		err := mdb.RunCommand(ctx, bson.D{{Key: indexCommand, Value: ix.coll}, {Key: "name", Value: ix.name}, {Key: "paths", Value: ix.paths}}).Err()
		if err != nil {
			return err
		}
	}
	return nil
}
