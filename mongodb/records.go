package mongodb

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	gosync "sync"

	fsync "fieldsync/sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// maxPointLoads is the most keys of one collection Load looks up one by one
// with Tuning.PointLoads (beyond, one $in scan costs less) — unless the
// embedded FerretDB's front indexes those look-ups, which makes each one an
// index probe, so that any number costs less than a scan.
const maxPointLoads = 4

// Load implements fsync.RecordStore: one $in query, or with
// Tuning.PointLoads, for a few keys, one look-up by _id each.
func (s *SyncStore) Load(ctx context.Context, coll string, keys []string) ([]*fsync.Record, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if s.tuning.PointLoads && (len(keys) <= maxPointLoads || s.indexedIDs) {
		return s.loadEach(ctx, coll, keys)
	}
	cur, err := s.records(coll).Find(ctx, bson.M{"_id": bson.M{"$in": keys}})
	if err != nil {
		return nil, mapError(err)
	}
	return decodeAll(ctx, cur)
}

// loadParallel bounds the look-ups by _id loadEach has in flight.
const loadParallel = 8

// loadEach reads the records of keys of one collection by _id, at most
// loadParallel at a time (those that do not exist are left out).
func (s *SyncStore) loadEach(ctx context.Context, coll string, keys []string) ([]*fsync.Record, error) {
	recs := make([]*fsync.Record, len(keys))
	errs := make([]error, len(keys))
	var wg gosync.WaitGroup
	sem := make(chan struct{}, loadParallel)
	for i, k := range keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			raw, err := s.records(coll).FindOne(ctx, bson.M{"_id": k}).Raw()
			switch {
			case err == nil:
				recs[i], errs[i] = decodeRecord(raw)
			case !errors.Is(err, mongo.ErrNoDocuments):
				errs[i] = mapError(err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, mapError(err)
	}
	return slices.DeleteFunc(recs, func(r *fsync.Record) bool { return r == nil }), nil
}

// decodeAll decodes every record of cur and closes it.
func decodeAll(ctx context.Context, cur *mongo.Cursor) ([]*fsync.Record, error) {
	defer cur.Close(context.WithoutCancel(ctx))
	var out []*fsync.Record
	for cur.Next(ctx) {
		r, err := decodeRecord(cur.Current)
		if err != nil {
			return nil, mapError(err)
		}
		out = append(out, r)
	}
	return out, mapError(cur.Err())
}

// Find implements fsync.RecordStore.
func (s *SyncStore) Find(ctx context.Context, tenant, coll string, q fsync.Query) ([]*fsync.Record, error) {
	names := []string{coll}
	if coll == "" {
		names = s.names
	}
	var out []*fsync.Record
	for _, name := range names {
		some, ok, err := s.sideRead(ctx, tenant, name, q)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, some...)
			continue
		}
		cur, err := s.records(name).Find(ctx, recordFilter(tenant, q), s.findOptions(q))
		if err != nil {
			return nil, mapError(err)
		}
		if some, err = decodeAll(ctx, cur); err != nil {
			return nil, err
		}
		out = append(out, some...)
	}
	return out, nil
}

// sideRead answers Find's q on one collection through the embedded
// FerretDB's side door — a walk of the stored documents, or a scoped
// read's ids — where it serves q; ok is false where it does not.
func (s *SyncStore) sideRead(ctx context.Context, tenant, coll string, q fsync.Query) ([]*fsync.Record, bool, error) {
	switch {
	case s.side == nil:
		return nil, false, nil
	case sideWalkServes(q):
		return s.sideFind(ctx, tenant, coll, q)
	case sideDoorServes(q):
		return s.scopedRead(ctx, tenant, coll, q)
	}
	return nil, false, nil
}

