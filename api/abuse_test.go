package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/api"
)

// abuseRoutes are the device-facing endpoints a flooding phone hits.
func abuseRoutes(device string) []struct{ method, url, body string } {
	_, create := inspectionCreate(fieldsync.DemoSiteA, "flood")
	return []struct{ method, url, body string }{
		{"POST", "/v1/sync/push", `{"device_id":"` + device + `","mutations":[` + create + `]}`},
		{"GET", "/v1/sync/pull?limit=10", ""},
		{"GET", "/v1/sync/bootstrap", ""},
		{"POST", "/v1/media", `{}`},
	}
}

// assertRateLimited checks a 429 problem+json with a positive Retry-After.
func assertRateLimited(tb testing.TB, what string, status int, resp *http.Response, body []byte) {
	tb.Helper()
	if status != http.StatusTooManyRequests {
		tb.Fatalf("%s: got %d, want 429: %.300s", what, status, body)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
		tb.Fatalf("%s: got Retry-After %q, want a positive number of seconds", what, resp.Header.Get("Retry-After"))
	}
	assertProblem(tb, resp, body)
}

// TestDeviceRateLimitOnSyncAndMedia: a device that floods push, pull,
// bootstrap or media gets 429 + Retry-After once its burst is spent, while
// another device of the same user is still served.
func TestDeviceRateLimitOnSyncAndMedia(t *testing.T) {
	t.Parallel()
	const burst = 3
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.DeviceLimit = api.RateLimit{Rate: 0.001, Burst: burst}
	})
	for _, r := range abuseRoutes("") {
		s := mustLoginSession(t, srv, "guard.a1", "")
		route := abuseRoutes(s.DeviceID)
		var req struct{ method, url, body string }
		for _, x := range route {
			if x.url == r.url {
				req = x
			}
		}
		for i := range burst {
			status, _, body := doRaw(t, srv, req.method, req.url, req.body, s.Headers())
			if status == http.StatusTooManyRequests || status >= 500 {
				t.Fatalf("%s %s request %d within the burst: got %d %.300s", req.method, req.url, i, status, body)
			}
		}
		status, resp, body := doRaw(t, srv, req.method, req.url, req.body, s.Headers())
		assertRateLimited(t, req.method+" "+req.url, status, resp, body)
		other := mustLoginSession(t, srv, "guard.a1", "")
		if status, _, body := doRaw(t, srv, "GET", "/v1/sync/pull", "", other.Headers()); status != 200 {
			t.Fatalf("another device of the same user: got %d %.300s", status, body)
		}
		t.Logf("device rate limit: %s %s limited after %d requests", req.method, req.url, burst)
	}
}

// TestAddressRateLimitOnSync: one address spreading a flood over many
// devices is still cut off by the per-address bucket.
func TestAddressRateLimitOnSync(t *testing.T) {
	t.Parallel()
	const burst = 12
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.AddressLimit = api.RateLimit{Rate: 0.001, Burst: burst}
	})
	n := 0
	for i := 0; i <= burst; i++ {
		n++
		status, resp, body := doRaw(t, srv, "POST", "/v1/auth/login", `{"tenant":"demo","username":"guard.a1","password":"x","device_id":"d`+strconv.Itoa(i)+`"}`, nil)
		if status == http.StatusTooManyRequests {
			assertRateLimited(t, "login", status, resp, body)
			t.Logf("address rate limit: cut off after %d requests (burst %d)", n-1, burst)
			return
		}
		for _, r := range abuseRoutes("d" + strconv.Itoa(i)) {
			n++
			status, resp, body := doRaw(t, srv, r.method, r.url, r.body, nil)
			if status == http.StatusTooManyRequests {
				assertRateLimited(t, r.method+" "+r.url, status, resp, body)
				t.Logf("address rate limit: %s %s cut off after %d requests (burst %d)", r.method, r.url, n-1, burst)
				return
			}
		}
	}
	t.Fatalf("no 429 after %d requests from one address with a burst of %d", burst*5, burst)
}

// doRaw sends a request through srv and returns status, response and body.
func doRaw(tb testing.TB, srv *api.Server, method, url, body string, headers map[string]string) (int, *http.Response, []byte) {
	tb.Helper()
	var (
		resp *http.Response
		got  []byte
	)
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Test(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, resp, got
}

// TestEventStreamCapPerUser: a user may hold at most MaxSubscriptions live
// event streams; one more is 429 + Retry-After problem+json, another user is
// unaffected.
func TestEventStreamCapPerUser(t *testing.T) {
	t.Parallel()
	srv := newFullServerWith(t, func(c *fullConfig) { c.Sync.MaxSubscriptions = 2 })
	addr := serveOnLoopback(t, srv)
	open := func(token string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/sync/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); resp.Body.Close() })
		return resp, cancel
	}
	guard, _ := mustLogin(t, srv, "guard.a1")
	guard2, _ := mustLogin(t, srv, "guard.a1") // same user, second phone
	first, closeFirst := open(guard)
	if second, _ := open(guard2); first.StatusCode != 200 || second.StatusCode != 200 {
		t.Fatalf("streams within the cap: got %d and %d", first.StatusCode, second.StatusCode)
	}
	guard3, _ := mustLogin(t, srv, "guard.a1") // a third phone (a second stream of one phone replaces its first)
	third, _ := open(guard3)
	body, _ := io.ReadAll(third.Body)
	assertRateLimited(t, "third stream", third.StatusCode, third, body)
	other, _ := mustLogin(t, srv, "guard.a2")
	if r, _ := open(other); r.StatusCode != 200 {
		t.Fatalf("another user's stream: got %d", r.StatusCode)
	}
	closeFirst() // frees its slot (TestDroppedEventStreamsFreeTheirSlots)
}
