package api_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"fieldsync"

	"github.com/google/uuid"
)

// TestPushAndPullAnswersAreCompressed: a phone that accepts gzip gets push
// answers (every result carries its record) and pull pages compressed, and
// they decode to the same answer; one that does not gets plain JSON.
func TestPushAndPullAnswersAreCompressed(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	cs := mustLoginSession(t, srv, "cs.a1", "")
	var muts []map[string]any
	for range 200 {
		muts = append(muts, map[string]any{"mutation_id": uuid.NewString(), "collection": "work_orders", "op": "create", "id": uuid.NewString(),
			"fields": map[string]any{"site_id": fieldsync.DemoSiteA, "title": "厨房水槽漏水", "unit": "5-0802", "owner_phone": "13900000003"}})
	}
	body, _ := json.Marshal(map[string]any{"device_id": cs.DeviceID, "mutations": muts})
	send := func(method, url, body, encoding string) (plain []byte, wire int, contentEncoding string) {
		req := httptest.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+cs.Access)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if encoding != "" {
			req.Header.Set("Accept-Encoding", encoding)
		}
		resp, err := srv.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
		}
		plain = raw
		if ce := resp.Header.Get("Content-Encoding"); ce == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if plain, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return plain, len(raw), resp.Header.Get("Content-Encoding")
	}
	plain, wire, ce := send("POST", "/v1/sync/push", string(body), "gzip")
	var res struct{ Results []wfResult }
	if err := json.Unmarshal(plain, &res); err != nil || len(res.Results) != 200 || res.Results[199].Doc["status"] != fieldsync.WOOpen {
		t.Fatalf("decoded push answer: %v, %d results", err, len(res.Results))
	}
	if ce != "gzip" || wire*3 > len(plain) {
		t.Fatalf("push answer: Content-Encoding %q, %d bytes on the wire for %d of JSON", ce, wire, len(plain))
	}
	t.Logf("push answer of 200 work orders: %d bytes gzip, %d plain", wire, len(plain))
	plain, wire, ce = send("GET", "/v1/sync/pull", "", "gzip")
	var page pullPage
	if err := json.Unmarshal(plain, &page); err != nil || len(page.Changes) < 200 || ce != "gzip" || wire*3 > len(plain) {
		t.Fatalf("pull page: %v, %d changes, Content-Encoding %q, %d bytes for %d", err, len(page.Changes), ce, wire, len(plain))
	}
	if _, _, ce = send("GET", "/v1/sync/pull", "", ""); ce != "" {
		t.Fatalf("a phone that accepts no encoding got %q", ce)
	}
}
