package api_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"fieldsync/api"

	"github.com/google/uuid"
)

func TestAddressRateLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	srv := api.New(api.Options{AddressLimit: api.RateLimit{Rate: 1, Burst: 3}, Now: func() time.Time { return now }})
	get := func() *http.Response {
		resp, err := srv.Test(httptest.NewRequest("GET", "/v1/sync/pull", nil))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for i := range 3 {
		if resp := get(); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("request %d: got %d, want 401 (within burst)", i, resp.StatusCode)
		}
	}
	resp := get()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("got %d after the burst, want 429", resp.StatusCode)
	}
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
		t.Fatalf("got Retry-After %q, want a positive number of seconds", resp.Header.Get("Retry-After"))
	}
	now = now.Add(2 * time.Second)
	if resp := get(); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got %d after waiting, want 401 again", resp.StatusCode)
	}
}

func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	srv := api.New(api.Options{})
	if _, err := srv.Test(httptest.NewRequest("GET", "/healthz", nil)); err != nil {
		t.Fatal(err)
	}
	scenario{method: "GET", url: "/metrics", status: 200,
		contains: []string{`fieldsync_http_requests_total{method="GET",route="/healthz",status="200"} 1`, "go_goroutines"},
	}.run(t, srv)
}

// TestMetricsCountPendingMedia announces two photos and finds them in the
// pending-evidence gauge.
func TestMetricsCountPendingMedia(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	photo := testJPEG(t, 40, 30)
	scenario{method: "GET", url: "/metrics", status: 200, contains: []string{"fieldsync_media_pending 0"}}.run(t, srv)
	for range 2 {
		mustDo(t, srv, "POST", "/v1/media", createJSON(uuid.NewString(), "image/jpeg", photo), guard.Headers(), 201, nil)
	}
	scenario{method: "GET", url: "/metrics", status: 200, contains: []string{"fieldsync_media_pending 2"}}.run(t, srv)
}
