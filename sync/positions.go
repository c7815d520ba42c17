package sync

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sync/atomic"
)

// Positions and the high-water mark. Every change of a tenant gets the next
// position of the tenant's counter. A write reserves its positions first
// (one atomic update of the counter), writes, and releases them; pullers
// stop below the lowest live reservation, so a change committed late with
// an earlier position is never passed.

func (e *Engine) seenFor(tenant string) *atomic.Int64 {
	v, _ := e.seen.LoadOrStore(tenant, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func (e *Engine) observe(tenant string, n int64) {
	s := e.seenFor(tenant)
	for {
		old := s.Load()
		if n <= old || s.CompareAndSwap(old, n) {
			return
		}
	}
}

// observeCounter reads the tenant's counter value into what this instance has seen.
func (e *Engine) observeCounter(ctx context.Context, tenant string) error {
	n, err := e.store.Head(ctx, tenant)
	if err != nil {
		return err
	}
	e.observe(tenant, n)
	return nil
}

// reservation is a range of change-log positions a push is writing.
type reservation struct {
	tenant, token string
	lo, hi        int64
	devices       []string // who writes: their last push position is recorded at release
}

// reserve allocates k positions with one atomic update of the tenant's
// counter, recording in the same update a live reservation whose lower
// bound is the highest counter value this instance has seen: lower ≤ lo, so
// pullers that stop below it never pass a position that is not yet
// written. An instance that has not seen the tenant's counter yet reads it
// first: a lower bound of 1 would hold every puller back to position 0
// until the write is released. ending, when not nil, is released in the
// same update (see release).
func (e *Engine) reserve(ctx context.Context, tenant string, k int, ending *reservation) (reservation, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	if e.seenFor(tenant).Load() == 0 {
		if err := e.observeCounter(ctx, tenant); err != nil {
			return reservation{}, err
		}
	}
	res := Reservation{Token: tok, Lower: e.seenFor(tenant).Load() + 1,
		Expires: e.now().Add(e.opts.ReservationTTL), Instance: e.opts.Instance}
	var end *Release
	if ending != nil {
		rel := ending.releasing()
		end = &rel
	}
	n, err := e.store.Reserve(ctx, tenant, k, res, end)
	if err != nil {
		return reservation{}, err
	}
	e.observe(tenant, n)
	return reservation{tenant: tenant, token: tok, lo: n - int64(k) + 1, hi: n}, nil
}

// release ends r and records the highest position its devices have written
// (a held pull query of such a device is not continued past a newer push).
func (e *Engine) release(ctx context.Context, r reservation) error {
	return e.store.Release(ctx, r.tenant, r.releasing())
}

// releasing is what ends r.
func (r reservation) releasing() Release {
	pushed := make(map[string]int64, len(r.devices))
	for _, d := range r.devices {
		pushed[deviceKey(d)] = r.hi
	}
	return Release{Token: r.token, Pushed: pushed}
}

// deviceKey is a device's key in the counter's map of last pushes: a hash, so
// any device id is a safe field name.
func deviceKey(device string) string {
	h := sha256.Sum256([]byte(device))
	return hex.EncodeToString(h[:8])
}

// mark is what a puller needs from the tenant's counter.
type mark struct {
	hw   int64 // every change at or below it is visible
	head int64 // the highest position handed out
	// pushed is each device's highest written position (by deviceKey).
	pushed map[string]int64
	// logged: the recent change log holds every position above it.
	logged int64
}

func (m mark) pushedBy(device string) int64 { return m.pushed[deviceKey(device)] }

// pushedByOthers is the highest position written and released by a device
// other than device: an acknowledged change of someone else up to there.
func (m mark) pushedByOthers(device string) int64 {
	own, top := deviceKey(device), int64(0)
	for k, p := range m.pushed {
		if k != own {
			top = max(top, p)
		}
	}
	return top
}

// highWater returns the position up to which every change of tenant is
// visible: the counter's value, held below the lowest live reservation. An
// expired reservation (its writer died, or overran the TTL) no longer holds
// pullers back and is removed.
func (e *Engine) highWater(ctx context.Context, tenant string) (mark, error) {
	c, err := e.store.Counter(ctx, tenant)
	if err != nil {
		return mark{}, err
	}
	e.observe(tenant, c.Head)
	hw := c.Head
	now := e.now()
	var expired []string
	lowest := int64(0)
	for tok, r := range c.Reservations {
		if !r.Expires.After(now) {
			expired = append(expired, tok)
			if lowest == 0 || r.Lower < lowest {
				lowest = r.Lower
			}
			continue
		}
		hw = min(hw, r.Lower-1)
	}
	if len(expired) > 0 {
		e.log.Warn("sync: skipping expired change-log reservations; their writers died", "tenant", tenant, "count", len(expired))
		// Their records may be written but not logged: log them before
		// pullers pass their positions.
		if err := e.relog(ctx, tenant, lowest); err != nil {
			return mark{}, err
		}
		if err := e.store.Forget(ctx, tenant, expired); err != nil {
			return mark{}, err
		}
	}
	return mark{hw: max(hw, 0), head: c.Head, pushed: c.Pushed, logged: c.Logged}, nil
}

// relog logs again every record at or after position lb: after a writer
// died between writing its records and logging them.
func (e *Engine) relog(ctx context.Context, tenant string, lb int64) error {
	n, err := e.store.Relog(ctx, tenant, lb)
	if err != nil {
		return err
	}
	e.log.Warn("sync: logging again the changes after a writer died", "tenant", tenant, "from", lb, "records", n)
	return nil
}
