package field_test

import (
	"fmt"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

// siteU is a site whose record id is its site id (UUID), as real sites are.
const siteU = "00000000-0000-7000-8000-0000000000a1"

// at is c moved to site.
func at(c *fieldsync.Caller, site string) *fieldsync.Caller {
	cp := *c
	cp.SiteIDs = []string{site}
	return &cp
}

// patrolSite creates site siteU (threshold 30 m), three checkpoints 100 m apart
// and a route over them with windows 0-10, 10-20 and 20-30 minutes.
func (h *harness) patrolSite(guardsRaise bool) (route string, cps []string) {
	h.tb.Helper()
	route = newID()
	ms := []fieldsync.Mutation{create(fieldsync.CollSites, siteU, "site_id", siteU, "name", "Garden Court",
		"gps_threshold_m", 30, "guards_raise_work_orders", guardsRaise)}
	var stops []map[string]any
	for i := 0; i < 3; i++ {
		id := newID()
		cps = append(cps, id)
		ms = append(ms, create(fieldsync.CollCheckpoints, id, "site_id", siteU, "name", fmt.Sprint("CP", i), "code", fmt.Sprint("QR-", i),
			"location", map[string]any{"lat": 31.2, "lng": 121.4 + float64(i)*0.001}))
		stops = append(stops, map[string]any{"checkpoint_id": id, "window_start_min": i * 10, "window_end_min": i*10 + 10})
	}
	ms = append(ms, create(fieldsync.CollPatrolRoutes, route, "site_id", siteU, "name", "Night round", "stops", stops))
	res := h.push(admin, ms...)
	for _, r := range res {
		wantApplied(h.tb, r)
	}
	return route, cps
}

func scan(id, cp, code string, at time.Time, lng float64) map[string]any {
	s := map[string]any{"scan_id": id, "scanned_at": at.UTC().Format(time.RFC3339Nano), "gps": map[string]any{"lat": 31.2, "lng": lng, "accuracy": 8}}
	if cp != "" {
		s["checkpoint_id"] = cp
	}
	if code != "" {
		s["code"] = code
	}
	return s
}

// TestPatrolRound: scans from two phones merge; an unknown code is kept and
// flagged; a far scan is flagged; a checkpoint missed after its window raises
// a change the customer-service app sees.
func TestPatrolRound(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	guard1, guard2, agent1 := at(guard1, siteU), at(guard2, siteU), at(agent1, siteU)
	route, cps := h.patrolSite(false)
	start := h.now.Now()
	round := newID()
	wantApplied(t, h.push(guard1, create(fieldsync.CollPatrolRounds, round, "site_id", siteU, "route_id", route,
		"started_at", start.Format(time.RFC3339Nano)))[0])
	desk := newReplica(agent1)
	desk.sync(t, h.e, 100)
	// Two phones of the guard, both offline, each with the base version 1.
	phoneB := *guard1
	phoneB.DeviceID = "d-guard1-b"
	s1, s2, s3 := newID(), newID(), newID()
	wantApplied(t, h.push(guard1, update(fieldsync.CollPatrolRounds, round, 1, "scans", []any{
		scan(s1, cps[0], "", start.Add(2*time.Minute), 121.4004)}))[0])
	wantApplied(t, h.push(&phoneB, update(fieldsync.CollPatrolRounds, round, 1, "scans", []any{
		scan(s2, "", "QR-UNKNOWN", start.Add(3*time.Minute), 121.4),
		scan(s3, "", "QR-1", start.Add(12*time.Minute), 121.41)}))[0]) // ~950 m from CP1
	h.now.Advance(25 * time.Minute)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	d := h.docOf(guard1, fieldsync.CollPatrolRounds, round)
	if n := len(d["scans"].([]any)); n != 3 {
		t.Fatalf("%d scans kept, want 3", n)
	}
	wantList(t, d, "off_route_scans", s2)
	wantList(t, d, "far_scans", s1, s3) // 38 m is beyond the site's 30 m
	wantList(t, d, "missed")
	wantList(t, d, "pending", cps[2])
	wantField(t, d, "missed_alert", false)

	// The third window closes unscanned: the job marks it and the desk sees it.
	h.now.Advance(10 * time.Minute)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	desk.sync(t, h.e, 100)
	d = desk.docs[fieldsync.CollPatrolRounds+"/"+round].Doc
	wantList(t, d, "missed", cps[2])
	wantField(t, d, "missed_alert", true)

	// A late scan through the scan action is summarized at once; end closes the round.
	s4 := newID()
	wantApplied(t, h.act(guard1, fieldsync.CollPatrolRounds, round, "scan", "scan_id", s4, "code", "QR-2",
		"scanned_at", h.now.Now().Format(time.RFC3339Nano)))
	d = h.docOf(guard1, fieldsync.CollPatrolRounds, round)
	wantList(t, d, "late", cps[2])
	wantList(t, d, "missed")
	wantCode(t, h.act(guard1, fieldsync.CollPatrolRounds, round, "scan", "scan_id", newID(), "scanned_at", h.now.Now().Format(time.RFC3339Nano)), fieldsync.EInvalid)
	wantCode(t, h.act(guard2, fieldsync.CollPatrolRounds, round, "end"), fieldsync.EForbidden) // not their round
	wantApplied(t, h.act(guard1, fieldsync.CollPatrolRounds, round, "end"))
	wantField(t, h.docOf(agent1, fieldsync.CollPatrolRounds, round), "status", field.RoundEnded)
	wantCode(t, h.act(guard1, fieldsync.CollPatrolRounds, round, "end"), fieldsync.EInvalidTransit)
}

// TestRoundEndMarksUnscannedMissed (issue #14 item 8): ending a round marks
// every checkpoint it did not scan missed — also those whose window is still
// open — so an ended round shows nothing pending and raises the alert.
func TestRoundEndMarksUnscannedMissed(t *testing.T) {
	t.Parallel()
	h := newField(t, field.Options{})
	guard1 := at(guard1, siteU)
	route, cps := h.patrolSite(false)
	start := h.now.Now()
	round := newID()
	wantApplied(t, h.push(guard1, create(fieldsync.CollPatrolRounds, round, "site_id", siteU, "route_id", route,
		"started_at", start.Format(time.RFC3339Nano)))[0])
	h.now.Advance(2 * time.Minute)
	wantApplied(t, h.act(guard1, fieldsync.CollPatrolRounds, round, "scan", "scan_id", newID(), "checkpoint_id", cps[0],
		"scanned_at", h.now.Now().Format(time.RFC3339Nano)))
	d := h.docOf(guard1, fieldsync.CollPatrolRounds, round)
	wantList(t, d, "pending", cps[1], cps[2])
	wantField(t, d, "missed_alert", false)

	// Ended after 5 minutes: the windows of CP1 (10-20) and CP2 (20-30) are still open.
	h.now.Advance(3 * time.Minute)
	wantApplied(t, h.act(guard1, fieldsync.CollPatrolRounds, round, "end"))
	d = h.docOf(guard1, fieldsync.CollPatrolRounds, round)
	wantList(t, d, "pending")
	wantList(t, d, "missed", cps[1], cps[2])
	wantField(t, d, "missed_alert", true)
	// The job, later, agrees.
	h.now.Advance(10 * time.Minute)
	if _, err := h.e.RunJobsOnce(as(admin), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}
	d = h.docOf(guard1, fieldsync.CollPatrolRounds, round)
	wantList(t, d, "pending")
	wantList(t, d, "missed", cps[1], cps[2])
}

func wantList(tb testing.TB, doc map[string]any, field string, want ...string) {
	tb.Helper()
	got, _ := doc[field].([]any)
	if fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
		tb.Fatalf("%s: got %v, want %v", field, got, want)
	}
}

