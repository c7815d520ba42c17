package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/api"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// hostileWorld is a server with planted data the attacker must never see.
type hostileWorld struct {
	srv  *api.Server
	base string // http://host:port of srv on a real loopback listener
	// markers are strings planted in records of other sites and tenants.
	markers []string
	// foreignIDs are ids of records and users the attacker does not own.
	foreignIDs   []string
	foreignUsers []string
	cursor       string
	device       string
	guard, admin map[string]string // Authorization headers of the attackers
}

// newHostileWorld plants a record at demo site B and one in the other
// tenant, each carrying a marker, and logs in the attackers: a guard of demo
// site A (a stolen phone) and the demo tenant's admin.
func newHostileWorld(tb testing.TB) *hostileWorld {
	tb.Helper()
	srv := newFullServerWith(tb, func(c *fullConfig) {
		c.API.DeviceLimit = api.RateLimit{Rate: 1e6, Burst: 1e6}
		c.API.AddressLimit = api.RateLimit{Rate: 1e6, Burst: 1e6}
	})
	w := &hostileWorld{srv: srv, base: "http://" + serveOnLoopback(tb, srv)}
	users := mustSeedUsers(tb, srv)
	for who, site := range map[string]string{"guard.b1": fieldsync.DemoSiteB, "other/guard.o1": OtherSite} {
		marker := "MARKER" + strings.ReplaceAll(uuid.NewString(), "-", "")
		w.markers = append(w.markers, marker)
		s := mustLoginSession(tb, srv, who, "")
		id, create := inspectionCreate(site, marker)
		var res pushResults
		mustDo(tb, srv, "POST", "/v1/sync/push", `{"device_id":"`+s.DeviceID+`","mutations":[`+create+`]}`, s.Headers(), 200, &res)
		if res.Results[0].Status != "applied" {
			tb.Fatalf("planting at %s: %+v", site, res.Results[0])
		}
		w.foreignIDs = append(w.foreignIDs, id)
	}
	for who, u := range users {
		if strings.HasPrefix(who, OtherTenant+"/") {
			w.foreignUsers = append(w.foreignUsers, u.ID)
			w.markers = append(w.markers, u.ID)
		}
	}
	g := mustLoginSession(tb, srv, "guard.a1", "")
	w.guard, w.device = g.Headers(), g.DeviceID
	a := mustLoginSession(tb, srv, "admin", "")
	w.admin = a.Headers()
	var page pullPage
	mustDo(tb, srv, "GET", "/v1/sync/pull?limit=1", "", w.guard, 200, &page)
	w.cursor = page.Cursor
	return w
}

// hostileStats are the figures a hostile run reports.
type hostileStats struct {
	sent    int
	by4xx   int
	by2xx   int
	by5xx   int
	leaks   int
	nonProb int
}

// send sends one request and checks the invariants: never 5xx, every 4xx
// problem+json with a code, never a planted marker in the answer.
func (w *hostileWorld) send(tb testing.TB, st *hostileStats, method, url, ct, body string, headers map[string]string) (int, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, w.base+url, rd)
	if err != nil {
		tb.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	st.sent++
	switch {
	case resp.StatusCode >= 500:
		st.by5xx++
		tb.Errorf("%s %s %.300q: got %d %s", method, url, body, resp.StatusCode, b)
	case resp.StatusCode >= 400:
		st.by4xx++
		var p struct{ Code string }
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") || json.Unmarshal(b, &p) != nil || p.Code == "" {
			st.nonProb++
			tb.Errorf("%s %s %.300q: %d without problem+json code: %s", method, url, body, resp.StatusCode, b)
		}
	default:
		st.by2xx++
	}
	for _, m := range w.markers {
		if strings.Contains(string(b), m) {
			st.leaks++
			tb.Errorf("%s %s %.300q: answer leaks %s: %s", method, url, body, m, b)
		}
	}
	return resp.StatusCode, b
}

// gen produces hostile requests from a seeded PRNG.
type gen struct {
	r *rand.Rand
	w *hostileWorld
}

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g gen) str() string {
	switch g.r.IntN(8) {
	case 0:
		return ""
	case 1:
		return strings.Repeat("A", g.r.IntN(70000))
	case 2:
		return "\u0000\u202e<script>"
	case 3:
		return g.pick(g.w.foreignIDs...)
	case 4:
		return g.pick(fieldsync.DemoSiteA, fieldsync.DemoSiteB, OtherSite)
	case 5:
		return "../../" + uuid.NewString()
	default:
		return strconv.Itoa(g.r.Int())
	}
}

