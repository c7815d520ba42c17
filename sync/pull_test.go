package sync_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

func TestScopeChangesArriveAsUpsertAndDelete(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	id := newID()
	wantStatus(t, h.push(agent1, createOrder(id, "s1"), action("work_orders", id, 1, "assign", "assignee_id", tech1.UserID)), "applied", "applied")
	t1, t2 := newReplica(tech1), newReplica(tech2)
	t1.sync(t, h.e, 0)
	t2.sync(t, h.e, 0)
	if len(t1.docs) != 1 || len(t2.docs) != 0 {
		t.Fatalf("got tech1 %v tech2 %v, want the order with tech1 only", t1.versions(), t2.versions())
	}
	wantStatus(t, h.push(agent1, action("work_orders", id, 2, "assign", "assignee_id", tech2.UserID)), "applied")
	t1.sync(t, h.e, 0)
	t2.sync(t, h.e, 0)
	if len(t1.docs) != 0 || len(t2.docs) != 1 {
		t.Fatalf("after reassigning: got tech1 %v tech2 %v, want the order moved to tech2", t1.versions(), t2.versions())
	}

	// A supervisor gains site s1 long after its records changed, then loses s2.
	old := newID()
	wantStatus(t, h.push(agent1, createInspection(old, "s1")), "applied")
	s2rec := newID()
	wantStatus(t, h.push(super2, createInspection(s2rec, "s2")), "applied")
	sup := *super2
	r := newReplica(&sup)
	r.sync(t, h.e, 0)
	if len(r.docs) != 1 {
		t.Fatalf("got %v, want the s2 inspection only", r.versions())
	}
	sup.SiteIDs = []string{"s1", "s2"}
	r.sync(t, h.e, 1)
	if len(r.docs) != 3 {
		t.Fatalf("after gaining s1: got %v, want s1's order and inspection and s2's inspection", r.versions())
	}
	sup.SiteIDs = []string{"s1"}
	r.sync(t, h.e, 0)
	if _, ok := r.docs["inspections/"+s2rec]; ok || len(r.docs) != 2 {
		t.Fatalf("after losing s2: got %v, want s2's inspection deleted", r.versions())
	}
	fresh := newReplica(&sup)
	fresh.sync(t, h.e, 0)
	if strings.Join(fresh.versions(), ",") != strings.Join(r.versions(), ",") {
		t.Fatalf("incremental %v differs from a fresh bootstrap %v", r.versions(), fresh.versions())
	}
}

// blockAt returns a Fault hook that parks the pushes reaching point until
// release is closed, telling reached each time.
func blockAt(point string, reached chan<- struct{}, release <-chan struct{}) func(string) {
	return func(p string) {
		if p == point {
			reached <- struct{}{}
			<-release
		}
	}
}

// TestGapLateCommitIsDelivered: a push allocates positions and commits late;
// a puller already past its neighbours must still get it.
func TestGapLateCommitIsDelivered(t *testing.T) {
	t.Parallel()
	store := devtest.MustOpenStore(t)
	reached, release := make(chan struct{}), make(chan struct{})
	slow := openOn(t, store, fsync.Options{Fault: blockAt(fsync.FaultReserved, reached, release)})
	fast := openOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{}), fsync.Options{})
	puller := newReplica(agent1)
	puller.sync(t, fast.e, 0)

	late, early := newID(), newID()
	done := make(chan []fieldsync.MutationResult)
	go func() { done <- pushTo(t, slow.e, guard1, createInspection(late, "s1")) }()
	<-reached // positions allocated, nothing written yet
	wantStatus(t, fast.push(guard2, createInspection(early, "s1")), "applied")
	if page := puller.syncUntilHeld(t, fast.e, 0); !page.HeldBack || !page.HasMore {
		t.Fatalf("a page held back below a pending write, a later one acknowledged: got has_more=%v held_back=%v, want both", page.HasMore, page.HeldBack)
	}
	if _, ok := puller.docs["inspections/"+late]; ok {
		t.Fatal("late record seen before it was written")
	}
	// Read-your-writes: guard2 sees its own push although the earlier position is pending.
	own := newReplica(guard2)
	own.sync(t, fast.e, 0)
	own.sync(t, fast.e, 0)
	if _, ok := own.docs["inspections/"+early]; !ok {
		t.Fatalf("guard2 does not see its own acknowledged push while another is pending: %v", own.versions())
	}
	close(release)
	wantStatus(t, <-done, "applied")
	puller.sync(t, fast.e, 0)
	own.sync(t, fast.e, 0)
	for _, r := range []*replica{puller, own} {
		if len(r.docs) != 2 {
			t.Fatalf("%s after the late commit: got %v, want both records", r.c.UserID, r.versions())
		}
	}
}

