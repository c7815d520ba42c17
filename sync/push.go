package sync

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"fieldsync"
	"fieldsync/mongodb"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
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

// Validate checks one mutation without the database (push decoding, fuzzing).
func (e *Engine) Validate(tenant string, m *fieldsync.Mutation) error {
	_, err := e.parse(tenant, m)
	return err
}

func (e *Engine) parse(tenant string, m *fieldsync.Mutation) (*op, error) {
	// A UUID in its 36-character form, kept as sent (the result echoes it): no
	// operator, path or control character ever reaches a receipt or a log.
	if _, err := uuid.Parse(m.MutationID); err != nil || len(m.MutationID) != 36 {
		return nil, fieldsync.FieldErrorf("mutation_id", "want a UUID")
	}
	coll := e.colls[m.Collection]
	if coll == nil {
		return nil, fieldsync.FieldErrorf("collection", "unknown collection")
	}
	if u, err := uuid.Parse(m.ID); err != nil || len(m.ID) != 36 {
		return nil, fieldsync.FieldErrorf("id", "want a UUID")
	} else {
		m.ID = u.String()
	}
	if m.ClientTime != "" {
		if _, err := time.Parse(time.RFC3339Nano, m.ClientTime); err != nil {
			return nil, fieldsync.FieldErrorf("client_time", "want an RFC 3339 time with zone")
		}
	}
	if m.BaseVersion < 0 {
		return nil, fieldsync.FieldErrorf("base_version", "must not be negative")
	}
	o := &op{m: m, coll: coll, key: recordKey(tenant, coll.Name, m.ID)}
	var err error
	switch m.Op {
	case fieldsync.OpCreate:
		o.fields, err = coll.decodeFields(m.Fields, true)
	case fieldsync.OpUpdate:
		if m.BaseVersion == 0 {
			return nil, fieldsync.FieldErrorf("base_version", "required for update")
		}
		if len(m.Fields) == 0 {
			return nil, fieldsync.FieldErrorf("fields", "nothing to update")
		}
		o.fields, err = coll.decodeFields(m.Fields, false)
	case fieldsync.OpDelete:
		if m.BaseVersion == 0 {
			return nil, fieldsync.FieldErrorf("base_version", "required for delete")
		}
	case fieldsync.OpAction:
		o.act = coll.action(m.Action)
		if o.act == nil {
			return nil, fieldsync.FieldErrorf("action", "unknown action")
		}
		o.args, err = o.act.decodeArgs(m.Args)
	default:
		return nil, fieldsync.FieldErrorf("op", "want create, update, action or delete")
	}
	if err != nil {
		return nil, err
	}
	if m.Op != fieldsync.OpCreate && m.Op != fieldsync.OpUpdate && len(m.Fields) > 0 {
		return nil, fieldsync.FieldErrorf("fields", "only create and update carry fields")
	}
	if m.Op != fieldsync.OpAction && (m.Action != "" || len(m.Args) > 0) {
		return nil, fieldsync.FieldErrorf("action", "only action mutations name an action")
	}
	return o, nil
}

func problemOf(err error) *fieldsync.Problem {
	return &fieldsync.Problem{Code: fieldsync.ErrorCode(err), Detail: fieldsync.ErrorMessage(err), Field: fieldsync.ErrorField(err)}
}

// run applies ops in rounds. Each round costs a constant number of round
// trips whatever the batch size: one $in read of the records it must know
// (skipped for creates: they are inserted blind and a duplicate key tells us
// the record exists), one $inc reserving change-log positions, one insertMany,
// one bulk of version-checked replaces, one release. Ops whose record another
// writer changed in between (duplicate key, version moved) run again next round.
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

// maxPointLoads is the most keys of one collection load looks up one by
// one with Options.PointLoads (beyond, one $in scan costs less).
const maxPointLoads = 4

