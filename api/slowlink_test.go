package api_test

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"fieldsync"

	"github.com/google/uuid"
)

// TestLongBootstrapOutlivesWriteTimeout: a bootstrap stream that lasts
// longer than the server's write timeout — a big scope sent to a phone that
// reads steadily on a slow network — is not cut at the timeout (the server
// sets it once per answer): it arrives whole, ending with its cursor line.
//
// The stream is ~9 MB and the phone reads 16 KiB every 10 ms through a
// small receive buffer: whatever the machine's speed, the server's last
// write waits until the phone has read all but what the kernel's buffers
// hold (the stream's send buffer is bounded at streamSendBuffer, 512 KiB),
// i.e. at least ~500 reads and 5 s after the stream began — more than
// twice the write timeout. (Not named for scripts/test's race stage: under
// the race detector with the other packages' tests beside it, the phone's
// goroutine itself may be starved for seconds — a real stall.)
func TestLongBootstrapOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	const writeTimeout = 2 * time.Second
	srv := newFullServerWith(t, func(c *fullConfig) { c.API.Timeouts.Write = writeTimeout })
	addr := serveOnLoopback(t, srv)
	desk := mustLoginSession(t, srv, "cs.a1", "")
	text := strings.Repeat("楼道灯不亮", 600) // 3,000 characters, 9 KB in UTF-8
	want := map[string]bool{}
	for range 3 {
		var muts []string
		for range 330 {
			id, m := inspectionCreate(fieldsync.DemoSiteA, text)
			want[id] = true
			muts = append(muts, m)
		}
		var res pushResults
		mustDo(t, srv, "POST", "/v1/sync/push", `{"device_id":"`+desk.DeviceID+`","mutations":[`+strings.Join(muts, ",")+`]}`, desk.Headers(), 200, &res)
		for _, r := range res.Results {
			if r.Status != fieldsync.StatusApplied {
				t.Fatalf("push: got %+v", r)
			}
		}
	}

	small := &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10) })
		return cmp.Or(err, serr)
	}}
	phone := &http.Client{Transport: &http.Transport{DialContext: small.DialContext, DisableCompression: true}}
	req, err := http.NewRequest("GET", "http://"+addr+"/v1/sync/bootstrap", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+desk.Access)
	resp, err := phone.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("bootstrap: got %d", resp.StatusCode)
	}
	var body bytes.Buffer
	buf := make([]byte, 16<<10)
	start := time.Now()
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the stream broke off after %s and %d bytes (write timeout %s): %v", time.Since(start), body.Len(), writeTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var last struct {
		ID, Cursor string
		Error      json.RawMessage
	}
	sc := bufio.NewScanner(&body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		last.ID, last.Cursor = "", ""
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("line %.80q: %v", sc.Text(), err)
		}
		delete(want, last.ID)
	}
	if last.Cursor == "" || last.Error != nil || len(want) > 0 {
		t.Fatalf("after %s (write timeout %s): final line has cursor %q, error %s; %d of the records missing",
			time.Since(start), writeTimeout, last.Cursor, last.Error, len(want))
	}
}

// TestSlowUploadOutlivesTimeouts: a photo uploaded through the API by a
// phone on a slow network — the body arriving steadily for longer than the
// server's read timeout and its per-request work timeout — is stored; the
// server gives up only when the body stalls for the read timeout. The
// phone sends 8 KiB every 25 ms: 1 MiB takes at least 3.2 s, three times
// both timeouts.
func TestSlowUploadOutlivesTimeouts(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.Timeouts.Read, c.API.Timeouts.Request = timeout, timeout
	})
	addr := serveOnLoopback(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	const n = 1 << 20
	streamUploadFrom(t, srv, "http://"+addr, guard, &pacedReader{r: newJPEGStream(n), chunk: 8 << 10, pause: 25 * time.Millisecond}, n, streamSHA256(n))
}

// pacedReader hands out at most chunk bytes of r per read, pausing before each.
type pacedReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
}

func (p *pacedReader) Read(b []byte) (int, error) {
	time.Sleep(p.pause)
	return p.r.Read(b[:min(len(b), p.chunk)])
}

// TestStalledUploadIsATimeout: an upload through the API whose body stops
// coming (the phone lost its link mid-photo, the connection still open),
// or trickles slower than api.MinUploadRate (a client holding the
// connection for nothing), is given up within about two read timeouts and
// answered 408 `timeout` — not a 503 blaming the object store — and the
// photo stays pending.
func TestStalledUploadIsATimeout(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	srv := newFullServerWith(t, func(c *fullConfig) {
		c.API.Timeouts.Read, c.API.Timeouts.Request = timeout, timeout
	})
	addr := serveOnLoopback(t, srv)
	guard := mustLoginSession(t, srv, "guard.a1", "")
	const n = 256 << 10
	for _, tc := range []struct {
		name string
		send func(w io.Writer, body io.Reader)
	}{
		{"half sent, then nothing", func(w io.Writer, body io.Reader) { _, _ = io.CopyN(w, body, n/2) }},
		{"64 KiB, then 512 bytes every 300 ms", func(w io.Writer, body io.Reader) {
			// The first bytes at once: the server reads a little of the body
			// before the handler runs (fasthttp's prefetch, under its own
			// read timeout); what follows trickles at ~1.7 KiB/s.
			if _, err := io.CopyN(w, body, 64<<10); err != nil {
				return
			}
			for {
				if _, err := io.CopyN(w, body, 512); err != nil {
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uuid.NewString()
			mustDo(t, srv, "POST", "/v1/media", fmt.Sprintf(`{"id":%q,"content_type":"image/jpeg","size":%d,"sha256":%q}`, id, n, streamSHA256(n)), guard.Headers(), 201, nil)
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			fmt.Fprintf(conn, "PUT /v1/media/%s/content HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", id, addr, guard.Access, n)
			go tc.send(conn, newJPEGStream(n))
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a stalled upload: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != "application/problem+json" ||
				!strings.Contains(string(b), `"code":"timeout"`) || !strings.Contains(string(b), "the upload stalled") {
				t.Fatalf("a stalled upload: got %d %s %s, want 408 problem+json with code timeout", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			var m struct{ Status string }
			mustDo(t, srv, "GET", "/v1/media/"+id, "", guard.Headers(), 200, &m)
			if m.Status != "pending" {
				t.Fatalf("after a stalled upload the media is %q, want pending", m.Status)
			}
		})
	}
}
