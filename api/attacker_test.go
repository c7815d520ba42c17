package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
	"fieldsync/devstack/devtest"
	"fieldsync/field"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// clientFrom is an HTTP client whose connections come from ip, a loopback
// address of its own (all of 127.0.0.0/8 is loopback on Linux): the server
// sees a different client address per client, as it would for two phones.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// send makes a request over a real connection and returns the response (body read) and its body.
func send(tb testing.TB, c *http.Client, method, url, body string, headers map[string]string) (*http.Response, []byte) {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp, b
}

// TestLockoutIsNotAWeapon (#15 item 10): wrong passwords for the admin from
// one address lock the admin out from that address only; the real admin on
// another address logs in.
func TestLockoutIsNotAWeapon(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t) // default limits: 5 per username and address, 30 per address
	mustSeedUsers(t, srv)
	base := "http://" + serveOnLoopback(t, srv)
	attacker, admin := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	for i := range 5 {
		resp, b := send(t, attacker, "POST", base+"/v1/auth/login", `{"username":"admin","password":"guess-`+strconv.Itoa(i)+`","device_id":"attacker"}`, nil)
		if resp.StatusCode != 401 {
			t.Fatalf("wrong password %d from the attacker's address: got %d %s, want 401", i, resp.StatusCode, b)
		}
	}
	resp, b := send(t, attacker, "POST", base+"/v1/auth/login", `{"username":"admin","password":"demo-pass-2026","device_id":"attacker"}`, nil)
	assertRateLimited(t, "the admin from the attacker's address", resp.StatusCode, resp, b)
	resp, b = send(t, admin, "POST", base+"/v1/auth/login", `{"username":"admin","password":"demo-pass-2026","device_id":"admin-phone"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("the real admin from another address: got %d %s, want 200", resp.StatusCode, b)
	}
}

// TestDeviceRateLimitIsPerSession (#15 item 17): two users logged in with
// the same device id have a bucket each; one spending its own does not get
// the other 429s.
func TestDeviceRateLimitIsPerSession(t *testing.T) {
	t.Parallel()
	const burst = 3
	srv := newFullServerWith(t, func(c *fullConfig) { c.API.DeviceLimit = api.RateLimit{Rate: 0.001, Burst: burst} })
	a := mustLoginSession(t, srv, "guard.a1", "shared-device-id")
	b := mustLoginSession(t, srv, "guard.a2", "shared-device-id")
	for i := range burst {
		if status, _, body := doRaw(t, srv, "GET", "/v1/sync/pull", "", b.Headers()); status != 200 {
			t.Fatalf("B's pull %d within its burst: got %d %.300s", i, status, body)
		}
	}
	status, resp, body := doRaw(t, srv, "GET", "/v1/sync/pull", "", b.Headers())
	assertRateLimited(t, "B beyond its burst", status, resp, body)
	if status, _, body := doRaw(t, srv, "GET", "/v1/sync/pull", "", a.Headers()); status != 200 {
		t.Fatalf("A, same device id as B: got %d %.300s, want 200", status, body)
	}
}

// TestRefreshRetryHoursLaterOverHTTP (#15 item 11): a phone that lost the
// answer to its refresh retries two hours later and gets a fresh pair (the
// lost pair stops working); once a new pair has been used, the old token
// revokes the device session.
func TestRefreshRetryHoursLaterOverHTTP(t *testing.T) {
	t.Parallel()
	srv := newFullServer(t)
	clock := depsOf(t, srv).Clock
	s := mustLoginSession(t, srv, "tech.a1", "")
	var lost, retry tokenPair
	mustDo(t, srv, "POST", "/v1/auth/refresh", refreshBody(s.Refresh), nil, 200, &lost)
	clock.Advance(2 * time.Hour)
	mustDo(t, srv, "POST", "/v1/auth/refresh", refreshBody(s.Refresh), nil, 200, &retry)
	mustDo(t, srv, "GET", "/v1/me", "", bearerHeader(lost.AccessToken), 401, nil)
	mustDo(t, srv, "GET", "/v1/me", "", bearerHeader(retry.AccessToken), 200, nil)
	// The new pair was used: presenting the old token now is theft.
	clock.Advance(2 * time.Hour)
	scenario{method: "POST", url: "/v1/auth/refresh", body: refreshBody(s.Refresh), status: 401, contains: []string{"already used"}}.run(t, srv)
	mustDo(t, srv, "GET", "/v1/me", "", bearerHeader(retry.AccessToken), 401, nil)
	mustDo(t, srv, "POST", "/v1/auth/refresh", refreshBody(retry.RefreshToken), nil, 401, nil)
}

// eventStream is an open GET /v1/sync/events read line by line.
type eventStream struct {
	resp   *http.Response
	events chan string // event names, closed at the end of the stream
	ended  chan error  // the read error that ended the stream (io.EOF when cleanly)
}

// openEventStream opens the caller's event stream and waits for `ready`.
func openEventStream(tb testing.TB, ctx context.Context, addr, token string) *eventStream {
	tb.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/v1/sync/events", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("events: got %d %s", resp.StatusCode, b)
	}
	es := &eventStream{resp: resp, events: make(chan string, 64), ended: make(chan error, 1)}
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if ev, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				es.events <- ev
			}
			if err != nil {
				close(es.events)
				es.ended <- err
				return
			}
		}
	}()
	if ev := <-es.events; ev != "ready" {
		tb.Fatalf("got first event %q, want ready", ev)
	}
	return es
}

// next returns the next event, or "" when the stream ended or ctx did.
func (es *eventStream) next(ctx context.Context) string {
	select {
	case ev, ok := <-es.events:
		if ok {
			return ev
		}
	case <-ctx.Done():
	}
	return ""
}

// pushSiteAChange pushes one new inspection at site A as who.
func pushSiteAChange(tb testing.TB, srv *api.Server, who session) {
	tb.Helper()
	_, create := inspectionCreate(fieldsync.DemoSiteA, "a change")
	var res pushResults
	mustDo(tb, srv, "POST", "/v1/sync/push", `{"device_id":"`+who.DeviceID+`","mutations":[`+create+`]}`, who.Headers(), 200, &res)
	if len(res.Results) != 1 || res.Results[0].Status != fieldsync.StatusApplied {
		tb.Fatalf("push: got %+v", res)
	}
}

// TestEventStreamEndsOnRevocation (#15 item 14): a device cut off — revoked
// by an admin (device or user), its user deactivated, or logged out — stops
// receiving events: its open stream ends, and no `changed` reaches it after
// the revocation, even when changes keep coming. With events flowing the end
// comes with the next change; with none, at the next heartbeat.
func TestEventStreamEndsOnRevocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		heartbeat time.Duration // 0: the default, so only a change can end the stream in time
		revoke    func(tb testing.TB, srv *api.Server, desk session, admin string)
	}{
		{"device revoked, events flowing", 0, func(tb testing.TB, srv *api.Server, desk session, admin string) {
			mustDo(tb, srv, "POST", "/v1/admin/devices/"+desk.DeviceID+"/revoke", "", bearerHeader(admin), 200, nil)
		}},
		{"device revoked, no events", 100 * time.Millisecond, func(tb testing.TB, srv *api.Server, desk session, admin string) {
			mustDo(tb, srv, "POST", "/v1/admin/devices/"+desk.DeviceID+"/revoke", "", bearerHeader(admin), 200, nil)
		}},
		{"user revoked", 0, func(tb testing.TB, srv *api.Server, desk session, admin string) {
			mustDo(tb, srv, "POST", "/v1/admin/users/"+desk.UserID+"/revoke", "", bearerHeader(admin), 200, nil)
		}},
		{"user deactivated", 0, func(tb testing.TB, srv *api.Server, desk session, admin string) {
			mustDo(tb, srv, "PATCH", "/v1/admin/users/"+desk.UserID, `{"active":false}`, bearerHeader(admin), 200, nil)
		}},
		{"logout", 0, func(tb testing.TB, srv *api.Server, desk session, _ string) {
			mustDo(tb, srv, "POST", "/v1/auth/logout", "", desk.Headers(), 204, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newFullServerWith(t, func(c *fullConfig) { c.API.EventHeartbeat = tc.heartbeat })
			addr := serveOnLoopback(t, srv)
			desk := mustLoginSession(t, srv, "cs.a1", "")
			guard := mustLoginSession(t, srv, "guard.a1", "")
			admin, _ := mustLogin(t, srv, "admin")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			es := openEventStream(t, ctx, addr, desk.Access)
			pushSiteAChange(t, srv, guard)
			if ev := es.next(ctx); ev != "changed" {
				t.Fatalf("before the revocation: got event %q, want changed", ev)
			}
			tc.revoke(t, srv, desk, admin)
			if tc.heartbeat == 0 {
				pushSiteAChange(t, srv, guard)
			}
			var after []string
			for ev := range es.events {
				after = append(after, ev)
			}
			select {
			case err := <-es.ended:
				if err != io.EOF {
					t.Fatalf("the stream did not end within 30 s of the revocation (%v); events since: %v", err, after)
				}
			case <-ctx.Done():
				t.Fatal("the stream did not end")
			}
			if len(after) != 0 {
				t.Fatalf("got events %v after the revocation, want none", after)
			}
		})
	}
}

// openRawEvents opens the event stream on a connection of its own and
// returns it with the answer's status, having read `ready` when 200.
func openRawEvents(tb testing.TB, addr, token string) (net.Conn, int) {
	tb.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /v1/sync/events HTTP/1.1\r\nHost: fieldsync\r\nAuthorization: Bearer %s\r\n\r\n", token)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		tb.Fatal(err)
	}
	if resp.StatusCode == 200 {
		body := bufio.NewReader(resp.Body)
		line, err := body.ReadString('\n')
		for err == nil && !strings.HasPrefix(line, "event: ready") {
			line, err = body.ReadString('\n')
		}
		if err != nil {
			conn.Close()
			tb.Fatalf("reading the stream's ready event: %v", err)
		}
	}
	return conn, resp.StatusCode
}

// TestDroppedEventStreamsFreeTheirSlots (#15 item 18): a phone whose
// connection drops and reconnects, again and again, is never refused: each
// dropped stream frees its slot among the user's MaxSubscriptions (4) —
// within a few heartbeats at worst, here at once since the close is seen.
func TestDroppedEventStreamsFreeTheirSlots(t *testing.T) {
	t.Parallel()
	const heartbeat = 50 * time.Millisecond
	const maxWait = 40 // heartbeats a reconnect may wait for a slot (generous: a loaded machine)
	srv := newFullServerWith(t, func(c *fullConfig) { c.API.EventHeartbeat = heartbeat })
	addr := serveOnLoopback(t, srv)
	var sessions []session
	for range 2 * 4 {
		sessions = append(sessions, mustLoginSession(t, srv, "guard.a1", "")) // a new phone each time: no stream replaces another
	}
	for i, s := range sessions {
		var status int
		var conn net.Conn
		for try := 0; ; try++ {
			conn, status = openRawEvents(t, addr, s.Access)
			if status == 200 {
				break
			}
			conn.Close()
			if status != http.StatusTooManyRequests || try == maxWait {
				t.Fatalf("stream %d: got %d after %d heartbeats, want 200", i, status, try)
			}
			time.Sleep(heartbeat)
		}
		conn.Close() // the connection drops
	}
}

// TestEventStreamOfSameSessionReplacesItsOldOne (#15 item 18): a phone whose
// connection died without the server noticing (no FIN ever came) reconnects
// while its user is at the cap: its new stream replaces its old one instead of
// being refused; another phone of the user is still refused beyond the cap.
func TestEventStreamOfSameSessionReplacesItsOldOne(t *testing.T) {
	t.Parallel()
	srv := newFullServerWith(t, func(c *fullConfig) { c.Sync.MaxSubscriptions = 2 })
	addr := serveOnLoopback(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	phone := mustLoginSession(t, srv, "guard.a1", "")
	other := mustLoginSession(t, srv, "guard.a1", "")
	dead := openEventStream(t, ctx, addr, phone.Access) // never read again, never closed: a dead connection
	openEventStream(t, ctx, addr, other.Access)
	openEventStream(t, ctx, addr, phone.Access) // the reconnect
	for range dead.events {
	}
	if err := <-dead.ended; err != io.EOF {
		t.Fatalf("the replaced stream: got %v, want it ended", err)
	}
	third := mustLoginSession(t, srv, "guard.a1", "")
	conn, status := openRawEvents(t, addr, third.Access)
	conn.Close()
	if status != http.StatusTooManyRequests {
		t.Fatalf("a third phone beyond the cap: got %d, want 429", status)
	}
}

// TestEventStreamEndsOnRevocationOnAnotherInstance (#15 item 14): a device
// revoked through one API instance loses its stream on another instance
// within the documented staleness bound — the auth cache TTL (then the next
// heartbeat) — with no change flowing.
func TestEventStreamEndsOnRevocationOnAnotherInstance(t *testing.T) {
	t.Parallel()
	first := newFullServer(t)
	d := depsOf(t, first)
	store := devtest.MustOpenStoreDB(t, d.Store.DB.Name(), mongodb.Options{})
	authn := auth.New(auth.Options{Store: store, Keys: d.Auth.Keys(), Now: d.Clock.Now, DefaultTenant: fieldsync.DemoTenant, Password: testPasswordParams})
	engine, err := fsync.Open(context.Background(), store.Sync(), fsync.Options{Collections: field.Collections(field.Options{Users: authn})})
	if err != nil {
		t.Fatal(err)
	}
	second := api.New(api.Options{Auth: authn, Sync: engine, EventHeartbeat: 50 * time.Millisecond})
	addr := serveOnLoopback(t, second)
	desk := mustLoginSession(t, first, "cs.a1", "")
	admin, _ := mustLogin(t, first, "admin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es := openEventStream(t, ctx, addr, desk.Access) // its session is cached on the second instance now
	mustDo(t, first, "POST", "/v1/admin/devices/"+desk.DeviceID+"/revoke", "", bearerHeader(admin), 200, nil)
	d.Clock.Advance(auth.DefaultCacheTTL)
	for range es.events {
	}
	if err := <-es.ended; err != io.EOF {
		t.Fatalf("the stream on the other instance: got %v, want it ended", err)
	}
}
