package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"fieldsync"
)

// Conflict policies for an update whose base_version is stale.
const (
	// MergeFields applies the fields nobody else changed since base_version and
	// answers conflict for the rest (the server value stays). The default.
	MergeFields = iota
	// RejectStale refuses the whole update with conflict.
	RejectStale
)

// SiteField is the field every collection declares: the site a record belongs to.
const SiteField = "site_id"

// Collection declares a synced collection: its fields, what a phone may set,
// its actions, its server-computed fields and its redaction. The engine
// validates, merges, versions and logs every collection's changes the same way.
type Collection struct {
	Name   string
	Fields []Field
	// StateField and Machine, when set, check every action with fieldsync.Step
	// (role, assignee, source state) and move StateField to the target state.
	StateField string
	Machine    []fieldsync.Transition
	Actions    []Action
	// Rules declare who may create, update and delete the records, field by
	// field and state by state (see Rule); none: nobody may.
	Rules []Rule
	// Conflict is MergeFields (default) or RejectStale.
	Conflict int
	// Compute, when set, derives server fields after every change (push, action,
	// server job): deadlines, breached flags. It may only touch non-client fields.
	Compute func(ctx context.Context, r *Record, now time.Time)
	// Redact, when set, masks fields of doc for caller on the way out (pull,
	// bootstrap, push results).
	Redact func(c *fieldsync.Caller, doc map[string]any)
	// CheckTimes, when set, relates the times a mutation brings to each other
	// and to the stored record (a round's scans fall within the round), once
	// each was bounded against the server's clock (times.go). Its error
	// names the offending field; it rejects the mutation.
	CheckTimes func(t TimeCheck) error
}

// TimeCheck is what Collection.CheckTimes sees of a mutation.
type TimeCheck struct {
	Op string
	// Action is the action's name (Op action only).
	Action string
	// Fields (create, update) or Args (action) are the decoded values.
	Fields map[string]any
	Args   map[string]any
	// Record is the stored record: nil on create.
	Record *Record
}

// Action declares an action a phone may push on a record of the collection.
type Action struct {
	Name string
	// Roles may take the action when the collection has no Machine (empty: any
	// caller who may write the record).
	Roles []fieldsync.Role
	// Args declares the arguments (validated like fields).
	Args []Field
	// Apply changes the record through ctx: sets fields, appends to lists
	// (timelines), queues writes to other records. An error rejects the
	// mutation (return *fieldsync.Error with a code).
	Apply func(ctx *ActionContext) error
}

// ActionContext is what an action's Apply sees and changes.
type ActionContext struct {
	Caller *fieldsync.Caller
	Now    time.Time
	Action string
	// Args are the validated arguments.
	Args   map[string]any
	Record *Record
	// BaseVersion is the version the phone acted on (0: none given); actions
	// use it to detect a race on a field (two agents assigning at once).
	BaseVersion int64
	ctx         context.Context
	lookup      func(collection string, ids []string) ([]*Record, error)
	writes      []Write
}

// Write queues a change to another record, applied in the same push,
// versioned and logged like any change. A Create write whose record already
// exists from the same mutation (a retried push) is skipped.
func (a *ActionContext) Write(w Write) { a.writes = append(a.writes, w) }

// Write is a server-side change of one record: by an action (Extra writes) or
// a server job (Engine.Apply).
type Write struct {
	Collection string
	ID         string
	// Create makes a new record (SiteID required) instead of changing one.
	Create bool
	SiteID string
	// CreatedBy names the creator of a new record (default: the acting user).
	CreatedBy string
	// Set sets fields (nil deletes one); Append adds to list fields as a set union.
	Set    map[string]any
	Append map[string][]any
}

