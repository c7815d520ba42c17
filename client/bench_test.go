package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// benchServer answers login, a 500-change pull page and a 500-change bootstrap
// stream from canned bytes, so the benchmarks time the client's side alone.
func benchServer(b *testing.B) (*Client, int) {
	const n = 500
	changes := make([]Change, n)
	var nd bytes.Buffer
	for i := range changes {
		doc, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("0193-%04d", i), "site_id": "site-a", "category": "sanitation",
			"severity": "high", "description": "bins overflowing at gate 2 and the lane behind the east tower, reported twice this week",
			"location": "Building 3, floor 2", "gps": map[string]float64{"lat": 22.54, "lng": 114.05}, "version": 3})
		changes[i] = Change{Collection: "inspections", ID: fmt.Sprintf("0193-%04d", i), Version: 3, Op: ChangeUpsert, Doc: doc}
		line, _ := json.Marshal(changes[i])
		nd.Write(append(line, '\n'))
	}
	nd.WriteString(`{"cursor":"c1","server_time":"2026-01-01T00:00:00Z"}` + "\n")
	page, _ := json.Marshal(Page{Changes: changes, Cursor: "c1"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/auth/login":
			json.NewEncoder(w).Encode(Session{AccessToken: "a", RefreshToken: "r", ExpiresIn: 900})
		case "/v1/sync/pull":
			w.Write(page)
		case "/v1/sync/bootstrap":
			w.Write(nd.Bytes())
		}
	}))
	b.Cleanup(srv.Close)
	c, err := New(srv.URL, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Login(context.Background(), Credentials{Username: "u", Password: "p", DeviceID: "d"}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(page)))
	return c, n
}

func BenchmarkPullPage500(b *testing.B) {
	c, n := benchServer(b)
	ctx := context.Background()
	for b.Loop() {
		p, err := c.Pull(ctx, "c0", 500)
		if err != nil || len(p.Changes) != n {
			b.Fatalf("got %v, %d changes", err, len(p.Changes))
		}
	}
}

func BenchmarkBootstrap500(b *testing.B) {
	c, n := benchServer(b)
	ctx := context.Background()
	for b.Loop() {
		got := 0
		if _, err := c.Bootstrap(ctx, func(Change) error { got++; return nil }); err != nil || got != n {
			b.Fatalf("got %v, %d changes", err, got)
		}
	}
}
