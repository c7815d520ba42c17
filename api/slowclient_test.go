package api_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"fieldsync/api"
)

// serveOnLoopback runs srv on a real 127.0.0.1 listener and returns its address.
func serveOnLoopback(tb testing.TB, srv *api.Server) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// TestSlowClientsAreCutOff opens slowloris-style connections (headers sent a
// byte at a time, a body trickled) and checks the server closes them after its
// read timeout while a normal client is served meanwhile.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	srv := api.New(api.Options{Timeouts: api.Timeouts{Read: 500 * time.Millisecond, Idle: 500 * time.Millisecond}})
	addr := serveOnLoopback(t, srv)

	slow := func(payload string) (closedAfter time.Duration) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		for i := 0; i < len(payload); i++ {
			if _, err := c.Write([]byte{payload[i]}); err != nil {
				return time.Since(start)
			}
			time.Sleep(100 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == io.EOF {
				return time.Since(start)
			}
		}
		return time.Since(start)
	}
	headers := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: " + strings.Repeat("a", 100)
	body := "POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{" + strings.Repeat(" ", 100)

	done := make(chan time.Duration, 2)
	go func() { done <- slow(headers) }()
	go func() { done <- slow(body) }()

	// Meanwhile a normal client is served promptly.
	time.Sleep(200 * time.Millisecond)
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("normal client starved: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("normal client got %d", resp.StatusCode)
	}
	for range 2 {
		if d := <-done; d > 5*time.Second {
			t.Fatalf("slow client kept its connection for %v; the payload would have taken 10s", d)
		}
	}
}

// TestMalformedRequestsGetProblems sends raw requests the HTTP parser refuses:
// each answer is problem+json and quotes nothing back.
func TestMalformedRequestsGetProblems(t *testing.T) {
	t.Parallel()
	addr := serveOnLoopback(t, api.New(api.Options{}))
	for _, tc := range []struct {
		raw    string
		status string
	}{
		{"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40000) + "\r\n\r\n", "431"},
		{"GARBAGE\r\n\r\n", "400"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(tc.raw))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		resp := string(b)
		if !strings.HasPrefix(resp, "HTTP/1.1 "+tc.status) || !strings.Contains(resp, "application/problem+json") || strings.Contains(resp, "GARBAGE") {
			t.Errorf("got %q, want a %s problem+json that does not echo the request", resp, tc.status)
		}
	}
}