func (g gen) value(depth int) any {
	switch g.r.IntN(9) {
	case 0:
		return nil
	case 1:
		return g.r.IntN(2) == 0
	case 2:
		return json.Number(g.pick("1e400", "-1e400", "18446744073709551616", "-0", "0.1", "9007199254740993"))
	case 3:
		if depth < 4 {
			m := map[string]any{}
			for range g.r.IntN(4) {
				m[g.key()] = g.value(depth + 1)
			}
			return m
		}
		return "x"
	case 4:
		if depth < 4 {
			a := make([]any, g.r.IntN(5))
			for i := range a {
				a[i] = g.value(depth + 1)
			}
			return a
		}
		return 0
	case 5:
		return []string{g.str(), g.str()}
	default:
		return g.str()
	}
}

func (g gen) key() string {
	return g.pick("site_id", "category", "severity", "description", "status", "title", "assignee_ids", "photos",
		"$where", "$set", "a.b", ".", "__proto__", "_id", "tenant_id", "version", "created_by", "", strconv.Itoa(g.r.IntN(100)))
}

func (g gen) mutation() map[string]any {
	m := map[string]any{
		"mutation_id": g.pick(uuid.NewString(), uuid.NewString(), "", fmt.Sprintf("00000000-0000-4000-8000-%012d", g.r.IntN(5)), "$where", "\x00", "../../x"),
		"collection":  g.pick("inspections", "work_orders", "complaints", "patrol_checkpoints", "sites", "users", "$cmd", "", "sync_records"),
		"op":          g.pick("create", "update", "delete", "action", "upsert", ""),
		"id":          g.pick(uuid.NewString(), g.pick(g.w.foreignIDs...), "not-a-uuid", "", "00000000-0000-0000-0000-000000000000"),
	}
	if g.r.IntN(3) > 0 {
		f := map[string]any{}
		for range 1 + g.r.IntN(5) {
			f[g.key()] = g.value(0)
		}
		if g.r.IntN(2) == 0 {
			f["site_id"] = g.pick(fieldsync.DemoSiteA, fieldsync.DemoSiteB, OtherSite)
		}
		m["fields"] = f
	}
	if g.r.IntN(2) == 0 {
		m["base_version"] = g.value(0)
	}
	if g.r.IntN(4) == 0 {
		m["action"] = g.pick("assign", "start", "complete", "close", "$x", "")
	}
	if g.r.IntN(6) == 0 {
		m[g.key()] = g.value(0)
	}
	return m
}

// mutate damages a valid body: flips, inserts, deletes or truncates bytes.
func (g gen) mutate(b []byte) string {
	b = append([]byte(nil), b...)
	for range 1 + g.r.IntN(4) {
		if len(b) == 0 {
			break
		}
		i := g.r.IntN(len(b))
		switch g.r.IntN(4) {
		case 0:
			b[i] ^= byte(1 << g.r.IntN(8))
		case 1:
			b = append(b[:i], append([]byte(g.pick("{", "}", "[", `"`, ",", "\\", "\xff", `"$x":1,`, "null")), b[i:]...)...)
		case 2:
			b = append(b[:i], b[i+1:]...)
		case 3:
			b = b[:i]
		}
	}
	return string(b)
}

