package api

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"fieldsync"
)

// TestPushResultJSON: a push's answer is byte for byte what c.JSON
// (json.Marshal) wrote of it — every optional member there and not, a
// stored record of every kind of value, one the fast path leaves to
// encoding/json (an int, a []string) — and a value with no JSON fails the
// answer as it did.
func TestPushResultJSON(t *testing.T) {
	doc := map[string]any{"id": "a", "version": int64(3), "site_id": "s<1>", "description": "leak \u2028 \"here\"\n",
		"gps": map[string]any{"lat": 22.512345678901234, "lng": 114.1}, "photo_ids": []any{"p1", "p2"}, "count": 2.0,
		"nested": []any{map[string]any{"at": "2026-12-06T08:00:00+08:00", "ok": true, "none": nil}}, "tiny": 1e-9}
	odd := map[string]any{"n": 7, "tags": []string{"a", "b"}, "bad": "\xff"}
	for name, results := range map[string][]fieldsync.MutationResult{
		"nil":   nil,
		"empty": {},
		"mixed": {
			{MutationID: "m1", Status: fieldsync.StatusApplied, ID: "a", Version: 3, Doc: doc},
			{MutationID: "m2", Status: fieldsync.StatusRejected, ID: "b", Error: &fieldsync.Problem{Code: "invalid_input", Detail: "want a <UUID>", Field: "id"}},
			{MutationID: "m3", Status: fieldsync.StatusConflict, ID: "c", Version: 9, Doc: map[string]any{},
				Error: &fieldsync.Problem{Code: "conflict", Detail: "拒絕"}},
			{MutationID: "", Status: "", ID: ""},
			{MutationID: "m5", Status: fieldsync.StatusApplied, ID: "e", Version: -1, Doc: odd},
		},
	} {
		want, err := json.Marshal(fieldsync.PushResult{Results: results})
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendPushResult(nil, results)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %s (%v)\nwant %s", name, got, err, want)
		}
	}
	if _, err := appendPushResult(nil, []fieldsync.MutationResult{{Doc: map[string]any{"x": math.Inf(1)}}}); err == nil {
		t.Error("a value with no JSON was written")
	}
}
