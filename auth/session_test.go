package auth_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
)

func (f *fixture) refresh(tb testing.TB, token string) (*auth.Tokens, error) {
	tb.Helper()
	return f.svc.Refresh(context.Background(), token)
}

func (f *fixture) mustRefresh(tb testing.TB, token string) *auth.Tokens {
	tb.Helper()
	t, err := f.refresh(tb, token)
	if err != nil {
		tb.Fatalf("refresh: %v", err)
	}
	return t
}

func (f *fixture) wantAccess(tb testing.TB, access string, ok bool) {
	tb.Helper()
	_, err := f.svc.Authenticate(context.Background(), access)
	if ok && err != nil {
		tb.Fatalf("access token refused: %v", err)
	}
	if !ok {
		wantCode(tb, err, fieldsync.EUnauthorized)
	}
}

// TestRefreshRotation: each refresh returns a new pair, slides the session's
// expiry, and the presented token stops working.
func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	t0 := f.login(t, "phone-1")
	f.clock.Advance(10 * time.Minute)
	t1 := f.mustRefresh(t, t0.RefreshToken)
	if t1.RefreshToken == t0.RefreshToken || t1.AccessToken == t0.AccessToken {
		t.Fatal("refresh returned the same tokens")
	}
	if !t1.Session.ExpiresAt.Equal(f.clock.Now().Add(auth.DefaultRefreshTTL)) {
		t.Fatalf("got session expiry %v, want now+%v", t1.Session.ExpiresAt, auth.DefaultRefreshTTL)
	}
	f.wantAccess(t, t1.AccessToken, true)
	// A phone offline for 29 days refreshes fine; the session slides on.
	f.clock.Advance(29 * 24 * time.Hour)
	t2 := f.mustRefresh(t, t1.RefreshToken)
	f.wantAccess(t, t2.AccessToken, true)
	// Offline longer than the refresh lifetime: the session has ended.
	f.clock.Advance(auth.DefaultRefreshTTL + time.Second)
	_, err := f.refresh(t, t2.RefreshToken)
	wantCode(t, err, fieldsync.EUnauthorized)
	for _, bad := range []string{"", "x", t2.RefreshToken + "x", t2.Session.ID + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		_, err := f.refresh(t, bad)
		wantCode(t, err, fieldsync.EUnauthorized)
	}
}

// TestRefreshReuseRevokesSession: presenting a rotated token once the pair it
// was exchanged for has been used is the theft signal: the whole device
// session is revoked, so the thief's (or the phone's) newer tokens stop
// working too.
func TestRefreshReuseRevokesSession(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// use does what makes t0 a reused token and returns the newest pair.
		use func(t testing.TB, f *fixture, t1 *auth.Tokens) *auth.Tokens
	}{
		{"last rotated token after the new access token was used", func(t testing.TB, f *fixture, t1 *auth.Tokens) *auth.Tokens {
			f.wantAccess(t, t1.AccessToken, true)
			return t1
		}},
		{"older token after the new refresh token was presented", func(t testing.TB, f *fixture, t1 *auth.Tokens) *auth.Tokens {
			return f.mustRefresh(t, t1.RefreshToken) // t0 is now two rotations old
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			t0 := f.login(t, "phone-1")
			t1 := f.mustRefresh(t, t0.RefreshToken)
			latest := tc.use(t, f, t1)
			_, err := f.refresh(t, t0.RefreshToken)
			wantCode(t, err, fieldsync.EUnauthorized)
			_, err = f.refresh(t, latest.RefreshToken)
			wantCode(t, err, fieldsync.EUnauthorized)
			f.wantAccess(t, latest.AccessToken, false)
			sess, err := f.store.SessionByID(context.Background(), t0.Session.ID)
			if err != nil || sess.RevokedAt == nil || sess.RevokeReason != "refresh token reuse" {
				t.Fatalf("got session %+v, %v; want revoked for reuse", sess, err)
			}
			// The user can log in again.
			f.wantAccess(t, f.login(t, "phone-1").AccessToken, true)
		})
	}
}