// Walk implements fsync.RecordStore.
func (s *SyncStore) Walk(ctx context.Context, tenant, coll string, q fsync.Query) (fsync.RecordCursor, error) {
	if s.side != nil && sideWalkServes(q) {
		if cur, ok, err := s.sideWalk(ctx, tenant, coll, q); ok || err != nil {
			return cur, err
		}
	}
	if s.side != nil && sideDoorServes(q) {
		recs, ok, err := s.scopedRead(ctx, tenant, coll, q)
		if err != nil {
			return nil, err
		}
		if ok {
			return &sliceCursor{recs: recs, byPosition: q.Order != fsync.ByCreation}, nil
		}
	}
	cur, err := s.records(coll).Find(ctx, recordFilter(tenant, q), s.findOptions(q))
	if err != nil {
		return nil, mapError(err)
	}
	return &recordCursor{cur: cur, byPosition: s.sortsBy(q.Order) == keyPos}, nil
}

// sortsBy is the first sort key of o on this store ("" none).
func (s *SyncStore) sortsBy(o fsync.Order) string {
	switch o {
	case fsync.ByPosition:
		return keyPos
	case fsync.ByPositionOrCheaper:
		if !s.tuning.UnsortedScans {
			return keyPos
		}
	case fsync.ByCreation:
		return keyCreated
	}
	return ""
}

func (s *SyncStore) findOptions(q fsync.Query) *options.FindOptionsBuilder {
	o := options.Find()
	switch s.sortsBy(q.Order) {
	case keyPos:
		o.SetSort(bson.D{{Key: keyPos, Value: 1}})
	case keyCreated:
		o.SetSort(bson.D{{Key: keyCreated, Value: 1}, {Key: "_id", Value: 1}})
	}
	if q.Limit > 0 {
		o.SetLimit(int64(q.Limit))
	}
	if q.Batch > 0 {
		o.SetBatchSize(int32(q.Batch))
	}
	return o
}

// recordFilter is the filter of q on tenant's records. Keys name their
// tenant: a filter by key is the key alone, which the embedded FerretDB
// evaluates inside SQLite without decoding the collection.
func recordFilter(tenant string, q fsync.Query) bson.M {
	f := bson.M{}
	switch {
	case len(q.Keys) == 1:
		f["_id"] = q.Keys[0]
	case q.Keys != nil:
		f["_id"] = bson.M{"$in": q.Keys}
	default:
		f[keyTenant] = tenant
	}
	if q.Sites != nil {
		f[keySite] = bson.M{"$in": q.Sites}
	}
	for k, v := range q.Equal {
		f[k] = v
	}
	for k, vs := range q.In {
		f[k] = bson.M{"$in": vs} // a nil matches a missing field too
	}
	if q.Live {
		f[keyDeleted] = false
	}
	var ors []bson.A
	pos := bson.M{}
	if q.After > 0 {
		pos["$gt"] = q.After
	}
	switch {
	case q.Upto > 0 && q.Device != "":
		ors = append(ors, bson.A{bson.M{keyPos: bson.M{"$lte": q.Upto}}, bson.M{keyDevice: q.Device, keyPos: bson.M{"$gt": q.OwnAbove}}})
	case q.Upto > 0:
		pos["$lte"] = q.Upto
	}
	if len(pos) > 0 {
		f[keyPos] = pos
	}
	switch {
	case q.CitesAny != nil:
		f[keyMedia] = bson.M{"$in": q.CitesAny}
	case q.CitesMedia:
		f[keyMedia+".0"] = bson.M{"$exists": true}
	}
	created := bson.M{}
	if !q.CreatedFrom.IsZero() {
		created["$gte"] = q.CreatedFrom
		if q.CreatedAfterKey != "" {
			ors = append(ors, bson.A{bson.M{keyCreated: bson.M{"$gt": q.CreatedFrom}}, bson.M{"_id": bson.M{"$gt": q.CreatedAfterKey}}})
		}
	}
	if !q.CreatedBefore.IsZero() {
		created["$lt"] = q.CreatedBefore
	}
	if len(created) > 0 {
		f[keyCreated] = created
	}
	if m := q.Mine; m != nil {
		ors = append(ors, mineFilter(m))
	}
	switch len(ors) {
	case 0:
	case 1:
		f["$or"] = ors[0]
	default:
		and := bson.A{}
		for _, o := range ors {
			and = append(and, bson.M{"$or": o})
		}
		f["$and"] = and
	}
	return f
}

