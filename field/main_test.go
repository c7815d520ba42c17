package field_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

func TestMain(m *testing.M) { devtest.Main(m) }

const tenant = "acme"

// Staff of the tests, one per role, at sites s1 and s2; other is of another tenant.
var (
	guard1 = &fieldsync.Caller{UserID: "u-guard1", TenantID: tenant, DeviceID: "d-guard1", Role: fieldsync.RoleGuard, SiteIDs: []string{"s1"}}
	guard2 = &fieldsync.Caller{UserID: "u-guard2", TenantID: tenant, DeviceID: "d-guard2", Role: fieldsync.RoleGuard, SiteIDs: []string{"s1"}}
	tech1  = &fieldsync.Caller{UserID: "00000000-0000-4000-8000-000000000001", TenantID: tenant, DeviceID: "d-tech1", Role: fieldsync.RoleTechnician, SiteIDs: []string{"s1"}}
	tech2  = &fieldsync.Caller{UserID: "00000000-0000-4000-8000-000000000002", TenantID: tenant, DeviceID: "d-tech2", Role: fieldsync.RoleTechnician, SiteIDs: []string{"s1"}}
	agent1 = &fieldsync.Caller{UserID: "u-agent1", TenantID: tenant, DeviceID: "d-agent1", Role: fieldsync.RoleCSAgent, SiteIDs: []string{"s1"}}
	super2 = &fieldsync.Caller{UserID: "u-super2", TenantID: tenant, DeviceID: "d-super2", Role: fieldsync.RoleSupervisor, SiteIDs: []string{"s2"}}
	admin  = &fieldsync.Caller{UserID: "u-admin", TenantID: tenant, DeviceID: "d-admin", Role: fieldsync.RoleAdmin}
	other  = &fieldsync.Caller{UserID: "u-other", TenantID: "globex", DeviceID: "d-other", Role: fieldsync.RoleAdmin}
)

// harness is an engine serving the field collections over a fresh
// database, on a clock the test moves.
type harness struct {
	tb    testing.TB
	store *mongodb.Store
	e     *fsync.Engine
	now   *devtest.Clock
}

// newField is a harness serving the field collections declared with opts.
func newField(tb testing.TB, opts field.Options) *harness {
	tb.Helper()
	h := &harness{tb: tb, store: devtest.MustOpenStore(tb), now: devtest.NewClock()}
	h.e = h.open(fsync.Options{Collections: field.Collections(opts)})
	return h
}

// open opens another engine (another API instance) on h's database and clock.
func (h *harness) open(opts fsync.Options) *fsync.Engine {
	h.tb.Helper()
	opts.Now = h.now.Now
	opts.PollInterval = 50 * time.Millisecond
	e, err := fsync.Open(context.Background(), h.store.DB, opts)
	if err != nil {
		h.tb.Fatal(err)
	}
	return e
}

func as(c *fieldsync.Caller) context.Context {
	return fieldsync.NewContextWithCaller(context.Background(), c)
}

// fields are a mutation's fields from name, value pairs.
func fields(kv ...any) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		b, err := json.Marshal(kv[i+1])
		if err != nil {
			panic(err)
		}
		m[kv[i].(string)] = b
	}
	return m
}

func newID() string { return uuid.NewString() }

func create(coll, id string, kv ...any) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: newID(), Collection: coll, Op: fieldsync.OpCreate, ID: id, Fields: fields(kv...)}
}

func createInspection(id, site string, kv ...any) fieldsync.Mutation {
	return create(fieldsync.CollInspections, id, append([]any{"site_id", site, "category", "sanitation"}, kv...)...)
}

func update(coll, id string, base int64, kv ...any) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: newID(), Collection: coll, Op: fieldsync.OpUpdate, ID: id, BaseVersion: base, Fields: fields(kv...)}
}

func action(coll, id string, base int64, name string, kv ...any) fieldsync.Mutation {
	return fieldsync.Mutation{MutationID: newID(), Collection: coll, Op: fieldsync.OpAction, ID: id, BaseVersion: base, Action: name, Args: fields(kv...)}
}

// push pushes ms as c to h's engine.
func (h *harness) push(c *fieldsync.Caller, ms ...fieldsync.Mutation) []fieldsync.MutationResult {
	h.tb.Helper()
	return pushTo(h.tb, h.e, c, ms...)
}

// pushTo pushes ms as c to e and fails the test on an envelope error.
func pushTo(tb testing.TB, e *fsync.Engine, c *fieldsync.Caller, ms ...fieldsync.Mutation) []fieldsync.MutationResult {
	tb.Helper()
	res, err := e.Push(as(c), fieldsync.PushRequest{DeviceID: c.DeviceID, Mutations: ms})
	if err != nil {
		tb.Fatalf("push as %s: %v", c.UserID, err)
	}
	return res.Results
}

func wantStatus(tb testing.TB, got []fieldsync.MutationResult, want ...string) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].Status != want[i] {
			tb.Fatalf("result %d: got status %s (error %+v), want %s", i, got[i].Status, got[i].Error, want[i])
		}
	}
}

// replica is a device's copy of its scope, kept by pulling.
type replica struct {
	c      *fieldsync.Caller
	cursor string
	docs   map[string]fieldsync.Change
}

func newReplica(c *fieldsync.Caller) *replica {
	return &replica{c: c, docs: map[string]fieldsync.Change{}}
}

// sync pulls pages of limit from e until has_more is false.
func (r *replica) sync(tb testing.TB, e *fsync.Engine, limit int) {
	tb.Helper()
	for range 10000 {
		page, err := e.Pull(as(r.c), fieldsync.PullRequest{Cursor: r.cursor, Limit: limit})
		if err != nil {
			tb.Fatalf("pull as %s: %v", r.c.UserID, err)
		}
		for _, ch := range page.Changes {
			if k := ch.Collection + "/" + ch.ID; ch.Op == fieldsync.ChangeDelete {
				delete(r.docs, k)
			} else {
				r.docs[k] = ch
			}
		}
		if r.cursor = page.Cursor; !page.HasMore {
			return
		}
	}
	tb.Fatal("pull never ends")
}

// opener opens engines on h's database (field.SeedDemo).
func (h *harness) opener() func(context.Context, fsync.Options) (*fsync.Engine, error) {
	return func(ctx context.Context, opts fsync.Options) (*fsync.Engine, error) {
		return fsync.Open(ctx, h.store.DB, opts)
	}
}
