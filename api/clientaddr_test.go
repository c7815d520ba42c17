package api_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"fieldsync/api"
)

// TestForwardedAddressesBehindTrustedProxies: behind a trusted proxy each
// phone gets its own rate-limit bucket (and login throttling, which counts the
// same address), keyed by the right-most untrusted X-Forwarded-For hop — an
// address a client writes into the header itself buys it nothing; without
// trusted proxies the header is ignored.
func TestForwardedAddressesBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	serve := func(trusted []netip.Prefix) string {
		srv := api.New(api.Options{AddressLimit: api.RateLimit{Rate: 1, Burst: 1}, TrustedProxies: trusted,
			Now: func() time.Time { return now }})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
		return "http://" + ln.Addr().String()
	}
	status := func(base, forwarded string) int {
		t.Helper()
		req, err := http.NewRequest("GET", base+"/v1/sync/pull", nil)
		if err != nil {
			t.Fatal(err)
		}
		// Each "|" starts another header line, as a proxy that adds its own
		// line (HAProxy) sends them.
		for _, line := range strings.Split(forwarded, "|") {
			if line != "" {
				req.Header.Add("X-Forwarded-For", line)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	proxy, err := api.ParseTrustedProxies("127.0.0.1, 10.9.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	behind := serve(proxy)
	for _, step := range []struct {
		forwarded string
		want      int
		why       string
	}{
		{"203.0.113.1", 401, "first request of phone 1"},
		{"203.0.113.1", 429, "phone 1 is over its limit"},
		{"203.0.113.2", 401, "phone 2 has a bucket of its own"},
		{"198.51.100.9, 203.0.113.1", 429, "phone 1 forging a left-most hop is still phone 1"},
		{"127.0.0.1, 203.0.113.1", 429, "phone 1 claiming to be local is still phone 1"},
		{"203.0.113.3, 10.9.0.5", 401, "a chain of two trusted proxies: the phone before them"},
		{"203.0.113.3, 10.9.0.7", 429, "the same phone through another proxy of the chain"},
		{"not-an-address, 203.0.113.4", 401, "garbage left of a good hop is ignored"},
		{"203.0.113.4", 429, "the same phone without the garbage"},
		{"203.0.113.1|203.0.113.5", 401, "a forged line before the proxy's own line: the proxy's hop counts"},
		{"203.0.113.1|203.0.113.5", 429, "that phone again, forging the same"},
	} {
		if got := status(behind, step.forwarded); got != step.want {
			t.Fatalf("X-Forwarded-For %q (%s): got %d, want %d", step.forwarded, step.why, got, step.want)
		}
	}

	direct := serve(nil)
	if got := status(direct, "203.0.113.1"); got != 401 {
		t.Fatalf("no trusted proxy, first request: got %d, want 401", got)
	}
	if got := status(direct, "203.0.113.2"); got != 429 {
		t.Fatalf("no trusted proxy: a forwarded address must not earn a new bucket, got %d, want 429", got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	t.Parallel()
	got, err := api.ParseTrustedProxies(" 10.0.0.0/8 ,192.0.2.7,, ::1, 10.1.2.3/16")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128", "10.1.0.0/16"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"lb.internal", "10.0.0.0/33", "300.1.1.1"} {
		if _, err := api.ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}
