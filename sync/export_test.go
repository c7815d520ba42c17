package sync

// HeldQueries is how many pull queries e holds open between pages (tests).
func HeldQueries(e *Engine) int { return e.held.len() }
