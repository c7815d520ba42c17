package sync

import (
	"context"
	"slices"

	"fieldsync"
)

// op is one unit of work on one record: a validated mutation, or a
// server-side write (an action's extra write, a server job).
type op struct {
	idx    int // result index; -1 for writes
	m      *fieldsync.Mutation
	coll   *Collection
	fields map[string]any
	act    *Action
	args   map[string]any
	write  *Write
	parent string // mutation id an extra write belongs to
	ct     string // that mutation's client_time (deadlines count from it)
	key    string
	err    error // set when a server write could not be applied

	cites map[string]fieldsync.CiteRule // of the media ids the batch names (cite.go)
}

// slot is the working state of one record in a push.
type slot struct {
	rec    *Record // nil: does not exist (as far as we know)
	inDB   bool    // rec was loaded from the database (replace, not insert)
	orig   int64   // version loaded
	loaded bool    // the database was asked
	dirty  bool
}

func recordKey(tenant, coll, id string) string { return tenant + "/" + coll + "/" + id }

// maxRounds bounds how often a push re-applies mutations whose records another
// writer changed between our read and our write.
const maxRounds = 8

// Push applies one device's batch in order and answers each mutation.
func (e *Engine) Push(ctx context.Context, req fieldsync.PushRequest) (fieldsync.PushResult, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return fieldsync.PushResult{}, err
	}
	if req.DeviceID != c.DeviceID {
		return fieldsync.PushResult{}, fieldsync.Errorf(fieldsync.EForbidden, "device_id is not the device this token was issued to")
	}
	if err := checkSchema(req.SchemaVersion); err != nil {
		return fieldsync.PushResult{}, err
	}
	if len(req.Mutations) > MaxMutations {
		return fieldsync.PushResult{}, fieldsync.Errorf(fieldsync.EPayloadTooLarge, "at most %d mutations per push", MaxMutations)
	}
	res := make([]fieldsync.MutationResult, len(req.Mutations))
	ops := make([]*op, 0, len(req.Mutations))
	for i := range req.Mutations {
		m := &req.Mutations[i]
		o, err := e.parse(c.TenantID, m)
		res[i] = fieldsync.MutationResult{MutationID: m.MutationID, ID: m.ID}
		if err != nil {
			res[i].Status = fieldsync.StatusRejected
			res[i].Error = problemOf(err)
			continue
		}
		o.idx = i
		ops = append(ops, o)
	}
	if err := e.citeRules(ctx, c, ops); err != nil {
		return fieldsync.PushResult{}, err
	}
	if err := e.run(ctx, c, c.TenantID, ops, res); err != nil {
		return fieldsync.PushResult{}, err
	}
	e.hub.nudge(c.TenantID)
	return fieldsync.PushResult{Results: res}, nil
}

// run applies ops in rounds. Each round costs a constant number of store
// calls whatever the batch size: one Load of the records it must know per
// collection (skipped for creates: they are inserted blind, and the store
// tells us when the record exists), then the group commit (commit.go):
// reserve positions, write, release. Ops whose record another writer
// changed in between (it exists, its version moved) run again next round.
func (e *Engine) run(ctx context.Context, c *fieldsync.Caller, tenant string, ops []*op, res []fieldsync.MutationResult) error {
	known := map[string]*slot{}
	todo := ops
	for round := 0; len(todo) > 0; round++ {
		if round == maxRounds {
			return fieldsync.Errorf(fieldsync.EUnavailable, "too much contention on these records; retry")
		}
		var need []string
		for _, o := range todo {
			s := known[o.key]
			if (s == nil || !s.loaded) && (round > 0 || o.m == nil || o.m.Op != fieldsync.OpCreate) {
				need = append(need, o.key)
			}
		}
		if err := e.load(ctx, known, need); err != nil {
			return err
		}
		work := make(map[string]*slot, len(known))
		for k, s := range known {
			cp := *s
			if s.rec != nil {
				cp.rec = s.rec.clone()
			}
			work[k] = &cp
		}
		now := e.now()
		var order []string
		for i := 0; i < len(todo); i++ {
			o := todo[i]
			if o.write != nil && work[o.key] == nil {
				if err := e.load(ctx, work, []string{o.key}); err != nil {
					return err
				}
			}
			spawned := e.apply(ctx, c, now, work, o, res)
			todo = slices.Insert(todo, i+1, spawned...)
			if s := work[o.key]; s != nil && s.dirty && !slices.Contains(order, o.key) {
				order = append(order, o.key)
			}
		}
		_, dev := deviceOf(c)
		failed, err := e.write(ctx, tenant, dev, work, order)
		if err != nil {
			return err
		}
		var again []*op
		for _, o := range todo {
			if failed[o.key] {
				again = append(again, o)
			}
		}
		for k, s := range work {
			if failed[k] {
				delete(known, k) // reload fresh next round
				continue
			}
			s.dirty, s.inDB, s.loaded = false, s.inDB || s.rec != nil, true
			if s.rec != nil {
				s.orig = s.rec.Version
			}
			known[k] = s
		}
		todo = again
	}
	for _, o := range ops {
		if o.write != nil && o.err != nil {
			return o.err
		}
	}
	return nil
}

// load reads the records of keys into known: one Load per collection.
func (e *Engine) load(ctx context.Context, known map[string]*slot, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	var recs []*Record
	for coll, ks := range byCollection(keys) {
		some, err := e.store.Load(ctx, coll, ks)
		if err != nil {
			return err
		}
		recs = append(recs, some...)
	}
	for _, k := range keys {
		known[k] = &slot{loaded: true}
	}
	for _, r := range recs {
		known[r.Key] = &slot{rec: r, inDB: true, orig: r.Version, loaded: true}
	}
	return nil
}

// byCollection groups record keys by their collection.
func byCollection(keys []string) map[string][]string {
	out := map[string][]string{}
	for _, k := range keys {
		c := collOfKey(k)
		out[c] = append(out[c], k)
	}
	return out
}
