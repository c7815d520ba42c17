package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"fieldsync"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// scalePlan is what the measurements act on: the demo users, and records of
// site A known to be in the state an operation needs (version 1).
type scalePlan struct {
	users map[string]string // demo username → id
	// openOrders are unassigned orders at site A; receivedComplaints complaints at site A in stage received.
	openOrders, receivedComplaints []string
}

// seedUserLine is a line of `fieldsync seed demo`'s output naming a user.
var seedUserLine = regexp.MustCompile(`user \S+\s+(\S+)\s+role=\S+\s+sites=\S*\s+id=(\S+)`)

// fillWrite is one record of the history, created at its time.
type fillWrite struct {
	at time.Time
	w  fsync.Write
}

// fillBatch is the number of records the fill writes per engine call.
const fillBatch = 500

// fillTenant writes the scenario's history into the demo tenant: work orders,
// complaints (a quarter as many) and inspections, spread over sites and over
// days, each created at its own time in the past. It goes through the sync
// engine's server-write path (Engine.Apply, as `fieldsync seed demo` does),
// not the public API: a pushed record is always created "now", and a guard's
// scope is the last 7 days of their sites' inspections, so only a history
// with its real age measures that scope. Every record is versioned, logged and
// audited as a pushed one is.
func fillTenant(ctx context.Context, stack *scaleStack, sc scenario, sites, days, reps int) (*scalePlan, error) {
	plan := &scalePlan{users: map[string]string{}}
	for _, m := range seedUserLine.FindAllStringSubmatch(stack.seedOut, -1) {
		plan.users[m[1]] = m[2]
	}
	for _, u := range []string{"cs.a1", "tech.a1", "guard.a1"} {
		if plan.users[u] == "" {
			return nil, fmt.Errorf("seed demo named no user %s", u)
		}
	}
	store, err := openScaleStore(ctx, stack)
	if err != nil {
		return nil, err
	}
	defer store.Close(context.Background())
	var mu sync.Mutex
	var clock time.Time
	// Tuned as the server's store tunes itself on FerretDB (mongodb.SyncStore.Start).
	eng, err := fsync.Open(ctx, store.SyncTuned(mongodb.Tuning{PointLoads: true, UnsortedScans: true}), fsync.Options{Collections: field.Collections(field.Options{}),
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if err != nil {
		return nil, err
	}
	writes := historyWrites(plan, sc, sites, days, reps, time.Now())
	slices.SortStableFunc(writes, func(a, b fillWrite) int { return a.at.Compare(b.at) })
	for i := 0; i < len(writes); i += fillBatch {
		part := writes[i:min(i+fillBatch, len(writes))]
		batch := make([]fsync.Write, len(part))
		for j := range part {
			batch[j] = part[j].w
		}
		mu.Lock()
		clock = part[0].at
		mu.Unlock()
		if err := eng.Apply(ctx, fieldsync.DemoTenant, batch); err != nil {
			return nil, fmt.Errorf("records %d-%d: %w", i, i+len(part), err)
		}
		if (i/fillBatch)%40 == 39 {
			fmt.Fprintf(os.Stderr, "   filled %d of %d records\n", i+len(part), len(writes))
		}
	}
	// The server's field jobs would start by marking what a year of history
	// never had marked along the way: one Apply over thousands of records, which
	// the embedded store writes one full scan per record (it outlasts the
	// driver's timeout at 2,000 orders). The bench holds the jobs' lease for the
	// scenario instead: what is measured is the desk and the field, not a
	// catch-up that a real tenant never meets.
	_, err = store.DB.Collection(mongodb.LeasesCollection).UpdateOne(ctx, bson.M{"_id": "field-jobs/" + fieldsync.DemoTenant},
		bson.M{"$set": bson.M{"holder": scaleJobsHolder, "exp": time.Now().Add(scaleTimeout)}}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return nil, fmt.Errorf("hold the field jobs' lease: %w", err)
	}
	return plan, nil
}

// openScaleStore connects to the scenario's database.
func openScaleStore(ctx context.Context, stack *scaleStack) (*mongodb.Store, error) {
	db := stack.env["FIELDSYNC_MONGO_DB"]
	if db == "" {
		db = "fieldsync"
	}
	return mongodb.Open(ctx, stack.env["FIELDSYNC_MONGO_URI"], db, mongodb.Options{})
}

// historyWrites lays out the history: site A and B are the demo sites, the
// others stand for the rest of the company. tech.a1 is given 5 orders; the
// other orders of the last 4 hours are open or with a technician of the company,
// or, when older, done within their deadlines; a complaint is closed. Inspections
// are found by the company's guards (not guard.a1). Deterministic.
func historyWrites(plan *scalePlan, sc scenario, sites, days, reps int, now time.Time) []fillWrite {
	r := rand.New(rand.NewPCG(uint64(sc.Orders), uint64(sc.Inspections)))
	siteIDs := []string{fieldsync.DemoSiteA, fieldsync.DemoSiteB}
	for len(siteIDs) < sites {
		siteIDs = append(siteIDs, fmt.Sprintf("00000000-0000-7000-8000-%012x", 0x100+len(siteIDs)))
	}
	siteIDs = siteIDs[:sites]
	people := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = uuid.NewString()
		}
		return out
	}
	techs, guards := people(50), people(40)
	span := time.Duration(days) * 24 * time.Hour
	// at is a time in the history; the newest hour is left to the demo week and the measurements.
	at := func() time.Time { return now.Add(-time.Hour - time.Duration(r.Int64N(int64(span)))) }
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteByte(' ')
		}
		return strings.TrimSpace(b.String())
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	pick := func(xs []string) string { return xs[r.IntN(len(xs))] }
	var out []fillWrite
	add := func(t time.Time, coll, site, by string, set map[string]any) string {
		id, _ := uuid.NewV7()
		out = append(out, fillWrite{at: t, w: fsync.Write{Collection: coll, ID: id.String(), Create: true, SiteID: site, CreatedBy: by, Set: set}})
		return id.String()
	}
	desk := plan.users["cs.a1"]
	// The orders the measurements assign, and tech.a1's handful, are recent and at site A.
	targets := reps + 2
	for i := range sc.Orders {
		site := siteIDs[i%len(siteIDs)]
		set := map[string]any{"source": "owner_request", "department": "engineering", "priority": pick([]string{"urgent", "normal", "normal", "low"}),
			"category": pick(field.Categories), "title": text(30), "description": text(200),
			"location": fmt.Sprintf("Building %d, unit %d", 1+r.IntN(12), 100+r.IntN(900))}
		t := at()
		switch {
		case i < 5:
			set["status"], set["assignee_id"], set["priority"], t = fieldsync.WOAssigned, plan.users["tech.a1"], "low", now.Add(-30*time.Minute)
			site = fieldsync.DemoSiteA
		case i < 5+targets:
			set["status"], set["priority"], t, site = fieldsync.WOOpen, "low", now.Add(-30*time.Minute), fieldsync.DemoSiteA
		case now.Sub(t) < 4*time.Hour:
			// The last hours' backlog: open or with a technician, not yet late.
			set["priority"] = "low"
			if r.IntN(3) == 0 {
				set["status"] = fieldsync.WOOpen
			} else {
				set["status"], set["assignee_id"] = pick([]string{fieldsync.WOAssigned, fieldsync.WOInProgress}), pick(techs)
			}
		default:
			// Older orders are done, within their deadlines: a desk that keeps up.
			set["status"], set["assignee_id"], set["resolution"] = pick([]string{fieldsync.WOCompleted, fieldsync.WOVerified}), pick(techs), text(60)
			set["accepted_at"], set["completed_at"] = stamp(t.Add(10*time.Minute)), stamp(t.Add(2*time.Hour))
		}
		id := add(t, fieldsync.CollWorkOrders, site, desk, set)
		if i >= 5 && i < 5+targets {
			plan.openOrders = append(plan.openOrders, id)
		}
	}
	for i := range sc.Orders / 4 {
		site := siteIDs[i%len(siteIDs)]
		set := map[string]any{"channel": pick(field.ComplaintChannels), "category": pick(field.ComplaintCategories), "content": text(200)}
		t := at()
		switch {
		case i < targets:
			set["stage"], t, site = fieldsync.StageReceived, now.Add(-20*time.Minute), fieldsync.DemoSiteA
		default:
			set["stage"], set["result_summary"] = fieldsync.StageClosed, text(60)
		}
		id := add(t, fieldsync.CollComplaints, site, desk, set)
		if i < targets {
			plan.receivedComplaints = append(plan.receivedComplaints, id)
		}
	}
	for i := range sc.Inspections {
		add(at(), fieldsync.CollInspections, siteIDs[i%len(siteIDs)], pick(guards), map[string]any{
			"category": pick(categories), "severity": pick(severities), "description": text(200),
			"location": fmt.Sprintf("Building %d, floor %d", 1+r.IntN(12), r.IntN(30)),
			"gps":      map[string]any{"lat": 31.23 + r.Float64()/100, "lng": 121.47 + r.Float64()/100}})
	}
	return out
}
