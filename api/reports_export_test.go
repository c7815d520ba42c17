package api_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
)

// TestReportsACompanyTakesAway: per day and per week with the change
// against the period before, per technician, per site, and the records
// behind a report, checked against figures computed by hand; each CSV starts
// with a BOM and parses back to the same figures and the same Chinese text.
func TestReportsACompanyTakesAway(t *testing.T) {
	clock := devtest.NewClock()
	srv := newFullServerWith(t, func(c *fullConfig) { c.Sync.Now = clock.Now })
	users := mustSeedUsers(t, srv)
	// base: the next Monday, 00:00 UTC.
	now := clock.Now().UTC()
	base := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	for base.Weekday() != time.Monday {
		base = base.AddDate(0, 0, 1)
	}
	at := func(d time.Duration) { clock.Advance(base.Add(d).Sub(clock.Now())) }
	cs, tech, csB := mustLoginSession(t, srv, "cs.a1", ""), mustLoginSession(t, srv, "tech.a1", ""), mustLoginSession(t, srv, "cs.b1", "")
	techID := users["tech.a1"].ID
	order := func(s session, site, priority, category, title string) (string, int64) {
		t.Helper()
		id, r := wfOrder(t, srv, s, map[string]any{"site_id": site, "priority": priority, "category": category, "title": title})
		return id, r.Version
	}
	act := func(s session, id string, v int64, name string, args map[string]any) int64 {
		t.Helper()
		return wfOne(t, srv, s, fieldsync.StatusApplied, action(wo, id, v, name, args)).Version
	}
	// Day 0, 01:00: W1 (normal, facilities) and W2 (urgent, sanitation), both taken at once by tech.a1.
	at(time.Hour)
	w1, v1 := order(cs, fieldsync.DemoSiteA, "normal", "facilities", "三号楼电梯异响")
	w2, v2 := order(cs, fieldsync.DemoSiteA, "urgent", "sanitation", "地下车库积水")
	for _, w := range []struct {
		id string
		v  *int64
	}{{w1, &v1}, {w2, &v2}} {
		*w.v = act(cs, w.id, *w.v, "assign", map[string]any{"assignee_id": techID})
		*w.v = act(tech, w.id, *w.v, "accept", nil)
		*w.v = act(tech, w.id, *w.v, "start", nil)
	}
	// W1 completed at 02:00 (due in 24 h: on time); W2 at 04:00 (due 03:00: late, overdue).
	at(2 * time.Hour)
	v1 = act(tech, w1, v1, "complete", map[string]any{"resolution": "更换轴承"})
	at(4 * time.Hour)
	v2 = act(tech, w2, v2, "complete", map[string]any{"resolution": "抽水"})
	act(cs, w1, v1, "verify", map[string]any{"satisfaction": 5})
	act(cs, w2, v2, "verify", map[string]any{"satisfaction": 3})
	// Day 1: W3 (low, facilities), never assigned; one order at site B.
	at(25 * time.Hour)
	order(cs, fieldsync.DemoSiteA, "low", "facilities", "路灯不亮")
	order(csB, fieldsync.DemoSiteB, "normal", "greening", "草坪修剪")
	// Day 8 (next week): W4 assigned and accepted.
	at(8*24*time.Hour + time.Hour)
	w4, v4 := order(cs, fieldsync.DemoSiteA, "normal", "facilities", "门禁失灵")
	v4 = act(cs, w4, v4, "assign", map[string]any{"assignee_id": techID})
	act(tech, w4, v4, "accept", nil)

	span := "&from=" + url.QueryEscape(base.Format(time.RFC3339)) + "&to=" + url.QueryEscape(base.AddDate(0, 0, 9).Format(time.RFC3339))
	siteA := "site=" + fieldsync.DemoSiteA + span

	var days fieldsync.PeriodReport
	mustDo(t, srv, "GET", "/v1/reports/work-orders/periods?period=day&"+siteA, "", cs.Headers(), 200, &days)
	wantTotals := []int64{2, 1, 0, 0, 0, 0, 0, 0, 1}
	wantChange := []string{"null", "-50.00", "-100.00", "null", "null", "null", "null", "null", "null"}
	if len(days.Periods) != 9 {
		t.Fatalf("days: got %d periods, want 9: %+v", len(days.Periods), days)
	}
	for i, p := range days.Periods {
		ch := "null"
		if p.ChangePercent != nil {
			ch = fmt.Sprintf("%.2f", *p.ChangePercent)
		}
		if p.Total != wantTotals[i] || ch != wantChange[i] || !p.Start.Equal(base.AddDate(0, 0, i)) {
			t.Fatalf("day %d: got total %d change %s from %v, want %d %s from %v", i, p.Total, ch, p.Start, wantTotals[i], wantChange[i], base.AddDate(0, 0, i))
		}
	}
	d0 := days.Periods[0]
	if d0.Resolved != 2 || d0.OnTime != 1 || d0.Overdue != 1 || d0.Rated != 2 || d0.AvgSatisfaction == nil || *d0.AvgSatisfaction != 4 ||
		d0.ByCategory["facilities"] != 1 || d0.ByCategory["sanitation"] != 1 {
		t.Fatalf("day 0: got %+v", d0.Figures)
	}
	tot := days.Total
	if tot.Total != 4 || tot.ByCategory["facilities"] != 3 || tot.Resolved != 2 || tot.OnTime != 1 || days.Previous.Total != 0 || days.ChangePercent != nil {
		t.Fatalf("span: got %+v previous %+v", tot, days.Previous)
	}
	var weeks fieldsync.PeriodReport
	mustDo(t, srv, "GET", "/v1/reports/work-orders/periods?period=week&tz=Asia/Shanghai&"+siteA, "", cs.Headers(), 200, &weeks)
	// In Shanghai (UTC+8) the weeks start Monday 00:00 +08:00, eight hours before base.
	if len(weeks.Periods) != 2 || weeks.Periods[0].Total != 3 || weeks.Periods[1].Total != 1 ||
		weeks.Periods[1].ChangePercent == nil || math.Abs(*weeks.Periods[1].ChangePercent+66.67) > 0.01 ||
		!weeks.Periods[1].Start.Equal(base.AddDate(0, 0, 7).Add(-8*time.Hour)) {
		t.Fatalf("weeks: got %+v", weeks.Periods)
	}

	var staff fieldsync.StaffReport
	mustDo(t, srv, "GET", "/v1/reports/work-orders/staff?"+siteA, "", cs.Headers(), 200, &staff)
	if len(staff.Staff) != 1 {
		t.Fatalf("staff: got %+v", staff)
	}
	st := staff.Staff[0]
	if st.UserID != techID || st.Name == "" || st.Assigned != 3 || st.Completed != 2 || st.OnTime != 1 || st.Rated != 2 || *st.AvgSatisfaction != 4 {
		t.Fatalf("tech.a1: got %+v", st)
	}

	var sites fieldsync.SitesReport
	mustDo(t, srv, "GET", "/v1/reports/work-orders/sites?"+strings.TrimPrefix(span, "&"), "", mustLoginSession(t, srv, "manager.a1", "").Headers(), 200, &sites)
	if len(sites.Sites) != 2 || sites.Sites[0].SiteID != fieldsync.DemoSiteA || sites.Sites[0].Total != 4 || sites.Sites[1].Total != 1 {
		t.Fatalf("sites: got %+v", sites)
	}
	mustDo(t, srv, "GET", "/v1/reports/work-orders/sites?"+strings.TrimPrefix(span, "&"), "", cs.Headers(), 200, &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].Total != 4 {
		t.Fatalf("sites of cs.a1: got %+v", sites)
	}

	// CSVs: a BOM, then rows that parse back to the same figures and text.
	csvOf := func(url string) [][]string {
		t.Helper()
		var rows [][]string
		scenario{method: "GET", url: url, headers: cs.Headers(), status: 200, after: func(tb testing.TB, res *http.Response, body []byte) {
			if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				tb.Fatalf("%s: Content-Type %q", url, ct)
			}
			if !bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")) {
				tb.Fatalf("%s: no BOM: %q", url, body[:min(len(body), 20)])
			}
			var err error
			if rows, err = csv.NewReader(bytes.NewReader(body[3:])).ReadAll(); err != nil {
				tb.Fatal(err)
			}
		}}.run(t, srv)
		return rows
	}
	recs := csvOf("/v1/reports/work-orders/records?format=csv&" + siteA)
	if len(recs) != 5 || recs[0][0] != "id" || recs[1][0] != w1 || recs[1][2] != "三号楼电梯异响" || recs[2][2] != "地下车库积水" ||
		recs[4][0] != w4 || recs[1][len(recs[1])-1] != "5" {
		t.Fatalf("records CSV: got %v", recs)
	}
	per := csvOf("/v1/reports/work-orders/periods?period=day&format=csv&" + siteA)
	if len(per) != 10 || per[1][2] != "2" || per[2][4] != "-50.00" || per[0][10] != "category:facilities" || per[1][10] != "1" {
		t.Fatalf("periods CSV: got %v", per)
	}
	sum := csvOf("/v1/reports/work-orders?format=csv&" + siteA)
	got := map[string]string{}
	for _, r := range sum[1:] {
		got[r[0]] = r[1]
	}
	if got["total"] != "4" || got["rated"] != "2" || got["avg_satisfaction"] != "4.00" || got["category:facilities"] != "3" || got["state:verified"] != "2" {
		t.Fatalf("report CSV: got %v", got)
	}
	stc := csvOf("/v1/reports/work-orders/staff?format=csv&" + siteA)
	if len(stc) != 2 || stc[1][0] != techID || stc[1][3] != "2" || stc[1][4] != "1" {
		t.Fatalf("staff CSV: got %v", stc)
	}
	// Who may read them; bad parameters name themselves.
	mustDo(t, srv, "GET", "/v1/reports/work-orders/staff?"+siteA, "", tech.Headers(), 403, nil)
	mustDo(t, srv, "GET", "/v1/reports/work-orders/records?"+siteA, "", csB.Headers(), 403, nil)
	for q, field := range map[string]string{"&period=year": "period", "&tz=Mars/Olympus": "tz", "&format=xlsx": "format"} {
		scenario{method: "GET", url: "/v1/reports/complaints/periods?" + siteA + q, headers: cs.Headers(), status: 400,
			contains: []string{`"` + field + `"`}}.run(t, srv)
	}
}