// load reads the records of keys into known: one $in query per collection,
// or with Options.PointLoads, for a few keys, one look-up by _id each.
func (e *Engine) load(ctx context.Context, known map[string]*slot, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	var recs []*Record
	for coll, ks := range byCollection(keys) {
		if e.opts.PointLoads && len(ks) <= maxPointLoads {
			some, err := e.loadEach(ctx, coll, ks)
			if err != nil {
				return err
			}
			recs = append(recs, some...)
			continue
		}
		some, err := findAll[*Record](ctx, e.recsFor(coll), bson.M{"_id": bson.M{"$in": ks}})
		if err != nil {
			return err
		}
		recs = append(recs, some...)
	}
	for _, k := range keys {
		known[k] = &slot{loaded: true}
	}
	for _, r := range recs {
		if err := normalizeRecord(r); err != nil {
			return err
		}
		known[r.Key] = &slot{rec: r, inDB: true, orig: r.Version, loaded: true}
	}
	return nil
}

// loadEach reads the records of keys of one collection by _id, in parallel
// (those that do not exist are left out).
func (e *Engine) loadEach(ctx context.Context, coll string, keys []string) ([]*Record, error) {
	recs := make([]*Record, len(keys))
	errs := make([]error, len(keys))
	var wg gosync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			r := new(Record)
			err := e.recsFor(coll).FindOne(ctx, bson.M{"_id": k}).Decode(r)
			switch {
			case err == nil:
				recs[i] = r
			case !errors.Is(err, mongo.ErrNoDocuments):
				errs[i] = storeError(err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(r *Record) bool { return r == nil }), nil
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

// writeGroup stores the dirty records of every write in group under one
// reservation: one $inc, one insertMany and one bulk of version-checked
// replaces per collection, and one log insert for all of them. Each write's
// failed keys (another writer got there first) are set on it. The returned
// reservation is still to be released. The reserve also releases the
// previous group, prev, when there is one (see committer).
func (e *Engine) writeGroup(ctx context.Context, tenant string, group []*groupWrite, prev *written) (reservation, error) {
	n := 0
	for _, w := range group {
		n += len(w.order)
	}
	var ending *reservation
	if prev != nil {
		ending = &prev.r
	}
	r, err := e.reserve(ctx, tenant, n, ending)
	if prev != nil {
		if err != nil {
			e.releaseGroup(ctx, prev) // on its own, then
		} else {
			prev.finish(ctx, e, nil)
		}
	}
	if err != nil {
		return r, err
	}
	for _, w := range group {
		r.devices = append(r.devices, w.device)
	}
	e.fault(FaultReserved)
	// Writes must land well before the reservation expires and pullers pass it.
	wctx, cancel := context.WithTimeout(ctx, e.opts.ReservationTTL/2)
	defer cancel()
	// Where a record of the group is: its write and key.
	type at struct {
		w *groupWrite
		k string
	}
	inserts, insertAt := map[string][]any{}, map[string][]at{}
	replaces, replaceAt := map[string][]mongo.WriteModel{}, map[string][]at{}
	stored := make([]bson.Raw, 0, n) // each record encoded once: stored and logged
	storedAt := make([]at, 0, n)
	var audits []any
	pos := r.lo
	for _, w := range group {
		w.failed = map[string]bool{}
		for _, k := range w.order {
			s := w.work[k]
			s.rec.Pos = pos
			pos++
			audits = append(audits, s.rec.sealAudit()...)
			doc, err := s.rec.encode(e.colls[s.rec.Collection])
			if err != nil {
				return r, err
			}
			stored, storedAt = append(stored, doc), append(storedAt, at{w, k})
			c := s.rec.Collection
			if s.inDB {
				replaces[c] = append(replaces[c], mongo.NewReplaceOneModel().
					SetFilter(bson.M{"_id": k, keyVersion: s.orig}).SetReplacement(doc))
				replaceAt[c] = append(replaceAt[c], at{w, k})
			} else {
				inserts[c] = append(inserts[c], doc)
				insertAt[c] = append(insertAt[c], at{w, k})
			}
		}
	}
	// The audit entries of these versions go first: a committed version
	// always has its entry (audit.go).
	if err := e.insertAudit(wctx, audits); err != nil {
		return r, err
	}
	for c, docs := range inserts {
		_, err := e.recsFor(c).InsertMany(wctx, docs, options.InsertMany().SetOrdered(false))
		dups, ok := mongodb.DuplicateKeys(err)
		if !ok {
			return r, storeError(err)
		}
		for _, i := range dups {
			a := insertAt[c][i]
			a.w.failed[a.k] = true
		}
	}
	e.fault(FaultInserted)
	for c, models := range replaces {
		br, err := e.recsFor(c).BulkWrite(wctx, models, options.BulkWrite().SetOrdered(false))
		if err != nil {
			return r, storeError(err)
		}
		if br.MatchedCount < int64(len(models)) {
			// Someone changed some of them since we read (perhaps another
			// write of this group): find which of ours landed.
			var keys []string
			for _, a := range replaceAt[c] {
				keys = append(keys, a.k)
			}
			got, err := findAll[struct {
				Key  string `bson:"_id"`
				Sync struct {
					Pos int64 `bson:"position"`
				} `bson:"_sync"`
			}](wctx, e.recsFor(c), bson.M{"_id": bson.M{"$in": keys}}, options.Find().SetProjection(bson.M{keyPos: 1}))
			if err != nil {
				return r, err
			}
			now := map[string]int64{}
			for _, g := range got {
				now[g.Key] = g.Sync.Pos
			}
			for _, a := range replaceAt[c] {
				if now[a.k] != a.w.work[a.k].rec.Pos {
					a.w.failed[a.k] = true
				}
			}
		}
	}
	var landed []bson.Raw
	for i, doc := range stored {
		if a := storedAt[i]; !a.w.failed[a.k] {
			landed = append(landed, doc)
		}
	}
	if err := e.logWrites(wctx, tenant, landed); err != nil {
		return r, err
	}
	e.fault(FaultWritten)
	return r, nil
}

func (e *Engine) fault(point string) {
	if e.opts.Fault != nil {
		e.opts.Fault(point)
	}
}

// deviceOf names who made a change: the caller's device, or "server".
// nameOf is the display name of the caller ("" for the server).
func nameOf(c *fieldsync.Caller) string {
	if c == nil {
		return ""
	}
	return c.Name
}

func deviceOf(c *fieldsync.Caller) (user, device string) {
	if c == nil {
		return "server", "server"
	}
	return c.UserID, c.DeviceID
}

// apply runs one op against the working state and fills its result; it
// returns the extra writes an action queued.
func (e *Engine) apply(ctx context.Context, c *fieldsync.Caller, now time.Time, work map[string]*slot, o *op, res []fieldsync.MutationResult) []*op {
	if o.write != nil {
		o.err = e.applyWrite(withClientTime(ctx, o.ct), c, now, work, o)
		return nil
	}
	r := &res[o.idx]
	*r = fieldsync.MutationResult{MutationID: o.m.MutationID, ID: o.m.ID}
	ctx = withClientTime(ctx, o.m.ClientTime) // deadlines count from the device's time (DeviceTime)
	s := work[o.key]
	if s == nil {
		s = &slot{}
		work[o.key] = s
	}
	reject := func(err error, withDoc bool) []*op {
		r.Status, r.Error = fieldsync.StatusRejected, problemOf(err)
		if withDoc && s.rec != nil && fieldsync.CanRead(c, s.rec.Ref(), now) {
			r.Version, r.Doc = s.rec.Version, e.render(c, s.rec)
		}
		return nil
	}
	if s.rec != nil {
		if rc := s.rec.receipt(o.m.MutationID); rc != nil {
			r.Status, r.Version = fieldsync.StatusDuplicate, rc.Version
			e.answerDoc(c, now, s.rec, r)
			return nil
		}
	}
	if err := checkClientTimes(c, o, s.rec, now); err != nil {
		return reject(err, false)
	}
	if o.m.Op == fieldsync.OpCreate {
		if s.rec != nil {
			if s.rec.Deleted {
				return reject(fieldsync.Errorf(fieldsync.EGone, "a record with this id was deleted"), false)
			}
			return reject(fieldsync.Errorf(fieldsync.EConflict, "a record with this id exists"), true)
		}
		site, _ := o.fields[SiteField].(string)
		if err := o.coll.checkCreate(c, site, o.fields); err != nil {
			return reject(err, false)
		}
		if err := o.checkCites(site, nil); err != nil {
			return reject(err, false)
		}
		user, _ := deviceOf(c)
		rec := newRecord(c.TenantID, o.coll.Name, o.m.ID, site, user, now)
		rec.CreatedByName = c.Name
		if o.m.ClientTime != "" {
			rec.Fields["client_created_at"] = o.m.ClientTime
		}
		before := cloneMap(rec.Fields)
		for k, v := range o.fields {
			if k != SiteField && v != nil {
				rec.Fields[k] = v
			}
		}
		applyDefaults(o.coll, rec)
		s.rec = rec
		e.commit(ctx, o.coll, rec, before, c, now, o.m, true)
		s.dirty = true
		r.Status, r.Version = fieldsync.StatusApplied, rec.Version
		e.answerDoc(c, now, rec, r)
		rec.Receipts = append(rec.Receipts, Receipt{o.m.MutationID, r.Status, rec.Version})
		return nil
	}
	if s.rec == nil {
		return reject(fieldsync.Errorf(fieldsync.ENotFound, "no such record"), false)
	}
	rec := s.rec
	if rec.Deleted {
		return reject(fieldsync.Errorf(fieldsync.EGone, "the record was deleted"), false)
	}
	if !fieldsync.CanRead(c, rec.Ref(), now) {
		return reject(fieldsync.Errorf(fieldsync.EForbidden, "may not change this record"), false)
	}
	switch o.m.Op {
	case fieldsync.OpUpdate:
		if err := o.coll.checkUpdate(c, rec, o.fields); err != nil {
			return reject(err, true)
		}
	case fieldsync.OpDelete:
		if err := o.coll.checkDelete(c, rec); err != nil {
			return reject(err, true)
		}
	}
	if err := o.checkCites(rec.SiteID, rec.Media); err != nil {
		return reject(err, true)
	}
	if o.m.BaseVersion > rec.Version {
		return reject(fieldsync.FieldErrorf("base_version", "ahead of the server's version %d", rec.Version), true)
	}
	_, dev := deviceOf(c)
	stale := o.m.BaseVersion != 0 && o.m.BaseVersion < rec.Version
	// touchedByOthers reports a field another device changed since base_version.
	touchedByOthers := func(f string) bool {
		return stale && rec.FieldVersions[f] > o.m.BaseVersion && rec.FieldDevices[f] != dev
	}
	before := cloneMap(rec.Fields)
	status := fieldsync.StatusApplied
	var spawned []*op
	switch o.m.Op {
	case fieldsync.OpUpdate:
		applied := 0
		for name, v := range o.fields {
			f := findField(o.coll.Fields, name)
			switch {
			case f.AppendOnly:
				rec.Fields[name] = union(rec.Fields[name], v)
				applied++
			case o.coll.Conflict == RejectStale && stale, touchedByOthers(name):
				status = fieldsync.StatusConflict
			default:
				setField(rec.Fields, name, v)
				applied++
			}
		}
		if applied == 0 {
			rec.Fields = before
			r.Status, r.Version, r.Doc = fieldsync.StatusConflict, rec.Version, e.render(c, rec)
			return nil
		}
	case fieldsync.OpDelete:
		for name := range rec.Fields {
			if touchedByOthers(name) {
				r.Status, r.Version, r.Doc = fieldsync.StatusConflict, rec.Version, e.render(c, rec)
				return nil
			}
		}
		rec.Deleted = true
	case fieldsync.OpAction:
		if o.coll.Machine != nil {
			assignee := ""
			if len(rec.Assignees) > 0 {
				assignee = rec.Assignees[0]
			}
			to, err := fieldsync.Step(o.coll.Machine, rec.GetString(o.coll.StateField), o.act.Name, c, assignee)
			if err != nil {
				return reject(err, true)
			}
			rec.Fields[o.coll.StateField] = to
		} else if len(o.act.Roles) > 0 && !slices.Contains(o.act.Roles, c.Role) {
			return reject(fieldsync.Errorf(fieldsync.EForbidden, "role may not %s this record", o.act.Name), true)
		}
		if o.act.Apply != nil {
			ac := &ActionContext{Caller: c, Now: now, Action: o.act.Name, Args: o.args, Record: rec,
				BaseVersion: o.m.BaseVersion, ctx: ctx, lookup: e.lookupIn(ctx, c.TenantID, work)}
			if err := o.act.Apply(ac); err != nil {
				rec.Fields = before
				return reject(err, true)
			}
			for i := range ac.writes {
				w := &ac.writes[i]
				spawned = append(spawned, &op{idx: -1, write: w, parent: o.m.MutationID, ct: o.m.ClientTime, coll: e.colls[w.Collection],
					key: recordKey(c.TenantID, w.Collection, w.ID)})
			}
		}
	}
	e.commit(ctx, o.coll, rec, before, c, now, o.m, false)
	s.dirty = true
	r.Status, r.Version = status, rec.Version
	e.answerDoc(c, now, rec, r)
	rec.Receipts = append(rec.Receipts, Receipt{o.m.MutationID, status, rec.Version})
	if n := len(rec.Receipts); n > MaxReceipts {
		rec.Receipts = rec.Receipts[n-MaxReceipts:]
	}
	return spawned
}

// answerDoc puts the record as stored (server-set status, deadlines and
// version included) in a mutation's result, so a phone shows them without a
// pull — unless the record is gone or has left the caller's scope.
func (e *Engine) answerDoc(c *fieldsync.Caller, now time.Time, rec *Record, r *fieldsync.MutationResult) {
	if !rec.Deleted && fieldsync.CanRead(c, rec.Ref(), now) {
		r.Doc = e.render(c, rec)
	}
}

// applyWrite applies a server-side write (an action's extra write or a job's).
func (e *Engine) applyWrite(ctx context.Context, c *fieldsync.Caller, now time.Time, work map[string]*slot, o *op) error {
	w := o.write
	if o.coll == nil {
		return fieldsync.Errorf(fieldsync.EInternal, "write to undeclared collection %s", w.Collection)
	}
	s := work[o.key]
	if s == nil {
		s = &slot{}
		work[o.key] = s
	}
	if s.rec != nil && o.parent != "" && s.rec.receipt(o.parent) != nil {
		return nil // a retried push: this write landed the first time
	}
	user, _ := deviceOf(c)
	switch {
	case w.Create && s.rec != nil:
		return fieldsync.Errorf(fieldsync.EConflict, "%s %s exists", w.Collection, w.ID)
	case w.Create:
		by := w.CreatedBy
		if by == "" {
			by = user
		}
		s.rec = newRecord(tenantOfKey(o.key), w.Collection, w.ID, w.SiteID, by, now)
	case s.rec == nil || s.rec.Deleted:
		return fieldsync.Errorf(fieldsync.EGone, "%s %s does not exist", w.Collection, w.ID)
	}
	rec := s.rec
	before := cloneMap(rec.Fields)
	if w.Create {
		before = map[string]any{}
	}
	for k, v := range w.Set {
		setField(rec.Fields, k, normalize(v))
	}
	for k, vs := range w.Append {
		rec.Fields[k] = union(rec.Fields[k], normalize(vs))
	}
	if w.Create {
		applyDefaults(o.coll, rec)
	}
	if !w.Create && reflect.DeepEqual(before, rec.Fields) {
		return nil // nothing changes: no new version
	}
	e.commit(ctx, o.coll, rec, before, c, now, nil, w.Create)
	if o.parent != "" {
		rec.auditVia(o.parent)
		rec.Receipts = append(rec.Receipts, Receipt{o.parent, fieldsync.StatusApplied, rec.Version})
	}
	s.dirty = true
	return nil
}

func applyDefaults(coll *Collection, rec *Record) {
	for _, f := range coll.Fields {
		if _, ok := rec.Fields[f.Name]; !ok && f.Default != nil {
			rec.Fields[f.Name] = normalize(f.Default)
		}
	}
}

func tenantOfKey(k string) string { t, _, _ := strings.Cut(k, "/"); return t }

func newRecord(tenant, coll, id, site, by string, now time.Time) *Record {
	return &Record{Key: recordKey(tenant, coll, id), Tenant: tenant, Collection: coll, ID: id, SiteID: site,
		CreatedBy: by, CreatedAt: now, Fields: map[string]any{SiteField: site},
		FieldVersions: map[string]int64{}, FieldDevices: map[string]string{}}
}

// commit turns a change of rec's fields into a new version: computed fields,
// per-field versions (for merge), scope (assignees) and cited media.
func (e *Engine) commit(ctx context.Context, coll *Collection, rec *Record, before map[string]any, c *fieldsync.Caller, now time.Time, m *fieldsync.Mutation, create bool) {
	user, dev := deviceOf(c)
	rec.Version++
	defer noteAudit(coll, rec, before, c, now, m, create) // of the version as finally made
	rec.UpdatedAt, rec.UpdatedBy, rec.UpdatedDevice = now, user, dev
	rec.UpdatedByName = nameOf(c)
	if m != nil && m.ClientTime != "" {
		rec.Fields["client_updated_at"] = m.ClientTime
	}
	if coll.Compute != nil && !rec.Deleted {
		coll.Compute(ctx, rec, now)
	}
	if !create { // a field set at creation needs no entry (see Record.FieldVersions)
		for k, v := range rec.Fields {
			if !reflect.DeepEqual(before[k], v) {
				rec.FieldVersions[k], rec.FieldDevices[k] = rec.Version, dev
			}
		}
		for k := range before {
			if _, ok := rec.Fields[k]; !ok {
				rec.FieldVersions[k], rec.FieldDevices[k] = rec.Version, dev
			}
		}
	}
	if rec.Deleted {
		rec.Former = unionStrings(rec.Former, rec.Assignees)
		rec.Fields = map[string]any{SiteField: rec.SiteID}
		rec.Media = nil
		return
	}
	var asg, med []string
	for _, f := range coll.Fields {
		v := rec.Fields[f.Name]
		switch {
		case f.Assignee:
			asg = unionStrings(asg, stringsOf(v))
		case f.Kind == Media || f.Kind == MediaList:
			med = unionStrings(med, stringsOf(v))
		}
	}
	rec.Former = unionStrings(rec.Former, rec.Assignees)
	rec.Assignees, rec.Media = asg, med
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

func unionStrings(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

// union merges list b into list a as a set: no element of either is lost.
func union(a, b any) any {
	la, _ := a.([]any)
	out := slices.Clone(la)
	lb, _ := b.([]any)
	for _, x := range lb {
		if !slices.ContainsFunc(out, func(y any) bool { return reflect.DeepEqual(x, y) }) {
			out = append(out, x)
		}
	}
	if out == nil {
		out = []any{}
	}
	return out
}

func setField(fields map[string]any, k string, v any) {
	if v == nil {
		delete(fields, k)
		return
	}
	fields[k] = v
}
