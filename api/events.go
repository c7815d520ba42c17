package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
)

// EventWriteTimeout bounds one write to an event stream. A write blocks only
// when the phone has not acknowledged what the socket buffer holds (kilobytes
// of heartbeats: hours of them); such a phone is gone, and its stream ends.
const EventWriteTimeout = 5 * time.Second

// handleSyncEvents is Server-Sent Events: `changed` whenever the caller's
// scope may have new changes, a comment heartbeat every EventHeartbeat. The
// stream lasts as long as the phone keeps it — the server's write timeout
// does not apply to it — and ends as soon as the client is gone (the
// connection's close is noticed at once, a dead peer at the latest when a
// heartbeat can no longer be written, or by TCP keepalive), once its session
// is revoked, its user deactivated or logged out (the session is looked at
// again — the same cached lookup as every request, so within the auth cache
// TTL on other instances — before each `changed` and at each heartbeat), and
// at shutdown. A stream's end frees its slot among the user's MaxSubscriptions.
//
// The connection is taken over from the HTTP server once the request is
// accepted (see eventStreams): the response is written here, chunked as any
// streamed response, and the connection is never reused.
func (s *Server) handleSyncEvents(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	if c.Method() == fiber.MethodHead {
		return nil // the headers a stream would have; no stream
	}
	st := &eventStream{caller: fieldsync.CallerFromContext(c.UserContext())}
	ctx, cancel := streamContext(c)
	st.cancel = cancel
	if err := s.opts.Sync.Watch(ctx, func(ended bool) { s.streams.notify(st, ended) }); err != nil {
		cancel()
		return err
	}
	fc := c.Context()
	fc.Response.Header.SetContentLength(-1) // chunked
	fc.SetConnectionClose()
	fc.HijackSetNoResponse(true)
	fc.Hijack(func(conn net.Conn) {
		// Copied: the request's buffers go back to the server's pool.
		head := append(append([]byte(nil), fc.Response.Header.Header()...), eventReady...)
		if raw := unwrapHijacked(conn); raw != nil {
			// The request's buffers (its 16 KiB read buffer among them) are
			// let go of once this returns: the stream keeps the socket alone.
			go s.streams.serve(raw, st, head)
			return
		}
		s.streams.serve(conn, st, head)
	})
	return nil
}

// unwrapHijacked returns the socket under fasthttp's hijacked connection, or
// nil when it cannot be had. The wrapper reads through the request's read
// buffer; an event stream reads nothing after its request but its close, so
// the socket serves, and the buffer need not live as long as the stream.
func unwrapHijacked(c net.Conn) net.Conn {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("Conn")
	if !f.IsValid() || !f.CanInterface() {
		return nil
	}
	raw, _ := f.Interface().(net.Conn)
	return raw
}

// The fixed parts of an event stream, each one HTTP chunk.
var (
	eventReady     = chunk("retry: 1000\nevent: ready\ndata: {}\n\n")
	eventChanged   = chunk("event: changed\ndata: {}\n\n")
	eventHeartbeat = chunk(": heartbeat\n\n")
	eventEnd       = []byte("0\r\n\r\n")
)

func chunk(s string) []byte { return fmt.Appendf(nil, "%x\r\n%s\r\n", len(s), s) }

// eventStreams are the server's open event streams. Each is a connection
// taken over from the HTTP server, read by one goroutine of its own parked in
// a read that returns only when the phone closes it (or sends anything: the
// stream is over either way). Every write — `changed`, heartbeats, the end —
// comes from one loop shared by all streams, which looks at the sessions of
// the streams it writes to in one batch. So an open stream costs a parked
// goroutine, its socket and this struct, and no timer, buffer or database
// read of its own.
type eventStreams struct {
	srv *Server

	mu      sync.Mutex
	open    map[*eventStream]struct{}
	queue   []*eventStream // waiting for a `changed` or their end
	wake    chan struct{}
	running bool // the loop runs
	closed  bool // shut down: no stream is taken on
}

