package sync

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"

	"fieldsync"
)

// Applying a mutation or a server write to the working state of its record:
// the checks that need the record, the field-by-field merge of a stale
// update, actions, and the new version they make (newVersion). Nothing here
// touches the store; the group commit (commit.go) writes what changed.

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
		e.newVersion(ctx, o.coll, rec, before, c, now, o.m, true)
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
	e.newVersion(ctx, o.coll, rec, before, c, now, o.m, false)
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
	e.newVersion(ctx, o.coll, rec, before, c, now, nil, w.Create)
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

// newVersion turns a change of rec's fields, in memory, into a new version:
// computed fields, per-field versions (for merge), scope (assignees) and
// cited media, and the audit entry noted for it.
func (e *Engine) newVersion(ctx context.Context, coll *Collection, rec *Record, before map[string]any, c *fieldsync.Caller, now time.Time, m *fieldsync.Mutation, create bool) {
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
