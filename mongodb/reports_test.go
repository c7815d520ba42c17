package mongodb_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

const (
	siteA  = "00000000-0000-7000-8000-0000000000a1"
	siteB  = "00000000-0000-7000-8000-0000000000b1"
	tenant = "acme"
	techID = "00000000-0000-4000-8000-000000000001"
)

var (
	csA   = &fieldsync.Caller{UserID: "u-csA", TenantID: tenant, DeviceID: "d-csA", Role: fieldsync.RoleCSAgent, SiteIDs: []string{siteA}}
	csB   = &fieldsync.Caller{UserID: "u-csB", TenantID: tenant, DeviceID: "d-csB", Role: fieldsync.RoleCSAgent, SiteIDs: []string{siteB}}
	supA  = &fieldsync.Caller{UserID: "u-supA", TenantID: tenant, DeviceID: "d-supA", Role: fieldsync.RoleSupervisor, SiteIDs: []string{siteA}}
	grdA  = &fieldsync.Caller{UserID: "u-grdA", TenantID: tenant, DeviceID: "d-grdA", Role: fieldsync.RoleGuard, SiteIDs: []string{siteA}}
	techA = &fieldsync.Caller{UserID: techID, TenantID: tenant, DeviceID: "d-techA", Role: fieldsync.RoleTechnician, SiteIDs: []string{siteA}}
	admin = &fieldsync.Caller{UserID: "u-admin", TenantID: tenant, DeviceID: "d-admin", Role: fieldsync.RoleAdmin}
	other = &fieldsync.Caller{UserID: "u-other", TenantID: "globex", DeviceID: "d-other", Role: fieldsync.RoleAdmin}
)

type world struct {
	t   *testing.T
	e   *fsync.Engine
	now time.Time
}

func as(c *fieldsync.Caller) context.Context {
	return fieldsync.NewContextWithCaller(context.Background(), c)
}

func args(kv ...any) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		b, _ := json.Marshal(kv[i+1])
		m[kv[i].(string)] = b
	}
	return m
}

func (w *world) push(c *fieldsync.Caller, m fieldsync.Mutation) {
	w.t.Helper()
	m.MutationID = uuid.NewString()
	res, err := w.e.Push(as(c), fieldsync.PushRequest{DeviceID: c.DeviceID, Mutations: []fieldsync.Mutation{m}})
	if err != nil {
		w.t.Fatal(err)
	}
	if r := res.Results[0]; r.Status != fieldsync.StatusApplied {
		w.t.Fatalf("%s %s %s: %s %+v", m.Op, m.Collection, m.Action, r.Status, r.Error)
	}
}

func (w *world) create(c *fieldsync.Caller, coll string, kv ...any) string {
	id := uuid.NewString()
	w.push(c, fieldsync.Mutation{Collection: coll, Op: fieldsync.OpCreate, ID: id, Fields: args(kv...)})
	return id
}

// act acts on the record at the latest version (actions are checked against
// the current state, so any base version up to it will do).
func (w *world) act(c *fieldsync.Caller, coll, id, name string, kv ...any) {
	w.push(c, fieldsync.Mutation{Collection: coll, Op: fieldsync.OpAction, ID: id, BaseVersion: 1, Action: name, Args: args(kv...)})
}