// TestGapDeadWriterStallsBoundedly: a writer that died after reserving holds
// pullers back only until its reservation expires.
func TestGapDeadWriterStallsBoundedly(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{ReservationTTL: time.Minute, Fault: func(p string) {
		if p == fsync.FaultReserved {
			panic("writer died")
		}
	}})
	other := openOn(t, h.store, fsync.Options{Now: h.now.Now, ReservationTTL: time.Minute})
	r := newReplica(agent1)
	r.sync(t, other.e, 0) // bootstrapped: now in the change log
	func() {
		defer func() { _ = recover() }()
		h.push(guard1, createInspection(newID(), "s1"))
	}()
	id := newID()
	wantStatus(t, other.push(guard2, createInspection(id, "s1")), "applied")
	if page := r.syncUntilHeld(t, other.e, 0); !page.HeldBack {
		t.Fatalf("the page behind the dead reservation does not say it is held back: %+v", page)
	}
	if len(r.docs) != 0 {
		t.Fatalf("got %v before the dead reservation expired, want nothing yet", r.versions())
	}
	h.now.Add(time.Minute + time.Second)
	r.sync(t, other.e, 0)
	if len(r.docs) != 1 {
		t.Fatalf("got %v after expiry, want the record past the dead writer's gap", r.versions())
	}
}

func TestCursorTamperedAndExpired(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{Retention: time.Hour})
	page, err := h.e.Pull(as(agent1), fieldsync.PullRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if page.ServerTime.IsZero() || page.Cursor == "" {
		t.Fatalf("got %+v, want server_time and a cursor", page)
	}
	body, sig, _ := strings.Cut(page.Cursor, ".")
	for _, c := range []string{"garbage", body + ".AAAA", "x" + page.Cursor, body[:len(body)-2] + "." + sig, strings.Repeat("a", 9000)} {
		_, err := h.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: c})
		if fieldsync.ErrorCode(err) != fieldsync.EInvalid || fieldsync.ErrorField(err) != "cursor" {
			t.Fatalf("cursor %.20q: got %v, want invalid_input naming cursor", c, err)
		}
	}
	if _, err := h.e.Pull(as(guard1), fieldsync.PullRequest{Cursor: page.Cursor}); fieldsync.ErrorCode(err) != fieldsync.EInvalid {
		t.Fatalf("someone else's cursor: got %v, want invalid_input", err)
	}
	if _, err := h.e.Pull(as(agent1), fieldsync.PullRequest{Limit: 1001}); fieldsync.ErrorField(err) != "limit" {
		t.Fatalf("limit 1001: got %v", err)
	}
	h.now.Add(time.Hour + time.Minute)
	if _, err := h.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: page.Cursor}); fieldsync.ErrorCode(err) != fieldsync.ECursorExpired {
		t.Fatalf("old cursor: got %v, want cursor_expired", err)
	}
}