// TestRefreshRetryHoursLater: a phone whose refresh answer was lost retries
// with the same token when it next has signal, two hours later, and is not
// logged out: the new pair was never used, so the retry gets a fresh pair.
// The pair it lost is superseded: its access token is refused, and whoever
// presents its refresh token is not that phone, so that revokes the session.
func TestRefreshRetryHoursLater(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	t0 := f.login(t, "phone-1")
	f.wantAccess(t, t0.AccessToken, true)
	lost := f.mustRefresh(t, t0.RefreshToken)
	f.clock.Advance(2 * time.Hour)
	retry := f.mustRefresh(t, t0.RefreshToken)
	if retry.RefreshToken == lost.RefreshToken || retry.AccessToken == lost.AccessToken {
		t.Fatal("retry returned the lost pair")
	}
	again := f.mustRefresh(t, t0.RefreshToken) // lost once more, retried again
	f.wantAccess(t, lost.AccessToken, false)
	f.wantAccess(t, retry.AccessToken, false)
	f.wantAccess(t, again.AccessToken, true)
	next := f.mustRefresh(t, again.RefreshToken)
	f.wantAccess(t, next.AccessToken, true)
	// The superseded refresh token presented: theft; the session ends.
	_, err := f.refresh(t, lost.RefreshToken)
	wantCode(t, err, fieldsync.EUnauthorized)
	f.wantAccess(t, next.AccessToken, false)
}

// TestRefreshRetryAfterSuccessorUsed: once the new pair has been used — its
// access token on a request, or its refresh token presented — presenting the
// token it was exchanged for revokes the session (401), and the new pair
// stops working.
func TestRefreshRetryAfterSuccessorUsed(t *testing.T) {
	t.Parallel()
	for name, use := range map[string]func(t testing.TB, f *fixture, t1 *auth.Tokens){
		"access token used":       func(t testing.TB, f *fixture, t1 *auth.Tokens) { f.wantAccess(t, t1.AccessToken, true) },
		"refresh token presented": func(t testing.TB, f *fixture, t1 *auth.Tokens) { f.mustRefresh(t, t1.RefreshToken) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			t0 := f.login(t, "phone-1")
			t1 := f.mustRefresh(t, t0.RefreshToken)
			use(t, f, t1)
			f.clock.Advance(2 * time.Hour)
			_, err := f.refresh(t, t0.RefreshToken)
			wantCode(t, err, fieldsync.EUnauthorized)
			f.wantAccess(t, t1.AccessToken, false)
			sess, err := f.store.SessionByID(context.Background(), t0.Session.ID)
			if err != nil || sess.RevokedAt == nil {
				t.Fatalf("got session %+v, %v; want revoked", sess, err)
			}
		})
	}
}

// TestRefreshUseSeenByAnotherInstance: the first use of a new pair on one
// instance ends the retry of the old token on another.
func TestRefreshUseSeenByAnotherInstance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	second := auth.New(auth.Options{Store: devtest.MustOpenStoreDB(t, f.store.DB.Name(), mongodb.Options{}), Keys: f.keys, Now: f.clock.Now})
	t0 := f.login(t, "phone-1")
	f.wantAccess(t, t0.AccessToken, true) // cached here with generation 1
	t1, err := second.Refresh(context.Background(), t0.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	f.wantAccess(t, t1.AccessToken, true) // newer than the cached entry: looked up and marked
	_, err = second.Refresh(context.Background(), t0.RefreshToken)
	wantCode(t, err, fieldsync.EUnauthorized)
	f.clock.Advance(auth.DefaultCacheTTL)
	f.wantAccess(t, t1.AccessToken, false)
}

// TestRefreshReuseGraceBound: FIELDSYNC_REFRESH_REUSE_GRACE, when set, bounds
// how long after the rotation the old token may be retried; the window does
// not restart with retries.
func TestRefreshReuseGraceBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) { o.ReuseGrace = time.Hour })
	t0 := f.login(t, "phone-1")
	f.mustRefresh(t, t0.RefreshToken)
	f.clock.Advance(time.Hour - time.Second)
	retry := f.mustRefresh(t, t0.RefreshToken)
	f.clock.Advance(2 * time.Second)
	_, err := f.refresh(t, t0.RefreshToken)
	wantCode(t, err, fieldsync.EUnauthorized)
	f.wantAccess(t, retry.AccessToken, false)
}