// request produces one hostile request.
func (g gen) request() (method, url, ct, body string, headers map[string]string) {
	w := g.w
	switch g.r.IntN(10) {
	case 0, 1, 2: // random push
		muts := make([]any, g.r.IntN(6))
		for i := range muts {
			muts[i] = g.mutation()
		}
		env := map[string]any{"device_id": g.pick(w.device, w.device, "other-device", ""), "mutations": muts}
		if g.r.IntN(5) == 0 {
			env["schema_version"] = g.value(0)
		}
		b, _ := json.Marshal(env)
		return "POST", "/v1/sync/push", "application/json", string(b), w.guard
	case 3, 4: // mutated push
		_, create := inspectionCreate(fieldsync.DemoSiteA, "mutated")
		return "POST", "/v1/sync/push", g.pick("application/json", "", "text/plain"),
			g.mutate([]byte(`{"device_id":"` + w.device + `","mutations":[` + create + `]}`)), w.guard
	case 5: // cursors and limits
		cur := g.pick(w.cursor, g.mutate([]byte(w.cursor)), g.str(), "%00", "e30")
		cur = cur[:min(len(cur), 2000)] // the URL must fit the 16 KiB header buffer
		return "GET", "/v1/sync/pull?cursor=" + urlEscape(cur) + "&limit=" + urlEscape(g.pick("1", "0", "-1", "1000000", "abc", "")) +
			"&schema_version=" + g.pick("", "1", "999", "x"), "", "", w.guard
	case 6: // login bodies
		b, _ := json.Marshal(map[string]any{"tenant": g.pick("demo", "other", "", "$ne"), "username": g.value(0), "password": g.value(0), "device_id": g.str()})
		return "POST", "/v1/auth/login", "application/json", g.pick(string(b), g.mutate(b)), nil
	case 7: // admin on another tenant's users
		id := g.pick(w.foreignUsers...)
		switch g.r.IntN(4) {
		case 0:
			return "GET", "/v1/admin/users/" + id + "/devices", "", "", w.admin
		case 1:
			return "POST", "/v1/admin/users/" + id + "/revoke", "", "", w.admin
		default:
			b, _ := json.Marshal(map[string]any{"name": g.value(0), "role": g.pick("admin", "guard", "root"), "active": g.value(0), "site_ids": g.value(0)})
			return "PATCH", "/v1/admin/users/" + id, "application/json", string(b), w.admin
		}
	case 8: // admin bodies
		b, _ := json.Marshal(map[string]any{"username": g.value(0), "password": g.value(0), "name": g.value(0), "role": g.pick("admin", "guard", "", "root"), g.key(): g.value(0)})
		return "POST", "/v1/admin/users", "application/json", g.pick(string(b), g.mutate(b)), w.admin
	default: // media requests (and a guard poking at admin)
		b, _ := json.Marshal(map[string]any{"id": g.str(), "content_type": g.pick("image/jpeg", "text/html", ""), "size": g.value(0), "sha256": g.str(),
			"record": map[string]any{"collection": "inspections", "id": g.pick(w.foreignIDs...)}})
		if g.r.IntN(2) == 0 {
			return "GET", g.pick("/v1/media?status=pending&site_id="+g.pick(fieldsync.DemoSiteB, OtherSite, "x"), "/v1/media/"+g.pick(w.foreignIDs...), "/v1/admin/users"), "", "", w.guard
		}
		return "POST", g.pick("/v1/media", "/v1/media/"+g.pick(w.foreignIDs...)+"/complete"), "application/json", string(b), w.guard
	}
}

func urlEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// TestHostileInputProperty sends a seeded stream of random and mutated
// pushes, cursors, login, admin and media requests from a guard's phone and a
// tenant admin, and checks the server never answers 5xx, answers every 4xx as
// problem+json with a code, never stores a `$`- or dotted field name, and
// never shows another site's or tenant's data.
func TestHostileInputProperty(t *testing.T) {
	t.Parallel()
	w := newHostileWorld(t)
	seed := uint64(20261127)
	if s := os.Getenv("FIELDSYNC_HOSTILE_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	g := gen{r: rand.New(rand.NewPCG(seed, seed)), w: w}
	var st hostileStats
	const n = 1000
	for range n {
		method, url, ct, body, headers := g.request()
		w.send(t, &st, method, url, ct, body, headers)
	}
	// Every pull after the onslaught is still clean.
	w.send(t, &st, "GET", "/v1/sync/pull?limit=1000", "", "", w.guard)
	stored := assertNoHostileFieldNames(t, w)
	t.Logf("hostile input: seed=%d inputs tried=%d 2xx=%d 4xx=%d 5xx=%d non-problem 4xx=%d leaks=%d documents inspected=%d",
		seed, st.sent, st.by2xx, st.by4xx, st.by5xx, st.nonProb, st.leaks, stored)
}

// assertNoHostileFieldNames walks every document of every collection of the
// test's database and fails on a field name starting with `$` or containing
// `.`; it returns how many documents it inspected.
func assertNoHostileFieldNames(tb testing.TB, w *hostileWorld) int {
	tb.Helper()
	db := depsOf(tb, w.srv).Store.DB
	ctx := context.Background()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	for _, name := range names {
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			tb.Fatal(err)
		}
		var docs []bson.M
		if err := cur.All(ctx, &docs); err != nil {
			tb.Fatal(err)
		}
		for _, d := range docs {
			n++
			if bad := badFieldName(d); bad != "" {
				tb.Errorf("collection %s stores field %q: %v", name, bad, d)
			}
		}
	}
	return n
}

func badFieldName(v any) string {
	switch x := v.(type) {
	case bson.M:
		for k, e := range x {
			if strings.HasPrefix(k, "$") || strings.Contains(k, ".") {
				return k
			}
			if bad := badFieldName(e); bad != "" {
				return bad
			}
		}
	case bson.D:
		for _, e := range x {
			if strings.HasPrefix(e.Key, "$") || strings.Contains(e.Key, ".") {
				return e.Key
			}
			if bad := badFieldName(e.Value); bad != "" {
				return bad
			}
		}
	case bson.A:
		for _, e := range x {
			if bad := badFieldName(e); bad != "" {
				return bad
			}
		}
	}
	return ""
}