// mineFilter is the $or of m's branches, each served by an index of its
// own after tenant and site (sync.go); none matches nothing.
func mineFilter(m *fsync.Mine) bson.A {
	var or bson.A
	if m.Creator {
		or = append(or, bson.M{keyCreator: m.User})
	}
	if m.Assignee {
		or = append(or, bson.M{keyAssigned: m.User})
	}
	if !m.Since.IsZero() {
		or = append(or, bson.M{keyCreated: bson.M{"$gte": m.Since}})
	}
	if len(or) == 0 {
		or = bson.A{bson.M{"_id": bson.M{"$in": bson.A{}}}}
	}
	return or
}

// recordCursor is a Walk's database cursor.
type recordCursor struct {
	cur        *mongo.Cursor
	byPosition bool
}

func (c *recordCursor) Next(ctx context.Context) (*fsync.Record, error) {
	if !c.cur.Next(ctx) {
		return nil, mapError(c.cur.Err())
	}
	r, err := decodeRecord(c.cur.Current)
	if err != nil {
		return nil, mapError(err)
	}
	return r, nil
}

func (c *recordCursor) ByPosition() bool { return c.byPosition }

func (c *recordCursor) Close(ctx context.Context) error { return mapError(c.cur.Close(ctx)) }

// ID is the database's id of the cursor (tests end it there).
func (c *recordCursor) ID() int64 { return c.cur.ID() }

// Commit implements fsync.RecordStore: one insert of the audit entries, one
// insertMany and one bulk of version-checked replaces per collection, and
// one insert into the recent change log. Each record is encoded once, for
// its collection and for the log.
func (s *SyncStore) Commit(ctx context.Context, c fsync.Commit) ([]bool, error) {
	lost := make([]bool, len(c.Records))
	inserts, insertAt := map[string][]any{}, map[string][]int{}
	replaces, replaceAt := map[string][]mongo.WriteModel{}, map[string][]int{}
	stored := make([]bson.Raw, len(c.Records))
	for i, p := range c.Records {
		r := p.Record
		doc, err := encodeRecord(r, s.colls[r.Collection])
		if err != nil {
			return nil, mapError(err)
		}
		stored[i] = doc
		if p.Replaces > 0 {
			replaces[r.Collection] = append(replaces[r.Collection], mongo.NewReplaceOneModel().
				SetFilter(bson.M{"_id": r.Key, keyVersion: p.Replaces}).SetReplacement(doc))
			replaceAt[r.Collection] = append(replaceAt[r.Collection], i)
		} else {
			inserts[r.Collection] = append(inserts[r.Collection], doc)
			insertAt[r.Collection] = append(insertAt[r.Collection], i)
		}
	}
	if err := s.insertAudit(ctx, c.Audit); err != nil {
		return nil, err
	}
	for coll, docs := range inserts {
		_, err := s.inserting(recordsOf(coll)).InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
		dups, ok := DuplicateKeys(err)
		if !ok {
			return nil, mapError(err)
		}
		for _, j := range dups {
			lost[insertAt[coll][j]] = true
		}
	}
	s.faultAt(fsync.FaultInserted)
	for coll, models := range replaces {
		br, err := s.records(coll).BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err != nil {
			return nil, mapError(err)
		}
		if br.MatchedCount < int64(len(models)) {
			// Someone changed some of them since they were read (perhaps
			// another write of this group): find which of ours landed.
			if err := s.findLost(ctx, coll, c.Records, replaceAt[coll], lost); err != nil {
				return nil, err
			}
		}
	}
	var landed []bson.Raw
	for i, doc := range stored {
		if !lost[i] {
			landed = append(landed, doc)
		}
	}
	if err := s.logWrites(ctx, c.Tenant, landed); err != nil {
		return nil, err
	}
	s.faultAt(fsync.FaultWritten)
	return lost, nil
}

