package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"fieldsync"
	"fieldsync/internal/jsontext"
)

// The audit trail. Every version the engine commits gets an entry (kept by
// the AuditStore): who, which device, server and device time, the mutation,
// and each changed field's old and new value. Entries of one record form a
// hash chain (each carries the hash of the entry of the previous version),
// and the record itself keeps the hash of its latest entry (Record.AuditHash).
//
// Crash safety without transactions: a write round inserts the entries of
// the versions it makes (idempotently: _id = record key, version and hash)
// before the records, in the same round. A crash between the two leaves
// entries no record points to; a writer that lost a race for a version
// leaves one too. Readers and the verifier walk the chain from the record's
// head hash, so such an entry is "uncommitted" — never shown, never taken for
// tampering — and every committed version has its entry, written before it.

// auditSweepEvery is how often the retention sweep runs per tenant on one instance.
const auditSweepEvery = time.Hour

// noAudit are bookkeeping fields an entry does not list: the device time is
// in the entry itself.
var noAudit = map[string]bool{"client_updated_at": true, "client_created_at": true}

// pendingAudit is an entry noted by commit and sealed (chained, hashed) when
// its record is written.
type pendingAudit struct {
	version                            int64
	op, action, mutationID             string
	user, userName, device, clientTime string
	at                                 time.Time
	// changes is the JSON text of the entry's []fieldsync.AuditChange,
	// what json.Marshal made of it (appendChange).
	changes []byte
}

// AuditLink is a stored audit entry, a link of its record's chain. Changes
// are kept as the JSON text the hash covers, so a stored entry hashes the
// same whatever the database makes of numbers.
type AuditLink struct {
	// ID is unique per record, version and content.
	ID         string
	Tenant     string
	Collection string
	Record     string
	Site       string
	Version    int64
	Op         string
	Action     string
	MutationID string
	User       string
	UserName   string
	Device     string
	At         time.Time
	ClientTime string
	Changes    string
	PrevHash   string
	// PrevAt is the time of the previous entry: a missing predecessor older
	// than the retention was swept, a younger one was removed.
	PrevAt time.Time
	Hash   string
}

