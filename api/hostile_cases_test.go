package api_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/api"

	"github.com/google/uuid"
)

// TestHostileInputCases: oversized bodies, deep nesting, huge arrays,
// invalid UTF-8, duplicate keys, out-of-range numbers and record or mutation
// ids that are not UUIDs get a clear 4xx problem+json (or, inside one
// mutation, that mutation rejected with invalid_input) and store nothing.
func TestHostileInputCases(t *testing.T) {
	t.Parallel()
	w := newHostileWorld(t)
	env := func(muts ...string) string {
		return `{"device_id":"` + w.device + `","mutations":[` + strings.Join(muts, ",") + `]}`
	}
	_, valid := inspectionCreate(fieldsync.DemoSiteA, "ok")
	withFields := func(fields string) string {
		return `{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"create","id":"` + uuid.NewString() +
			`","fields":{"site_id":"` + fieldsync.DemoSiteA + `","category":"other",` + fields + `}}`
	}
	withMutationID := func(mid string) string {
		return `{"mutation_id":` + mid + `,"collection":"inspections","op":"create","id":"` + uuid.NewString() +
			`","fields":{"site_id":"` + fieldsync.DemoSiteA + `","category":"other"}}`
	}
	cases := []struct {
		name, body string
		status     int
		field      string // for 200: the mutation's rejection must name it (or "" for any)
	}{
		{"oversized body", env(withFields(`"description":"` + strings.Repeat("x", api.MaxBodyBytes) + `"`)), 413, ""},
		{"too many mutations", env(strings.Repeat(valid+",", 500) + valid), 413, ""},
		{"deep nesting", env(withFields(`"description":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000))), 200, ""},
		{"deep envelope", strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100), 400, ""},
		{"huge array", env(withFields(`"description":[` + strings.TrimSuffix(strings.Repeat("1,", 500000), ",") + `]`)), 200, "fields.description"},
		{"invalid escape", env(withFields(`"description":"bad \xff\xfe byte"`)), 400, ""}, // the body is not JSON
		{"invalid UTF-8", env(withFields("\"description\":\"bad \xff\xfe byte\"")), 200, ""},
		{"duplicate envelope key", `{"device_id":"x","device_id":"` + w.device + `","mutations":[]}`, 400, ""},
		{"duplicate field key", env(withFields(`"description":"a","description":"b"`)), 200, "description"},
		{"number out of range", env(withFields(`"severity":1e400`)), 200, ""},
		{"duplicate mutation key", env(`{"op":"create","op":"delete"}`), 200, "op"},
		{"invalid UTF-8 in the envelope", `{"device_id":"ÿ","mutations":[]}`, 403, ""},
		{"huge integer", env(withFields(`"description":18446744073709551616`)), 200, "fields.description"},
		{"schema version out of range", `{"device_id":"` + w.device + `","schema_version":1e30,"mutations":[]}`, 400, ""},
		{"id not a UUID", env(`{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"create","id":"../../etc","fields":{"site_id":"` + fieldsync.DemoSiteA + `","category":"other"}}`), 200, "id"},
		{"site not a UUID", env(`{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"create","id":"` + uuid.NewString() + `","fields":{"site_id":{"$ne":null},"category":"other"}}`), 200, "fields.site_id"},
		// mutation_id is a UUID (issue #15 item 15): operators, NUL and paths never become idempotency keys.
		{"mutation_id an operator", env(withMutationID(`"$where"`)), 200, "mutation_id"},
		{"mutation_id a NUL byte", env(withMutationID(`"\u0000"`)), 200, "mutation_id"},
		{"mutation_id a path", env(withMutationID(`"../../x"`)), 200, "mutation_id"},
		{"mutation_id an object", env(withMutationID(`{"$gt":""}`)), 200, "mutation_id"},
		{"mutation_id a UUID without hyphens", env(withMutationID(`"` + strings.ReplaceAll(uuid.NewString(), "-", "") + `"`)), 200, "mutation_id"},
		{"base_version negative", env(`{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"update","id":"` + uuid.NewString() + `","base_version":-1,"fields":{"description":"x"}}`), 200, ""},
	}
	var st hostileStats
	for _, c := range cases {
		var (
			status int
			body   []byte
		)
		if len(c.body) > api.MaxBodyBytes {
			status, body = sendOversized(t, w, c.body)
			st.sent++
			st.by4xx++
		} else {
			status, body = w.send(t, &st, "POST", "/v1/sync/push", "application/json", c.body, w.guard)
		}
		if status != c.status {
			t.Errorf("%s: got %d, want %d: %.300s", c.name, status, c.status, body)
			continue
		}
		if status != 200 {
			continue
		}
		var res pushResults
		if err := json.Unmarshal(body, &res); err != nil || len(res.Results) != 1 {
			t.Errorf("%s: %v %.300s", c.name, err, body)
			continue
		}
		r := res.Results[0]
		if r.Status != "rejected" || r.Error == nil || r.Error.Code == "" || (c.field != "" && r.Error.Field != c.field) {
			t.Errorf("%s: got %+v %+v, want rejected naming %q", c.name, r, r.Error, c.field)
		}
	}
	// Ids that are not UUIDs in paths, and bad query values.
	for _, u := range []struct {
		method, url string
		headers     map[string]string
	}{
		{"PATCH", "/v1/admin/users/not-a-uuid", w.admin},
		{"GET", "/v1/admin/users/%00/devices", w.admin},
		{"POST", "/v1/admin/devices/" + strings.Repeat("d", 5000) + "/revoke", w.admin},
		{"GET", "/v1/sync/pull?limit=99999999999999999999", nil},
		{"GET", "/v1/sync/pull?cursor=" + strings.Repeat("Z", 3000), nil},
	} {
		h := u.headers
		if h == nil {
			h = w.guard
		}
		status, body := w.send(t, &st, u.method, u.url, "application/json", "{}", h)
		if status < 400 || status >= 500 {
			t.Errorf("%s %s: got %d, want a 4xx: %.300s", u.method, u.url, status, body)
		}
	}
	stored := assertNoHostileFieldNames(t, w)
	t.Logf("hostile cases: inputs tried=%d 4xx=%d 5xx=%d leaks=%d documents inspected=%d", st.sent, st.by4xx, st.by5xx, st.leaks, stored)
}

// FuzzPushHTTP feeds push bodies through the HTTP handler of one server
// (built once): never a 5xx, every 4xx problem+json with a code.
func FuzzPushHTTP(f *testing.F) {
	w := newHostileWorld(f)
	_, valid := inspectionCreate(fieldsync.DemoSiteA, "fuzz")
	for _, s := range []string{
		`{"device_id":"` + w.device + `","mutations":[` + valid + `]}`,
		`{"device_id":"` + w.device + `","mutations":[{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"update","id":"` + w.foreignIDs[0] + `","base_version":1,"fields":{"description":"x"}}]}`,
		`{"device_id":"` + w.device + `","mutations":[{"collection":"$cmd","fields":{"a.b":{"$gt":1}}}]}`,
		`{"mutations":null}`, `[]`, `{"device_id":1}`, "\xff", `{"a":` + strings.Repeat("[", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/sync/push", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range w.guard {
			req.Header.Set(k, v)
		}
		resp, err := w.srv.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("push %.200q: status %d", body, resp.StatusCode)
		}
		if resp.StatusCode >= 400 {
			var p struct{ Code string }
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") ||
				json.NewDecoder(resp.Body).Decode(&p) != nil || p.Code == "" {
				t.Fatalf("push %.200q: %d without a problem+json code", body, resp.StatusCode)
			}
		}
	})
}

// sendOversized writes an oversized push on a raw connection while reading
// the answer: the server refuses it from Content-Length and closes the
// connection, which would otherwise reset the client before it sees the 413.
func sendOversized(tb testing.TB, w *hostileWorld, body string) (int, []byte) {
	tb.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.base, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	go func() {
		fmt.Fprintf(conn, "POST /v1/sync/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n",
			w.guard["Authorization"], len(body))
		_, _ = io.WriteString(conn, body)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		assertProblem(tb, resp, b)
	}
	return resp.StatusCode, b
}

// TestBadMutationNeverBlocksTheOutbox: a mutation that is not acceptable JSON
// on its own (a duplicate key, invalid UTF-8, nesting too deep, a number out
// of range) is rejected alone; the mutations around it are applied.
func TestBadMutationNeverBlocksTheOutbox(t *testing.T) {
	t.Parallel()
	w := newHostileWorld(t)
	_, before := inspectionCreate(fieldsync.DemoSiteA, "before")
	_, after := inspectionCreate(fieldsync.DemoSiteA, "after")
	bad := func(fields string) string {
		return `{"mutation_id":"` + uuid.NewString() + `","collection":"inspections","op":"create","id":"` + uuid.NewString() +
			`","fields":{"site_id":"` + fieldsync.DemoSiteA + `","category":"other",` + fields + `}}`
	}
	for name, m := range map[string]string{
		"duplicate key":    bad(`"description":"a","description":"b"`),
		"invalid UTF-8":    bad("\"description\":\"\xff\""),
		"too deep":         bad(`"description":` + strings.Repeat("[", 40) + strings.Repeat("]", 40)),
		"number too large": bad(`"severity":1e999`),
	} {
		body := `{"device_id":"` + w.device + `","mutations":[` + before + "," + m + "," + after + `]}`
		status, resp := w.send(t, &hostileStats{}, "POST", "/v1/sync/push", "application/json", body, w.guard)
		var res pushResults
		if err := json.Unmarshal(resp, &res); status != 200 || err != nil || len(res.Results) != 3 {
			t.Fatalf("%s: got %d %.300s, want 200 with three results", name, status, resp)
		}
		if got := []string{res.Results[0].Status, res.Results[1].Status, res.Results[2].Status}; got[1] != "rejected" ||
			got[0] == "rejected" || got[2] == "rejected" {
			t.Fatalf("%s: got %v, want the bad mutation rejected alone", name, got)
		}
		before, after = bad(`"description":"b2"`), bad(`"description":"a2"`) // fresh ids for the next round
	}
}
