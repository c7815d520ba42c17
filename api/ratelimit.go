package api

import (
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"fieldsync"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

// RateLimit is a token bucket: Rate requests per second on average, bursts of Burst.
// A zero Rate turns the limit off.
type RateLimit struct {
	Rate  float64
	Burst int
}

// Default limits, documented in openapi.yaml and README.
var (
	// DefaultAddressLimit applies to every /v1 request per client address.
	DefaultAddressLimit = RateLimit{Rate: 500, Burst: 1000}
	// DefaultDeviceLimit applies to every authenticated request per device session.
	DefaultDeviceLimit = RateLimit{Rate: 30, Burst: 60}
)

// limiter holds one token bucket per key and forgets keys idle for a while.
type limiter struct {
	limit RateLimit
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

const limiterIdle = 10 * time.Minute

func newLimiter(l RateLimit, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{limit: l, now: now, buckets: map[string]*bucket{}, swept: now()}
}

// allow takes a token for key; when none is left it returns the seconds to wait.
func (l *limiter) allow(key string) (ok bool, retryAfter int) {
	if l == nil || l.limit.Rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > limiterIdle {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > limiterIdle {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{l: rate.NewLimiter(rate.Limit(l.limit.Rate), l.limit.Burst)}
		l.buckets[strings.Clone(key)] = b // the key may be a view of a request buffer (a forwarded address)
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if !r.OK() {
		return false, 1
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, int(math.Ceil(d.Seconds()))
	}
	return true, 0
}

func rateLimited(retryAfter int) error {
	return &fieldsync.Error{Code: fieldsync.ERateLimited, Message: "too many requests; retry after " + strconv.Itoa(retryAfter) + "s", RetryAfter: retryAfter}
}

// addressLimit limits every /v1 request per client address.
func (s *Server) addressLimit(c *fiber.Ctx) error {
	if ok, wait := s.byAddress.allow(s.clientAddress(c)); !ok {
		return rateLimited(wait)
	}
	return c.Next()
}

// deviceLimit limits every authenticated request per device session (after
// authenticate). The bucket is the session's, not the device id's: a device
// id is chosen by the client, so keyed by it another user logging in with
// the same id would spend this phone's requests.
func (s *Server) deviceLimit(c *fiber.Ctx) error {
	caller := fieldsync.CallerFromContext(c.UserContext())
	if caller == nil {
		return c.Next()
	}
	if ok, wait := s.byDevice.allow(caller.TenantID + "/" + caller.SessionID); !ok {
		return rateLimited(wait)
	}
	return c.Next()
}
