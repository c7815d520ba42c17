package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
)

// Test users: the demo tenant of `fieldsync seed demo` (password
// auth.DemoPassword, sites fieldsync.DemoSiteA/B) plus a second tenant,
// "other", whose users must never see or touch demo data.
const (
	OtherTenant   = "other"
	OtherSite     = "00000000-0000-7000-8000-0000000000f1"
	OtherPassword = "other-pass-2026"
)

var otherTenantUsers = []auth.NewUser{
	{Username: "admin", Name: "Other Admin", Role: fieldsync.RoleAdmin},
	{Username: "guard.o1", Name: "Other Guard", Role: fieldsync.RoleGuard, SiteIDs: []string{OtherSite}},
	{Username: "cs.o1", Name: "Other CS", Role: fieldsync.RoleCSAgent, SiteIDs: []string{OtherSite}},
}

// testUsers are seeded users by "username" (tenant demo) or "other/username".
type testUsers map[string]*fieldsync.User

var seededByServer sync.Map // *api.Server → testUsers

// mustSeedUsers creates the demo users and the other tenant's users in the
// test's own database (once per server) and returns them. Demo users have
// password auth.DemoPassword, the other tenant's OtherPassword.
func mustSeedUsers(tb testing.TB, srv *api.Server) testUsers {
	tb.Helper()
	if u, ok := seededByServer.Load(srv); ok {
		return u.(testUsers)
	}
	svc := depsOf(tb, srv).Auth
	ctx := context.Background()
	users := testUsers{}
	demo, err := svc.SeedDemo(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range demo {
		users[s.User.Username] = s.User
	}
	other, err := svc.SeedUsers(ctx, OtherTenant, OtherPassword, otherTenantUsers)
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range other {
		users[OtherTenant+"/"+s.User.Username] = s.User
	}
	seededByServer.Store(srv, users)
	tb.Cleanup(func() { seededByServer.Delete(srv) })
	return users
}

// session is what a test login holds.
type session struct {
	Access, Refresh, DeviceID, UserID string
}

// Headers returns the Authorization header of the session.
func (s session) Headers() map[string]string {
	return map[string]string{"Authorization": "Bearer " + s.Access}
}

var deviceSeq struct {
	sync.Mutex
	n int
}

func nextDevice(who string) string {
	deviceSeq.Lock()
	defer deviceSeq.Unlock()
	deviceSeq.n++
	return fmt.Sprintf("dev-%s-%d", strings.ReplaceAll(who, "/", "-"), deviceSeq.n)
}

// mustLogin seeds the users if needed, logs who ("guard.a1", or
// "other/admin") in on a new device through the API, and returns the access
// token and the device id.
func mustLogin(tb testing.TB, srv *api.Server, who string) (token, deviceID string) {
	tb.Helper()
	s := mustLoginSession(tb, srv, who, "")
	return s.Access, s.DeviceID
}

// mustLoginSession logs who in on device (a new one when empty) and returns the whole session.
func mustLoginSession(tb testing.TB, srv *api.Server, who, device string) session {
	tb.Helper()
	mustSeedUsers(tb, srv)
	tenant, username, ok := strings.Cut(who, "/")
	password := OtherPassword
	if !ok {
		tenant, username, password = fieldsync.DemoTenant, who, auth.DemoPassword
	}
	if device == "" {
		device = nextDevice(who)
	}
	body, _ := json.Marshal(map[string]string{"tenant": tenant, "username": username, "password": password, "device_id": device})
	var out struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		User         struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	mustDo(tb, srv, "POST", "/v1/auth/login", string(body), nil, 200, &out)
	return session{Access: out.AccessToken, Refresh: out.RefreshToken, DeviceID: device, UserID: out.User.ID}
}

// mustDo sends a request, fails unless the status is want, and decodes a JSON answer into out (if not nil).
func mustDo(tb testing.TB, srv *api.Server, method, url, body string, headers map[string]string, want int, out any) []byte {
	tb.Helper()
	var got []byte
	scenario{method: method, url: url, body: body, headers: headers, status: want,
		after: func(_ testing.TB, _ *http.Response, b []byte) { got = b }}.run(tb, srv)
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			tb.Fatalf("%s %s: %v: %s", method, url, err, got)
		}
	}
	return got
}