// TestInspectionRaiseWorkOrder: the desk turns an inspection into a linked
// work order in the same push; a guard only where the site allows it; the
// technician then sees the inspection.
func TestInspectionRaiseWorkOrder(t *testing.T) {
	t.Parallel()
	for _, allowed := range []bool{false, true} {
		t.Run(fmt.Sprint("guards allowed ", allowed), func(t *testing.T) {
			t.Parallel()
			h := newField(t, field.Options{})
			guard1, agent1, tech1, tech2 := at(guard1, siteU), at(agent1, siteU), at(tech1, siteU), at(tech2, siteU)
			h.patrolSite(allowed)
			ins := newID()
			wantApplied(t, h.push(guard1, createInspection(ins, siteU, "severity", "critical", "description", "fire door blocked",
				"building", "3", "unit", "lobby", "photo_ids", []string{"44444444-4444-4444-8444-444444444444"}))[0])
			oid := newID()
			r := h.act(guard1, fieldsync.CollInspections, ins, "raise_work_order", "work_order_id", oid)
			if !allowed {
				wantCode(t, r, fieldsync.EForbidden)
				wantCode(t, h.act(tech1, fieldsync.CollInspections, ins, "raise_work_order", "work_order_id", oid), fieldsync.EForbidden)
				oid = newID()
				r = h.act(agent1, fieldsync.CollInspections, ins, "raise_work_order", "work_order_id", oid, "assignee_id", tech1.UserID)
			} else {
				wantCode(t, h.act(guard1, fieldsync.CollInspections, ins, "raise_work_order", "work_order_id", newID(), "assignee_id", tech1.UserID), fieldsync.EForbidden)
			}
			wantApplied(t, r)
			o := h.docOf(agent1, wo, oid)
			wantField(t, o, "source", "inspection")
			wantField(t, o, "inspection_id", ins)
			wantField(t, o, "priority", "urgent")
			wantField(t, o, "title", "fire door blocked")
			wantField(t, o, "building", "3")
			if fmt.Sprint(o["before_photo_ids"]) != "[44444444-4444-4444-8444-444444444444]" {
				t.Fatalf("before photos %v", o["before_photo_ids"])
			}
			wantList(t, h.docOf(agent1, fieldsync.CollInspections, ins), "work_order_ids", oid)
			if allowed {
				wantField(t, o, "status", fieldsync.WOOpen)
				if h.docOf(tech1, fieldsync.CollInspections, ins) != nil {
					t.Fatal("technician sees an inspection with no order assigned to them")
				}
				wantApplied(t, h.act(agent1, wo, oid, "assign", "assignee_id", tech1.UserID))
			}
			wantField(t, h.docOf(tech1, fieldsync.CollInspections, ins), "id", ins)
			// Reassigned: the inspection follows the order to the new technician.
			wantApplied(t, h.act(agent1, wo, oid, "assign", "assignee_id", tech2.UserID))
			if h.docOf(tech1, fieldsync.CollInspections, ins) != nil {
				t.Fatal("the old assignee still sees the inspection")
			}
			wantField(t, h.docOf(tech2, fieldsync.CollInspections, ins), "id", ins)
			// A retried raise is a duplicate and creates nothing more.
			dup := h.push(agent1, fieldsync.Mutation{MutationID: r.MutationID, Collection: fieldsync.CollInspections, Op: fieldsync.OpAction,
				ID: ins, BaseVersion: 1, Action: "raise_work_order", Args: fields("work_order_id", oid)})[0]
			if dup.Status != fieldsync.StatusDuplicate {
				t.Fatalf("retry: %s %+v", dup.Status, dup.Error)
			}
		})
	}
}
