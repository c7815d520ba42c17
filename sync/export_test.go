package sync

// HeldQueries is how many pull queries e holds open between pages (tests).
func HeldQueries(e *Engine) int { return e.held.len() }

// QueuedWrites is how many writes of tenant wait for their group.
func QueuedWrites(e *Engine, tenant string) int { return e.commits.queued(tenant) }

// HeldCursorIDs are the database cursor ids of the store cursors e holds
// (those that have one), once their prefetches are done (tests).
func HeldCursorIDs(e *Engine) []int64 {
	e.held.mu.Lock()
	defer e.held.mu.Unlock()
	var ids []int64
	for _, q := range e.held.m {
		if c, ok := q.cur.(interface{ ID() int64 }); ok {
			q.settle(false)
			ids = append(ids, c.ID())
		}
	}
	return ids
}
