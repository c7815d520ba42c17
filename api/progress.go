package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"fieldsync"
)

// The server's read and write timeouts bound a whole request and a whole
// answer (fasthttp sets each deadline once), and the request timeout bounds
// the work behind a request. A big answer or a big upload on a slow phone
// network outlasts them however steadily it moves; the two below turn them
// into progress timeouts for the answers and uploads that may be long.

// progressWriter writes a long streamed answer (the bootstrap) to w, giving
// each write the server's write timeout anew: the server sets that deadline
// once per answer, which would cut a large scope's stream on a slow phone
// network after the timeout however steadily the phone reads. A phone that
// stops reading still loses the stream once one write stalls that long.
type progressWriter struct {
	w       *bufio.Writer
	conn    net.Conn
	timeout time.Duration
}

func (p progressWriter) Write(b []byte) (int, error) {
	if err := p.conn.SetWriteDeadline(time.Now().Add(p.timeout)); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}

// Flush writes what w holds, with the write timeout anew.
func (p progressWriter) Flush() error {
	if err := p.conn.SetWriteDeadline(time.Now().Add(p.timeout)); err != nil {
		return err
	}
	return p.w.Flush()
}

// streamSendBuffer bounds the kernel's send buffer of a connection that
// carries a long streamed answer. A write blocked on a full buffer wakes
// only once a good part of it has drained — with the buffer the kernel
// grows to (4 MiB here), half a minute and more on a phone's slow link,
// so a phone reading steadily could lose the stream to the write timeout
// that is meant for one that stopped reading. 512 KiB still fills a
// 40 Mbit/s link at 100 ms round trip.
const streamSendBuffer = 512 << 10

// boundSendBuffer fixes conn's send buffer at streamSendBuffer where conn
// is a socket.
func boundSendBuffer(conn net.Conn) {
	if s, ok := conn.(interface{ SetWriteBuffer(int) error }); ok {
		_ = s.SetWriteBuffer(streamSendBuffer)
	}
}

// MinUploadRate is the slowest an upload through the API may arrive, on
// average over each read timeout: slower than the worst phone link (2G
// moves 10 KiB/s and more), fast enough that holding a connection open
// costs a client as much bandwidth as it costs the server.
const MinUploadRate = 4 << 10 // bytes a second

// progressBody reads a streamed request body (an upload through the API),
// giving each read the server's read timeout anew. Its context is the
// request's without the request timeout's deadline: it ends when the body
// stalls — no byte for the read timeout, or fewer than MinUploadRate's
// worth over one — or the request timeout after the body's end (the work
// left then is bounded: verifying what was stored).
type progressBody struct {
	r    io.Reader
	conn net.Conn
	read time.Duration
	// got counts the bytes read since the watchdog last looked; ended is
	// set at the body's end; stalled when the body stopped coming before it.
	got            atomic.Int64
	ended, stalled atomic.Bool
}

// newProgressBody wraps body, read from conn, and returns the context its
// reader's work runs under; stop releases it. A watchdog looks at the
// body once every read timeout.
func newProgressBody(parent context.Context, body io.Reader, conn net.Conn, read, request time.Duration) (*progressBody, context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	p := &progressBody{r: body, conn: conn, read: read}
	done := make(chan struct{})
	go p.watch(done, cancel, request)
	return p, ctx, func() { close(done); cancel() }
}

// watch ends the upload's work (cancel) when the body came slower than
// MinUploadRate over the last read timeout, or the request timeout after
// the body's end; until done.
func (p *progressBody) watch(done <-chan struct{}, cancel context.CancelFunc, request time.Duration) {
	least := int64(MinUploadRate * p.read.Seconds())
	t := time.NewTimer(p.read)
	defer t.Stop()
	afterEnd := false
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		switch {
		case afterEnd:
			cancel()
			return
		case p.ended.Load():
			afterEnd = true
			t.Reset(request)
		case p.got.Swap(0) < least:
			p.stalled.Store(true)
			cancel()
			return
		default:
			t.Reset(p.read)
		}
	}
}

func (p *progressBody) Read(b []byte) (int, error) {
	if p.conn != nil {
		if err := p.conn.SetReadDeadline(time.Now().Add(p.read)); err != nil {
			return 0, err
		}
	}
	n, err := p.r.Read(b)
	p.got.Add(int64(n))
	switch {
	case err == io.EOF:
		p.ended.Store(true)
	case errors.Is(err, os.ErrDeadlineExceeded):
		p.stalled.Store(true)
	}
	return n, err
}

// stalledError is the answer to an upload whose body stopped coming or
// came slower than MinUploadRate (whatever the service made of the cut
// body: an object store error, a short read), or nil.
func (p *progressBody) stalledError(err error) error {
	if !p.stalled.Load() {
		return nil
	}
	return fieldsync.WrapError(fieldsync.ETimeout, fmt.Sprintf("the upload stalled: less than %d KiB came in %s; send it again, or resume it through /multipart", int64(MinUploadRate*p.read.Seconds())>>10, p.read), err)
}
