package api_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"fieldsync/api"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
	"fieldsync/openapi"
)

func newBareServer(tb testing.TB) *api.Server {
	tb.Helper()
	store := devtest.MustOpenStore(tb)
	objects := devtest.MustOpenObjects(tb)
	return api.New(api.Options{Ready: map[string]api.Pinger{"database": store, "object_store": objects}})
}

func TestHealth(t *testing.T) {
	t.Parallel()
	srv := newBareServer(t)
	for _, sc := range []scenario{
		{name: "healthz", method: "GET", url: "/healthz", status: 200, contains: []string{`"status":"ok"`}},
		{name: "readyz", method: "GET", url: "/readyz", status: 200, contains: []string{`"database":"ok"`, `"object_store":"ok"`}},
		{name: "unknown route", method: "GET", url: "/nope", status: 404, contains: []string{`"code":"not_found"`}},
		{name: "unknown v1 route without token", method: "GET", url: "/v1/nope", status: 401, contains: []string{`"code":"unauthorized"`}},
		{name: "service not wired", method: "POST", url: "/v1/auth/login", body: `{}`, status: 503, contains: []string{`"code":"unavailable"`, "auth service not configured"}},
		{name: "wrong method", method: "DELETE", url: "/healthz", status: 405, contains: []string{`"code":"method_not_allowed"`}},
		{name: "openapi", method: "GET", url: "/openapi.yaml", status: 200, contains: []string{"openapi: 3.1"}},
		{name: "docs", method: "GET", url: "/docs", status: 200, contains: []string{"<title>fieldsync API", "/docs/assets/swagger-ui-bundle.js", "/docs/assets/init.js"}, absent: []string{"http://", "https://"}},
		{name: "docs asset", method: "GET", url: "/docs/assets/init.js", status: 200, contains: []string{"SwaggerUIBundle", `"/openapi.yaml"`}},
		{name: "docs asset missing", method: "GET", url: "/docs/assets/nope.js", status: 404, contains: []string{`"code":"not_found"`}},
		{name: "request id echoed", method: "GET", url: "/healthz", headers: map[string]string{"X-Request-ID": "abc-123"}, status: 200,
			after: func(tb testing.TB, resp *http.Response, _ []byte) {
				if got := resp.Header.Get("X-Request-ID"); got != "abc-123" {
					tb.Fatalf("got X-Request-ID %q, want abc-123", got)
				}
			}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, srv) })
	}
}

func TestReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	t.Parallel()
	objects := devtest.MustOpenObjects(t)
	dead, err := mongodb.Open(context.Background(), "mongodb://127.0.0.1:1/", "x", mongodb.Options{ServerSelectionTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Ready: map[string]api.Pinger{"database": dead, "object_store": objects}})
	scenario{method: "GET", url: "/readyz", status: 503,
		contains: []string{`"database":"down"`, `"object_store":"ok"`, `"code":"unavailable"`},
		after: func(tb testing.TB, resp *http.Response, _ []byte) {
			if resp.Header.Get("Retry-After") == "" {
				tb.Fatal("503 without Retry-After")
			}
		}}.run(t, srv)
}

// TestRoutesMatchContract checks every route registered in Fiber appears in
// openapi.yaml and every documented operation is registered.
func TestRoutesMatchContract(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	doc, err := openapi.Parse()
	if err != nil {
		t.Fatal(err)
	}
	registered := srv.Routes()
	sort.Strings(registered)
	documented := doc.Routes()
	inSpec := map[string]bool{}
	for _, r := range documented {
		inSpec[r] = true
	}
	inApp := map[string]bool{}
	for _, r := range registered {
		inApp[r] = true
		if !inSpec[r] {
			t.Errorf("route %s is registered but not in openapi.yaml", r)
		}
	}
	for _, r := range documented {
		if !inApp[r] {
			t.Errorf("operation %s is in openapi.yaml but not registered", r)
		}
	}
	if t.Failed() {
		t.Logf("registered:\n%s", strings.Join(registered, "\n"))
	}
}
