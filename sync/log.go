package sync

import "context"

// The recent change log (ChangeLog). Every record carries the position of
// its latest change, so the records are their own change log; the store
// also keeps each tenant's last Options.LogWindow positions apart, and an
// incremental pull or the event poller within that window reads it instead
// of the records. A device further behind is served from the records (the
// same answer).
//
// Entries are written after their records and before the positions'
// reservation is released, so a puller never passes a position whose entry is
// missing — unless a writer died in between: then its reservation expires and
// the first puller to see that logs its records again (relog) before
// passing them. Trimming raises the tenant's "logged from" mark first and
// deletes below it after; a reader checks the mark again after its read.

// DefaultLogWindow is how many of a tenant's latest positions the recent
// change log holds (Options.LogWindow).
const DefaultLogWindow = 3072

// trimLog keeps the window at Options.LogWindow positions once a write at hi
// crossed a multiple of it since lo (the window holds up to 2 × LogWindow),
// so that trimming, which may cost the store a scan of the window, runs
// seldom. The devices' last-push marks at or below the window's start go
// too: a held walk of such a device is then just not continued
// (read-your-writes kept), and the counter stays small however many devices
// a tenant had. (A mark renewed meanwhile is dropped as well; that also only
// stops a held walk, unless the walk began before the device's first mark
// and that push released a whole window behind the head — a write slower
// than ReservationTTL/2 allows.)
func (e *Engine) trimLog(ctx context.Context, tenant string, lo, hi int64) error {
	window := int64(e.opts.LogWindow)
	if hi <= window || (lo-1)/window == hi/window {
		return nil
	}
	return e.store.TrimLog(ctx, tenant, hi-window)
}