func TestRoundTripsAreConstant(t *testing.T) {
	t.Parallel()
	counter := mongodb.NewCommandCounter()
	store := devtest.MustOpenStore(t)
	h := openOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{Monitor: counter}), fsync.Options{})
	trips := func(f func()) int64 {
		before := counter.Count()
		f()
		return counter.Count() - before
	}
	batch := func(n int, mk func(i int) fieldsync.Mutation) []fieldsync.Mutation {
		ms := make([]fieldsync.Mutation, n)
		for i := range ms {
			ms[i] = mk(i)
		}
		return ms
	}
	var ids []string
	for i := 0; i < 501; i++ {
		ids = append(ids, newID())
	}
	// An instance's first write to a tenant reads its counter once more.
	first := trips(func() { h.push(agent1, createOrder(newID(), "s1")) })
	one := trips(func() { h.push(agent1, createOrder(ids[500], "s1")) })
	if first != one+1 {
		t.Fatalf("creates: the first push took %d round trips and the next %d, want one more for the first", first, one)
	}
	many := trips(func() {
		h.push(agent1, batch(500, func(i int) fieldsync.Mutation { return createOrder(ids[i], "s1") })...)
	})
	// The reservation, the audit entries, the records, their log chunks, the release.
	if one != many || one > 5 {
		t.Fatalf("creates: got %d round trips for 1 and %d for 500, want the same small number", one, many)
	}
	// 50 updates, not 500: each replace statement scans the collection on FerretDB.
	one = trips(func() { h.push(agent1, update("work_orders", ids[500], 1, "title", "x")) })
	many = trips(func() {
		h.push(agent1, batch(50, func(i int) fieldsync.Mutation { return update("work_orders", ids[i], 1, "title", "x") })...)
	})
	if one != many || one > 6 {
		t.Fatalf("updates: got %d round trips for 1 and %d for 500, want the same small number", one, many)
	}
	r := newReplica(agent1)
	small := trips(func() { r.sync(t, h.e, 1000) }) // bootstrap: one page + the log page
	r2 := newReplica(agent1)
	var pages int64
	big := trips(func() {
		for c := ""; ; pages++ {
			p, err := h.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: c, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			c = p.Cursor
			for _, ch := range p.Changes {
				r2.apply(ch)
			}
			if !p.HasMore {
				pages++
				break
			}
		}
	})
	// Per page: the counter, the find, and a killCursors when the page was full.
	if big > pages*3 || small > 2*3 || len(r2.docs) != 502 {
		t.Fatalf("pull: %d round trips for %d pages (%d for 2 pages), want at most 3 per page; got %d records", big, pages, small, len(r2.docs))
	}
}

func TestBootstrapStream(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	var ms []fieldsync.Mutation
	for i := 0; i < 30; i++ {
		ms = append(ms, createInspection(newID(), "s1"))
	}
	h.push(guard1, ms...)
	h.push(super2, createInspection(newID(), "s2"))
	var buf bytes.Buffer
	if err := h.e.Bootstrap(as(agent1), 0, &buf); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&buf)
	r := newReplica(agent1)
	var last map[string]any
	for sc.Scan() {
		var ch fieldsync.Change
		if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
			t.Fatal(err)
		}
		if ch.ID == "" {
			_ = json.Unmarshal(sc.Bytes(), &last)
			break
		}
		r.apply(ch)
	}
	if len(r.docs) != 30 || last == nil || last["cursor"] == "" || last["server_time"] == "" {
		t.Fatalf("got %d records and end %v, want 30 and a cursor", len(r.docs), last)
	}
	r.cursor = last["cursor"].(string)
	id := newID()
	h.push(guard1, createInspection(id, "s1"))
	r.sync(t, h.e, 0)
	if len(r.docs) != 31 {
		t.Fatalf("pull after stream: got %d, want 31", len(r.docs))
	}
}

func TestSubscribeNotifiesAcrossInstances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{MaxSubscriptions: 1})
	other := openOn(t, devtest.MustOpenStoreDB(t, h.store.DB.Name(), mongodb.Options{}), fsync.Options{})
	ctx, cancel := contextWithCaller(agent1)
	defer cancel()
	ch, err := h.e.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Subscribe(as(agent1)); fieldsync.ErrorCode(err) != fieldsync.ERateLimited {
		t.Fatalf("second subscription: got %v, want rate_limited", err)
	}
	other.push(super2, createInspection(newID(), "s2")) // not agent1's scope
	other.push(guard1, createInspection(newID(), "s1"))
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no changed event within 5s for a change written by another instance")
	}
}

