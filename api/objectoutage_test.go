package api_test

import (
	"net/http"
	"strings"
	"testing"

	"fieldsync/devstack/devtest"

	"github.com/google/uuid"
)

// TestObjectStoreOutage takes the object store away (a proxy in front of the
// shared gateway is paused, cutting live connections): records keep
// syncing, every media endpoint answers 503 problem+json with Retry-After,
// readyz names the object store, and the photos announced before and during
// the outage are stored once it returns.
func TestObjectStoreOutage(t *testing.T) {
	t.Parallel()
	objects, proxy := devtest.MustOpenObjectsVia(t)
	srv := newFullServerWith(t, func(c *fullConfig) { c.Objects = objects })
	guard := mustLoginSession(t, srv, "guard.a1", "")
	photo := testJPEG(t, 64, 48)

	// Announced before the outage; the phone has not uploaded yet.
	before := uuid.NewString()
	var created mediaBody
	mustDo(t, srv, "POST", "/v1/media", createJSON(before, "image/jpeg", photo), guard.Headers(), 201, &created)
	if created.Upload == nil || created.Upload.URL == "" {
		t.Fatalf("create: no upload URL: %+v", created)
	}

	proxy.Pause()
	faults := 1
	during := uuid.NewString()
	media503 := 0
	// Announcing a photo touches only the database (the upload URL is signed
	// offline), so it still answers 201; the URL works once the store is back.
	var duringCreated mediaBody
	mustDo(t, srv, "POST", "/v1/media", createJSON(during, "image/jpeg", photo), guard.Headers(), 201, &duringCreated)
	for _, r := range []struct {
		method, url string
		body        []byte
	}{
		{"PUT", "/v1/media/" + before + "/content", photo},
		{"POST", "/v1/media/" + before + "/complete", nil},
		{"GET", "/v1/media/" + before, nil},
	} {
		h := guard.Headers()
		if r.method == "POST" && r.body != nil {
			h = map[string]string{"Authorization": h["Authorization"], "Content-Type": "application/json"}
		}
		if r.method == "PUT" {
			h = map[string]string{"Authorization": h["Authorization"], "Content-Type": "image/jpeg"}
		}
		resp, body := rawRequest(t, srv, r.method, r.url, r.body, h)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s %s during the outage: got %d Retry-After %q: %s", r.method, r.url, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		assertProblem(t, resp, body)
		media503++
	}
	// Records keep syncing, citing photos that cannot be stored yet.
	sent := 0
	for range 5 {
		pushInspection(t, srv, guard, before, during)
		sent++
	}
	var page pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull?limit=1000", "", guard.Headers(), 200, &page)
	acked := 0
	for _, c := range page.Changes {
		if c.Collection == "inspections" {
			acked++
		}
	}
	scenario{method: "GET", url: "/readyz", status: 503, contains: []string{"object_store"}}.run(t, srv)

	proxy.Resume()
	// The phone retries: the URL signed during the outage, and an upload through the API.
	if resp, body := sendTo(t, duringCreated.Upload.Method, duringCreated.Upload.URL, photo, duringCreated.Upload.Headers); resp.StatusCode != 200 {
		t.Fatalf("presigned upload after the outage: %d %s", resp.StatusCode, body)
	}
	mustDo(t, srv, "POST", "/v1/media/"+during+"/complete", "", guard.Headers(), 200, nil)
	resp, body := rawRequest(t, srv, "PUT", "/v1/media/"+before+"/content", photo,
		map[string]string{"Authorization": "Bearer " + guard.Access, "Content-Type": "image/jpeg"})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"status":"stored"`) {
		t.Fatalf("upload after the outage: %d %s", resp.StatusCode, body)
	}
	completed := 0
	for _, id := range []string{before, during} {
		var m mediaBody
		mustDo(t, srv, "GET", "/v1/media/"+id, "", guard.Headers(), 200, &m)
		if m.Status != "stored" {
			t.Fatalf("media %s after the outage: %+v", id, m)
		}
		completed++
	}
	scenario{method: "GET", url: "/readyz", status: 200}.run(t, srv)
	if acked != sent {
		t.Fatalf("records during the outage: sent %d, pulled %d", sent, acked)
	}
	t.Logf("object store outage: faults injected=%d media 503 answers=%d mutations sent=%d acknowledged=%d lost=%d pending media completed after=%d",
		faults, media503, sent, acked, sent-acked, completed)
}