// TestRefreshSupersededTokenRevokes: a thief who replays a stolen token
// while the phone's new pair is unused gets a pair, but the phone's own token
// then presented revokes the session, cutting the thief off too.
func TestRefreshSupersededTokenRevokes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	t0 := f.login(t, "phone-1")
	phone := f.mustRefresh(t, t0.RefreshToken)
	thief := f.mustRefresh(t, t0.RefreshToken)
	_, err := f.refresh(t, phone.RefreshToken)
	wantCode(t, err, fieldsync.EUnauthorized)
	f.wantAccess(t, thief.AccessToken, false)
	_, err = f.refresh(t, thief.RefreshToken)
	wantCode(t, err, fieldsync.EUnauthorized)
}

// TestRefreshConcurrentRetries: parallel refreshes of one token (a phone
// retrying while the first request is still in flight) all get a pair, and
// the session survives.
func TestRefreshConcurrentRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	t0 := f.login(t, "phone-1")
	const n = 6
	var wg sync.WaitGroup
	results := make([]*auth.Tokens, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = f.refresh(t, t0.RefreshToken) })
	}
	wg.Wait()
	var last *auth.Tokens
	for i := range n {
		if errs[i] != nil && fieldsync.ErrorCode(errs[i]) != fieldsync.EConflict {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		if results[i] != nil {
			last = results[i]
		}
	}
	if last == nil {
		t.Fatal("no concurrent refresh succeeded")
	}
	sess, err := f.store.SessionByID(context.Background(), t0.Session.ID)
	if err != nil || sess.RevokedAt != nil {
		t.Fatalf("session %+v, %v: want live", sess, err)
	}
}

// TestLoginReplacesDeviceSession: a second login on the same device revokes
// the first session; another device keeps its own.
func TestLoginReplacesDeviceSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	a := f.login(t, "phone-1")
	b := f.login(t, "phone-2")
	a2 := f.login(t, "phone-1")
	f.wantAccess(t, a.AccessToken, false)
	f.wantAccess(t, b.AccessToken, true)
	f.wantAccess(t, a2.AccessToken, true)
}

// TestLoginFailuresLookAlike: unknown user, wrong password and deactivated
// user answer the same error.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	login := func(user, pass string) error {
		_, err := f.svc.Login(ctx, auth.LoginInput{Tenant: "t1", Username: user, Password: pass, DeviceID: "p", Addr: "10.0.0.2"})
		return err
	}
	wrong, unknown := login("guard.one", "wrong password"), login("nobody", "correct horse")
	otherTenant := func() error {
		_, err := f.svc.Login(ctx, auth.LoginInput{Tenant: "t2", Username: "guard.one", Password: "correct horse", DeviceID: "p"})
		return err
	}()
	active := false
	ctxAdmin := fieldsync.NewContextWithCaller(ctx, &fieldsync.Caller{UserID: "admin", TenantID: "t1", Role: fieldsync.RoleAdmin})
	if _, err := f.svc.AdminUpdateUser(ctxAdmin, f.guard.ID, auth.UserPatch{Active: &active}); err != nil {
		t.Fatal(err)
	}
	inactive := login("guard.one", "correct horse")
	for name, err := range map[string]error{"unknown user": unknown, "other tenant": otherTenant, "deactivated": inactive} {
		if err == nil || err.Error() != wrong.Error() {
			t.Errorf("%s: got %v, want the same as a wrong password: %v", name, err, wrong)
		}
	}
	wantCode(t, wrong, fieldsync.EUnauthorized)
}

