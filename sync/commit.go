package sync

import (
	"context"
	"sync"

	"fieldsync"
)

// Group commit. Every push round ends in a write of its dirty records, and a
// write costs the same store calls whether it carries one record or many
// (reserve, commit, release). Writes of one tenant that arrive while
// another is being written wait, and the next of them to go writes them all
// as one group: under load a round trip serves several pushes, and a lone
// push goes at once as before. Each write still learns which of its own
// records another writer got to first. A group that finds more writes
// waiting when it is written leaves its release to the next group's reserve
// (one update for both); its pushes are answered once that is done.

// maxGroupRecords bounds the records one group write carries (a write alone
// may carry more: it is never split).
const maxGroupRecords = 2000

// groupWrite is one push round's write waiting for, or in, a group.
type groupWrite struct {
	device string
	work   map[string]*slot
	order  []string
	// Set by the group's writer before done is closed.
	failed map[string]bool
	err    error
	done   chan struct{}
	turn   chan struct{} // closed: this write is to write the next group
}

// committer queues each tenant's writes; at most one group per tenant is
// being written by this instance at a time.
type committer struct {
	mu      sync.Mutex
	waiting map[string][]*groupWrite
	busy    map[string]bool
	// unreleased is each tenant's last group written, waiting for the next
	// group's reserve to release it.
	unreleased map[string]*written
}

// written is a group whose records are written and logged and whose
// reservation is still to be released.
type written struct {
	r     reservation
	group []*groupWrite
	once  sync.Once
}

// finish answers the group's writes once its reservation is released
// (err nil) or could not be (err), and trims the log after a release.
func (g *written) finish(ctx context.Context, e *Engine, err error) {
	g.once.Do(func() {
		for _, w := range g.group {
			if err != nil {
				w.failed, w.err = nil, err
			}
			close(w.done)
		}
		if err != nil {
			return
		}
		if err := e.trimLog(ctx, g.r.tenant, g.r.lo, g.r.hi); err != nil {
			// The window only grows until a later write trims it.
			e.log.Warn("sync: trimming the recent change log", "tenant", g.r.tenant, "err", err)
		}
	})
}

// releaseGroup releases g's reservation on its own and answers its writes.
func (e *Engine) releaseGroup(ctx context.Context, g *written) {
	g.finish(ctx, e, e.release(ctx, g.r))
}

// write stores the dirty records of order under freshly reserved positions
// and reports the keys another writer got to first. It waits while another
// group of tenant is being written, then its write goes in the next group.
func (e *Engine) write(ctx context.Context, tenant, device string, work map[string]*slot, order []string) (map[string]bool, error) {
	if len(order) == 0 {
		return map[string]bool{}, nil
	}
	w := &groupWrite{device: device, work: work, order: order, done: make(chan struct{}), turn: make(chan struct{})}
	q := &e.commits
	q.mu.Lock()
	if q.waiting == nil {
		q.waiting, q.busy, q.unreleased = map[string][]*groupWrite{}, map[string]bool{}, map[string]*written{}
	}
	q.waiting[tenant] = append(q.waiting[tenant], w)
	lead := !q.busy[tenant]
	q.busy[tenant] = true
	q.mu.Unlock()
	if !lead {
		select {
		case <-w.done:
			return w.failed, w.err
		case <-w.turn:
		}
	}
	// This write's turn to write a group: the writes waiting now, itself
	// first. The group is others' too: it goes on if this request ends, for
	// at most the reservation's lifetime.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.ReservationTTL)
	defer cancel()
	e.writeNextGroup(gctx, tenant)
	<-w.done
	return w.failed, w.err
}

