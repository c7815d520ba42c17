package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"fieldsync"
)

// ThrottleOptions limit failed logins in fixed windows, counted in the
// database so every API instance on it shares the same counts.
//
// Failures are counted three ways. A username's failures from one address
// lock that username out from that address only (PerUser), so a stranger
// guessing the admin's password cannot lock the admin out of their own
// phone. An address is limited whatever usernames it tries (PerAddr, a
// password spray), and a username whatever addresses the guesses come from
// (PerAccount, much higher: guessing spread over many addresses).
type ThrottleOptions struct {
	// PerUser is how many failures one username may have from one client
	// address per window (default 5).
	PerUser int
	// PerAddr is how many failures one client address may have per window (default 30).
	PerAddr int
	// PerAccount is how many failures one username may have from all
	// addresses together per window (default 100).
	PerAccount int
	// Window is the counting window (default 15m).
	Window time.Duration
}

// Defaults of ThrottleOptions.
const (
	DefaultMaxFailuresUser    = 5
	DefaultMaxFailuresAddr    = 30
	DefaultMaxFailuresAccount = 100
)

func (o ThrottleOptions) withDefaults() ThrottleOptions {
	if o.PerUser <= 0 {
		o.PerUser = DefaultMaxFailuresUser
	}
	if o.PerAddr <= 0 {
		o.PerAddr = DefaultMaxFailuresAddr
	}
	if o.PerAccount <= 0 {
		o.PerAccount = DefaultMaxFailuresAccount
	}
	if o.Window <= 0 {
		o.Window = 15 * time.Minute
	}
	return o
}

// throttleKey names a counter without storing the username or address in clear.
func throttleKey(kind, v string) string {
	sum := sha256.Sum256([]byte(v))
	return "login:" + kind + ":" + hex.EncodeToString(sum[:12])
}

// throttleKeys are the counters one login attempt is counted under.
type throttleKeys struct {
	userAddr, addr, account string
}

func newThrottleKeys(tenant, username, addr string) throttleKeys {
	user := tenant + "/" + username
	return throttleKeys{
		// "\x00" cannot occur in a username or an address: no collision between the parts.
		userAddr: throttleKey("ua", user+"\x00"+addr),
		addr:     throttleKey("a", addr),
		account:  throttleKey("u", user),
	}
}

// window returns the counter id suffix of the window holding now and when it ends.
func (s *Service) window(now time.Time) (string, time.Time) {
	w := s.opts.Throttle.Window
	start := now.Truncate(w)
	return ":" + strconv.FormatInt(start.Unix(), 10), start.Add(w)
}

// checkThrottle answers rate_limited when the username from this address,
// the address, or the username from everywhere used up its failures in the
// current window. One query.
func (s *Service) checkThrottle(ctx context.Context, now time.Time, k throttleKeys) error {
	suffix, end := s.window(now)
	counts, err := s.store.Counters(ctx, []string{k.userAddr + suffix, k.addr + suffix, k.account + suffix})
	if err != nil {
		return err
	}
	th := s.opts.Throttle
	if counts[k.userAddr+suffix] >= th.PerUser || counts[k.addr+suffix] >= th.PerAddr || counts[k.account+suffix] >= th.PerAccount {
		retry := int(end.Sub(now).Seconds() + 0.999)
		return &fieldsync.Error{Code: fieldsync.ERateLimited, Message: "too many failed logins; retry later", RetryAfter: max(retry, 1)}
	}
	return nil
}

func (s *Service) recordFailure(ctx context.Context, now time.Time, k throttleKeys) error {
	suffix, end := s.window(now)
	for _, id := range []string{k.userAddr, k.addr, k.account} {
		if err := s.store.IncrementCounter(ctx, id+suffix, end); err != nil {
			return err
		}
	}
	// Expired windows are purged once a window per instance (no TTL indexes on FerretDB).
	if last := s.lastPurge.Load(); now.Unix()-last >= int64(s.opts.Throttle.Window/time.Second) && s.lastPurge.CompareAndSwap(last, now.Unix()) {
		if err := s.store.PurgeCounters(ctx, now); err != nil {
			s.log.WarnContext(ctx, "auth: purging login counters", "err", err)
		}
	}
	return nil
}

// clearFailures forgets a username's failures from this address after a
// successful login. The address keeps its count (one good password must not
// reset a spray), and so does the username's count from all addresses (the
// owner logging in must not reset guessing spread over many addresses).
func (s *Service) clearFailures(ctx context.Context, now time.Time, k throttleKeys) error {
	suffix, _ := s.window(now)
	return s.store.DeleteCounters(ctx, []string{k.userAddr + suffix})
}
