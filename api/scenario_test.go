package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"fieldsync/api"
)

// scenario is one API case in the manner of PocketBase's ApiScenario: a
// request, the expected status and body fragments, and hooks around it.
type scenario struct {
	name    string
	method  string
	url     string
	body    string
	headers map[string]string
	// status is the expected HTTP status.
	status int
	// contains are fragments the body must contain; absent those it must not.
	contains []string
	absent   []string
	before   func(tb testing.TB, srv *api.Server)
	after    func(tb testing.TB, resp *http.Response, body []byte)
}

func (sc scenario) run(t testing.TB, srv *api.Server) {
	t.Helper()
	if sc.before != nil {
		sc.before(t, srv)
	}
	req := httptest.NewRequest(sc.method, sc.url, strings.NewReader(sc.body))
	if sc.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range sc.headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Test(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assertContract(t, req, resp, body)
	if resp.StatusCode != sc.status {
		t.Fatalf("%s %s: got status %d, want %d; body %s", sc.method, sc.url, resp.StatusCode, sc.status, body)
	}
	if resp.StatusCode >= 400 {
		assertProblem(t, resp, body)
	}
	for _, f := range sc.contains {
		if !strings.Contains(string(body), f) {
			t.Errorf("%s %s: body %s does not contain %q", sc.method, sc.url, body, f)
		}
	}
	for _, f := range sc.absent {
		if strings.Contains(string(body), f) {
			t.Errorf("%s %s: body %s contains %q", sc.method, sc.url, body, f)
		}
	}
	if sc.after != nil {
		sc.after(t, resp, body)
	}
}

// assertProblem checks an error answer is RFC 9457 problem+json with a code.
func assertProblem(tb testing.TB, resp *http.Response, body []byte) {
	tb.Helper()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		tb.Fatalf("got content type %q for status %d, want application/problem+json; body %s", ct, resp.StatusCode, body)
	}
	var p struct {
		Type, Title, Detail, Code string
		Status                    int
	}
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("problem body is not JSON: %v: %s", err, body)
	}
	if p.Code == "" || p.Status != resp.StatusCode || p.Type == "" || p.Title == "" {
		tb.Fatalf("incomplete problem %+v for status %d", p, resp.StatusCode)
	}
}
