package api_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"

	"github.com/google/uuid"
)

// mutationResult is one push result with its whole problem.
type mutationResult struct {
	MutationID string `json:"mutation_id"`
	Status     string
	ID         string
	Version    int64
	Error      *struct{ Code, Detail, Field string }
}

// pushAs pushes mutations (each marshalled to JSON) as s and returns the results.
func pushAs(tb testing.TB, srv *api.Server, s session, mutations ...map[string]any) []mutationResult {
	tb.Helper()
	body, err := json.Marshal(map[string]any{"device_id": s.DeviceID, "mutations": mutations})
	if err != nil {
		tb.Fatal(err)
	}
	var res struct{ Results []mutationResult }
	mustDo(tb, srv, "POST", "/v1/sync/push", string(body), s.Headers(), 200, &res)
	if len(res.Results) != len(mutations) {
		tb.Fatalf("got %d results for %d mutations", len(res.Results), len(mutations))
	}
	return res.Results
}

// wantRejected fails unless r was rejected with invalid_input naming field
// and its detail contains detail.
func wantRejected(tb testing.TB, what string, r mutationResult, field, detail string) {
	tb.Helper()
	if r.Status != fieldsync.StatusRejected || r.Error == nil || r.Error.Code != fieldsync.EInvalid || r.Error.Field != field ||
		!strings.Contains(r.Error.Detail, detail) {
		tb.Errorf("%s: got %s %+v, want rejected invalid_input naming %s (%q)", what, r.Status, r.Error, field, detail)
	}
}

func wantAccepted(tb testing.TB, what string, r mutationResult) {
	tb.Helper()
	if r.Status != fieldsync.StatusApplied {
		tb.Errorf("%s: got %s %+v, want applied", what, r.Status, r.Error)
	}
}

func createMutation(coll string, fields map[string]any) map[string]any {
	return map[string]any{"mutation_id": uuid.NewString(), "collection": coll, "op": "create", "id": uuid.NewString(), "fields": fields}
}

func actionMutation(coll, id string, base int64, action string, args map[string]any) map[string]any {
	return map[string]any{"mutation_id": uuid.NewString(), "collection": coll, "op": "action", "id": id,
		"base_version": base, "action": action, "args": args}
}

// TestTextLimitsCountCharacters (issue #15 item 8): the staff write Chinese,
// and every text limit counts characters (code points), not bytes — in
// fields, list items and action arguments; the message says characters.
func TestTextLimitsCountCharacters(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	inspection := func(description string) map[string]any {
		return createMutation(fieldsync.CollInspections, map[string]any{"site_id": fieldsync.DemoSiteA, "category": "sanitation",
			"description": description})
	}
	chinese := strings.Repeat("漏", 1400)        // 4,200 bytes
	emoji := strings.Repeat("\U0001F6B0", 4000) // 16,000 bytes
	res := pushAs(t, srv, guard, inspection(chinese), inspection(strings.Repeat("漏", 4001)), inspection(emoji),
		inspection(strings.Repeat("x", 4001)))
	wantAccepted(t, "1,400 Chinese characters", res[0])
	wantRejected(t, "4,001 Chinese characters", res[1], "fields.description", "longer than 4000 characters")
	wantAccepted(t, "4,000 emoji of 4 bytes", res[2])
	wantRejected(t, "4,001 ASCII characters", res[3], "fields.description", "longer than 4000 characters")
	var page pullPage
	mustDo(t, srv, "GET", "/v1/sync/pull?limit=1000", "", guard.Headers(), 200, &page)
	got := map[string]any{}
	for _, c := range page.Changes {
		got[c.ID] = c.Doc["description"]
	}
	if got[res[0].ID] != chinese || got[res[2].ID] != emoji {
		t.Errorf("the long texts did not come back whole: %d and %d characters",
			len([]rune(asString(got[res[0].ID]))), len([]rune(asString(got[res[2].ID]))))
	}

	// List items and action arguments count the same way.
	desk := mustLoginSession(t, srv, "cs.a1", "")
	order := func(part string) map[string]any {
		return createMutation(fieldsync.CollWorkOrders, map[string]any{"site_id": fieldsync.DemoSiteA, "title": strings.Repeat("修", 200),
			"parts": []string{part}})
	}
	ok, long := order(strings.Repeat("阀", 200)), order(strings.Repeat("阀", 201))
	id := ok["id"].(string)
	res = pushAs(t, srv, desk, ok, long,
		actionMutation(fieldsync.CollWorkOrders, id, 1, "cancel", map[string]any{"reason": strings.Repeat("因", 2001)}),
		actionMutation(fieldsync.CollWorkOrders, id, 1, "cancel", map[string]any{"reason": strings.Repeat("因", 2000)}))
	wantAccepted(t, "200-character part and title", res[0])
	wantRejected(t, "201-character part", res[1], "fields.parts[0]", "longer than 200 characters")
	wantRejected(t, "2,001-character reason", res[2], "args.reason", "longer than 2000 characters")
	wantAccepted(t, "2,000-character reason", res[3])
}

func asString(v any) string { s, _ := v.(string); return s }

// TestClientTimesAreBoundedOverHTTP (issue #15 item 7): the round of the
// report — started in 2099, a scan in 1999, ended in 1990 — and a
// client_time decades off are each rejected naming the field; a round within
// the bounds is kept.
func TestClientTimesAreBoundedOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	now := time.Now()
	round := func(started string) map[string]any {
		return createMutation(fieldsync.CollPatrolRounds, map[string]any{"site_id": fieldsync.DemoSiteA, "route_id": uuid.NewString(),
			"started_at": started})
	}
	future := round("2099-01-01T00:00:00Z")
	past := round(now.Add(-time.Hour).UTC().Format(time.RFC3339))
	id := past["id"].(string)
	clock := createMutation(fieldsync.CollInspections, map[string]any{"site_id": fieldsync.DemoSiteA, "category": "other"})
	clock["client_time"] = "2099-01-01T00:00:00+08:00"
	scan := map[string]any{"scan_id": uuid.NewString(), "code": "QR-1", "scanned_at": "1999-01-01T00:00:00Z"}
	res := pushAs(t, srv, guard, future, past, clock,
		actionMutation(fieldsync.CollPatrolRounds, id, 1, "scan", scan),
		actionMutation(fieldsync.CollPatrolRounds, id, 1, "end", map[string]any{"ended_at": "1990-01-01T00:00:00Z"}),
		actionMutation(fieldsync.CollPatrolRounds, id, 1, "end", map[string]any{"ended_at": now.UTC().Format(time.RFC3339)}))
	wantRejected(t, "started_at in 2099", res[0], "fields.started_at", "ahead of the server's time")
	wantAccepted(t, "a round started an hour ago", res[1])
	wantRejected(t, "client_time in 2099", res[2], "client_time", "ahead of the server's time")
	wantRejected(t, "a scan in 1999", res[3], "args.scanned_at", "before the server's time")
	wantRejected(t, "ended_at in 1990", res[4], "args.ended_at", "before the server's time")
	wantAccepted(t, "ended now", res[5])
}
