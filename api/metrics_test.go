package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/api"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsLabelsSurviveConcurrentTraffic: /metrics after heavy concurrent
// traffic of varied methods and paths over real keep-alive connections answers
// 200, parses, and every label value of the request series is one the server
// can produce. Fiber reuses a connection's request buffer, so a method or path
// kept past its request as a label turns into another ("GETT", "GETIONS"), and
// two series with the same labels make the scrape a 500.
func TestMetricsLabelsSurviveConcurrentTraffic(t *testing.T) {
	t.Parallel()
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.AddressLimit = api.RateLimit{Rate: 1e6, Burst: 1e6}
		c.API.DeviceLimit = api.RateLimit{Rate: 1e6, Burst: 1e6}
	})
	tok, _ := mustLogin(t, srv, "cs.a1")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	base := "http://" + ln.Addr().String()

	methods := []string{"GET", "OPTIONS", "POST", "PUT", "DELETE", "PATCH", "HEAD", "GET"}
	paths := []string{"/healthz", "/v1/sync/config", "/v1/sync/pull?limit=1", "/v1/reports/complaints?site=x",
		"/v1/admin/users/abcdefghijklmnopqrstuvwxyz", "/v1/media/" + strings.Repeat("m", 40) + "/complete",
		"/no/such/route/at/all", "/v1/auth/me", "/openapi.yaml"}
	const workers, perWorker = 12, 150
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One keep-alive connection per worker: each request lands in the buffer of the one before.
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			for i := range perWorker {
				req, _ := http.NewRequest(methods[(w+i)%len(methods)], base+paths[(w*7+i)%len(paths)], nil)
				if i%2 == 0 {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, body %.2000s", resp.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("GET /metrics: not well-formed: %v", err)
	}

	knownRoutes := map[string]bool{"unmatched": true}
	for _, r := range srv.Routes() {
		_, path, _ := strings.Cut(r, " ")
		knownRoutes[path] = true
	}
	knownMethods := map[string]bool{}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"} {
		knownMethods[m] = true
	}
	var total float64
	for _, name := range []string{"fieldsync_http_requests_total", "fieldsync_http_request_duration_seconds", "fieldsync_unavailable_total"} {
		mf := families[name]
		if mf == nil {
			if name == "fieldsync_unavailable_total" {
				continue
			}
			t.Fatalf("GET /metrics: no %s", name)
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				bad := false
				switch l.GetName() {
				case "route":
					bad = !knownRoutes[v]
				case "method":
					bad = !knownMethods[v]
				case "status":
					bad = len(v) != 3 || v < "100" || v > "599"
				default:
					bad = true
				}
				if bad {
					t.Errorf("%s: label %s=%q is not one the server produces", name, l.GetName(), v)
				}
			}
			if name == "fieldsync_http_requests_total" {
				total += m.GetCounter().GetValue()
			}
		}
	}
	// Every request is counted, under labels that say what it was.
	if want := float64(workers*perWorker + 1); total < want {
		t.Errorf("fieldsync_http_requests_total sums to %v, want at least %v (the traffic and the login)", total, want)
	}
}