// Record is a stored record: its declared fields and the server's bookkeeping.
// How it is stored is the Store's business (on MongoDB: docs/DATA-MODEL.md).
type Record struct {
	Key        string
	Tenant     string
	Collection string
	ID         string
	SiteID     string
	Version    int64
	Pos        int64
	Deleted    bool
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	UpdatedBy  string
	// CreatedByName and UpdatedByName are the display names of those users
	// when the change was made (a person reads names, not ids).
	CreatedByName string
	UpdatedByName string
	// UpdatedDevice is the device of the last change (read-your-writes).
	UpdatedDevice string
	// Assignees feed RecordRef.AssigneeIDs; Former are every assignee the
	// record ever had, so a reassigned record is sent as delete to the old one.
	Assignees []string
	Former    []string
	// Media are the media ids the record cites (from Media and MediaList fields).
	Media []string
	// Fields are the record's fields, each stored under its own name.
	Fields map[string]any
	// FieldVersions and FieldDevices say which change after the creation last
	// touched each field (merge); a field absent from them is as created (version 1),
	// which no update's base_version predates.
	FieldVersions map[string]int64
	FieldDevices  map[string]string
	// Receipts are the outcomes of the latest mutations applied to the record:
	// a retried mutation is recognised from the record itself.
	Receipts []Receipt
	// AuditHash and AuditAt are the hash and time of the record's latest
	// audit entry, the head of its chain (audit.go).
	AuditHash string
	AuditAt   time.Time
	// audit are the entries of versions made and not yet written.
	audit []pendingAudit
}

// Receipt is the stored outcome of one applied mutation.
type Receipt struct {
	MutationID string
	Status     string
	Version    int64
}

// MaxReceipts is how many mutation outcomes a record remembers. A retry of an
// older mutation of a busy record is evaluated afresh against its base_version.
const MaxReceipts = 256

// Get returns a field's value.
func (r *Record) Get(field string) any { return r.Fields[field] }

// GetString returns a string field's value, or "".
func (r *Record) GetString(field string) string { s, _ := r.Fields[field].(string); return s }

// Ref is what authorization needs to know about the record.
func (r *Record) Ref() fieldsync.RecordRef {
	return fieldsync.RecordRef{Collection: r.Collection, ID: r.ID, TenantID: r.Tenant, SiteID: r.SiteID,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, AssigneeIDs: r.Assignees}
}

func (r *Record) receipt(mid string) *Receipt {
	for i := range r.Receipts {
		if r.Receipts[i].MutationID == mid {
			return &r.Receipts[i]
		}
	}
	return nil
}