// TestGuardInspectionsAgeOut: an inspection leaves a guard's scope when it is
// older than the guard's window (unless it is theirs); their phone gets it as
// a delete, and ends where a fresh bootstrap would.
func TestGuardInspectionsAgeOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	others, mine := newID(), newID()
	wantStatus(t, h.push(agent1, createInspection(others, "s1")), "applied")
	wantStatus(t, h.push(guard1, createInspection(mine, "s1")), "applied")
	r := newReplica(guard1)
	r.sync(t, h.e, 0)
	if len(r.docs) != 2 {
		t.Fatalf("got %v, want both inspections", r.versions())
	}
	h.now.Add(fieldsync.GuardInspectionWindow - time.Hour)
	fresh := newID()
	wantStatus(t, h.push(agent1, createInspection(fresh, "s1")), "applied")
	r.sync(t, h.e, 0)
	if len(r.docs) != 3 {
		t.Fatalf("within the window: got %v, want three inspections", r.versions())
	}
	h.now.Add(3 * time.Hour) // the first two are now older than the window
	r.sync(t, h.e, 1)
	if _, ok := r.docs["inspections/"+others]; ok {
		t.Fatalf("got %v, want the other guard's aged inspection deleted", r.versions())
	}
	if _, ok := r.docs["inspections/"+mine]; !ok || len(r.docs) != 2 {
		t.Fatalf("got %v, want the guard's own inspection and the fresh one kept", r.versions())
	}
	b := newReplica(guard1)
	b.sync(t, h.e, 0)
	if strings.Join(b.versions(), ",") != strings.Join(r.versions(), ",") {
		t.Fatalf("incremental %v differs from a fresh bootstrap %v", r.versions(), b.versions())
	}
}

// TestAgedOutAndEditedInOnePage: an inspection that left a guard's window
// and was edited since comes to the guard as one delete, not as a delete
// from the log part and another from the aging look of the same page.
func TestAgedOutAndEditedInOnePage(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	others := newID()
	wantStatus(t, h.push(agent1, createInspection(others, "s1")), "applied")
	r := newReplica(guard1)
	r.sync(t, h.e, 0)
	h.now.Add(fieldsync.GuardInspectionWindow + 2*time.Hour)
	wantStatus(t, h.push(agent1, update(fieldsync.CollInspections, others, 1, "description", "seen again")), "applied")
	r.sync(t, h.e, 0) // fails on a record twice in one page
	if _, ok := r.docs["inspections/"+others]; ok {
		t.Fatalf("got %v, want the aged inspection deleted", r.versions())
	}
}

// TestBootstrapWhileAFreshInstanceWrites: a bootstrap (paged or streamed)
// taken while a freshly started instance's first push is written but not yet
// released is not dragged back to the start of the log: that instance has
// not seen the tenant's counter, and its reservation must still hold pullers
// back only from its own positions. The pull that follows each bootstrap
// hands out that push's record and nothing else again.
func TestBootstrapWhileAFreshInstanceWrites(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	for range 5 {
		wantStatus(t, h.push(guard1, createInspection(newID(), "s1")), "applied")
	}
	reached, release := make(chan struct{}), make(chan struct{})
	fresh := openOn(t, devtest.MustOpenStoreDB(t, h.store.DB.Name(), mongodb.Options{}), fsync.Options{Fault: blockAt(fsync.FaultInserted, reached, release)})
	late := newID()
	done := make(chan []fieldsync.MutationResult)
	go func() { done <- pushTo(t, fresh.e, guard2, createInspection(late, "s1")) }()
	<-reached // inserted, not yet released

	paged := newReplica(agent1)
	paged.sync(t, h.e, 0)
	var b strings.Builder
	if err := h.e.Bootstrap(as(agent1), 0, &b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var end struct{ Cursor string }
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &end); err != nil || end.Cursor == "" {
		t.Fatalf("stream's last line %q: %v", lines[len(lines)-1], err)
	}
	close(release)
	wantStatus(t, <-done, "applied")

	for name, cursor := range map[string]string{"paged": paged.cursor, "streamed": end.Cursor} {
		var got []string
		for {
			p, err := h.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range p.Changes {
				got = append(got, ch.ID)
			}
			if cursor = p.Cursor; !p.HasMore {
				break
			}
		}
		if len(got) != 1 || got[0] != late {
			t.Errorf("%s bootstrap, then a pull after the push was released: got %d changes %v, want only %s", name, len(got), got, late)
		}
	}
}