// findLost marks lost the records of at (indexes into puts, all of coll)
// whose stored position is not the one just written.
func (s *SyncStore) findLost(ctx context.Context, coll string, puts []fsync.Put, at []int, lost []bool) error {
	keys := make([]string, 0, len(at))
	for _, i := range at {
		keys = append(keys, puts[i].Record.Key)
	}
	got, err := findAll[struct {
		Key  string `bson:"_id"`
		Sync struct {
			Pos int64 `bson:"position"`
		} `bson:"_sync"`
	}](ctx, s.records(coll), bson.M{"_id": bson.M{"$in": keys}}, options.Find().SetProjection(bson.M{keyPos: 1}))
	if err != nil {
		return err
	}
	now := make(map[string]int64, len(got))
	for _, g := range got {
		now[g.Key] = g.Sync.Pos
	}
	for _, i := range at {
		if r := puts[i].Record; now[r.Key] != r.Pos {
			lost[i] = true
		}
	}
	return nil
}

// scopedRead answers q (sideDoorServes) through the side door: the ids
// SQLite selects, the records loaded by _id, q checked again on each (a
// record may have changed between the two reads), in q's order. ok is
// false when SQLite could not answer (the caller then asks the driver).
func (s *SyncStore) scopedRead(ctx context.Context, tenant, coll string, q fsync.Query) (recs []*fsync.Record, ok bool, err error) {
	ids, err := s.side.ids(ctx, coll, tenant, q)
	if err != nil {
		return nil, false, nil
	}
	for part := range slices.Chunk(ids, 256) {
		some, err := s.loadEach(ctx, coll, part)
		if err != nil {
			return nil, false, err
		}
		for _, r := range some {
			if matches(r, tenant, q) {
				recs = append(recs, r)
			}
		}
	}
	if q.Order == fsync.ByCreation {
		slices.SortFunc(recs, func(a, b *fsync.Record) int {
			return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Key, b.Key))
		})
	} else {
		slices.SortFunc(recs, func(a, b *fsync.Record) int { return cmp.Compare(a.Pos, b.Pos) })
	}
	if q.Limit > 0 && len(recs) > q.Limit {
		recs = recs[:q.Limit]
	}
	return recs, true, nil
}

// matches is recordFilter's answer for r on the queries the side door serves.
func matches(r *fsync.Record, tenant string, q fsync.Query) bool {
	switch {
	case r.Tenant != tenant,
		q.Sites != nil && !slices.Contains(q.Sites, r.SiteID),
		q.Live && r.Deleted,
		q.After > 0 && r.Pos <= q.After,
		q.Upto > 0 && r.Pos > q.Upto,
		!q.CreatedFrom.IsZero() && r.CreatedAt.Before(q.CreatedFrom),
		!q.CreatedFrom.IsZero() && q.CreatedAfterKey != "" && r.CreatedAt.Equal(q.CreatedFrom) && r.Key <= q.CreatedAfterKey,
		!q.CreatedBefore.IsZero() && !r.CreatedAt.Before(q.CreatedBefore):
		return false
	}
	if !holdsOneOf(r, q.In) {
		return false
	}
	m := q.Mine
	return m == nil || m.Creator && r.CreatedBy == m.User || m.Assignee && slices.Contains(r.Assignees, m.User) ||
		!m.Since.IsZero() && !r.CreatedAt.Before(m.Since)
}

// holdsOneOf is q.In's answer for r: for every field of in, r holds one of
// its values (a nil: r holds none).
func holdsOneOf(r *fsync.Record, in map[string][]any) bool {
	for k, vs := range in {
		v := r.Fields[k]
		if !slices.ContainsFunc(vs, func(x any) bool { return x == nil && v == nil || x != nil && reflect.DeepEqual(x, v) }) {
			return false
		}
	}
	return true
}

// sliceCursor hands out records already read.
type sliceCursor struct {
	recs       []*fsync.Record
	byPosition bool
}

func (c *sliceCursor) Next(context.Context) (*fsync.Record, error) {
	if len(c.recs) == 0 {
		return nil, nil
	}
	r := c.recs[0]
	c.recs = c.recs[1:]
	return r, nil
}

func (c *sliceCursor) ByPosition() bool { return c.byPosition }

func (c *sliceCursor) Close(context.Context) error { c.recs = nil; return nil }