// eventStream is one open stream.
type eventStream struct {
	caller *fieldsync.Caller
	cancel context.CancelFunc // ends the engine's watch

	// Under eventStreams.mu:
	conn     net.Conn  // nil until the connection is taken over
	pending  bool      // a `changed` is due
	stop     bool      // the watch ended: the stream is to end
	queued   bool      // in the queue
	nextBeat time.Time // its next heartbeat

	wmu  sync.Mutex  // one write at a time
	done atomic.Bool // ended: nothing more is written
}

func newEventStreams(srv *Server) *eventStreams {
	return &eventStreams{srv: srv, open: map[*eventStream]struct{}{}, wake: make(chan struct{}, 1)}
}

// notify is the engine's word on st: a change for it, or the end of its watch.
func (es *eventStreams) notify(st *eventStream, ended bool) {
	es.mu.Lock()
	defer es.mu.Unlock()
	if ended {
		st.stop = true
	} else {
		st.pending = true
	}
	es.enqueue(st)
}

// enqueue queues st for the loop once it is being served, and wakes the
// loop; es.mu is held.
func (es *eventStreams) enqueue(st *eventStream) {
	if st.conn == nil || st.queued {
		return
	}
	st.queued = true
	es.queue = append(es.queue, st)
	select {
	case es.wake <- struct{}{}:
	default:
	}
}

// later queues a `changed` for st without waking the loop: it goes out at
// the loop's next tick.
func (es *eventStreams) later(st *eventStream) {
	es.mu.Lock()
	defer es.mu.Unlock()
	st.pending = true
	if !st.queued {
		st.queued = true
		es.queue = append(es.queue, st)
	}
}

// serve runs on the taken-over connection for the stream's whole life: it
// writes head, then waits for the connection's end.
func (es *eventStreams) serve(conn net.Conn, st *eventStream, head []byte) {
	defer st.cancel()
	if st.write(conn, head) != nil {
		_ = conn.Close()
		return
	}
	es.mu.Lock()
	if es.closed {
		es.mu.Unlock()
		st.end(conn)
		return
	}
	st.conn = conn
	st.nextBeat = time.Now().Add(es.srv.opts.EventHeartbeat)
	es.open[st] = struct{}{}
	if st.pending || st.stop {
		es.enqueue(st)
	}
	if !es.running {
		es.running = true
		go es.loop()
	}
	es.mu.Unlock()

	var b [1]byte
	_, _ = conn.Read(b[:])

	es.mu.Lock()
	delete(es.open, st)
	es.mu.Unlock()
	st.end(conn)
}

// tick is how often the loop looks for heartbeats due.
func (es *eventStreams) tick() time.Duration {
	return min(max(es.srv.opts.EventHeartbeat/4, 10*time.Millisecond), time.Second)
}

// loop writes `changed` to the queued streams and heartbeats to those due,
// until no stream is open.
func (es *eventStreams) loop() {
	t := time.NewTicker(es.tick())
	defer t.Stop()
	var queue, beats []*eventStream
	for {
		select {
		case <-t.C:
		case <-es.wake:
		}
		now := time.Now()
		es.mu.Lock()
		queue, es.queue = es.queue, queue[:0]
		var changed, ending []*eventStream
		for _, st := range queue {
			st.queued = false
			switch {
			case st.stop:
				ending = append(ending, st)
			case st.pending:
				st.pending = false
				changed = append(changed, st)
			}
		}
		beats = beats[:0]
		for st := range es.open {
			if !st.nextBeat.After(now) {
				st.nextBeat = now.Add(es.srv.opts.EventHeartbeat)
				beats = append(beats, st)
			}
		}
		if len(es.open) == 0 && len(queue) == 0 {
			es.running = false
			es.mu.Unlock()
			return
		}
		es.mu.Unlock()
		for _, st := range ending {
			st.end(st.conn)
		}
		es.send(changed, eventChanged, true)
		es.send(beats, eventHeartbeat, false)
		clear(queue)
	}
}

