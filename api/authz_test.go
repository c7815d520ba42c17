package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strconv"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"

	"github.com/google/uuid"
)

// authzRoute is one row of the authorization table: one request, made as
// every role (and anonymously) against a target in the caller's own site,
// in another site of the tenant, and in another tenant.
//
// want writes the expected status of every cell: "role:status" when the
// three scopes answer alike, "role:own/other-site/other-tenant" otherwise.
// Every role in authzCallers must appear.
//
// Placeholders in route and body: {user} the target user's id, {device} the
// target's device, {site} the target's site, {tenant} the target's tenant,
// {username} the caller's username, {refresh} the caller's refresh token,
// {n} a number unique to the cell, {mydevice} the caller's own device,
// {uuid} a fresh UUID. Rows with fresh set log the caller in
// anew for each cell (for requests that end the caller's session).
//
// Adding a route is one row; issues add theirs below their own comment.
type authzRoute struct {
	route string
	body  string
	want  string
	fresh bool
}

var authzRoutes = []authzRoute{
	// auth
	{route: "GET /.well-known/jwks.json", want: "anon:200 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "POST /v1/auth/login", body: `{"tenant":"{tenant}","username":"{username}","password":"` + auth.DemoPassword + `","device_id":"authz-{n}"}`,
		want: "anon:401 guard:200/200/401 technician:200/200/401 cs_agent:200/200/401 supervisor:200/200/401 admin:200/200/401"},
	{route: "POST /v1/auth/refresh", body: `{"refresh_token":"{refresh}"}`, fresh: true,
		want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "POST /v1/auth/logout", fresh: true, want: "anon:401 guard:204 technician:204 cs_agent:204 supervisor:204 admin:204"},
	{route: "GET /v1/me", want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	// admin
	{route: "GET /v1/admin/users", want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:200"},
	{route: "POST /v1/admin/users", body: `{"username":"new.{n}","password":"new-pass-2026","name":"New","role":"guard","site_ids":["{site}"]}`,
		want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:201"},
	{route: "PATCH /v1/admin/users/{user}", body: `{"name":"Renamed {n}"}`,
		want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:200/200/404"},
	{route: "PATCH /v1/admin/users/{user}", body: `{"site_ids":["{site}"]}`,
		want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:200/200/404"},
	{route: "GET /v1/admin/users/{user}/devices", want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:200/200/404"},
	{route: "POST /v1/admin/users/{user}/revoke", want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:200/200/404"},
	// A foreign device id matches no session of the caller's tenant: 200 with revoked 0 (checked below).
	{route: "POST /v1/admin/devices/{device}/revoke", want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:200"},
	// reports (field domain): the desk of the site; an admin's report of a foreign site counts nothing of it (TestReportRoutes).
	{route: "GET /v1/reports/complaints?site={site}", want: "anon:401 guard:403 technician:403 cs_agent:200/403/403 supervisor:200/403/403 admin:200"},
	// sync: the HTTP answer is 200 for every signed-in caller; what each may do
	// is answered per mutation and per record (TestFieldScope, TestSyncOverHTTP).
	{route: "POST /v1/sync/push", body: `{"device_id":"{mydevice}","mutations":[{"mutation_id":"{uuid}","collection":"inspections","op":"create","id":"{uuid}","fields":{"site_id":"{site}","category":"other"}}]}`,
		want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "POST /v1/sync/push", body: `{"device_id":"{device}","mutations":[]}`,
		want: "anon:401 guard:403 technician:403 cs_agent:403 supervisor:403 admin:403"},
	{route: "GET /v1/sync/pull", want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "GET /v1/sync/bootstrap", want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "GET /v1/sync/events", want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "GET /v1/sync/config", want: "anon:401 guard:200 technician:200 cs_agent:200 supervisor:200 admin:200"},
	{route: "GET /v1/reports/work-orders?site={site}", want: "anon:401 guard:403 technician:403 cs_agent:200/403/403 supervisor:200/403/403 admin:200"},
}

// authzCallers are the table's columns: role → the demo user playing it ("" = no token).
var authzCallers = []struct{ role, user string }{
	{"anon", ""}, {"guard", "guard.a1"}, {"technician", "tech.a1"}, {"cs_agent", "cs.a1"}, {"supervisor", "super.a1"}, {"admin", "admin"},
}

// authzScopes are the targets: a user at the callers' site A, one at site B, one of another tenant.
var authzScopes = []struct{ name, user, site, tenant string }{
	{"own site", "guard.a2", fieldsync.DemoSiteA, fieldsync.DemoTenant},
	{"other site", "guard.b1", fieldsync.DemoSiteB, fieldsync.DemoTenant},
	{"other tenant", OtherTenant + "/guard.o1", OtherSite, OtherTenant},
}

// parseWant reads a want string into role → [3]status, requiring every role.
func parseWant(tb testing.TB, want string) map[string][3]int {
	tb.Helper()
	out := map[string][3]int{}
	for _, f := range strings.Fields(want) {
		role, st, ok := strings.Cut(f, ":")
		parts := strings.Split(st, "/")
		if !ok || len(parts) != 1 && len(parts) != 3 {
			tb.Fatalf("bad want cell %q", f)
		}
		var cell [3]int
		for i := range cell {
			n, err := strconv.Atoi(parts[min(i, len(parts)-1)])
			if err != nil {
				tb.Fatalf("bad status in %q", f)
			}
			cell[i] = n
		}
		out[role] = cell
	}
	for _, c := range authzCallers {
		if _, ok := out[c.role]; !ok {
			tb.Fatalf("want %q has no cell for role %s", want, c.role)
		}
	}
	return out
}

// TestAuthorizationTable runs every route × every role × own site / other
// site / other tenant and checks the status written for the cell.
func TestAuthorizationTable(t *testing.T) {
	t.Parallel()
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.DeviceLimit = api.RateLimit{Rate: -1}
	})
	// Event streams last as long as the client keeps them and take their
	// connection over: they are asked for over a real one, closed once the
	// status is in.
	addr := serveOnLoopback(t, srv)
	users := mustSeedUsers(t, srv)
	sessions := map[string]session{}
	for _, c := range authzCallers {
		if c.user != "" {
			sessions[c.role] = mustLoginSession(t, srv, c.user, "")
		}
	}
	targets := make([]session, len(authzScopes))
	for i, sc := range authzScopes {
		targets[i] = mustLoginSession(t, srv, sc.user, "")
	}
	n := 0
	for _, row := range authzRoutes {
		want := parseWant(t, row.want)
		method, path, _ := strings.Cut(row.route, " ")
		for _, c := range authzCallers {
			for i, sc := range authzScopes {
				n++
				caller := sessions[c.role]
				if row.fresh && c.user != "" {
					caller = mustLoginSession(t, srv, c.user, "")
				}
				username, refresh := c.user, caller.Refresh
				if c.user == "" {
					username, refresh = "nobody", "00000000-0000-4000-8000-000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
				}
				r := strings.NewReplacer("{mydevice}", caller.DeviceID, "{uuid}", uuid.NewString(),
					"{user}", users[sc.user].ID, "{device}", targets[i].DeviceID, "{site}", sc.site,
					"{tenant}", sc.tenant, "{username}", username, "{refresh}", refresh, "{n}", strconv.Itoa(n))
				url, body := r.Replace(path), r.Replace(row.body)
				req := httptest.NewRequest(method, url, strings.NewReader(body))
				if body != "" {
					req.Header.Set("Content-Type", "application/json")
				}
				if caller.Access != "" {
					req.Header.Set("Authorization", "Bearer "+caller.Access)
				}
				var resp *http.Response
				var err error
				if path == "/v1/sync/events" {
					req.URL, req.RequestURI = &neturl.URL{Scheme: "http", Host: addr, Path: path}, ""
					resp, err = http.DefaultClient.Do(req)
				} else {
					resp, err = srv.Test(req)
				}
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.StatusCode; got != want[c.role][i] {
					t.Errorf("%s as %s, %s: got %d, want %d", row.route, c.role, sc.name, got, want[c.role][i])
				}
			}
		}
	}
	// Nothing done by the demo tenant reached the other tenant's user.
	o := users[OtherTenant+"/guard.o1"]
	var me struct {
		Name    string   `json:"name"`
		SiteIDs []string `json:"site_ids"`
	}
	mustDo(t, srv, "GET", "/v1/me", "", targets[2].Headers(), 200, &me)
	if me.Name != o.Name || fmt.Sprint(me.SiteIDs) != fmt.Sprint(o.SiteIDs) {
		t.Fatalf("other tenant's user changed: %+v", me)
	}
}