// hash is the SHA-256 of everything an entry says, its predecessor's hash included.
func (d *AuditLink) hash() string {
	pa := ""
	if !d.PrevAt.IsZero() {
		pa = d.PrevAt.UTC().Format(time.RFC3339Nano)
	}
	// json.Marshal of the array of these, appended without its reflection (internal/jsontext).
	b := make([]byte, 0, 320+len(d.Changes)+len(d.Changes)/8)
	b = append(b, '[')
	for i, s := range [...]string{d.Tenant, d.Collection, d.Record, d.Site} {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsontext.AppendString(b, s)
	}
	b = strconv.AppendInt(append(b, ','), d.Version, 10)
	for _, s := range [...]string{d.Op, d.Action, d.MutationID, d.User, d.UserName, d.Device,
		d.At.UTC().Format(time.RFC3339Nano), d.ClientTime, d.Changes, d.PrevHash, pa} {
		b = jsontext.AppendString(append(b, ','), s)
	}
	b = append(b, ']')
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func (d *AuditLink) entry() fieldsync.AuditEntry {
	e := fieldsync.AuditEntry{Collection: d.Collection, RecordID: d.Record, SiteID: d.Site, Version: d.Version,
		Op: d.Op, Action: d.Action, MutationID: d.MutationID, UserID: d.User, UserName: d.UserName, DeviceID: d.Device,
		At: d.At.UTC(), ClientTime: d.ClientTime, PrevHash: d.PrevHash, Hash: d.Hash, Changes: []fieldsync.AuditChange{}}
	_ = json.Unmarshal([]byte(d.Changes), &e.Changes)
	return e
}

// noteAudit records, for the version commit just made, what changed and who
// changed it. Entries are sealed when the record is written (sealAudit).
func noteAudit(coll *Collection, rec *Record, before map[string]any, c *fieldsync.Caller, now time.Time, m *fieldsync.Mutation, create bool) {
	user, dev := deviceOf(c)
	p := pendingAudit{version: rec.Version, user: user, userName: nameOf(c), device: dev,
		at: now.UTC().Truncate(time.Millisecond), op: string(fieldsync.OpUpdate)}
	switch {
	case create:
		p.op, before = string(fieldsync.OpCreate), nil
	case rec.Deleted:
		p.op = string(fieldsync.OpDelete)
	}
	if m != nil {
		p.mutationID, p.clientTime = m.MutationID, m.ClientTime
		if m.Op == fieldsync.OpAction {
			p.op, p.action = string(fieldsync.OpAction), m.Action
		}
	}
	keys := make([]string, 0, len(rec.Fields)+len(before))
	for k, v := range rec.Fields {
		if !noAudit[k] && !reflect.DeepEqual(before[k], v) {
			keys = append(keys, k)
		}
	}
	for k, v := range before {
		if _, ok := rec.Fields[k]; !ok && !noAudit[k] && !reflect.DeepEqual(v, nil) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	p.changes = append(make([]byte, 0, 64*len(keys)+2), '[')
	for i, k := range keys {
		if i > 0 {
			p.changes = append(p.changes, ',')
		}
		if f := findField(coll.Fields, k); f != nil && f.AppendOnly && !rec.Deleted {
			old, _ := before[k].([]any)
			var added []any
			for _, x := range asList(rec.Fields[k]) {
				if !slices.ContainsFunc(old, func(y any) bool { return reflect.DeepEqual(x, y) }) {
					added = append(added, x)
				}
			}
			if added == nil {
				added = []any{}
			}
			p.changes = appendChange(p.changes, k, nil, added, true)
			continue
		}
		p.changes = appendChange(p.changes, k, before[k], rec.Fields[k], false)
	}
	p.changes = append(p.changes, ']')
	rec.audit = append(rec.audit, p)
}

// appendChange appends the JSON of fieldsync.AuditChange{Field: field, Old:
// rawJSON(old), New: rawJSON(new), Appended: appended}, as json.Marshal
// writes it (a RawMessage that Marshal made is written as it is).
func appendChange(dst []byte, field string, old, new any, appended bool) []byte {
	dst = jsontext.AppendString(append(dst, `{"field":`...), field)
	dst = appendRawJSON(append(dst, `,"old":`...), old)
	dst = appendRawJSON(append(dst, `,"new":`...), new)
	if appended {
		dst = append(dst, `,"appended":true`...)
	}
	return append(dst, '}')
}

// appendRawJSON appends rawJSON(v).
func appendRawJSON(dst []byte, v any) []byte {
	if b, ok := jsontext.Append(dst, v); ok {
		return b
	}
	return append(dst, rawJSON(v)...)
}

// auditVia names the mutation an action's write to another record came from.
func (r *Record) auditVia(mutationID string) {
	if n := len(r.audit); n > 0 && r.audit[n-1].mutationID == "" {
		r.audit[n-1].mutationID = mutationID
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func rawJSON(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// sealAudit chains and hashes the record's noted entries, moves its head
// hash on, and returns the entries to store before the record.
func (r *Record) sealAudit() []*AuditLink {
	out := make([]*AuditLink, 0, len(r.audit))
	for _, p := range r.audit {
		ch := p.changes
		if ch == nil {
			ch = []byte("[]")
		}
		d := &AuditLink{Tenant: r.Tenant, Collection: r.Collection, Record: r.ID, Site: r.SiteID, Version: p.version,
			Op: p.op, Action: p.action, MutationID: p.mutationID, User: p.user, UserName: p.userName, Device: p.device,
			At: p.at, ClientTime: p.clientTime, Changes: string(ch), PrevHash: r.AuditHash, PrevAt: r.AuditAt}
		d.Hash = d.hash()
		d.ID = auditID(r.Key, p.version, d.Hash)
		r.AuditHash, r.AuditAt = d.Hash, p.at
		out = append(out, d)
	}
	r.audit = nil
	return out
}

// auditID is fmt.Sprintf("%s/%020d/%s", key, version, hash[:16]) — unique
// per record, version and content — without fmt.
func auditID(key string, version int64, hash string) string {
	if version < 0 {
		return fmt.Sprintf("%s/%020d/%s", key, version, hash[:16])
	}
	var digits [20]byte
	v := strconv.AppendInt(digits[:0], version, 10)
	b := make([]byte, 0, len(key)+38)
	b = append(b, key...)
	b = append(b, '/')
	for range 20 - len(v) {
		b = append(b, '0')
	}
	b = append(append(b, v...), '/')
	return string(append(b, hash[:16]...))
}

// auditRetention is how long entries are kept.
func (e *Engine) auditRetention() time.Duration {
	if e.opts.AuditRetention > 0 {
		return e.opts.AuditRetention
	}
	return fieldsync.DefaultAuditRetention
}

var auditSwept sync.Map // engine/tenant → time.Time of the last sweep

// sweepAudit removes tenant's entries older than the retention, at most
// hourly per instance (a sweep may cost the store a scan of the entries).
func (e *Engine) sweepAudit(ctx context.Context, tenant string, now time.Time) error {
	k := fmt.Sprintf("%p/%s", e, tenant)
	if last, ok := auditSwept.Load(k); ok && now.Sub(last.(time.Time)) < auditSweepEvery {
		return nil
	}
	if err := e.store.SweepAudit(ctx, tenant, now.Add(-e.auditRetention())); err != nil {
		return err
	}
	auditSwept.Store(k, now)
	return nil
}

// auditLinks reads tenant's entries of coll (of record id when not ""), by record key.
func (e *Engine) auditLinks(ctx context.Context, tenant, coll, id string) (map[string][]*AuditLink, error) {
	docs, err := e.store.AuditOf(ctx, tenant, coll, id)
	if err != nil {
		return nil, err
	}
	out := map[string][]*AuditLink{}
	for _, d := range docs {
		k := recordKey(d.Tenant, d.Collection, d.Record)
		out[k] = append(out[k], d)
	}
	return out, nil
}

// chain walks rec's entries from its head hash down: the committed entries,
// newest first, and what is wrong with them (a missing or altered entry; a
// predecessor older than the retention is taken as swept).
func (e *Engine) chain(rec *Record, docs []*AuditLink, now time.Time) (onChain []*AuditLink, problems []fieldsync.AuditProblem) {
	byHash := make(map[string]*AuditLink, len(docs))
	for _, d := range docs {
		if d.hash() != d.Hash {
			problems = append(problems, fieldsync.AuditProblem{Collection: d.Collection, RecordID: d.Record, Version: d.Version,
				Detail: "entry altered: its content does not match its hash"})
			continue
		}
		byHash[d.Hash] = d
	}
	cutoff := now.Add(-e.auditRetention())
	h, v, at := rec.AuditHash, rec.Version, rec.UpdatedAt
	for h != "" {
		d := byHash[h]
		if d == nil {
			if at.Before(cutoff) {
				break // swept by the retention
			}
			problems = append(problems, fieldsync.AuditProblem{Collection: rec.Collection, RecordID: rec.ID, Version: v,
				Detail: "entry missing or altered: no entry has the hash the next link names"})
			break
		}
		if d.Version != v {
			problems = append(problems, fieldsync.AuditProblem{Collection: rec.Collection, RecordID: rec.ID, Version: v,
				Detail: fmt.Sprintf("chain broken: the entry linked for version %d is of version %d", v, d.Version)})
			break
		}
		onChain = append(onChain, d)
		h, v, at = d.PrevHash, v-1, d.PrevAt
	}
	return onChain, problems
}

// RecordAudit implements fieldsync.AuditService.
func (e *Engine) RecordAudit(ctx context.Context, collection, id string) ([]fieldsync.AuditEntry, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	notFound := fieldsync.Errorf(fieldsync.ENotFound, "no such record")
	if e.colls[collection] == nil {
		return nil, notFound
	}
	recs, err := e.store.Load(ctx, collection, []string{recordKey(c.TenantID, collection, id)})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, notFound
	}
	rec := recs[0]
	now := e.now()
	if !fieldsync.CanReadAudit(c, rec.SiteID) || !fieldsync.CanRead(c, rec.Ref(), now) {
		return nil, notFound
	}
	docs, err := e.auditLinks(ctx, c.TenantID, collection, rec.ID)
	if err != nil {
		return nil, err
	}
	onChain, _ := e.chain(rec, docs[rec.Key], now)
	out := make([]fieldsync.AuditEntry, 0, len(onChain))
	for _, d := range onChain {
		out = append(out, d.entry())
	}
	return out, nil
}

// VerifyAudit walks the audit chains of tenant's records (of one collection
// when collection is set, of one record when id is too) and reports every
// broken link: an entry whose content no longer matches its hash, a link to
// an entry that is missing, a chain whose head is not the record's.
func (e *Engine) VerifyAudit(ctx context.Context, tenant, collection, id string) (fieldsync.AuditVerification, error) {
	var v fieldsync.AuditVerification
	names := e.names
	if collection != "" {
		if e.colls[collection] == nil {
			return v, fieldsync.FieldErrorf("collection", "unknown collection")
		}
		names = []string{collection}
	}
	now := e.now()
	for _, name := range names {
		var q Query
		if id != "" {
			q.Keys = []string{recordKey(tenant, name, id)}
		}
		recs, err := e.store.Find(ctx, tenant, name, q)
		if err != nil {
			return v, err
		}
		docs, err := e.auditLinks(ctx, tenant, name, id)
		if err != nil {
			return v, err
		}
		seen := map[string]bool{}
		for _, rec := range recs {
			seen[rec.Key] = true
			v.Records++
			ds := docs[rec.Key]
			v.Entries += int64(len(ds))
			onChain, problems := e.chain(rec, ds, now)
			v.Problems = append(v.Problems, problems...)
			v.Uncommitted += int64(len(ds) - len(onChain) - len(problemsOf(problems, "entry altered")))
		}
		// Entries of records no longer stored (purged tombstones): each must still match its hash.
		for k, ds := range docs {
			if seen[k] {
				continue
			}
			v.Entries += int64(len(ds))
			for _, d := range ds {
				if d.hash() != d.Hash {
					v.Problems = append(v.Problems, fieldsync.AuditProblem{Collection: d.Collection, RecordID: d.Record,
						Version: d.Version, Detail: "entry altered: its content does not match its hash"})
				}
			}
		}
	}
	if v.Problems == nil {
		v.Problems = []fieldsync.AuditProblem{}
	}
	return v, nil
}

func problemsOf(ps []fieldsync.AuditProblem, prefix string) []fieldsync.AuditProblem {
	var out []fieldsync.AuditProblem
	for _, p := range ps {
		if strings.HasPrefix(p.Detail, prefix) {
			out = append(out, p)
		}
	}
	return out
}
