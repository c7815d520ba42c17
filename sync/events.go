package sync

import (
	"context"
	"sync"
	"time"

	"fieldsync"
)

// hub tells live subscribers when their scope has new changes. One poller per
// tenant with subscribers looks at the change-log head (one tiny read) every
// PollInterval, so changes written by any API instance are noticed; a push on
// this instance nudges it at once.
type hub struct {
	e       *Engine
	mu      sync.Mutex
	tenants map[string]*tenantSubs
	seq     uint64 // orders subscriptions, oldest first
}

type tenantSubs struct {
	subs  map[*sub]struct{}
	nudge chan struct{}
	stop  context.CancelFunc
}

type sub struct {
	c  *fieldsync.Caller
	ch chan struct{}
	// replaced is closed when a newer stream of the same session takes this one's place.
	replaced chan struct{}
	seq      uint64
}

func newHub(e *Engine) *hub { return &hub{e: e, tenants: map[string]*tenantSubs{}} }

// Subscribe returns a channel that receives a value when the caller's scope
// has new changes; it is closed when ctx ends, or when the same session
// subscribes again while its user is at MaxSubscriptions: a phone whose
// connection died unnoticed (no FIN ever came) reconnects and its new stream
// replaces the dead one instead of being refused. Beyond MaxSubscriptions
// streams of a user otherwise, it answers rate_limited.
func (e *Engine) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	return e.hub.add(ctx, c)
}

func (h *hub) add(ctx context.Context, c *fieldsync.Caller) (<-chan struct{}, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.tenants[c.TenantID]
	if ts == nil {
		pctx, cancel := context.WithCancel(context.Background())
		ts = &tenantSubs{subs: map[*sub]struct{}{}, nudge: make(chan struct{}, 1), stop: cancel}
		h.tenants[c.TenantID] = ts
		go h.poll(pctx, c.TenantID, ts)
	}
	n := 0
	var oldest *sub // of this session
	for s := range ts.subs {
		if s.c.UserID == c.UserID {
			n++
			if c.SessionID != "" && s.c.SessionID == c.SessionID && (oldest == nil || s.seq < oldest.seq) {
				oldest = s
			}
		}
	}
	if n >= h.e.opts.MaxSubscriptions {
		if oldest == nil {
			return nil, &fieldsync.Error{Code: fieldsync.ERateLimited, RetryAfter: 30,
				Message: "too many live event connections for this user"}
		}
		delete(ts.subs, oldest)
		close(oldest.replaced)
	}
	h.seq++
	s := &sub{c: c, ch: make(chan struct{}, 1), replaced: make(chan struct{}), seq: h.seq}
	ts.subs[s] = struct{}{}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer h.remove(c.TenantID, s)
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.replaced:
				return
			case <-s.ch:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}

func (h *hub) remove(tenant string, s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.tenants[tenant]
	if ts == nil {
		return
	}
	delete(ts.subs, s)
	if len(ts.subs) == 0 {
		ts.stop()
		delete(h.tenants, tenant)
	}
}

func (h *hub) nudge(tenant string) {
	h.mu.Lock()
	ts := h.tenants[tenant]
	h.mu.Unlock()
	if ts != nil {
		select {
		case ts.nudge <- struct{}{}:
		default:
		}
	}
}

func (h *hub) poll(ctx context.Context, tenant string, ts *tenantSubs) {
	t := time.NewTicker(h.e.opts.PollInterval)
	defer t.Stop()
	m, err := h.e.highWater(ctx, tenant)
	last := m.hw
	if err != nil {
		last = 0
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ts.nudge:
		}
		m, err := h.e.highWater(ctx, tenant)
		hw, head := m.hw, m.head
		if err != nil || head <= last {
			continue
		}
		// Records changed since last (any instance); last only moves to the
		// high-water mark, so a position still pending is met on a later tick.
		recs, err := h.e.changedSince(ctx, tenant, last, head, m.logged)
		if err != nil {
			continue
		}
		now := h.e.now()
		h.mu.Lock()
		for s := range ts.subs {
			for _, r := range recs {
				if _, ok := h.e.changeFor(s.c, r, now, false); ok {
					select {
					case s.ch <- struct{}{}:
					default:
					}
					break
				}
			}
		}
		h.mu.Unlock()
		last = max(last, hw)
	}
}

// changedSince returns the records changed at from < p ≤ to: from the recent
// change log when from is within its window, else from the records.
func (e *Engine) changedSince(ctx context.Context, tenant string, from, to, logged int64) ([]*Record, error) {
	if from >= logged {
		if recs, ok, err := e.store.ReadLog(ctx, tenant, from, to); err == nil && ok {
			return recs, nil
		}
	}
	return e.store.Find(ctx, tenant, "", Query{After: from, Upto: to})
}
