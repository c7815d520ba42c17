package api_test

import (
	"context"
	"io"
	"testing"
	"time"

	"fieldsync"
)

// TestEventStreamOutlivesWriteTimeout (#17): an event stream is not cut at
// the server's write timeout, which bounds every other response: it lives as
// long as the phone keeps it, and still carries `changed` and heartbeats.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const writeTimeout = 500 * time.Millisecond
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.Timeouts.Write = writeTimeout
		c.API.EventHeartbeat = 50 * time.Millisecond
	})
	addr := serveOnLoopback(t, srv)
	desk := mustLoginSession(t, srv, "cs.a1", "")
	guard := mustLoginSession(t, srv, "guard.a1", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es := openEventStream(t, ctx, addr, desk.Access)
	time.Sleep(4 * writeTimeout)
	select {
	case err := <-es.ended:
		t.Fatalf("the stream ended (%v) after %s, past the write timeout of %s", err, 4*writeTimeout, writeTimeout)
	default:
	}
	pushSiteAChange(t, srv, guard)
	if ev := es.next(ctx); ev != "changed" {
		t.Fatalf("past the write timeout: got event %q, want changed", ev)
	}
}

// TestEventStreamEndsWhenScopeChanges (#17): a stream lives as long as the
// phone keeps it, so it cannot keep the sites its request began with: when
// the user's sites change, the stream ends at its next heartbeat (the phone
// reconnects with its scope as it is now).
func TestEventStreamEndsWhenScopeChanges(t *testing.T) {
	t.Parallel()
	srv := newFullServerWith(t, func(c *fullConfig) { c.API.EventHeartbeat = 50 * time.Millisecond })
	addr := serveOnLoopback(t, srv)
	desk := mustLoginSession(t, srv, "cs.a1", "")
	admin, _ := mustLogin(t, srv, "admin")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	es := openEventStream(t, ctx, addr, desk.Access)
	mustDo(t, srv, "PATCH", "/v1/admin/users/"+desk.UserID, `{"site_ids":["`+fieldsync.DemoSiteA+`","`+fieldsync.DemoSiteB+`"]}`, bearerHeader(admin), 200, nil)
	for range es.events {
	}
	if err := <-es.ended; err != io.EOF {
		t.Fatalf("the stream after the user's sites changed: got %v, want it ended", err)
	}
}
