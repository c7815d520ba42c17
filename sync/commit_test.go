package sync_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// TestWritesWaitingShareOneGroup: pushes of one tenant that arrive while
// another write is in progress are written together (one reservation for
// all of them, which also releases the write they waited for), and each
// still gets its own outcome: two of them update the
// same record from the same version (different fields), so one loses the
// version check inside the group and is merged in a later round — no update
// is lost, none is applied twice.
func TestWritesWaitingShareOneGroup(t *testing.T) {
	t.Parallel()
	counter := mongodb.NewCommandCounter()
	store := devtest.MustOpenStore(t)
	var once sync.Once
	var armed atomic.Bool
	reached, release := make(chan struct{}), make(chan struct{})
	h := openOn(t, devtest.MustOpenStoreDB(t, store.DB.Name(), mongodb.Options{Monitor: counter}), fsync.Options{Fault: func(p string) {
		if p == fsync.FaultReserved && armed.Load() {
			once.Do(func() { reached <- struct{}{}; <-release })
		}
	}})
	shared := newID()
	wantStatus(t, h.push(guard1, createInspection(shared, "s1")), "applied")

	// A push parked after its reservation: the writes arriving now queue.
	armed.Store(true)
	parked := make(chan []fieldsync.MutationResult)
	go func() { parked <- h.push(guard2, createInspection(newID(), "s1")) }()
	<-reached
	device := func(i int) *fieldsync.Caller {
		c := *guard1
		c.DeviceID = fmt.Sprintf("d-guard1-%d", i)
		return &c
	}
	var wg sync.WaitGroup
	results := make([][]fieldsync.MutationResult, 10)
	created := make([]string, 8)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i {
			case 8:
				results[i] = h.push(device(i), update("inspections", shared, 1, "description", "seen again at dusk"))
			case 9:
				results[i] = h.push(device(i), update("inspections", shared, 1, "location", "Gate 2"))
			default:
				created[i] = newID()
				results[i] = h.push(device(i), createInspection(created[i], "s1"))
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for fsync.QueuedWrites(h.e, tenant) < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want 10", fsync.QueuedWrites(h.e, tenant))
		}
		time.Sleep(5 * time.Millisecond)
	}
	before, updatesBefore := counter.CountOf("findAndModify"), counter.CountOf("update")
	close(release)
	wg.Wait()
	wantStatus(t, <-parked, "applied")
	reserves, updates := counter.CountOf("findAndModify")-before, counter.CountOf("update")-updatesBefore
	for _, res := range results {
		wantStatus(t, res, "applied")
	}
	// One group for the ten, one more round for the update that lost.
	if reserves > 2 {
		t.Errorf("10 queued pushes took %d reservations, want at most 2 (one group and the losing update's retry)", reserves)
	}
	// The parked group found the ten waiting: their reserve released it too.
	// So the update commands are the group's replaces (one bulk), the retry's
	// replace and two releases (the group's and the retry's, each on its own).
	if updates != 4 {
		t.Errorf("update commands after the parked push: %d, want 4 (the parked write released by the group's reserve)", updates)
	}
	r := newReplica(agent1)
	r.sync(t, h.e, 0)
	got := r.docs["inspections/"+shared]
	if got.Version != 3 || got.Doc["description"] != "seen again at dusk" || got.Doc["location"] != "Gate 2" {
		t.Errorf("shared record: version %d %v, want version 3 with both updates", got.Version, got.Doc)
	}
	for _, id := range created {
		if _, ok := r.docs["inspections/"+id]; !ok {
			t.Errorf("record %s of the group is missing", id)
		}
	}
}

// TestAGroupWriteThatDiesFailsItsPushes: when the write of a group dies
// (here: panics after its reservation, as a crash would stop it), the
// pushes waiting in that group get an error to retry instead of hanging, and
// their retries and the next pushes are written normally.
func TestAGroupWriteThatDiesFailsItsPushes(t *testing.T) {
	t.Parallel()
	var stops atomic.Int64
	reached, release := make(chan struct{}), make(chan struct{})
	h := newHarness(t, fsync.Options{Fault: func(p string) {
		if p != fsync.FaultReserved {
			return
		}
		switch stops.Add(1) {
		case 1: // park the first write while three more queue
			reached <- struct{}{}
			<-release
		case 2: // the group of those three dies
			panic("writer died")
		}
	}})
	parked := make(chan []fieldsync.MutationResult)
	go func() { parked <- h.push(guard1, createInspection(newID(), "s1")) }()
	<-reached
	type outcome struct {
		err   error
		panic any
	}
	outcomes := make(chan outcome, 3)
	muts := make([]fieldsync.Mutation, 3)
	for i := range muts {
		muts[i] = createInspection(newID(), "s1")
		go func() {
			var o outcome
			defer func() { o.panic = recover(); outcomes <- o }()
			_, o.err = h.e.Push(as(guard2), fieldsync.PushRequest{DeviceID: guard2.DeviceID, Mutations: muts[i : i+1]})
		}()
	}
	for fsync.QueuedWrites(h.e, tenant) < 3 { // the parked write is out of the queue, in its group
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wantStatus(t, <-parked, "applied")
	died, failed := 0, 0
	for range 3 {
		switch o := <-outcomes; {
		case o.panic == "writer died":
			died++
		case fieldsync.ErrorCode(o.err) == fieldsync.EUnavailable:
			failed++
		default:
			t.Errorf("a push in the group that died: got error %v, panic %v; want unavailable", o.err, o.panic)
		}
	}
	if died != 1 || failed != 2 {
		t.Fatalf("the group of three: %d died with the writer and %d failed, want 1 and 2", died, failed)
	}
	for i := range muts {
		wantStatus(t, h.push(guard2, muts[i]), "applied") // the retries
	}
}
