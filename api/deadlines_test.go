package api_test

import (
	"testing"
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

func docTime(tb testing.TB, doc map[string]any, field string) time.Time {
	tb.Helper()
	s, _ := doc[field].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("%s: got %v in %v", field, doc[field], doc)
	}
	return t
}

// wantAfter fails unless field of doc is d after base field.
func wantAfter(tb testing.TB, doc map[string]any, field, base string, d time.Duration) {
	tb.Helper()
	if got := docTime(tb, doc, field).Sub(docTime(tb, doc, base)); got != d {
		tb.Fatalf("%s − %s: got %v, want %v", field, base, got, d)
	}
}

// TestDeadlineSettings: an admin sets the tenant's and a site's deadlines;
// a new record gets them, a record created before keeps its own (even when
// its priority changes later); bad settings are refused naming the field;
// only admins change them.
func TestDeadlineSettings(t *testing.T) {
	srv := newFullServer(t)
	admin := mustLoginSession(t, srv, "admin", "")
	cs := mustLoginSession(t, srv, "cs.a1", "")
	now := func() string { return time.Now().UTC().Format(time.RFC3339Nano) }
	newOrder := func(priority string) wfResult {
		t.Helper()
		m := create(wo, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA, "title": "门禁坏了", "priority": priority})
		m["client_time"] = now()
		return wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	}
	old := newOrder("low")
	wantAfter(t, old.Doc, "respond_by", "recorded_at", 30*time.Minute)

	var v fieldsync.DeadlineSettingsView
	mustDo(t, srv, "PUT", "/v1/settings/deadlines", `{"work_orders":{"urgent":{"respond_minutes":10,"resolve_minutes":60}},"complaint_stages_minutes":{"received":30},"escalation_minutes":600}`,
		admin.Headers(), 200, &v)
	if v.Effective.WorkOrders["urgent"].RespondMinutes != 10 || v.Effective.WorkOrders["normal"].RespondMinutes != 15 || v.UpdatedAt == nil {
		t.Fatalf("PUT: got %+v", v)
	}
	mustDo(t, srv, "PUT", "/v1/settings/deadlines?site_id="+fieldsync.DemoSiteA, `{"work_orders":{"urgent":{"respond_minutes":20}}}`, admin.Headers(), 200, &v)
	if v.Effective.WorkOrders["urgent"] != (fieldsync.SLAMinutes{RespondMinutes: 20, ResolveMinutes: 60}) || v.Effective.ComplaintStages["received"] != 30 {
		t.Fatalf("PUT site: got %+v", v)
	}
	// The desk reads them; field staff do not; only admins change them.
	mustDo(t, srv, "GET", "/v1/settings/deadlines?site_id="+fieldsync.DemoSiteA, "", cs.Headers(), 200, &v)
	if v.Settings.WorkOrders["urgent"].RespondMinutes != 20 || v.Effective.EscalationMinutes != 600 {
		t.Fatalf("GET site: got %+v", v)
	}
	mustDo(t, srv, "GET", "/v1/settings/deadlines", "", mustLoginSession(t, srv, "guard.a1", "").Headers(), 403, nil)
	mustDo(t, srv, "PUT", "/v1/settings/deadlines", `{"escalation_minutes":5}`, cs.Headers(), 403, nil)
	for body, field := range map[string]string{
		`{"work_orders":{"urgent":{"respond_minutes":-1}}}`:                   "work_orders.urgent.respond_minutes",
		`{"work_orders":{"asap":{"respond_minutes":1}}}`:                      "work_orders.asap",
		`{"work_orders":{"low":{"respond_minutes":60,"resolve_minutes":30}}}`: "work_orders.low.resolve_minutes",
		`{"complaint_stages_minutes":{"closed":5}}`:                           "complaint_stages_minutes.closed",
		`{"callback_minutes":9999999}`:                                        "callback_minutes",
		`{"escalation_minutes":"soon"}`:                                       "escalation_minutes",
	} {
		scenario{method: "PUT", url: "/v1/settings/deadlines", body: body, headers: admin.Headers(), status: 400,
			contains: []string{`"invalid_input"`, field}}.run(t, srv)
	}

	// A new urgent order at site A: the site's respond time, the tenant's resolve time.
	n := newOrder("urgent")
	wantAfter(t, n.Doc, "respond_by", "recorded_at", 20*time.Minute)
	wantAfter(t, n.Doc, "resolve_by", "recorded_at", 60*time.Minute)
	// The old order keeps the deadlines of its creation, also when it becomes urgent.
	r := wfOne(t, srv, cs, fieldsync.StatusApplied, update(wo, old.ID, old.Version, map[string]any{"priority": "urgent"}))
	wantAfter(t, r.Doc, "respond_by", "recorded_at", 5*time.Minute)
	wantAfter(t, r.Doc, "resolve_by", "recorded_at", 2*time.Hour)
	// A new complaint: the received stage's reply deadline.
	m := create(cp, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA, "channel": "phone", "content": "楼上漏水"})
	m["client_time"] = now()
	c := wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	wantAfter(t, c.Doc, "reply_by", "recorded_at", 30*time.Minute)
	wantAfter(t, c.Doc, "callback_by", "recorded_at", 24*time.Hour)
}

