package field

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// fullWalk is the reference the narrowed Jobs must agree with: Jobs as it
// was before it narrowed its reads — Compute on every live order and
// complaint, repeat links among every order (by every pair), every round
// but the ended ones started before roundWatch.
func fullWalk(ctx context.Context, e *fsync.Engine, tenant string, now time.Time) ([]fsync.Write, error) {
	var writes []fsync.Write
	var orders []*fsync.Record
	for _, name := range []string{fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		coll := e.Collection(name)
		err := e.Records(ctx, tenant, name, func(r *fsync.Record) error {
			if name == fieldsync.CollWorkOrders {
				orders = append(orders, r)
			}
			if w, ok := fsync.Recompute(ctx, coll, r, now); ok {
				writes = append(writes, w)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortFunc(orders, func(a, b *fsync.Record) int { return strings.Compare(a.Key, b.Key) })
	writes = append(writes, repeatLinksByPairs(orders)...)
	var rounds []*fsync.Record
	err := e.Records(ctx, tenant, fieldsync.CollPatrolRounds, func(r *fsync.Record) error {
		if r.GetString("status") != RoundEnded || now.Sub(timeOf(r, "started_at")) <= roundWatch {
			rounds = append(rounds, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rw, err := summarizeRounds(ctx, e, tenant, now, rounds)
	return append(writes, rw...), err
}

// canonical renders writes in a comparable order.
func canonical(tb testing.TB, ws []fsync.Write) []string {
	tb.Helper()
	out := make([]string, len(ws))
	for i, w := range ws {
		b, err := json.Marshal(w)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
}

// jobsTenant is a demo tenant on an engine whose clock the test moves, with
// writers for the history the jobs read.
type jobsTenant struct {
	tb    testing.TB
	e     *fsync.Engine
	clock *devtest.Clock
	r     *rand.Rand
}

func newJobsTenant(tb testing.TB, wrap func(fsync.Store) fsync.Store) *jobsTenant {
	tb.Helper()
	ctx := context.Background()
	store := devtest.MustOpenStore(tb)
	clock := devtest.NewClock()
	users := map[string]string{}
	for _, u := range demoUsers {
		users[u] = uuid.NewString()
	}
	if _, err := SeedDemo(ctx, func(ctx context.Context, o fsync.Options) (*fsync.Engine, error) {
		return fsync.Open(ctx, store.Sync(), o)
	}, DemoSeed{Users: users, Now: clock.Now()}); err != nil {
		tb.Fatal(err)
	}
	e, err := fsync.Open(ctx, wrap(store.Sync()), fsync.Options{Collections: Collections(Options{}), Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return &jobsTenant{tb: tb, e: e, clock: clock, r: rand.New(rand.NewPCG(11, 23))}
}

func (j *jobsTenant) apply(ws ...fsync.Write) {
	j.tb.Helper()
	if err := j.e.Apply(context.Background(), fieldsync.DemoTenant, ws); err != nil {
		j.tb.Fatal(err)
	}
}

func (j *jobsTenant) stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// order creates a work order now in status at unit, with the times an
// order in that status has — or, when bare, without them (as the server
// may write one).
func (j *jobsTenant) order(status, unit, category string, bare bool) string {
	id := uuid.NewString()
	now := j.clock.Now()
	set := map[string]any{"title": "t", "priority": []string{"urgent", "normal", "low"}[j.r.IntN(3)], "category": category, "building": "1", "status": status}
	if unit != "" {
		set["unit"] = unit
	}
	if !bare {
		switch status {
		case fieldsync.WOAccepted, fieldsync.WOInProgress, fieldsync.WOOnHold:
			set["accepted_at"] = j.stamp(now.Add(time.Minute))
		case fieldsync.WOCompleted, fieldsync.WOVerified:
			set["accepted_at"], set["completed_at"] = j.stamp(now.Add(time.Minute)), j.stamp(now.Add(time.Hour))
		case fieldsync.WOCancelled:
			set["cancelled_at"] = j.stamp(now.Add(time.Minute))
		}
	}
	j.apply(fsync.Write{Collection: fieldsync.CollWorkOrders, ID: id, Create: true, SiteID: fieldsync.DemoSiteA, Set: set})
	return id
}

func (j *jobsTenant) complaint(stage string) string {
	id := uuid.NewString()
	j.apply(fsync.Write{Collection: fieldsync.CollComplaints, ID: id, Create: true, SiteID: fieldsync.DemoSiteA,
		Set: map[string]any{"channel": "phone", "content": "c", "stage": stage}})
	return id
}

func (j *jobsTenant) round(ended bool) string {
	id := uuid.NewString()
	now := j.clock.Now()
	set := map[string]any{"route_id": demoID("route", fieldsync.DemoSiteA), "started_at": j.stamp(now),
		"scans": []any{map[string]any{"scan_id": uuid.NewString(), "checkpoint_id": demoID("checkpoint", fieldsync.DemoSiteA, "1"),
			"code": "A-CP-01", "scanned_at": j.stamp(now.Add(5 * time.Minute))}}}
	if ended {
		set["status"], set["ended_at"] = RoundEnded, j.stamp(now.Add(time.Hour))
	}
	j.apply(fsync.Write{Collection: fieldsync.CollPatrolRounds, ID: id, Create: true, SiteID: fieldsync.DemoSiteA, Set: set})
	return id
}

var (
	jobUnits      = []string{"", "1-101", "1-102", "1-103", "2-201"}
	jobCategories = []string{"plumbing", "electrical"}
)

// TestJobsWriteWhatTheFullWalkWrites runs the jobs on a varied tenant —
// orders and complaints in every state, finished ones with and without
// their times, overdue and not, late completions from offline phones
// naming a time days back, edited units, repeat candidates inside and
// outside the window, rounds old and new — again and again as time passes
// and the tenant changes, and wants each run to return exactly the writes
// the full walk (fullWalk) returns on the same records at the same time.
func TestJobsWriteWhatTheFullWalkWrites(t *testing.T) {
	t.Parallel()
	j := newJobsTenant(t, func(s fsync.Store) fsync.Store { return s })
	r := j.r
	statuses := WorkOrderStatuses
	var orders []string
	for range 25 {
		j.clock.Advance(time.Duration(r.IntN(48*60)) * time.Minute)
		for range 4 {
			orders = append(orders, j.order(statuses[r.IntN(len(statuses))], jobUnits[r.IntN(len(jobUnits))], jobCategories[r.IntN(2)], r.IntN(4) == 0))
		}
		j.complaint(ComplaintStages[r.IntN(len(ComplaintStages))])
		j.round(r.IntN(2) == 0)
	}
	kinds := map[string]int{}
	runs, seen := 0, 0
	check := func(ctx context.Context, e *fsync.Engine, run fsync.JobRun) ([]fsync.Write, error) {
		want, err := fullWalk(ctx, e, run.Tenant, run.Now)
		if err != nil {
			return nil, err
		}
		got, err := Jobs(ctx, e, run)
		if err != nil {
			return nil, err
		}
		g, w := canonical(t, got), canonical(t, want)
		if !slices.Equal(g, w) {
			t.Fatalf("run %d (seen %d, upto %d): the narrowed jobs wrote\n%s\nthe full walk\n%s", runs, run.Seen, run.Upto,
				strings.Join(g, "\n"), strings.Join(w, "\n"))
		}
		runs++
		if run.Seen > 0 {
			seen++
			for _, x := range want {
				for k := range x.Set {
					kinds[x.Collection+"."+k]++
				}
			}
		}
		return got, nil
	}
	runJobs := func() {
		t.Helper()
		if _, err := j.e.RunJobsOnce(context.Background(), fsync.JobOptions{Holder: "t", Jobs: check}); err != nil {
			t.Fatal(err)
		}
	}
	runJobs()
	for step := range 12 {
		j.clock.Advance(time.Duration(r.IntN(6*60)) * time.Minute)
		for range 3 {
			id := orders[r.IntN(len(orders))]
			switch r.IntN(4) {
			case 0:
				// A completion pushed late from an offline phone: it names a time days back.
				done := j.clock.Now().Add(-time.Duration(r.IntN(40*24)) * time.Hour)
				j.apply(fsync.Write{Collection: fieldsync.CollWorkOrders, ID: id, Set: map[string]any{"status": fieldsync.WOCompleted,
					"accepted_at": j.stamp(done.Add(-time.Hour)), "completed_at": j.stamp(done), "resolution": "fixed"}})
			case 1:
				j.apply(fsync.Write{Collection: fieldsync.CollWorkOrders, ID: id, Set: map[string]any{
					"unit": jobUnits[1+r.IntN(len(jobUnits)-1)], "category": jobCategories[r.IntN(2)]}})
			case 2:
				j.apply(fsync.Write{Collection: fieldsync.CollWorkOrders, ID: id, Set: map[string]any{"priority": "urgent"}})
			default:
				orders = append(orders, j.order(statuses[r.IntN(len(statuses))], jobUnits[r.IntN(len(jobUnits))], jobCategories[r.IntN(2)], r.IntN(4) == 0))
			}
		}
		j.complaint(ComplaintStages[r.IntN(len(ComplaintStages))])
		if step%3 == 0 {
			j.round(r.IntN(2) == 0)
		}
		runJobs()
	}
	t.Logf("%d runs, %d after a first; the full walk's writes after a first run, by field: %v", runs, seen, kinds)
	for _, k := range []string{"work_orders.overdue", "work_orders.escalated", "work_orders.repeat_of", "complaints.overdue", "complaints.escalation_level", "patrol_rounds.missed"} {
		if kinds[k] == 0 {
			t.Errorf("no run after the first wrote %s: the comparison proves nothing of it", k)
		}
	}
}

// countingStore is the real store, counting the records its reads hand
// out by key.
type countingStore struct {
	fsync.Store
	out  atomic.Pointer[map[string]int]
	read atomic.Int64
}

func (s *countingStore) note(recs ...*fsync.Record) {
	if m := s.out.Load(); m != nil {
		for _, r := range recs {
			(*m)[r.Key]++
		}
	}
	s.read.Add(int64(len(recs)))
}

func (s *countingStore) Find(ctx context.Context, tenant, coll string, q fsync.Query) ([]*fsync.Record, error) {
	recs, err := s.Store.Find(ctx, tenant, coll, q)
	s.note(recs...)
	return recs, err
}

func (s *countingStore) Walk(ctx context.Context, tenant, coll string, q fsync.Query) (fsync.RecordCursor, error) {
	cur, err := s.Store.Walk(ctx, tenant, coll, q)
	if err != nil {
		return nil, err
	}
	return &countingCursor{RecordCursor: cur, s: s}, nil
}

type countingCursor struct {
	fsync.RecordCursor
	s *countingStore
}

func (c *countingCursor) Next(ctx context.Context) (*fsync.Record, error) {
	r, err := c.RecordCursor.Next(ctx)
	if r != nil {
		c.s.note(r)
	}
	return r, err
}

// TestJobsLeaveFinishedRecordsUnread: after a first run, the jobs are
// handed no finished order with its times, no closed complaint and no
// round ended days ago — the records of the history — but the orders,
// complaints and rounds time can still change, and, after a late
// completion at a unit, that unit's orders.
func TestJobsLeaveFinishedRecordsUnread(t *testing.T) {
	t.Parallel()
	var counter *countingStore
	j := newJobsTenant(t, func(s fsync.Store) fsync.Store { counter = &countingStore{Store: s}; return counter })
	history := map[string]bool{}
	key := func(coll, id string) string { return fieldsync.DemoTenant + "/" + coll + "/" + id }
	for i := range 60 {
		status := []string{fieldsync.WOCompleted, fieldsync.WOVerified, fieldsync.WOCancelled}[i%3]
		history[key(fieldsync.CollWorkOrders, j.order(status, jobUnits[1+i%4], "plumbing", false))] = true
		history[key(fieldsync.CollComplaints, j.complaint(fieldsync.StageClosed))] = true
		history[key(fieldsync.CollPatrolRounds, j.round(true))] = true
		j.clock.Advance(2 * time.Hour)
	}
	j.clock.Advance(3 * 24 * time.Hour)
	open := key(fieldsync.CollWorkOrders, j.order(fieldsync.WOOpen, "9-909", "plumbing", false))
	bare := key(fieldsync.CollWorkOrders, j.order(fieldsync.WOCompleted, "9-909", "plumbing", true))
	received := key(fieldsync.CollComplaints, j.complaint(fieldsync.StageReceived))
	walking := key(fieldsync.CollPatrolRounds, j.round(false))
	run := func() map[string]int {
		t.Helper()
		out := map[string]int{}
		counter.out.Store(&out)
		defer counter.out.Store(nil)
		if _, err := j.e.RunJobsOnce(context.Background(), fsync.JobOptions{Holder: "t", Jobs: Jobs}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	run() // the first reads every order once, for the repeat repairs, and links the history's
	run() // reads the orders it linked again: changed since the first
	j.clock.Advance(time.Minute)
	got := run()
	for _, k := range []string{open, bare, received, walking} {
		if got[k] == 0 {
			t.Errorf("the jobs did not read %s, which time still changes", k)
		}
	}
	for k := range got {
		if history[k] {
			t.Errorf("the jobs read %s, finished: %d records handed out", k, len(got))
		}
	}
	// A late completion at unit 1-102: its orders are read for repeat repairs, no other unit's.
	late := j.order(fieldsync.WOInProgress, "1-102", "plumbing", false)
	j.apply(fsync.Write{Collection: fieldsync.CollWorkOrders, ID: late, Set: map[string]any{"status": fieldsync.WOCompleted,
		"completed_at": j.stamp(j.clock.Now().Add(-20 * 24 * time.Hour))}})
	got = run()
	units := 0
	for k := range got {
		if !history[k] {
			continue
		}
		rec, err := j.e.Record(context.Background(), fieldsync.DemoTenant, fieldsync.CollWorkOrders, k[strings.LastIndex(k, "/")+1:])
		if err != nil || rec.GetString("unit") != "1-102" {
			t.Errorf("after a completion at 1-102 the jobs read %s (%v)", k, err)
			continue
		}
		units++
	}
	if units != 15 {
		t.Errorf("the jobs read %d finished orders of unit 1-102, want its 15", units)
	}
	t.Logf("records handed out in all: %d", counter.read.Load())
}
