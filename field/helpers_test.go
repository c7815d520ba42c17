package field_test

import (
	"testing"
	"time"

	"fieldsync"
)

// docOf pulls c's whole scope and returns the record (nil when c does not hold it).
func (h *harness) docOf(c *fieldsync.Caller, coll, id string) map[string]any {
	h.tb.Helper()
	r := newReplica(c)
	r.sync(h.tb, h.e, 1000)
	return r.docs[coll+"/"+id].Doc
}

// version is the record's current version as admin sees it.
func (h *harness) version(coll, id string) int64 {
	h.tb.Helper()
	d := h.docOf(admin, coll, id)
	if d == nil {
		h.tb.Fatalf("%s/%s does not exist", coll, id)
	}
	v, _ := d["version"].(int64)
	return v
}

// act pushes one action as c with the record's current version and returns its result.
func (h *harness) act(c *fieldsync.Caller, coll, id, name string, kv ...any) fieldsync.MutationResult {
	h.tb.Helper()
	return h.push(c, action(coll, id, h.version(coll, id), name, kv...))[0]
}

// wantCode fails unless r was rejected with code.
func wantCode(tb testing.TB, r fieldsync.MutationResult, code string) {
	tb.Helper()
	if r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != code {
		tb.Fatalf("got %s %+v, want rejected %s", r.Status, r.Error, code)
	}
}

func wantApplied(tb testing.TB, r fieldsync.MutationResult) {
	tb.Helper()
	if r.Status != fieldsync.StatusApplied {
		tb.Fatalf("got %s %+v, want applied", r.Status, r.Error)
	}
}

func wantField(tb testing.TB, doc map[string]any, field string, want any) {
	tb.Helper()
	if doc == nil {
		tb.Fatalf("no document; want %s=%v", field, want)
	}
	if got := doc[field]; got != want {
		tb.Fatalf("%s: got %v (%T), want %v (%T)", field, got, got, want, want)
	}
}

// newOrder creates a work order at s1 as agent1.
func (h *harness) newOrder(kv ...any) string {
	h.tb.Helper()
	id := newID()
	f := fields(append([]any{"site_id", "s1", "title", "leaking pipe", "unit", "3-201", "owner_phone", "13812345678"}, kv...)...)
	wantStatus(h.tb, h.push(agent1, fieldsync.Mutation{MutationID: newID(), Collection: fieldsync.CollWorkOrders, Op: fieldsync.OpCreate, ID: id, Fields: f}), "applied")
	return id
}

// step is one action of a state-machine walk: who takes it, its arguments,
// and either the code it is refused with or the state it leads to.
type step struct {
	who    *fieldsync.Caller
	action string
	args   []any
	code   string // "" = applied
	state  string // the state after an applied step
}

// walk takes the steps on the record one by one (the clock moves a little
// before each, as real ones do) and checks each outcome and state; after
// calls check with each applied step and the record as the desk sees it. It
// returns how many steps were applied.
func (h *harness) walk(coll, id, stateField string, steps []step, after func(step, map[string]any)) int {
	h.tb.Helper()
	applied := 0
	for i, s := range steps {
		h.now.Advance(time.Second) // timeline entries are a set: real ones differ in time
		r := h.act(s.who, coll, id, s.action, s.args...)
		if s.code != "" {
			if r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != s.code {
				h.tb.Fatalf("step %d %s by %s: got %s %+v, want rejected %s", i, s.action, s.who.UserID, r.Status, r.Error, s.code)
			}
			continue
		}
		if r.Status != fieldsync.StatusApplied {
			h.tb.Fatalf("step %d %s by %s: got %s %+v, want applied", i, s.action, s.who.UserID, r.Status, r.Error)
		}
		applied++
		d := h.docOf(admin, coll, id)
		wantField(h.tb, d, stateField, s.state)
		if after != nil {
			after(s, d)
		}
	}
	return applied
}

// startOrder has agent1 assign the order to tech, who accepts and starts it.
func (h *harness) startOrder(id string, tech *fieldsync.Caller) {
	h.tb.Helper()
	wantApplied(h.tb, h.act(agent1, fieldsync.CollWorkOrders, id, "assign", "assignee_id", tech.UserID))
	wantApplied(h.tb, h.act(tech, fieldsync.CollWorkOrders, id, "accept"))
	wantApplied(h.tb, h.act(tech, fieldsync.CollWorkOrders, id, "start"))
}