// TestOfflineDeadlinesCountFromTheDevice: a record made offline counts its
// deadlines from when it was recorded on the phone (its client_time), not
// from when it reached the server; a phone clock ahead cannot put them off.
// The callback the desk agrees with the owner counts from when it was agreed.
func TestOfflineDeadlinesCountFromTheDevice(t *testing.T) {
	srv := newFullServer(t)
	cs := mustLoginSession(t, srv, "cs.a1", "")
	recorded := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	m := create(wo, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA, "title": "电梯困人", "priority": "urgent"})
	m["client_time"] = recorded.Format(time.RFC3339)
	o := wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	if got := docTime(t, o.Doc, "recorded_at"); !got.Equal(recorded) {
		t.Fatalf("recorded_at: got %v, want the device's %v", got, recorded)
	}
	if got := docTime(t, o.Doc, "respond_by"); !got.Equal(recorded.Add(5 * time.Minute)) {
		t.Fatalf("respond_by: got %v, want %v", got, recorded.Add(5*time.Minute))
	}
	if o.Doc["respond_breached"] != true || o.Doc["overdue"] != true {
		t.Fatalf("an order recorded 3 h ago with a 5 min respond time: got %v", o.Doc)
	}
	// A clock 30 minutes ahead: the server's time.
	ahead := time.Now().UTC().Add(30 * time.Minute)
	m = create(wo, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA, "title": "电梯困人", "priority": "urgent"})
	m["client_time"] = ahead.Format(time.RFC3339)
	o = wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	if got := docTime(t, o.Doc, "recorded_at"); !got.Before(ahead.Add(-20 * time.Minute)) {
		t.Fatalf("recorded_at with a clock ahead: got %v, want the server's time, not %v", got, ahead)
	}
	// A complaint registered offline an hour ago: its received stage's 2 h from then.
	m = create(cp, uuid.NewString(), map[string]any{"site_id": fieldsync.DemoSiteA, "channel": "on_site", "content": "噪音扰民"})
	m["client_time"] = time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	c := wfOne(t, srv, cs, fieldsync.StatusApplied, m)
	wantAfter(t, c.Doc, "reply_by", "recorded_at", 2*time.Hour)
	// The desk agrees with the owner to call back within 90 minutes, on a phone offline since 10 minutes.
	agreed := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Second)
	u := update(cp, c.ID, c.Version, map[string]any{"callback_minutes": 90})
	u["client_time"] = agreed.Format(time.RFC3339)
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, u)
	if got := docTime(t, c.Doc, "callback_by"); !got.Equal(agreed.Add(90 * time.Minute)) {
		t.Fatalf("callback_by: got %v, want %v", got, agreed.Add(90*time.Minute))
	}
	// An order raised from the complaint counts from the action's device time.
	raised := time.Now().UTC().Add(-20 * time.Minute).Truncate(time.Second)
	c = wfOne(t, srv, cs, fieldsync.StatusApplied, action(cp, c.ID, c.Version, "clarify", nil))
	oid := uuid.NewString()
	a := action(cp, c.ID, c.Version, "create_work_order", map[string]any{"work_order_id": oid, "title": "查漏水", "priority": "urgent"})
	a["client_time"] = raised.Format(time.RFC3339)
	wfOne(t, srv, cs, fieldsync.StatusApplied, a)
	od := pullScope(t, srv, cs)[wo+"/"+oid]
	if od == nil || !docTime(t, od, "recorded_at").Equal(raised) || !docTime(t, od, "respond_by").Equal(raised.Add(5*time.Minute)) {
		t.Fatalf("the raised order: got %v, want recorded_at %v", od, raised)
	}
	// Only the desk agrees a callback.
	g := mustLoginSession(t, srv, "guard.a1", "")
	wfRejected(t, srv, g, "forbidden", "fields.callback_minutes", create(cp, uuid.NewString(), map[string]any{
		"site_id": fieldsync.DemoSiteA, "channel": "on_site", "content": "x", "callback_minutes": 5}))
}
