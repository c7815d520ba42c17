package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"

	"github.com/google/uuid"
)

// TestReportRoutes: who may read the customer-service reports of a site, and
// what a report answers.
func TestReportRoutes(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	users := mustSeedUsers(t, srv)
	// Two complaints and one order at site A, one complaint at B, through the engine.
	e, err := fsync.Open(context.Background(), depsOf(t, srv).Store.Sync(), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	push := func(who, site, coll string, f map[string]any) {
		u := users[who]
		c := &fieldsync.Caller{UserID: u.ID, TenantID: u.TenantID, DeviceID: "seed-" + who, Role: u.Role, SiteIDs: u.SiteIDs}
		raw := map[string]json.RawMessage{}
		f["site_id"] = site
		for k, v := range f {
			raw[k], _ = json.Marshal(v)
		}
		res, err := e.Push(fieldsync.NewContextWithCaller(context.Background(), c), fieldsync.PushRequest{DeviceID: c.DeviceID,
			Mutations: []fieldsync.Mutation{{MutationID: uuid.NewString(), Collection: coll, Op: fieldsync.OpCreate, ID: uuid.NewString(), Fields: raw}}})
		if err != nil || res.Results[0].Status != fieldsync.StatusApplied {
			t.Fatalf("seed %s: %v %+v", coll, err, res)
		}
	}
	push("cs.a1", fieldsync.DemoSiteA, fieldsync.CollComplaints, map[string]any{"channel": "phone", "category": "noise", "content": "x"})
	push("guard.a1", fieldsync.DemoSiteA, fieldsync.CollComplaints, map[string]any{"channel": "on_site", "category": "noise", "content": "y"})
	push("cs.b1", fieldsync.DemoSiteB, fieldsync.CollComplaints, map[string]any{"channel": "phone", "category": "fees", "content": "z"})
	push("cs.a1", fieldsync.DemoSiteA, fieldsync.CollWorkOrders, map[string]any{"title": "leak", "category": "facilities"})

	login := func(who string) map[string]string {
		tok, _ := mustLogin(t, srv, who)
		return map[string]string{"Authorization": "Bearer " + tok}
	}
	siteA := "site=" + fieldsync.DemoSiteA
	from := url.QueryEscape(time.Now().Add(-time.Hour).Format(time.RFC3339))
	to := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
	scenarios := []scenario{
		{name: "no token", method: "GET", url: "/v1/reports/complaints?" + siteA, status: 401},
		{name: "guard", method: "GET", url: "/v1/reports/complaints?" + siteA, headers: login("guard.a1"), status: 403},
		{name: "technician", method: "GET", url: "/v1/reports/work-orders?" + siteA, headers: login("tech.a1"), status: 403},
		{name: "cs of another site", method: "GET", url: "/v1/reports/complaints?" + siteA, headers: login("cs.b1"), status: 403},
		{name: "missing site", method: "GET", url: "/v1/reports/complaints", headers: login("cs.a1"), status: 400, contains: []string{`"site"`}},
		{name: "bad from", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=yesterday", headers: login("cs.a1"), status: 400, contains: []string{`"from"`}},
		// 0001-01-01 is Go's zero time: it used to be taken for an absent from and answered with the last 30 days.
		{name: "from year 1", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=0001-01-01T00:00:00Z&to=0001-06-01T00:00:00Z", headers: login("cs.a1"), status: 400,
			contains: []string{`"from"`, `"code":"invalid_input"`}},
		{name: "from year 1 alone", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=0001-01-01T00:00:00Z", headers: login("cs.a1"), status: 400,
			contains: []string{`"from"`, `"code":"invalid_input"`}},
		{name: "to year 1", method: "GET", url: "/v1/reports/work-orders?" + siteA + "&to=0001-01-01T00:00:00Z", headers: login("cs.a1"), status: 400,
			contains: []string{`"to"`, `"code":"invalid_input"`}},
		{name: "from before 1970", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=1969-12-31T23:59:59Z&to=1970-06-01T00:00:00Z", headers: login("cs.a1"), status: 400,
			contains: []string{`"from"`, `"code":"invalid_input"`}},
		{name: "from 1970 is honoured", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=1970-01-01T00:00:00Z&to=1970-06-01T00:00:00Z", headers: login("cs.a1"), status: 200,
			contains: []string{`"from":"1970-01-01T00:00:00Z"`, `"to":"1970-06-01T00:00:00Z"`, `"total":0`}},
		{name: "to before from", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=" + to + "&to=" + from, headers: login("cs.a1"), status: 400, contains: []string{`"to"`}},
		{name: "cs of the site", method: "GET", url: "/v1/reports/complaints?" + siteA + "&from=" + from + "&to=" + to, headers: login("cs.a1"), status: 200,
			contains: []string{`"total":2`, `"by_category":{"noise":2}`, `"by_state":{"received":2}`, `"avg_satisfaction":null`}},
		{name: "supervisor of the site", method: "GET", url: "/v1/reports/work-orders?" + siteA, headers: login("super.a1"), status: 200,
			contains: []string{`"total":1`, `"by_state":{"open":1}`}},
		{name: "admin", method: "GET", url: "/v1/reports/complaints?site=" + fieldsync.DemoSiteB, headers: login("admin"), status: 200,
			contains: []string{`"total":1`, `"fees":1`}},
		{name: "another tenant's admin counts nothing of ours", method: "GET", url: "/v1/reports/complaints?" + siteA, headers: login(OtherTenant + "/admin"), status: 200,
			contains: []string{`"total":0`}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, srv) })
	}
}
