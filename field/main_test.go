package field_test

import (
	"context"
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
	e, err := fsync.Open(context.Background(), h.store.Sync(), opts)
	if err != nil {
		h.tb.Fatal(err)
	}
	return e
}

func as(c *fieldsync.Caller) context.Context {
	return fieldsync.NewContextWithCaller(context.Background(), c)
}

// Mutations, and pushing them (sync/synctest).
var (
	fields     = synctest.Fields
	create     = synctest.Create
	update     = synctest.Update
	action     = synctest.Action
	pushTo     = synctest.Push
	wantStatus = synctest.WantStatus
)

func newID() string { return uuid.NewString() }

func createInspection(id, site string, kv ...any) fieldsync.Mutation {
	return create(fieldsync.CollInspections, id, append([]any{"site_id", site, "category", "sanitation"}, kv...)...)
}

// push pushes ms as c to h's engine.
func (h *harness) push(c *fieldsync.Caller, ms ...fieldsync.Mutation) []fieldsync.MutationResult {
	h.tb.Helper()
	return pushTo(h.tb, h.e, c, ms...)
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
		return fsync.Open(ctx, h.store.Sync(), opts)
	}
}
