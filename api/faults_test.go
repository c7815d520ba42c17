package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fieldsync/api"
	"fieldsync/auth"
	"fieldsync/devstack"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
)

// privateDBServer builds a full server whose database is a private embedded
// FerretDB this test may stop and restart without disturbing other tests.
func privateDBServer(t *testing.T) (*api.Server, *devstack.Stack, *auth.Service) {
	t.Helper()
	ctx := context.Background()
	stack, err := devstack.Start(ctx, devstack.Options{Dir: t.TempDir(), NoObjectStore: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	store, err := mongodb.Open(ctx, stack.MongoURI, "faults", mongodb.Options{ServerSelectionTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close(context.Background()) })
	if err := store.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	objects := devtest.MustOpenObjects(t)
	svc := auth.New(auth.Options{Store: store, Keys: mustKeySet(t), DefaultTenant: "demo", CacheTTL: 200 * time.Millisecond})
	if _, err := svc.SeedDemo(ctx); err != nil {
		t.Fatal(err)
	}
	srv := api.New(api.Options{Ready: map[string]api.Pinger{"database": store, "object_store": objects}, Auth: svc})
	return srv, stack, svc
}

// TestDatabaseOutage stops the database: data endpoints answer 503
// problem+json with Retry-After, /readyz names the database, and service
// resumes by itself when the database returns.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	srv, stack, _ := privateDBServer(t)
	login := `{"username":"guard.a1","password":"` + auth.DemoPassword + `","device_id":"d-outage"}`
	var token string
	scenario{method: "POST", url: "/v1/auth/login", body: login, status: 200,
		after: func(tb testing.TB, _ *http.Response, body []byte) { token = jsonField(tb, body, "access_token") }}.run(t, srv)
	bearer := map[string]string{"Authorization": "Bearer " + token}

	stack.PauseDatabase()
	time.Sleep(300 * time.Millisecond) // past the auth cache's staleness bound
	retryAfter := func(tb testing.TB, resp *http.Response, _ []byte) {
		if resp.Header.Get("Retry-After") == "" {
			tb.Fatal("503 without Retry-After")
		}
	}
	for _, sc := range []scenario{
		{name: "readyz", method: "GET", url: "/readyz", status: 503, contains: []string{`"database":"down"`, `"object_store":"ok"`}, after: retryAfter},
		{name: "login", method: "POST", url: "/v1/auth/login", body: login, status: 503, contains: []string{`"code":"unavailable"`}, absent: []string{"server selection", "127.0.0.1"}, after: retryAfter},
		{name: "me", method: "GET", url: "/v1/me", headers: bearer, status: 503, contains: []string{`"code":"unavailable"`}, after: retryAfter},
	} {
		t.Run("down/"+sc.name, func(t *testing.T) { sc.run(t, srv) })
	}

	if err := stack.ResumeDatabase(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := srv.Test(httptestRequest("GET", "/readyz", ""))
		if err == nil && resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("service did not resume after the database returned")
		}
		time.Sleep(100 * time.Millisecond)
	}
	scenario{method: "GET", url: "/v1/me", headers: bearer, status: 200, contains: []string{`"guard.a1"`}}.run(t, srv)
	scenario{method: "POST", url: "/v1/auth/login", body: login, status: 200}.run(t, srv)
}

func httptestRequest(method, url, body string) *http.Request {
	r := httptest.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	return r
}

// jsonField returns a top-level string field of a JSON body.
func jsonField(tb testing.TB, body []byte, name string) string {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatalf("body is not JSON: %v: %s", err, body)
	}
	s, _ := m[name].(string)
	if s == "" {
		tb.Fatalf("no %q in %s", name, body)
	}
	return s
}
