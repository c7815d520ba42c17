package auth_test

import (
	"context"
	"fmt"
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
