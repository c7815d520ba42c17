package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// A real server produces 429 and 503 only under load or faults; this stand-in
// produces them on demand so the retry rules can be checked one by one.
func TestPushRetriesTemporaryFailuresHonouringRetryAfter(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	var gaps []time.Duration
	last := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/auth/login":
			json.NewEncoder(w).Encode(Session{AccessToken: "a", RefreshToken: "r", ExpiresIn: 900, User: User{ID: "u1"}})
			return
		case "/v1/sync/push":
		default:
			http.NotFound(w, r)
			return
		}
		n := calls.Add(1)
		gaps = append(gaps, time.Since(last))
		last = time.Now()
		switch n {
		case 1:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"status":429,"code":"rate_limited","detail":"slow down"}`))
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			var req struct {
				Mutations []Mutation `json:"mutations"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			res := make([]Result, len(req.Mutations))
			for i, m := range req.Mutations {
				res[i] = Result{MutationID: m.MutationID, Status: StatusApplied, ID: m.ID, Version: 1}
			}
			json.NewEncoder(w).Encode(map[string]any{"results": res})
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), Credentials{Username: "u", Password: "p", DeviceID: "d"}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Push(context.Background(), []Mutation{{MutationID: "0190c3a4-5b6c-7d8e-9f00-0000000000a1", Collection: "inspections", Op: OpCreate, ID: "0190c3a4-5b6c-7d8e-9f00-0000000000b1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 3 {
		t.Fatalf("got %d push attempts, want 3", got)
	}
	if len(res) != 1 || res[0].Status != StatusApplied {
		t.Fatalf("got results %+v, want one applied", res)
	}
	if gaps[1] < 900*time.Millisecond {
		t.Fatalf("got %v between the 429 and the retry, want the Retry-After of 1s", gaps[1])
	}
}

func TestPushGivesUpOnClientErrors(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/login" {
			json.NewEncoder(w).Encode(Session{AccessToken: "a", RefreshToken: "r", ExpiresIn: 900})
			return
		}
		calls.Add(1)
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"status":403,"code":"forbidden","detail":"device_id is not this token's device"}`))
	}))
	defer srv.Close()
	c, _ := New(srv.URL, Options{MinBackoff: time.Millisecond})
	if _, err := c.Login(context.Background(), Credentials{Username: "u", Password: "p", DeviceID: "d"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Push(context.Background(), []Mutation{{MutationID: "0190c3a4-5b6c-7d8e-9f00-0000000000a2"}})
	p, ok := err.(*Problem)
	if !ok || p.Code != "forbidden" || p.Status != 403 {
		t.Fatalf("got %v, want the 403 forbidden problem", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("got %d attempts, want 1 (4xx is not retried)", calls.Load())
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"", 0}, {"3", 3 * time.Second}, {"junk", 0}, {"100000", MaxRetryAfter}, {"-5", 0}} {
		if got := parseRetryAfter(tc.in); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
