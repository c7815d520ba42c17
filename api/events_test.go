package api_test

import (
	"context"
	"testing"
	"time"
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