// TestReports computes both reports over hand-made activity and compares
// them with hand-computed figures (sums that a $group with several
// accumulators on the embedded database would get wrong).
func TestReports(t *testing.T) {
	t.Parallel()
	store := devtest.MustOpenStore(t)
	t0 := time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC)
	w := &world{t: t, now: t0}
	e, err := fsync.Open(context.Background(), store.Sync(), fsync.Options{Collections: field.Collections(field.Options{}), Now: func() time.Time { return w.now }})
	if err != nil {
		t.Fatal(err)
	}
	w.e = e
	complaint := func(site string, c *fieldsync.Caller, category string) string {
		return w.create(c, fieldsync.CollComplaints, "site_id", site, "channel", "phone", "category", category, "content", "x")
	}
	// Outside the report: another site, another tenant, and 40 days earlier.
	w.now = t0.Add(-40 * 24 * time.Hour)
	complaint(siteA, csA, "noise")
	w.now = t0
	complaint(siteB, csB, "noise")
	complaint(siteA, other, "noise")
	// Complaints at A: c1, c2 sanitation; c4 noise (resolved after 2 h, 6 h, 10 h); c3 noise, c7 fees left received.
	c1, c2, c3, c4, c7 := complaint(siteA, csA, "sanitation"), complaint(siteA, grdA, "sanitation"), complaint(siteA, csA, "noise"),
		complaint(siteA, csA, "noise"), complaint(siteA, csA, "fees")
	_, _ = c3, c7
	for _, id := range []string{c1, c2, c4} {
		w.act(csA, fieldsync.CollComplaints, id, "clarify")
		w.act(csA, fieldsync.CollComplaints, id, "start_resolving")
	}
	w.now = t0.Add(time.Hour)
	w.act(supA, fieldsync.CollComplaints, c1, "escalate", "reason", "owner unhappy")
	for _, s := range []struct {
		id    string
		after time.Duration
		score int
	}{{c1, 2 * time.Hour, 5}, {c2, 6 * time.Hour, 2}, {c4, 10 * time.Hour, 4}} {
		w.now = t0.Add(s.after)
		w.act(csA, fieldsync.CollComplaints, s.id, "resolve")
		w.act(csA, fieldsync.CollComplaints, s.id, "record_follow_up", "method", "phone", "satisfaction", s.score)
	}
	w.act(csA, fieldsync.CollComplaints, c4, "close", "result_summary", "done")

	// Work orders at A: o1 urgent done in 1 h (5), o2 normal done in 3 h (3), o3 low and o4 urgent left open, o5 cancelled.
	w.now = t0
	order := func(priority, category string) string {
		return w.create(csA, fieldsync.CollWorkOrders, "site_id", siteA, "title", "t", "priority", priority, "category", category)
	}
	w.create(csB, fieldsync.CollWorkOrders, "site_id", siteB, "title", "t", "category", "greening")
	o1, o2, _, _, o5 := order("urgent", "facilities"), order("normal", "facilities"), order("low", "greening"), order("urgent", "sanitation"), order("normal", "facilities")
	for _, o := range []string{o1, o2} {
		w.act(csA, fieldsync.CollWorkOrders, o, "assign", "assignee_id", techID)
		w.act(techA, fieldsync.CollWorkOrders, o, "accept")
		w.act(techA, fieldsync.CollWorkOrders, o, "start")
	}
	w.act(csA, fieldsync.CollWorkOrders, o5, "cancel", "reason", "duplicate")
	for _, s := range []struct {
		id    string
		after time.Duration
		score int
	}{{o1, time.Hour, 5}, {o2, 3 * time.Hour, 3}} {
		w.now = t0.Add(s.after)
		w.act(techA, fieldsync.CollWorkOrders, s.id, "complete", "resolution", "fixed")
		w.act(csA, fieldsync.CollWorkOrders, s.id, "verify", "satisfaction", s.score)
	}
	w.now = t0.Add(10 * time.Hour)
	if _, err := e.RunJobsOnce(context.Background(), fsync.JobOptions{Jobs: field.Jobs}); err != nil {
		t.Fatal(err)
	}

	reports := &mongodb.Reports{Store: store}
	q := fieldsync.ReportQuery{SiteID: siteA, From: t0.Add(-24 * time.Hour), To: t0.Add(24 * time.Hour)}
	got, err := reports.ComplaintReport(as(csA), q)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, "complaints", got, fieldsync.Report{Total: 5,
		ByCategory: map[string]int64{"sanitation": 2, "noise": 2, "fees": 1},
		ByState:    map[string]int64{"follow_up": 2, "closed": 1, "received": 2},
		// c3 and c7, left received past their 2 h reply deadline, escalated
		// themselves (level 1, a new deadline): escalated, not overdue.
		Overdue: 0, Escalated: 3, Rated: 3, Resolved: 3}, 11.0/3, 6*3600)
	got, err = reports.WorkOrderReport(as(supA), q)
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, "work orders", got, fieldsync.Report{Total: 5,
		ByCategory: map[string]int64{"facilities": 3, "greening": 1, "sanitation": 1},
		ByState:    map[string]int64{"verified": 2, "open": 2, "cancelled": 1},
		Overdue:    2, Escalated: 1, Rated: 2, Resolved: 2}, 4, 2*3600)
	// An empty period has no averages.
	empty, err := reports.WorkOrderReport(as(admin), fieldsync.ReportQuery{SiteID: siteA, From: t0.Add(24 * time.Hour), To: t0.Add(48 * time.Hour)})
	if err != nil || empty.Total != 0 || empty.AvgSatisfaction != nil || empty.MedianResolveSeconds != nil {
		t.Fatalf("empty report %+v %v", empty, err)
	}
	// Another tenant's admin holds every site id of their own tenant only: nothing of ours is counted.
	if r, err := reports.ComplaintReport(as(other), q); err != nil || r.Total != 1 {
		t.Fatalf("other tenant's admin: %+v %v (want only their own one complaint)", r, err)
	}
	for _, c := range []*fieldsync.Caller{grdA, techA, csB} {
		if _, err := reports.ComplaintReport(as(c), q); fieldsync.ErrorCode(err) != fieldsync.EForbidden {
			t.Fatalf("%s: got %v, want forbidden", c.UserID, err)
		}
	}
	if _, err := reports.ComplaintReport(as(csA), fieldsync.ReportQuery{SiteID: siteA, From: t0, To: t0}); fieldsync.ErrorField(err) != "to" {
		t.Fatalf("empty period: %v", err)
	}
}

func checkReport(t *testing.T, name string, got *fieldsync.Report, want fieldsync.Report, avg, median float64) {
	t.Helper()
	if got.Total != want.Total || got.Overdue != want.Overdue || got.Escalated != want.Escalated || got.Rated != want.Rated ||
		got.Resolved != want.Resolved || !maps.Equal(got.ByCategory, want.ByCategory) || !maps.Equal(got.ByState, want.ByState) {
		t.Fatalf("%s report:\n got %+v\nwant %+v", name, *got, want)
	}
	if got.AvgSatisfaction == nil || *got.AvgSatisfaction < avg-1e-9 || *got.AvgSatisfaction > avg+1e-9 {
		t.Fatalf("%s avg satisfaction %v, want %v", name, got.AvgSatisfaction, avg)
	}
	if got.MedianResolveSeconds == nil || *got.MedianResolveSeconds != median {
		t.Fatalf("%s median %v, want %v", name, got.MedianResolveSeconds, median)
	}
}