// TestBootstrapDoesNotWaitForADeadWriter: records written after a writer
// that died holding a reservation are in a new phone's bootstrap at once
// (incremental pulls wait for the reservation to expire; a bootstrap walks
// the records without that bound).
func TestBootstrapDoesNotWaitForADeadWriter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{Fault: func(p string) {
		if p == fsync.FaultReserved {
			panic("writer died")
		}
	}})
	other := openOn(t, h.store, fsync.Options{Now: h.now.Now})
	wantStatus(t, other.push(guard2, createInspection(newID(), "s1")), "applied")
	func() {
		defer func() { _ = recover() }()
		h.push(guard1, createInspection(newID(), "s1"))
	}()
	after := newID()
	wantStatus(t, other.push(guard2, createInspection(after, "s1")), "applied")
	r := newReplica(agent1)
	r.syncUntilHeld(t, other.e, 3) // the log part after the walk waits for the dead writer
	if _, ok := r.docs["inspections/"+after]; !ok || len(r.docs) != 2 {
		t.Fatalf("bootstrap behind a dead writer's reservation: got %v, want both acknowledged records", r.versions())
	}
}

// failAfter is a writer that fails once n bytes went through (a phone that
// hung up mid-stream).
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

// TestBootstrapStreamStopsWhenThePhoneHangsUp: a stream whose writer fails
// ends with that error (its database reading, ahead of the writing, stops
// too) instead of reading on.
func TestBootstrapStreamStopsWhenThePhoneHangsUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fsync.Options{})
	for range 6 {
		var ms []fieldsync.Mutation
		for range 500 {
			ms = append(ms, createInspection(newID(), "s1"))
		}
		h.push(guard1, ms...)
	}
	if err := h.e.Bootstrap(as(agent1), 0, &failAfter{n: 20000}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("stream to a phone that hung up: got %v, want its write error", err)
	}
	var b strings.Builder
	if err := h.e.Bootstrap(as(agent1), 0, &b); err != nil || strings.Count(b.String(), `"op":"upsert"`) != 3000 {
		t.Fatalf("a whole stream after it: %v, %d upserts, want 3000", err, strings.Count(b.String(), `"op":"upsert"`))
	}
}

// TestCursorAheadOfARestoredDatabase: a database restored from a backup
// older than a phone's cursor has handed out fewer positions than the cursor
// holds; pulling on from it would skip what is written at the positions in
// between, so the phone is told its cursor expired (it bootstraps), also
// after the restored server has written again below the cursor.
func TestCursorAheadOfARestoredDatabase(t *testing.T) {
	t.Parallel()
	key := []byte("a cursor key both servers share!")
	before := newHarness(t, fsync.Options{CursorKey: key})
	for range 3 {
		before.push(guard1, createInspection(newID(), "s1"))
	}
	var page fieldsync.PullResult
	n := 0
	for first := true; first || page.HasMore; first = false {
		var err error
		if page, err = before.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: page.Cursor}); err != nil {
			t.Fatal(err)
		}
		n += len(page.Changes)
	}
	if n != 3 {
		t.Fatalf("bootstrap: got %d changes, want 3", n)
	}
	restored := newHarness(t, fsync.Options{CursorKey: key})
	if _, err := restored.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: page.Cursor}); fieldsync.ErrorCode(err) != fieldsync.ECursorExpired {
		t.Fatalf("cursor past an empty restored log: got %v, want cursor_expired", err)
	}
	restored.push(guard1, createInspection(newID(), "s1"))
	if _, err := restored.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: page.Cursor}); fieldsync.ErrorCode(err) != fieldsync.ECursorExpired {
		t.Fatalf("cursor past a restored log written below it: got %v, want cursor_expired", err)
	}
	// The server the cursor came from goes on from it as ever.
	before.push(guard1, createInspection(newID(), "s1"))
	next, err := before.e.Pull(as(agent1), fieldsync.PullRequest{Cursor: page.Cursor})
	if err != nil || len(next.Changes) != 1 {
		t.Fatalf("the cursor's own server: got %d changes, %v; want 1", len(next.Changes), err)
	}
}