// sendWorkers bounds the goroutines writing one batch.
const sendWorkers = 8

// send writes msg to each of streams whose session is still live, and ends
// the others and those it cannot write to. A `changed` that finds a stream
// still busy with an earlier write is tried again at the next tick.
func (es *eventStreams) send(streams []*eventStream, msg []byte, changed bool) {
	if len(streams) == 0 {
		return
	}
	live := es.recheck(streams)
	n := min(sendWorkers, 1+len(streams)/256)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			for i := w; i < len(streams); i += n {
				st := streams[i]
				if !live[i] {
					st.end(st.conn)
					continue
				}
				switch err := st.write(st.conn, msg); {
				case errors.Is(err, errStreamBusy):
					if changed {
						es.later(st)
					}
				case err != nil:
					st.end(st.conn)
				}
			}
		})
	}
	wg.Wait()
}

// recheck looks at the sessions of streams, all in one batch.
func (es *eventStreams) recheck(streams []*eventStream) []bool {
	live := make([]bool, len(streams))
	a := es.srv.opts.Auth
	if a == nil {
		for i := range live {
			live[i] = true
		}
		return live
	}
	callers := make([]*fieldsync.Caller, len(streams))
	for i, st := range streams {
		callers[i] = st.caller
	}
	ctx, cancel := context.WithTimeout(context.Background(), es.srv.opts.Timeouts.Request)
	defer cancel()
	var failed error
	for i, err := range a.RecheckAll(ctx, callers) {
		live[i] = err == nil
		if err != nil && fieldsync.ErrorCode(err) != fieldsync.EUnauthorized {
			failed = err
		}
	}
	if failed != nil {
		es.srv.log.Warn("event streams: session check failed; ending the streams it was for", "err", failed)
	}
	return live
}

// shutdown ends every open stream, and refuses new ones.
func (es *eventStreams) shutdown() {
	es.mu.Lock()
	es.closed = true
	open := make([]*eventStream, 0, len(es.open))
	for st := range es.open {
		open = append(open, st)
	}
	es.mu.Unlock()
	for _, st := range open {
		st.end(st.conn)
	}
}

// eventFastWrite is how long the shared loop waits on one stream's write
// before handing the rest of it to a goroutine of that stream's own.
const eventFastWrite = 20 * time.Millisecond

// errStreamBusy is write's answer while an earlier write is still under way.
var errStreamBusy = errors.New("api: event stream busy")

// write writes b to the stream unless it has ended. A write that does not go
// out at once (the phone is not reading: its buffers are full) finishes in a
// goroutine of its own, up to EventWriteTimeout, and ends the stream if it
// cannot; meanwhile write answers errStreamBusy, so one such phone never
// holds up the others.
func (st *eventStream) write(conn net.Conn, b []byte) error {
	if !st.wmu.TryLock() {
		return errStreamBusy
	}
	if st.done.Load() {
		st.wmu.Unlock()
		return net.ErrClosed
	}
	_ = conn.SetWriteDeadline(time.Now().Add(eventFastWrite))
	n, err := conn.Write(b)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		st.wmu.Unlock()
		return err
	}
	go func() {
		defer st.wmu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(EventWriteTimeout))
		if _, err := conn.Write(b[n:]); err != nil {
			st.done.Store(true)
			_ = conn.Close()
			st.cancel()
		}
	}()
	return nil
}

// end ends the stream: the last chunk, so the phone reads a complete
// response, then the connection's close, which also ends serve's read. While
// a write is under way the connection is closed at once instead.
func (st *eventStream) end(conn net.Conn) {
	if st.done.Swap(true) {
		return
	}
	defer st.cancel()
	if !st.wmu.TryLock() {
		_ = conn.Close()
		return
	}
	defer st.wmu.Unlock()
	if conn.SetWriteDeadline(time.Now().Add(eventFastWrite)) == nil {
		_, _ = conn.Write(eventEnd)
	}
	_ = conn.Close()
}
