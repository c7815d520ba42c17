package sync_test

import (
	"testing"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// pullOnce pulls one page for r without applying it.
func pullOnce(tb testing.TB, e *fsync.Engine, r *replica) fieldsync.PullResult {
	tb.Helper()
	page, err := e.Pull(as(r.c), fieldsync.PullRequest{Cursor: r.cursor})
	if err != nil {
		tb.Fatalf("pull as %s: %v", r.c.UserID, err)
	}
	return page
}

func hasChange(p fieldsync.PullResult, id string) bool {
	for _, ch := range p.Changes {
		if ch.ID == id {
			return true
		}
	}
	return false
}

// TestDeadWriterHeldBackPageSaysSoAndRestartHeals: an instance dies after
// writing a push's records, before releasing its reservation (a crash).
// Another instance acknowledges a later push. A pull stops below the dead
// reservation — and says so (has_more and held_back), instead of has_more
// false with the acknowledged change missing for up to the reservation TTL.
// When the dead instance starts again under its name, it releases its old
// reservation at once: the next pulls bring every change and end.
func TestDeadWriterHeldBackPageSaysSoAndRestartHeals(t *testing.T) {
	t.Parallel()
	store := devtest.MustOpenStore(t)
	dying := openOn(t, store, fsync.Options{Instance: "api-1", Fault: func(p string) {
		if p == fsync.FaultWritten {
			panic("writer died")
		}
	}})
	other := openOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{}), fsync.Options{Instance: "api-2"})
	r := newReplica(agent1)
	r.sync(t, other.e, 0) // bootstrapped: from now on in the change log

	unanswered := newID()
	func() {
		defer func() { _ = recover() }()
		dying.push(guard1, createInspection(unanswered, "s1"))
	}()
	acked := newID()
	wantStatus(t, other.push(guard2, createInspection(acked, "s1")), "applied")

	page := pullOnce(t, other.e, r)
	if hasChange(page, acked) {
		t.Fatal("the acknowledged record came past a reservation still live")
	}
	if !page.HasMore || !page.HeldBack {
		t.Fatalf("a page held back below a dead writer's reservation, an acknowledged change missing: got has_more=%v held_back=%v, want both true",
			page.HasMore, page.HeldBack)
	}
	r.cursor = page.Cursor

	// The dead instance restarts under the same name.
	openOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{}), fsync.Options{Instance: "api-1"})
	r.sync(t, other.e, 0)
	for _, id := range []string{acked, unanswered} {
		if _, ok := r.docs[fieldsync.CollInspections+"/"+id]; !ok {
			t.Errorf("after the restart: %s missing from %v (its reservation still holds pullers back)", id, r.versions())
		}
	}
}
