package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	gosync "sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
	"fieldsync/sync/synctest"

	"github.com/google/uuid"
)

func TestMain(m *testing.M) { devtest.Main(m) }

const tenant = synctest.Tenant

// Staff of the tests (sync/synctest).
var (
	guard1, guard2, tech1, tech2 = synctest.Guard1, synctest.Guard2, synctest.Tech1, synctest.Tech2
	agent1, super2, admin, other = synctest.Agent1, synctest.Super2, synctest.Admin, synctest.Other
)

// testWorkOrders is a test-only collection using every field kind, the work
// order state machine, an action with an extra write, a computed field and redaction.
func testWorkOrders() *fsync.Collection {
	return &fsync.Collection{
		Name: fieldsync.CollWorkOrders,
		Fields: []fsync.Field{
			{Name: fsync.SiteField, Kind: fsync.String, Max: 64, Client: true, Required: true, Immutable: true},
			{Name: "title", Kind: fsync.String, Max: 100, Client: true, Required: true},
			{Name: "priority", Kind: fsync.Enum, Values: []string{"urgent", "normal", "low"}, Client: true},
			{Name: "count", Kind: fsync.Int, Min: 0, Max: 100, Client: true},
			{Name: "ratio", Kind: fsync.Number, Client: true},
			{Name: "done", Kind: fsync.Bool, Client: true},
			{Name: "due", Kind: fsync.Time, Client: true},
			{Name: "ref", Kind: fsync.UUID, Client: true},
			{Name: "refs", Kind: fsync.UUIDList, Client: true},
			{Name: "parts", Kind: fsync.StringList, Max: 40, MaxItems: 10, Client: true},
			{Name: "tags", Kind: fsync.StringList, Client: true, AppendOnly: true},
			{Name: "gps", Kind: fsync.GPS, Client: true},
			{Name: "signature_media_id", Kind: fsync.Media},
			{Name: "photo_ids", Kind: fsync.MediaList, Client: true, AppendOnly: true},
			{Name: "owner_phone", Kind: fsync.String, Max: 32, Client: true},
			{Name: "timeline", Kind: fsync.ObjectList, AppendOnly: true, MaxItems: 500, Item: []fsync.Field{
				{Name: "at", Kind: fsync.Time, Required: true}, {Name: "by", Kind: fsync.String}, {Name: "action", Kind: fsync.String},
				{Name: "note", Kind: fsync.String}}},
			{Name: "status", Kind: fsync.Enum, Default: "open", Values: []string{"open", "assigned", "accepted", "in_progress", "on_hold", "completed", "verified", "cancelled"}},
			{Name: "assignee_id", Kind: fsync.UUID, Assignee: true},
			{Name: "title_length", Kind: fsync.Int},
		},
		StateField: "status",
		Machine:    fieldsync.WorkOrderTransitions,
		// The engine's own tests: the desk creates, whoever reads changes and deletes.
		Rules: []fsync.Rule{
			{Op: fieldsync.OpCreate, Roles: fieldsync.DeskRoles, Fields: []string{fsync.AllFields}},
			{Op: fieldsync.OpUpdate, Roles: fieldsync.Roles, Fields: []string{fsync.AllFields}},
			{Op: fieldsync.OpDelete, Roles: fieldsync.Roles},
		},
		Actions: []fsync.Action{
			{Name: "assign", Args: []fsync.Field{{Name: "assignee_id", Kind: fsync.UUID, Required: true}},
				Apply: func(a *fsync.ActionContext) error {
					a.Record.Set("assignee_id", a.Args["assignee_id"])
					a.Record.Append("timeline", map[string]any{"at": a.Now.Format(time.RFC3339Nano), "by": a.Caller.UserID, "action": "assign"})
					return nil
				}},
			{Name: "accept"}, {Name: "start"}, {Name: "cancel", Args: []fsync.Field{{Name: "reason", Kind: fsync.String, Required: true}}},
			{Name: "complete", Args: []fsync.Field{{Name: "resolution", Kind: fsync.String, Required: true}, {Name: "signature_media_id", Kind: fsync.Media}},
				Apply: func(a *fsync.ActionContext) error {
					if s, ok := a.Args["signature_media_id"]; ok {
						a.Record.Set("signature_media_id", s)
					}
					// Extra write: a follow-up inspection linked to this order.
					a.Write(fsync.Write{Collection: fieldsync.CollInspections, ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(a.Record.ID)).String(),
						Create: true, SiteID: a.Record.SiteID, Set: map[string]any{"category": "other", "description": a.Args["resolution"],
							"work_order_ids": []string{a.Record.ID}, "assignee_ids": []string{a.Caller.UserID}}})
					return nil
				}},
		},
		Compute: func(_ context.Context, r *fsync.Record, _ time.Time) {
			r.Set("title_length", int64(len(r.GetString("title"))))
		},
		Redact: func(c *fieldsync.Caller, doc map[string]any) {
			if p, ok := doc["owner_phone"].(string); ok && !fieldsync.SeesOwnerContact(c.Role) {
				doc["owner_phone"] = fieldsync.MaskPhone(p)
			}
		},
	}
}

type harness struct {
	tb    testing.TB
	store *mongodb.Store
	e     *fsync.Engine
	now   *clock
}

