package sync_test

import (
	"testing"

	"fieldsync"
	fsync "fieldsync/sync"
)

// newField is a harness serving the field-domain collections.
func newField(tb testing.TB, opts fsync.FieldOptions) *harness {
	tb.Helper()
	return newHarness(tb, fsync.Options{Collections: fsync.FieldCollections(opts)})
}

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