// writeNextGroup takes the writes of tenant waiting (up to maxGroupRecords),
// writes them, and hands the turn to the next waiting write, if any, which
// then also releases this group; else it releases the group itself. A panic
// in the write (a test's simulated crash) fails the group's writes and still
// hands the turn on.
func (e *Engine) writeNextGroup(ctx context.Context, tenant string) {
	q := &e.commits
	q.mu.Lock()
	var group []*groupWrite
	n := 0
	for _, w := range q.waiting[tenant] {
		if len(group) > 0 && n+len(w.order) > maxGroupRecords {
			break
		}
		group, n = append(group, w), n+len(w.order)
	}
	q.waiting[tenant] = q.waiting[tenant][len(group):]
	prev := q.unreleased[tenant]
	delete(q.unreleased, tenant)
	q.mu.Unlock()
	g := &written{group: group}
	finished := false
	defer func() {
		if finished {
			return
		}
		p := recover()
		fail := fieldsync.Errorf(fieldsync.EUnavailable, "the write of this push failed (%v); retry", p)
		if prev != nil {
			prev.finish(ctx, e, fail) // no-op when its release went through
		}
		g.finish(ctx, e, fail)
		e.passTurn(tenant)
		if p != nil {
			panic(p)
		}
	}()
	r, err := e.writeGroup(ctx, tenant, group, prev)
	finished = true
	if err != nil {
		g.finish(ctx, e, err)
		e.passTurn(tenant)
		return
	}
	g.r = r
	q.mu.Lock()
	if len(q.waiting[tenant]) > 0 {
		q.unreleased[tenant] = g
		close(q.waiting[tenant][0].turn)
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	e.releaseGroup(ctx, g)
	e.passTurn(tenant)
}

// passTurn wakes the first waiting write of tenant to write the next group,
// or marks the tenant idle.
func (e *Engine) passTurn(tenant string) {
	q := &e.commits
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting[tenant]) == 0 {
		delete(q.waiting, tenant)
		delete(q.busy, tenant)
		return
	}
	close(q.waiting[tenant][0].turn)
}

// queued is how many writes of tenant wait for a group (tests).
func (q *committer) queued(tenant string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting[tenant])
}

// writeGroup stores the dirty records of every write in group under one
// reservation: one reserve, one Commit (audit entries, records, their log
// entries). Each write's failed keys (another writer got there first) are
// set on it. The returned reservation is still to be released. The reserve
// also releases the previous group, prev, when there is one (see committer).
func (e *Engine) writeGroup(ctx context.Context, tenant string, group []*groupWrite, prev *written) (reservation, error) {
	n := 0
	for _, w := range group {
		n += len(w.order)
	}
	var ending *reservation
	if prev != nil {
		ending = &prev.r
	}
	r, err := e.reserve(ctx, tenant, n, ending)
	if prev != nil {
		if err != nil {
			e.releaseGroup(ctx, prev) // on its own, then
		} else {
			prev.finish(ctx, e, nil)
		}
	}
	if err != nil {
		return r, err
	}
	for _, w := range group {
		r.devices = append(r.devices, w.device)
	}
	e.fault(FaultReserved)
	// Writes must land well before the reservation expires and pullers pass it.
	wctx, cancel := context.WithTimeout(ctx, e.opts.ReservationTTL/2)
	defer cancel()
	// Where a record of the commit is: its write and key.
	type at struct {
		w *groupWrite
		k string
	}
	c := Commit{Tenant: tenant, Records: make([]Put, 0, n)}
	where := make([]at, 0, n)
	pos := r.lo
	for _, w := range group {
		w.failed = map[string]bool{}
		for _, k := range w.order {
			s := w.work[k]
			s.rec.Pos = pos
			pos++
			c.Audit = append(c.Audit, s.rec.sealAudit()...)
			p := Put{Record: s.rec}
			if s.inDB {
				p.Replaces = s.orig
			}
			c.Records, where = append(c.Records, p), append(where, at{w, k})
		}
	}
	lost, err := e.store.Commit(wctx, c)
	if err != nil {
		return r, err
	}
	for i, l := range lost {
		if l {
			where[i].w.failed[where[i].k] = true
		}
	}
	return r, nil
}

// fault calls Options.Fault at point (tests crash there).
func (e *Engine) fault(point string) {
	if e.opts.Fault != nil {
		e.opts.Fault(point)
	}
}