func (r *Record) clone() *Record {
	c := *r
	c.Fields = cloneMap(r.Fields)
	c.FieldVersions = make(map[string]int64, len(r.FieldVersions))
	for k, v := range r.FieldVersions {
		c.FieldVersions[k] = v
	}
	c.FieldDevices = make(map[string]string, len(r.FieldDevices))
	for k, v := range r.FieldDevices {
		c.FieldDevices[k] = v
	}
	c.Assignees = slices.Clone(r.Assignees)
	c.Former = slices.Clone(r.Former)
	c.Media = slices.Clone(r.Media)
	c.Receipts = slices.Clone(r.Receipts)
	c.audit = slices.Clone(r.audit)
	return &c
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Doc renders the record as a phone sees it (before redaction).
func (r *Record) Doc() map[string]any {
	d := make(map[string]any, len(r.Fields)+8)
	for k, v := range r.Fields {
		d[k] = v
	}
	d["id"] = r.ID
	d[SiteField] = r.SiteID
	d["version"] = r.Version
	d["created_at"] = r.CreatedAt.UTC().Format(time.RFC3339Nano)
	d["created_by"] = r.CreatedBy
	d["updated_at"] = r.UpdatedAt.UTC().Format(time.RFC3339Nano)
	d["updated_by"] = r.UpdatedBy
	if r.CreatedByName != "" {
		d["created_by_name"] = r.CreatedByName
	}
	if r.UpdatedByName != "" {
		d["updated_by_name"] = r.UpdatedByName
	}
	return d
}

// reserved names a phone may never send as fields: the server keeps them.
var reserved = []string{"id", "tenant_id", "version", "created_at", "created_by", "updated_at", "updated_by", "created_by_name", "updated_by_name", "client_created_at", "client_updated_at", "deleted"}

// validate checks a collection declaration once, at engine start.
func (c *Collection) validate() error {
	if c.Name == "" || !validName(c.Name) {
		return fmt.Errorf("sync: collection %q: bad name", c.Name)
	}
	site := findField(c.Fields, SiteField)
	if site == nil || !site.Required || !site.Immutable {
		return fmt.Errorf("sync: collection %s: must declare a required immutable %s", c.Name, SiteField)
	}
	seen := map[string]bool{}
	for _, f := range c.Fields {
		if !validName(f.Name) || seen[f.Name] || slices.Contains(reserved, f.Name) {
			return fmt.Errorf("sync: collection %s: bad or repeated field %q", c.Name, f.Name)
		}
		seen[f.Name] = true
		if f.AppendOnly && !isList(f.Kind) {
			return fmt.Errorf("sync: collection %s: append-only field %s is not a list", c.Name, f.Name)
		}
		if f.Assignee && f.Kind != UUID && f.Kind != UUIDList {
			return fmt.Errorf("sync: collection %s: assignee field %s is not a uuid", c.Name, f.Name)
		}
	}
	if c.StateField != "" && findField(c.Fields, c.StateField) == nil {
		return fmt.Errorf("sync: collection %s: state field %s not declared", c.Name, c.StateField)
	}
	if err := c.validateRules(); err != nil {
		return err
	}
	for _, a := range c.Actions {
		if a.Apply == nil && c.Machine == nil {
			return fmt.Errorf("sync: collection %s: action %s does nothing", c.Name, a.Name)
		}
	}
	return nil
}

func isList(k Kind) bool {
	return k == UUIDList || k == StringList || k == MediaList || k == ObjectList
}

func (c *Collection) action(name string) *Action {
	for i := range c.Actions {
		if c.Actions[i].Name == name {
			return &c.Actions[i]
		}
	}
	return nil
}

// decodeFields validates pushed fields: every name known, client-settable,
// well-typed and within limits. create also requires Required fields.
func (c *Collection) decodeFields(raw map[string]json.RawMessage, create bool) (map[string]any, error) {
	out := make(map[string]any, len(raw))
	for name, v := range raw {
		if !validName(name) {
			return nil, fieldsync.FieldErrorf("fields."+name, "invalid field name")
		}
		f := findField(c.Fields, name)
		if f == nil {
			return nil, fieldsync.FieldErrorf("fields."+name, "unknown field")
		}
		if !f.Client {
			return nil, fieldsync.FieldErrorf("fields."+name, "set by the server only")
		}
		if f.Immutable && !create {
			return nil, fieldsync.FieldErrorf("fields."+name, "cannot change after create")
		}
		x, err := f.decode("fields."+name, v)
		if err != nil {
			return nil, err
		}
		out[name] = x
	}
	if create {
		for _, f := range c.Fields {
			if f.Required && out[f.Name] == nil {
				return nil, fieldsync.FieldErrorf("fields."+f.Name, "required")
			}
		}
	}
	return out, nil
}

// DecodeFields validates fields as a push of them would be validated (an
// import checks every row before it writes any through Engine.ApplyAs).
func (c *Collection) DecodeFields(raw map[string]json.RawMessage, create bool) (map[string]any, error) {
	return c.decodeFields(raw, create)
}

// Field returns the declaration of the field name, or nil.
func (c *Collection) Field(name string) *Field { return findField(c.Fields, name) }

// decodeArgs validates an action's arguments.
func (a *Action) decodeArgs(raw map[string]json.RawMessage) (map[string]any, error) {
	out := make(map[string]any, len(raw))
	for name, v := range raw {
		f := findField(a.Args, name)
		if f == nil || !validName(name) {
			return nil, fieldsync.FieldErrorf("args."+name, "unknown argument")
		}
		x, err := f.decode("args."+name, v)
		if err != nil {
			return nil, err
		}
		out[name] = x
	}
	for _, f := range a.Args {
		if f.Required && out[f.Name] == nil {
			return nil, fieldsync.FieldErrorf("args."+f.Name, "required")
		}
	}
	return out, nil
}

// Set sets a field (nil removes it). Actions, computed fields and jobs use it;
// time.Time becomes RFC 3339 and []string a list.
func (r *Record) Set(field string, v any) { setField(r.Fields, field, normalize(v)) }

// Append adds values to a list field as a set union (timelines, links).
func (r *Record) Append(field string, vs ...any) {
	r.Fields[field] = union(r.Fields[field], normalize(vs))
}
