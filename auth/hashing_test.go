package auth_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/auth"
)

// Password hashes are computed a bounded number at a time (each takes 7 MiB):
// a login waits for a turn, gives up with 503 at its deadline, and many at
// once all get through.
func TestLoginsTakeTurnsHashing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) { o.ConcurrentHashes = 1 })
	release := auth.HoldHashSlot(f.svc)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := f.svc.Login(ctx, auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "correct horse", DeviceID: "d0", Addr: "10.0.0.1"})
	wantCode(t, err, fieldsync.EUnavailable)
	release()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.svc.Login(context.Background(), auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "correct horse", DeviceID: fmt.Sprint("d", i+1), Addr: "10.0.0.1"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls until cond holds (goroutines reaching a queue; no clock involved).
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for range 5000 {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("gave up waiting for %s", what)
}

// TestLoginsBeyondTheQueueRefusedAtOnce: when LoginQueue logins already wait
// for a hashing turn, one more is answered 503 with Retry-After at once — not
// after waiting out its request's deadline — and the queued one is served.
func TestLoginsBeyondTheQueueRefusedAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) { o.ConcurrentHashes, o.LoginQueue = 1, 1 })
	release := auth.HoldHashSlot(f.svc)
	queued := make(chan error, 1)
	go func() {
		_, err := f.svc.Login(context.Background(), auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "correct horse", DeviceID: "d1", Addr: "10.0.0.1"})
		queued <- err
	}()
	waitFor(t, "the first login to queue", func() bool { return auth.WaitingLogins(f.svc) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := f.svc.Login(ctx, auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "correct horse", DeviceID: "d2", Addr: "10.0.0.1"})
	wantCode(t, err, fieldsync.EUnavailable)
	var fe *fieldsync.Error
	if !errors.As(err, &fe) || fe.RetryAfter < 1 {
		t.Fatalf("got %+v, want a Retry-After", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the login beyond the queue waited out its deadline; want an answer at once")
	}
	release()
	if err := <-queued; err != nil {
		t.Fatalf("the queued login: %v", err)
	}
}

// TestLoginHashingLeavesACore: by default logins hash on at most
// GOMAXPROCS-1 cores (at least one), so a burst of logins leaves a core to
// the database and sync traffic: with that many hashes running, the next
// login waits (and here, with nothing released, is refused at its deadline).
func TestLoginHashingLeavesACore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		defer auth.HoldHashSlot(f.svc)()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := f.svc.Login(ctx, auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "correct horse", DeviceID: "d1", Addr: "10.0.0.1"})
	wantCode(t, err, fieldsync.EUnavailable)
}