type clock struct {
	mu gosync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newHarness opens an engine on a fresh database, its store untuned (as on
// MongoDB) whatever the server: the tests choose the tuning they exercise.
func newHarness(tb testing.TB, opts fsync.Options) *harness {
	tb.Helper()
	return newTunedHarness(tb, mongodb.Tuning{}, opts)
}

// newTunedHarness is newHarness with the store's tuning t.
func newTunedHarness(tb testing.TB, t mongodb.Tuning, opts fsync.Options) *harness {
	tb.Helper()
	return openTunedOn(tb, devtest.MustOpenStore(tb), t, opts)
}

func openOn(tb testing.TB, store *mongodb.Store, opts fsync.Options) *harness {
	tb.Helper()
	return openTunedOn(tb, store, mongodb.Tuning{}, opts)
}

func openTunedOn(tb testing.TB, store *mongodb.Store, t mongodb.Tuning, opts fsync.Options) *harness {
	tb.Helper()
	h := &harness{tb: tb, store: store, now: &clock{t: time.Now().UTC().Truncate(time.Millisecond)}} // a server time is kept to the millisecond
	if opts.Now == nil {
		opts.Now = h.now.Now
	}
	if opts.Collections == nil {
		opts.Collections = []*fsync.Collection{field.Inspections(field.Options{}), testWorkOrders()}
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	e, err := fsync.Open(context.Background(), store.SyncTuned(t), opts)
	if err != nil {
		tb.Fatal(err)
	}
	h.e = e
	return h
}

func as(c *fieldsync.Caller) context.Context {
	return fieldsync.NewContextWithCaller(context.Background(), c)
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// Mutations, and pushing them (sync/synctest).
var (
	fields     = synctest.Fields
	update     = synctest.Update
	action     = synctest.Action
	del        = synctest.Delete
	pushTo     = synctest.Push
	wantStatus = synctest.WantStatus
)

func newID() string { return uuid.NewString() }

func createInspection(id, site string, kv ...any) fieldsync.Mutation {
	f := fields(append([]any{"site_id", site, "category", "sanitation"}, kv...)...)
	return fieldsync.Mutation{MutationID: newID(), Collection: fieldsync.CollInspections, Op: fieldsync.OpCreate, ID: id, Fields: f}
}

func createOrder(id, site string, kv ...any) fieldsync.Mutation {
	f := fields(append([]any{"site_id", site, "title", "leak"}, kv...)...)
	return fieldsync.Mutation{MutationID: newID(), Collection: fieldsync.CollWorkOrders, Op: fieldsync.OpCreate, ID: id, Fields: f}
}

// push pushes ms as c and fails the test on an envelope error.
func (h *harness) push(c *fieldsync.Caller, ms ...fieldsync.Mutation) []fieldsync.MutationResult {
	h.tb.Helper()
	return pushTo(h.tb, h.e, c, ms...)
}

// replica is a device's local copy, kept by pulling.
type replica struct {
	c      *fieldsync.Caller
	cursor string
	docs   map[string]fieldsync.Change
}

func newReplica(c *fieldsync.Caller) *replica {
	return &replica{c: c, docs: map[string]fieldsync.Change{}}
}

// sync pulls until has_more is false.
func (r *replica) sync(tb testing.TB, e *fsync.Engine, limit int) {
	tb.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			tb.Fatal("pull never ends")
		}
		page, err := e.Pull(as(r.c), fieldsync.PullRequest{Cursor: r.cursor, Limit: limit})
		if err != nil {
			tb.Fatalf("pull as %s: %v", r.c.UserID, err)
		}
		seen := map[string]bool{}
		for _, ch := range page.Changes {
			k := ch.Collection + "/" + ch.ID
			if seen[k] {
				tb.Fatalf("record %s twice in one page", k)
			}
			seen[k] = true
			r.apply(ch)
		}
		r.cursor = page.Cursor
		if !page.HasMore {
			return
		}
	}
}

// syncUntilHeld is sync that also stops at a page held back below a
// pending or dead writer's reservation (which sync would pull on and on);
// it returns the last page.
func (r *replica) syncUntilHeld(tb testing.TB, e *fsync.Engine, limit int) fieldsync.PullResult {
	tb.Helper()
	for i := 0; ; i++ {
		if i > 10000 {
			tb.Fatal("pull never ends")
		}
		page, err := e.Pull(as(r.c), fieldsync.PullRequest{Cursor: r.cursor, Limit: limit})
		if err != nil {
			tb.Fatalf("pull as %s: %v", r.c.UserID, err)
		}
		for _, ch := range page.Changes {
			r.apply(ch)
		}
		r.cursor = page.Cursor
		if !page.HasMore || page.HeldBack {
			return page
		}
	}
}

func (r *replica) apply(ch fieldsync.Change) {
	k := ch.Collection + "/" + ch.ID
	if ch.Op == fieldsync.ChangeDelete {
		delete(r.docs, k)
		return
	}
	if old, ok := r.docs[k]; ok && old.Version > ch.Version {
		return
	}
	r.docs[k] = ch
}

func (r *replica) versions() []string {
	var out []string
	for k, ch := range r.docs {
		out = append(out, fmt.Sprintf("%s@%d", k, ch.Version))
	}
	sort.Strings(out)
	return out
}

func contextWithCaller(c *fieldsync.Caller) (context.Context, context.CancelFunc) {
	return context.WithCancel(as(c))
}
