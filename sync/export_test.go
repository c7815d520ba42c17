package sync

// HeldQueries is how many pull queries e holds open between pages (tests).
func HeldQueries(e *Engine) int { return e.held.len() }

// QueuedWrites is how many writes of tenant wait for their group.
func QueuedWrites(e *Engine, tenant string) int { return e.commits.queued(tenant) }
