package api

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestEventSendNotHeldUpByAPhoneThatStopsReading (#17): a phone that stops
// reading its stream (its buffers full, here a pipe nobody reads) does not
// hold up the `changed` of the streams written after it in the same batch:
// they have theirs while its write is still pending.
func TestEventSendNotHeldUpByAPhoneThatStopsReading(t *testing.T) {
	t.Parallel()
	es := newEventStreams(New(Options{}))
	stream := func() (*eventStream, net.Conn) {
		server, phone := net.Pipe()
		t.Cleanup(func() { server.Close(); phone.Close() })
		_, cancel := context.WithCancel(context.Background())
		return &eventStream{conn: server, cancel: cancel}, phone
	}
	stuck, _ := stream() // never read
	live, phone := stream()
	got := make(chan string, 1)
	go func() {
		br := bufio.NewReader(phone)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			if ev, ok := strings.CutPrefix(strings.TrimSpace(line), "event: "); ok {
				got <- ev
				return
			}
		}
	}()
	es.send([]*eventStream{stuck, live}, eventChanged, true) // one worker: in this order
	if ev := <-got; ev != "changed" {
		t.Fatalf("the reading phone got %q, want changed", ev)
	}
	if stuck.done.Load() {
		t.Fatal("the stuck stream's write ended before the reading phone got its event: it held the batch up")
	}
	if err := stuck.write(stuck.conn, eventHeartbeat); err != errStreamBusy {
		t.Fatalf("another write to the stuck stream: got %v, want errStreamBusy", err)
	}
}

// TestUnwrapHijackedGivesTheSocket: event streams keep the bare socket of a
// connection fasthttp hands over (not its wrapper, which holds the request's
// read buffer); should a fasthttp upgrade change its wrapper, this fails
// rather than streams silently costing 16 KiB more each.
func TestUnwrapHijackedGivesTheSocket(t *testing.T) {
	t.Parallel()
	got := make(chan net.Conn, 1)
	srv := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		c.HijackSetNoResponse(true)
		c.Hijack(func(conn net.Conn) { got <- unwrapHijacked(conn) })
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if raw, ok := (<-got).(*net.TCPConn); !ok || raw == nil {
		t.Fatalf("got %T, want the *net.TCPConn under the hijacked connection", raw)
	}
}