// TestLoginThrottle: failures per username from one address, per address and
// per username from all addresses are limited in a window, even for the
// right password, and the window passes. Guessing a colleague's password
// from one address does not lock the colleague out elsewhere.
func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *auth.Options) {
		o.Throttle = auth.ThrottleOptions{PerUser: 3, PerAddr: 5, PerAccount: 7, Window: time.Minute}
	})
	ctx := context.Background()
	login := func(user, pass, addr string) error {
		_, err := f.svc.Login(ctx, auth.LoginInput{Tenant: "t1", Username: user, Password: pass, DeviceID: "p", Addr: addr})
		return err
	}
	for range 3 {
		wantCode(t, login("guard.one", "wrong", "10.0.0.1"), fieldsync.EUnauthorized)
	}
	err := login("guard.one", "correct horse", "10.0.0.1")
	wantCode(t, err, fieldsync.ERateLimited)
	var fe *fieldsync.Error
	if !asError(err, &fe) || fe.RetryAfter < 1 || fe.RetryAfter > 60 {
		t.Fatalf("got %+v, want RetryAfter within the window", err)
	}
	if err := login("guard.one", "correct horse", "10.0.0.9"); err != nil {
		t.Fatalf("the user from another address: got %v, want logged in", err)
	}
	// Per username from all addresses: guesses spread over addresses.
	for i := range 4 {
		wantCode(t, login("guard.one", "wrong", fmt.Sprint("10.0.1.", i)), fieldsync.EUnauthorized)
	}
	wantCode(t, login("guard.one", "correct horse", "10.0.0.9"), fieldsync.ERateLimited)
	// Per address: unknown usernames from one address.
	for i := range 5 {
		wantCode(t, login("spray"+string(rune('a'+i)), "x", "10.0.0.7"), fieldsync.EUnauthorized)
	}
	wantCode(t, login("spray-next", "x", "10.0.0.7"), fieldsync.ERateLimited)
	f.clock.Advance(time.Minute)
	if err := login("guard.one", "correct horse", "10.0.0.7"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestLoginThrottleSharedAcrossInstances: two API instances on one database
// count failures together.
func TestLoginThrottleSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	th := auth.ThrottleOptions{PerUser: 2, PerAddr: 100, Window: time.Minute}
	f := newFixture(t, func(o *auth.Options) { o.Throttle = th })
	second := auth.New(auth.Options{Store: devtest.MustOpenStoreDB(t, f.store.DB.Name(), mongodb.Options{}), Keys: f.keys, Now: f.clock.Now, Throttle: th})
	ctx := context.Background()
	in := auth.LoginInput{Tenant: "t1", Username: "guard.one", Password: "wrong", DeviceID: "p", Addr: "10.0.0.1"}
	_, err := f.svc.Login(ctx, in)
	wantCode(t, err, fieldsync.EUnauthorized)
	_, err = second.Login(ctx, in)
	wantCode(t, err, fieldsync.EUnauthorized)
	_, err = f.svc.Login(ctx, in)
	wantCode(t, err, fieldsync.ERateLimited)
}

// TestRevocationStalenessBound: a change made through one instance applies on
// that instance's next request, and on another instance within CacheTTL.
func TestRevocationStalenessBound(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	second := auth.New(auth.Options{Store: devtest.MustOpenStoreDB(t, f.store.DB.Name(), mongodb.Options{}), Keys: f.keys, Now: f.clock.Now})
	ctx := context.Background()
	tok := f.login(t, "phone-1")
	if _, err := second.Authenticate(ctx, tok.AccessToken); err != nil { // now cached on the second instance
		t.Fatal(err)
	}
	admin := fieldsync.NewContextWithCaller(ctx, &fieldsync.Caller{UserID: "admin", TenantID: "t1", Role: fieldsync.RoleAdmin})
	if n, err := f.svc.AdminRevokeDevice(admin, "phone-1"); err != nil || n != 1 {
		t.Fatalf("revoke device: %d, %v", n, err)
	}
	f.wantAccess(t, tok.AccessToken, false)
	f.clock.Advance(auth.DefaultCacheTTL)
	_, err := second.Authenticate(ctx, tok.AccessToken)
	wantCode(t, err, fieldsync.EUnauthorized)
}

func asError(err error, target **fieldsync.Error) bool {
	fe, ok := err.(*fieldsync.Error)
	*target = fe
	return ok
}

func TestUserFinderStaysInTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	u, err := f.svc.User(ctx, "t1", f.guard.ID)
	if err != nil || u.ID != f.guard.ID || u.PasswordHash != "" {
		t.Fatalf("got %+v, %v; want the guard without its hash", u, err)
	}
	_, err = f.svc.User(ctx, "t2", f.guard.ID)
	wantCode(t, err, fieldsync.ENotFound)
	_, err = f.svc.User(ctx, "t1", "nope")
	wantCode(t, err, fieldsync.ENotFound)
}
