package sync

import (
	"context"
	"slices"
	"time"

	"fieldsync"
)

// Apply runs server-side writes (jobs such as overdue marking) through the
// same path as pushes: validated by nothing but the caller's code, versioned,
// logged and delivered like any change. Writes that change nothing make no
// new version.
func (e *Engine) Apply(ctx context.Context, tenant string, writes []Write) error {
	return e.ApplyAs(ctx, nil, tenant, writes)
}

// ApplyAs is Apply on behalf of c (nil: the server): the changes are c's,
// in the audit trail and in created_by/updated_by (an admin's import).
// Writes of one call must land within a reservation's lifetime: callers
// with many split them (a few hundred a call).
func (e *Engine) ApplyAs(ctx context.Context, c *fieldsync.Caller, tenant string, writes []Write) error {
	ops := make([]*op, 0, len(writes))
	for i := range writes {
		w := &writes[i]
		ops = append(ops, &op{idx: -1, write: w, coll: e.colls[w.Collection], key: recordKey(tenant, w.Collection, w.ID)})
	}
	if err := e.run(ctx, c, tenant, ops, nil); err != nil {
		return err
	}
	e.hub.nudge(tenant)
	return nil
}

// Records calls fn for every live record of tenant's collection (server jobs
// use it to find what to change). One store cursor.
func (e *Engine) Records(ctx context.Context, tenant, collection string, fn func(*Record) error) error {
	return e.Select(ctx, tenant, collection, Query{}, fn)
}

// Select calls fn for every live record of tenant's collection that q
// matches (server jobs read with it only the records they may change). One
// store cursor.
func (e *Engine) Select(ctx context.Context, tenant, collection string, q Query, fn func(*Record) error) error {
	q.Live = true
	cur, err := e.store.Walk(ctx, tenant, collection, q)
	if err != nil {
		return err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for {
		r, err := cur.Next(ctx)
		if err != nil || r == nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
}

// Changed returns the live records of tenant's collection changed at a
// position in (from, to], each at its latest version there, from the
// recent change log without reading the records; ok is false when the log
// no longer holds every position above from (the caller reads the records
// instead). Codes: unavailable, internal.
func (e *Engine) Changed(ctx context.Context, tenant, collection string, from, to int64) (recs []*Record, ok bool, err error) {
	if to <= from {
		return nil, true, nil
	}
	all, ok, err := e.store.ReadLog(ctx, tenant, from, to)
	if err != nil || !ok {
		return nil, false, err
	}
	for _, r := range all {
		if r.Collection == collection && !r.Deleted {
			recs = append(recs, r)
		}
	}
	return recs, true, nil
}

// Find returns tenant's records of collection that q matches (server code
// that looks records up: a unit's history); none for an undeclared one.
func (e *Engine) Find(ctx context.Context, tenant, collection string, q Query) ([]*Record, error) {
	if e.colls[collection] == nil {
		return nil, nil
	}
	return e.store.Find(ctx, tenant, collection, q)
}

// Record returns the live record id of tenant's collection (one look-up by
// key), or not_found.
func (e *Engine) Record(ctx context.Context, tenant, collection, id string) (*Record, error) {
	if e.colls[collection] == nil {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "no such collection")
	}
	recs, err := e.store.Load(ctx, collection, []string{recordKey(tenant, collection, id)})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 || recs[0].Deleted {
		return nil, fieldsync.Errorf(fieldsync.ENotFound, "no such record")
	}
	return recs[0], nil
}

// Render is the record's doc as caller c may see it (the collection's
// Redact applied), as pull and push results render it.
func (e *Engine) Render(c *fieldsync.Caller, r *Record) map[string]any { return e.render(c, r) }

// Now is the engine's clock (Options.Now).
func (e *Engine) Now() time.Time { return e.now() }

// Citing implements fieldsync.CitationFinder: the live records of tenant that
// cite any of mediaIDs (from the declared Media and MediaList fields).
func (e *Engine) Citing(ctx context.Context, tenant string, mediaIDs []string) ([]fieldsync.Citation, error) {
	return e.citations(ctx, tenant, Query{Live: true, CitesAny: mediaIDs}, mediaIDs)
}

// CitedAtSite implements fieldsync.CitationFinder: every citation by the live records of tenant's site.
func (e *Engine) CitedAtSite(ctx context.Context, tenant, site string) ([]fieldsync.Citation, error) {
	return e.citations(ctx, tenant, Query{Sites: []string{site}, Live: true, CitesMedia: true}, nil)
}

func (e *Engine) citations(ctx context.Context, tenant string, q Query, only []string) ([]fieldsync.Citation, error) {
	recs, err := e.store.Find(ctx, tenant, "", q)
	if err != nil {
		return nil, err
	}
	var out []fieldsync.Citation
	for _, r := range recs {
		for _, m := range r.Media {
			if only == nil || slices.Contains(only, m) {
				out = append(out, fieldsync.Citation{MediaID: m, Record: r.Ref()})
			}
		}
	}
	return out, nil
}
