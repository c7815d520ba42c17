package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

func inspectionCreate(site, marker string) (string, string) {
	id, _ := uuid.NewV7()
	return id.String(), fmt.Sprintf(`{"mutation_id":%q,"collection":"inspections","op":"create","id":%q,"fields":{"site_id":%q,"category":"sanitation","severity":"low","description":%q}}`,
		uuid.NewString(), id.String(), site, marker)
}

type pushResults struct {
	Results []struct {
		MutationID string `json:"mutation_id"`
		Status     string
		ID         string
		Version    int64
		Error      *struct{ Code, Field string }
	}
}

type pullPage struct {
	Changes []struct {
		Collection, ID, Op string
		Version            int64
		Doc                map[string]any
	}
	Cursor     string
	HasMore    bool      `json:"has_more"`
	ServerTime time.Time `json:"server_time"`
}

// TestSyncOverHTTP pushes through the API and pulls the change back, on the
// wire exactly as the phones see it.
func TestSyncOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	token, device := mustLogin(t, srv, "guard.a1")
	auth := map[string]string{"Authorization": "Bearer " + token}
	id, create := inspectionCreate(fieldsync.DemoSiteA, "leaking pipe B2")
	badID := uuid.NewString()
	push := `{"device_id":"` + device + `","mutations":[` + create +
		`,{"mutation_id":"` + badID + `","collection":"inspections","op":"create","id":"x","bogus":1}` +
		`,{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"create","id":"` + uuid.NewString() + `","fields":{"site_id":"` + fieldsync.DemoSiteA + `","category":"other","$where":"1"}}]}`
	var res pushResults
	mustDo(t, srv, "POST", "/v1/sync/push", push, auth, 200, &res)
	if len(res.Results) != 3 {
		t.Fatalf("got %d results for 3 mutations", len(res.Results))
	}
	if r := res.Results[0]; r.Status != "applied" || r.ID != id || r.Version != 1 {
		t.Errorf("create: got %+v, want applied version 1", r)
	}
	if r := res.Results[1]; r.Status != "rejected" || r.Error == nil || r.Error.Code != "invalid_input" || r.Error.Field != "bogus" || r.MutationID != badID {
		t.Errorf("malformed mutation: got %+v, want rejected invalid_input naming bogus", r)
	}
	if r := res.Results[2]; r.Status != "rejected" || r.Error == nil || r.Error.Field != "fields.$where" {
		t.Errorf("$-field: got %+v, want rejected naming the field", r)
	}
	// The retry of the whole batch changes nothing.
	var again pushResults
	mustDo(t, srv, "POST", "/v1/sync/push", push, auth, 200, &again)
	if r := again.Results[0]; r.Status != "duplicate" || r.Version != 1 {
		t.Errorf("retried create: got %+v, want duplicate version 1", r)
	}

	var page pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull?limit=1000", "", auth, 200, &page)
	found := false
	for _, ch := range page.Changes {
		if ch.ID == id {
			found = ch.Op == "upsert" && ch.Doc["description"] == "leaking pipe B2"
		}
	}
	if !found || page.Cursor == "" || page.ServerTime.IsZero() {
		t.Fatalf("pull after push: found=%v cursor=%q server_time=%v", found, page.Cursor, page.ServerTime)
	}

	// Bootstrap stream: the record, then the cursor line.
	resp, err := srv.Test(authed(httptestRequest("GET", "/v1/sync/bootstrap", ""), token))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	if resp.StatusCode != 200 || !strings.Contains(string(body), id) || !strings.Contains(lines[len(lines)-1], `"cursor"`) {
		t.Fatalf("bootstrap: got %d\n%s", resp.StatusCode, body)
	}

	for _, sc := range []scenario{
		{name: "other device", method: "POST", url: "/v1/sync/push", body: `{"device_id":"d-stolen","mutations":[]}`, headers: auth, status: 403},
		{name: "old app", method: "POST", url: "/v1/sync/push", body: `{"device_id":"` + device + `","schema_version":99,"mutations":[]}`, headers: auth, status: 426, contains: []string{`"code":"upgrade_required"`}},
		{name: "no mutations", method: "POST", url: "/v1/sync/push", body: `{"device_id":"` + device + `"}`, headers: auth, status: 400},
		{name: "too many", method: "POST", url: "/v1/sync/push", body: `{"device_id":"` + device + `","mutations":[` + strings.Repeat(`{},`, 500) + `{}]}`, headers: auth, status: 413},
		{name: "forged cursor", method: "GET", url: "/v1/sync/pull?cursor=" + page.Cursor[:len(page.Cursor)-2] + "xx", headers: auth, status: 400, contains: []string{`"field":"cursor"`}},
		{name: "garbage cursor", method: "GET", url: "/v1/sync/pull?cursor=%00%ff", headers: auth, status: 400},
		{name: "bad limit", method: "GET", url: "/v1/sync/pull?limit=5000", headers: auth, status: 400},
		{name: "old app pull", method: "GET", url: "/v1/sync/pull?schema_version=99", headers: auth, status: 426},
		{name: "old app bootstrap", method: "GET", url: "/v1/sync/bootstrap?schema_version=99", headers: auth, status: 426, contains: []string{`"code":"upgrade_required"`}},
		{name: "config", method: "GET", url: "/v1/sync/config", headers: auth, status: 200, contains: []string{`"max_mutations":500`, `"schema_versions":[1]`,
			`"max_client_skew_seconds":3600`, `"max_client_age_seconds":5184000`}},
	} {
		t.Run(sc.name, func(t *testing.T) { sc.run(t, srv) })
	}

	// Another tenant's admin never sees the record.
	other, _ := mustLogin(t, srv, "other/admin")
	var foreign pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull?limit=1000", "", map[string]string{"Authorization": "Bearer " + other}, 200, &foreign)
	for _, ch := range foreign.Changes {
		if ch.ID == id {
			t.Fatal("another tenant's admin pulled a demo record")
		}
	}
}

func authed(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

// TestSyncEventsOverHTTP opens the SSE stream on a real listener and checks a
// push by another user of the site produces a `changed` event.
func TestSyncEventsOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	addr := serveOnLoopback(t, srv)
	csToken, _ := mustLogin(t, srv, "cs.a1")
	guardToken, guardDevice := mustLogin(t, srv, "guard.a1")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/sync/events", nil)
	req.Header.Set("Authorization", "Bearer "+csToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if ev, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- ev
			}
		}
		close(events)
	}()
	if ev := <-events; ev != "ready" {
		t.Fatalf("got first event %q, want ready", ev)
	}
	_, create := inspectionCreate(fieldsync.DemoSiteA, "broken gate")
	pushBody := `{"device_id":"` + guardDevice + `","mutations":[` + create + `]}`
	r2, _ := http.NewRequest("POST", "http://"+addr+"/v1/sync/push", bytes.NewBufferString(pushBody))
	r2.Header.Set("Authorization", "Bearer "+guardToken)
	r2.Header.Set("Content-Type", "application/json")
	pr, err := http.DefaultClient.Do(r2)
	if err != nil || pr.StatusCode != 200 {
		t.Fatalf("push: %v %v", err, pr)
	}
	pr.Body.Close()
	select {
	case ev := <-events:
		if ev != "changed" {
			t.Fatalf("got event %q, want changed", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no changed event within 10 s of a push")
	}
}
