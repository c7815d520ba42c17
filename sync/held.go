package sync

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Held cursors. A device pulling page after page (a bootstrap, a long
// catch-up) would otherwise run one query per page, each finding its place
// again (a store without an index on positions reads everything before it):
// paging would cost up to O(pages × records). Instead the walk of the first
// page stays open and the next page continues it, so a whole walk costs one
// query. The open cursor is
// kept under the exact signed cursor token the page handed out: only the
// request that continues from that token continues the query; a retried or
// older token, another API instance or an expired entry runs a fresh query
// from the cursor's position, which gives the same pages.
const (
	heldTTL = 30 * time.Second // an idle held cursor is closed after this
	heldMax = 16               // held cursors per engine; the oldest is closed beyond
	// maxHeldRecords bounds the rest of a recent-log read kept for the next
	// pages (decoded records: about 2 KiB each).
	maxHeldRecords = 2000
)

// heldQuery is a store's cursor left open between two pages, or the rest
// of a read of the recent change log (cur nil).
type heldQuery struct {
	cur  RecordCursor
	rest []*Record
	// ahead are records of cur read but not handed out yet; eof: cur has no
	// more. While the query is held, a goroutine reads the next page into
	// ahead (fetching is closed when it is done; failed is its error), so
	// the database works while the phone takes in the last page.
	ahead    []*Record
	eof      bool
	fetching chan struct{}
	stop     context.CancelFunc
	failed   error
	// pushed is the device's last released push when the log was read: the
	// rest is only handed out while it has released none since
	// (read-your-writes: a push in flight when it was read is not in it).
	pushed int64
	// hw is the high-water mark a log read was bounded by; its pages are
	// judged against it, not against a newer one.
	hw    int64
	timer *time.Timer
	added time.Time
}

type heldQueries struct {
	mu sync.Mutex
	m  map[string]*heldQuery
}

// take removes and returns the query held under token, or nil.
func (h *heldQueries) take(token string) *heldQuery {
	if token == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.m[token]
	if q != nil {
		delete(h.m, token)
		q.timer.Stop()
	}
	return q
}

// put holds q under token until it is taken or idle for heldTTL.
func (h *heldQueries) put(token string, q *heldQuery) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]*heldQuery{}
	}
	if len(h.m) >= heldMax {
		var oldest string
		for t, o := range h.m {
			if oldest == "" || o.added.Before(h.m[oldest].added) {
				oldest = t
			}
		}
		h.dropLocked(oldest)
	}
	q.added = time.Now()
	q.timer = time.AfterFunc(heldTTL, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.m[token] == q {
			h.dropLocked(token)
		}
	})
	h.m[token] = q
}

// len is how many queries are held (tests).
func (h *heldQueries) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.m)
}

func (h *heldQueries) dropLocked(token string) {
	q := h.m[token]
	delete(h.m, token)
	q.timer.Stop()
	go q.close()
}

func (q *heldQuery) close() {
	if q.cur == nil {
		return
	}
	q.settle(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = q.cur.Close(ctx)
}

// prefetch starts reading the next page (limit records, and one to know
// whether more follow) in the background. Called before the query is held,
// so whoever takes it next finds fetching set.
func (q *heldQuery) prefetch(limit int) {
	if q.cur == nil {
		return
	}
	ctx, stop := context.WithTimeout(context.Background(), heldTTL)
	q.fetching, q.stop = make(chan struct{}), stop
	go func() {
		defer close(q.fetching)
		q.failed = q.fill(ctx, limit+1)
	}()
}

// settle waits for a prefetch in flight (cancelled first when stop).
func (q *heldQuery) settle(stop bool) {
	if q.fetching == nil {
		return
	}
	if stop {
		q.stop()
	}
	<-q.fetching
	q.stop()
	q.fetching = nil
}

// fill reads cur until ahead holds n records or cur ends.
func (q *heldQuery) fill(ctx context.Context, n int) error {
	for len(q.ahead) < n && !q.eof {
		r, err := q.cur.Next(ctx)
		if err != nil {
			return err
		}
		if r == nil {
			q.eof = true
			return nil
		}
		q.ahead = append(q.ahead, r)
	}
	return nil
}

// nextPage takes up to limit records off q.rest; q is returned while more remain.
func (q *heldQuery) nextPage(limit int) ([]*Record, *heldQuery) {
	if len(q.rest) <= limit {
		return q.rest, nil
	}
	recs := q.rest[:limit]
	q.rest = q.rest[limit:]
	return recs, q
}

// read returns up to limit records of q and whether more follow (at least
// one more is then read ahead).
func (q *heldQuery) read(ctx context.Context, limit int) ([]*Record, bool, error) {
	q.settle(false)
	if q.failed != nil {
		return nil, false, q.failed
	}
	if err := q.fill(ctx, limit+1); err != nil {
		return nil, false, err
	}
	n := min(limit, len(q.ahead))
	recs := slices.Clone(q.ahead[:n])
	q.ahead = slices.Delete(q.ahead, 0, n)
	return recs, len(q.ahead) > 0, nil
}

// walk runs q on tenant's records of coll and returns its first limit
// records, or continues held. The returned query, when not nil, has more
// records and is to be held for the next page; byPosition reports whether
// the records come in position order (q.Order ByPositionOrCheaper lets the
// store choose).
func (e *Engine) walk(ctx context.Context, held *heldQuery, tenant, coll string, q Query, limit int) (recs []*Record, open *heldQuery, byPosition bool, err error) {
	if held != nil {
		byPosition = held.cur.ByPosition()
		recs, more, err := held.read(ctx, limit)
		switch {
		case err != nil:
			// The cursor died (the database restarted, or it timed out there):
			// a fresh query — by position it gives the same page; in the
			// store's order it starts the collection over (repeats on later
			// pages, no miss).
			held.close()
		case more:
			return recs, held, byPosition, nil
		default:
			held.close()
			return recs, nil, byPosition, nil
		}
	}
	q.Batch = limit + 1
	cur, err := e.store.Walk(ctx, tenant, coll, q)
	if err != nil {
		return nil, nil, false, err
	}
	h := &heldQuery{cur: cur}
	recs, more, err := h.read(ctx, limit)
	if err != nil || !more {
		h.close()
		return recs, nil, cur.ByPosition(), err
	}
	return recs, h, cur.ByPosition(), nil
}
