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
// this instance nudges it at once. Which subscribers a change concerns is
// decided in memory from the changed records (site, assignees, creator), with
// no read per subscriber. A subscription costs no goroutine: thousands of open
// event streams are a map entry each here.
type hub struct {
	e       *Engine
	mu      sync.Mutex
	tenants map[string]*tenantSubs
	seq     uint64 // orders subscriptions, oldest first
}

type tenantSubs struct {
	subs map[*sub]struct{}
	// byUser are the subscriptions of each user, for the per-user cap.
	byUser map[string][]*sub
	nudge  chan struct{}
	stop   context.CancelFunc
}

type sub struct {
	c      *fieldsync.Caller
	seq    uint64
	notify func(ended bool)
	// stop unregisters the end-of-context callback once the sub ended otherwise.
	stop func() bool
	// mu serialises notify: never concurrent, never after the end.
	mu    sync.Mutex
	ended bool
}

// signal calls notify unless the sub has ended; ended ends it.
func (s *sub) signal(ended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	s.ended = ended
	s.notify(ended)
}

func newHub(e *Engine) *hub { return &hub{e: e, tenants: map[string]*tenantSubs{}} }

// Watch calls notify(false) whenever the caller's scope may have new changes,
// and notify(true) once when the watch ends: when ctx ends, or when the same
// session watches again while its user is at MaxSubscriptions — a phone whose
// connection died unnoticed (no FIN ever came) reconnects and its new stream
// replaces the dead one instead of being refused. notify must return at once;
// its calls are never concurrent and none follows notify(true). Beyond
// MaxSubscriptions watches of a user otherwise, it answers rate_limited.
func (e *Engine) Watch(ctx context.Context, notify func(ended bool)) error {
	c, err := callerOf(ctx)
	if err != nil {
		return err
	}
	return e.hub.add(ctx, c, notify)
}

// Subscribe is Watch as a channel: it receives a value when the caller's
// scope has new changes, and is closed when the watch ends.
func (e *Engine) Subscribe(ctx context.Context) (<-chan struct{}, error) {
	out := make(chan struct{}, 1)
	err := e.Watch(ctx, func(ended bool) {
		if ended {
			close(out)
			return
		}
		select {
		case out <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (h *hub) add(ctx context.Context, c *fieldsync.Caller, notify func(bool)) error {
	s := &sub{c: c, notify: notify}
	end := func() {
		h.remove(c.TenantID, s)
		s.signal(true)
	}
	// Set before s is visible to others, who may replace it.
	s.stop = context.AfterFunc(ctx, end)
	replaced, err := h.register(c, s)
	if err != nil {
		s.stop()
		return err
	}
	if replaced != nil {
		replaced.stop()
		replaced.signal(true)
	}
	if ctx.Err() != nil {
		end() // ctx ended while s was being registered: its callback may have run first
	}
	return nil
}

// register adds s to its tenant (starting the tenant's poller), after making
// room under the per-user cap by taking out the oldest sub of the same session.
func (h *hub) register(c *fieldsync.Caller, s *sub) (replaced *sub, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.tenants[c.TenantID]
	if ts == nil {
		pctx, cancel := context.WithCancel(context.Background())
		ts = &tenantSubs{subs: map[*sub]struct{}{}, byUser: map[string][]*sub{}, nudge: make(chan struct{}, 1), stop: cancel}
		h.tenants[c.TenantID] = ts
		go h.poll(pctx, c.TenantID, ts)
	}
	mine := ts.byUser[c.UserID]
	if len(mine) >= h.e.opts.MaxSubscriptions {
		for _, o := range mine { // oldest first
			if c.SessionID != "" && o.c.SessionID == c.SessionID {
				replaced = o
				break
			}
		}
		if replaced == nil {
			return nil, &fieldsync.Error{Code: fieldsync.ERateLimited, RetryAfter: 30,
				Message: "too many live event connections for this user"}
		}
		h.unlink(ts, replaced)
	}
	h.seq++
	s.seq = h.seq
	ts.subs[s] = struct{}{}
	ts.byUser[c.UserID] = append(ts.byUser[c.UserID], s)
	return replaced, nil
}

// unlink takes s out of ts; h.mu is held.
func (h *hub) unlink(ts *tenantSubs, s *sub) {
	if _, ok := ts.subs[s]; !ok {
		return
	}
	delete(ts.subs, s)
	mine := ts.byUser[s.c.UserID]
	for i, o := range mine {
		if o == s {
			mine = append(mine[:i], mine[i+1:]...)
			break
		}
	}
	if len(mine) == 0 {
		delete(ts.byUser, s.c.UserID)
	} else {
		ts.byUser[s.c.UserID] = mine
	}
}

// drop stops the poller of a tenant left without subscribers; h.mu is held.
func (h *hub) drop(tenant string, ts *tenantSubs) {
	ts.stop()
	delete(h.tenants, tenant)
}

func (h *hub) remove(tenant string, s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.tenants[tenant]
	if ts == nil {
		return
	}
	h.unlink(ts, s)
	if len(ts.subs) == 0 {
		h.drop(tenant, ts)
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

// snapshot returns the tenant's subscribers now, into buf.
func (h *hub) snapshot(ts *tenantSubs, buf []*sub) []*sub {
	h.mu.Lock()
	defer h.mu.Unlock()
	buf = buf[:0]
	for s := range ts.subs {
		buf = append(buf, s)
	}
	return buf
}

func (h *hub) poll(ctx context.Context, tenant string, ts *tenantSubs) {
	t := time.NewTicker(h.e.opts.PollInterval)
	defer t.Stop()
	m, err := h.e.highWater(ctx, tenant)
	last := m.hw
	if err != nil {
		last = 0
	}
	var subs []*sub
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
		// Decided outside the lock, so that subscribing and unsubscribing
		// never wait for a fan-out to thousands of subscribers.
		subs = h.snapshot(ts, subs)
		h.fanOut(subs, recs, h.e.now())
		clear(subs)
		last = max(last, hw)
	}
}

// fanOut signals each of subs concerned by one of recs.
func (h *hub) fanOut(subs []*sub, recs []*Record, now time.Time) {
	for _, s := range subs {
		for _, r := range recs {
			if _, ok := h.e.changeFor(s.c, r, now, false); ok {
				s.signal(false)
				break
			}
		}
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
