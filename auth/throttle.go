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
type ThrottleOptions struct {
	// PerUser is how many failures one username may have per window (default 5).
	PerUser int
	// PerAddr is how many failures one client address may have per window (default 30).
	PerAddr int
	// Window is the counting window (default 15m).
	Window time.Duration
}

func (o ThrottleOptions) withDefaults() ThrottleOptions {
	if o.PerUser <= 0 {
		o.PerUser = 5
	}
	if o.PerAddr <= 0 {
		o.PerAddr = 30
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

// window returns the counter id suffix of the window holding now and when it ends.
func (s *Service) window(now time.Time) (string, time.Time) {
	w := s.opts.Throttle.Window
	start := now.Truncate(w)
	return ":" + strconv.FormatInt(start.Unix(), 10), start.Add(w)
}

// checkThrottle answers rate_limited when the username or the address used
// up its failures in the current window. One query.
func (s *Service) checkThrottle(ctx context.Context, now time.Time, userKey, addrKey string) error {
	suffix, end := s.window(now)
	counts, err := s.store.Counters(ctx, []string{userKey + suffix, addrKey + suffix})
	if err != nil {
		return err
	}
	if counts[userKey+suffix] >= s.opts.Throttle.PerUser || counts[addrKey+suffix] >= s.opts.Throttle.PerAddr {
		retry := int(end.Sub(now).Seconds() + 0.999)
		return &fieldsync.Error{Code: fieldsync.ERateLimited, Message: "too many failed logins; retry later", RetryAfter: max(retry, 1)}
	}
	return nil
}

func (s *Service) recordFailure(ctx context.Context, now time.Time, keys ...string) error {
	suffix, end := s.window(now)
	for _, k := range keys {
		if err := s.store.IncrementCounter(ctx, k+suffix, end); err != nil {
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

// clearFailures forgets a username's failures after a successful login.
// The address keeps its count: one good password must not reset a spray.
func (s *Service) clearFailures(ctx context.Context, now time.Time, userKey string) error {
	suffix, _ := s.window(now)
	return s.store.DeleteCounters(ctx, []string{userKey + suffix})
}
