package sync

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"slices"
	"time"

	"fieldsync"
)

// Pull returns the next page of changes in the caller's scope. A page reads
// the tenant's counter (the high-water mark), then either walks the records
// (a bootstrap or scope rescan: one query per collection, continued page
// after page) or reads the log part after the cursor: from the recent change
// log when the cursor is within its window, else from the records, which are
// their own change log (a record carries the position of its latest change,
// so it appears once, at its latest version).
func (e *Engine) Pull(ctx context.Context, req fieldsync.PullRequest) (fieldsync.PullResult, error) {
	c, err := callerOf(ctx)
	if err != nil {
		return fieldsync.PullResult{}, err
	}
	if err := checkSchema(req.SchemaVersion); err != nil {
		return fieldsync.PullResult{}, err
	}
	limit := req.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return fieldsync.PullResult{}, fieldsync.FieldErrorf("limit", "between 1 and %d", MaxLimit)
	}
	now := e.now()
	var cur Cursor
	if req.Cursor != "" {
		if cur, err = DecodeCursor(e.key, req.Cursor); err != nil {
			return fieldsync.PullResult{}, err
		}
		if cur.Tenant != c.TenantID || cur.User != c.UserID {
			return fieldsync.PullResult{}, fieldsync.FieldErrorf("cursor", "cursor belongs to another user")
		}
		if now.Sub(time.Unix(cur.Issued, 0)) > e.opts.Retention {
			return fieldsync.PullResult{}, fieldsync.Errorf(fieldsync.ECursorExpired, "cursor older than the change-log retention (%s); pull without a cursor to bootstrap", e.opts.Retention)
		}
	}
	m, err := e.highWater(ctx, c.TenantID)
	if err != nil {
		return fieldsync.PullResult{}, err
	}
	if req.Cursor != "" && cur.Pos > m.head {
		// Positions are never handed out twice, so a cursor past the
		// counter comes from a database this one no longer is: restored
		// from a backup older than the cursor. Going on from it would skip
		// every change written at the positions between.
		return fieldsync.PullResult{}, fieldsync.Errorf(fieldsync.ECursorExpired, "cursor is ahead of this server's change log (the database was restored from a backup); pull without a cursor to bootstrap")
	}
	hw := m.hw
	// The query the previous page left open, if this request continues
	// exactly from it with the same scope.
	held := e.held.take(req.Cursor)
	if held != nil && scopeChange(cur, c) != nil {
		held.close()
		held = nil
	}
	if req.Cursor == "" {
		cur = Cursor{Tenant: c.TenantID, User: c.UserID, Pos: hw, Scan: &Scan{Boot: true}, Aged: e.agingEdge(c.Role, now)}
	} else if sc := scopeChange(cur, c); sc != nil && (cur.Scan == nil || !cur.Scan.Boot) {
		cur.Scan = rescanFor(cur, sc)
	}
	cur.Role, cur.Sites = c.Role, sortedSites(c)
	out := fieldsync.PullResult{Changes: []fieldsync.Change{}, ServerTime: now.UTC()}
	var open *heldQuery
	if cur.Scan != nil {
		open, err = e.scanPage(ctx, c, &cur, held, limit, now, &out)
	} else {
		if held != nil && m.pushedBy(c.DeviceID) != held.pushed {
			// The device pushed since the query ran: its own changes must be in
			// the next page (read-your-writes), so query afresh.
			held.close()
			held = nil
		}
		open, err = e.logPage(ctx, c, &cur, held, m, limit, now, &out)
		if err == nil && !out.HasMore {
			err = e.ageOut(ctx, c, &cur, now, limit-len(out.Changes), &out)
		}
		if others := m.pushedByOthers(c.DeviceID); err == nil && !out.HasMore && others > cur.Pos {
			// Another device's write above the cursor is already acknowledged:
			// the page is not complete, however little it holds. Held back
			// when a reservation below it (a write still in flight, or one
			// whose writer died) keeps the high-water mark under it; else a
			// continued walk's bound was older than the mark.
			out.HasMore, out.HeldBack = true, others > m.hw
		}
	}
	if err != nil {
		return fieldsync.PullResult{}, err
	}
	cur.Issued = now.Unix()
	out.Cursor = EncodeCursor(e.key, cur)
	if open != nil {
		open.prefetch(limit)
		e.held.put(out.Cursor, open)
	}
	return out, nil
}

// scopeSites are the sites a caller's records can be at (nil: every site).
func scopeSites(c *fieldsync.Caller) []string {
	if c.Role == fieldsync.RoleAdmin {
		return nil
	}
	if s := sortedSites(c); s != nil {
		return s
	}
	return []string{}
}

// logPage hands out changes after cur.Pos up to the high-water mark, plus
// the device's own changes above it (read-your-writes while another writer's
// earlier position is still pending): from the recent change log when the
// cursor is within its window (the rest of that read is held for the next
// pages), else from the records.
func (e *Engine) logPage(ctx context.Context, c *fieldsync.Caller, cur *Cursor, held *heldQuery, m mark, limit int, now time.Time, out *fieldsync.PullResult) (*heldQuery, error) {
	if held != nil && held.rest == nil {
		held.close() // only walks of the window are continued
		held = nil
	}
	hw := m.hw
	if held != nil {
		hw = held.hw // the continued walk's bound
	}
	own := max(cur.Own, hw)
	sites := scopeSites(c)
	var recs []*Record
	var open *heldQuery
	more := false
	if held != nil { // continuing a walk of the window
		recs, open = held.nextPage(limit)
		more = open != nil
	} else {
		all, windowed, err := e.logWindow(ctx, c, cur, m, sites, own)
		if err != nil {
			return nil, err
		}
		if windowed {
			q := &heldQuery{rest: all, hw: hw, pushed: m.pushedBy(c.DeviceID)}
			recs, open = q.nextPage(limit)
			more = open != nil
			if open != nil && len(open.rest) > maxHeldRecords {
				open = nil // too much to keep in memory: the next page reads the window again
			}
		} else {
			q := Query{Sites: sites, After: cur.Pos, Upto: hw, Device: c.DeviceID, OwnAbove: own, Order: ByPosition}
			if recs, more, err = e.logFromRecords(ctx, c.TenantID, q, limit); err != nil {
				return nil, err
			}
		}
	}
	out.HasMore = more
	pos, ownPos := cur.Pos, cur.Own
	for _, r := range recs {
		if r.Pos <= hw {
			pos = r.Pos
		} else {
			pos, ownPos = hw, r.Pos
		}
		if ch, ok := e.changeFor(c, r, now, false); ok {
			out.Changes = append(out.Changes, ch)
		}
	}
	if !out.HasMore {
		pos = max(pos, hw)
	}
	if ownPos <= pos {
		ownPos = 0
	}
	cur.Pos, cur.Own = pos, ownPos
	return open, nil
}

// logWindow returns the log part after cur from the recent change log: every
// change up to the high-water mark and the device's own above it, in position
// order. ok is false when the cursor is older than the window (or fell out of
// it while reading).
func (e *Engine) logWindow(ctx context.Context, c *fieldsync.Caller, cur *Cursor, m mark, sites []string, own int64) (recs []*Record, ok bool, err error) {
	if cur.Pos < m.logged {
		return nil, false, nil
	}
	all, ok, err := e.store.ReadLog(ctx, c.TenantID, cur.Pos, max(m.hw, m.pushedBy(c.DeviceID)))
	if err != nil || !ok {
		return nil, false, err // !ok: trimmed under us
	}
	for _, r := range all {
		if sites != nil && !slices.Contains(sites, r.SiteID) {
			continue
		}
		if r.Pos <= m.hw || (r.UpdatedDevice == c.DeviceID && r.Pos > own) {
			recs = append(recs, r)
		}
	}
	return recs, true, nil
}

// logFromRecords reads a log page from the records, for a cursor older than
// the recent change log: the first limit records q matches in every
// collection, merged in position order.
func (e *Engine) logFromRecords(ctx context.Context, tenant string, q Query, limit int) ([]*Record, bool, error) {
	var all []*Record
	more := false
	for _, name := range e.names {
		recs, open, _, err := e.walk(ctx, nil, tenant, name, q, limit)
		if err != nil {
			return nil, false, err
		}
		if open != nil {
			open.close()
			more = true
		}
		all = append(all, recs...)
	}
	slices.SortFunc(all, func(a, b *Record) int { return cmp.Compare(a.Pos, b.Pos) })
	if len(all) > limit {
		all, more = all[:limit], true
	}
	return all, more, nil
}

// scanPage walks a bootstrap or scope rescan: the synced collections one
// after another, each by position without an upper bound, so a record that
// moves ahead while we walk is still met (and the log part that follows
// starts from before the walk began). A bootstrap lets the store walk each
// collection in its own order instead when that is much cheaper
// (ByPositionOrCheaper), as long as its held query goes on; a page that
// finds it gone walks that collection again by position.
func (e *Engine) scanPage(ctx context.Context, c *fieldsync.Caller, cur *Cursor, held *heldQuery, limit int, now time.Time, out *fieldsync.PullResult) (*heldQuery, error) {
	sc := cur.Scan
	sites := sc.Sites
	if sites == nil && sc.Boot {
		sites = scopeSites(c)
	}
	if !slices.Contains(e.names, sc.Coll) {
		// The first collection (or, for a cursor from another version of the
		// declarations, all of them again: records seen twice are harmless).
		if sc.Coll != "" {
			sc.From = 0
		}
		sc.Coll = e.names[0]
	}
	out.HasMore = true  // the log part follows
	byPosition := false // this collection's unsorted walk was lost: walk it again by position
	// next moves the walk to the collection after this one, and reports
	// false after the last.
	next := func() bool {
		i := slices.Index(e.names, sc.Coll)
		if i < 0 || i+1 == len(e.names) {
			cur.Scan = nil
			return false
		}
		sc.Coll, sc.From, sc.Held, sc.Walked, byPosition = e.names[i+1], 0, false, 0, false
		return true
	}
	for n := 0; n < limit; {
		if sc.Held && held == nil {
			sc.Held, sc.Walked, sc.From, byPosition = false, 0, 0, true
		}
		q := Query{Sites: sites, After: sc.From, Live: sc.Boot, Order: ByPosition}
		if sc.Boot {
			// A bootstrap reads the caller's records only (a rescan also
			// reads those they may no longer see, to delete them).
			var none bool
			if q.Mine, none = mineOf(c, sc.Coll, now); none {
				if held != nil {
					held.close()
					held = nil
				}
				if !next() {
					return nil, nil
				}
				continue
			}
		}
		if sc.Boot && sc.From == 0 && !byPosition {
			q.Order = ByPositionOrCheaper
		}
		recs, open, sorted, err := e.walk(ctx, held, c.TenantID, sc.Coll, q, limit-n)
		if err != nil {
			return nil, err
		}
		unsorted := !sorted
		held = nil
		n += len(recs)
		if unsorted {
			sc.Walked += int64(len(recs))
		}
		for _, r := range recs {
			if !unsorted {
				sc.From = r.Pos
			}
			var ch fieldsync.Change
			var ok bool
			if sc.Boot {
				// A bootstrapping device holds nothing to delete.
				ch, ok = e.changeFor(c, r, now, false)
				ok = ok && ch.Op == fieldsync.ChangeUpsert
			} else {
				ch, ok = e.rescanChange(c, sc.Was, r, now)
			}
			if ok {
				out.Changes = append(out.Changes, ch)
			}
		}
		if open != nil {
			sc.Held = unsorted
			return open, nil // this collection goes on in the next page
		}
		if !next() {
			return nil, nil
		}
	}
	return nil, nil
}

// mineOf is the part of collection coll that c's role reads at their sites
// (fieldsync.ReadScopeOf), as of now: nil for all of it; none when nothing.
func mineOf(c *fieldsync.Caller, coll string, now time.Time) (mine *Mine, none bool) {
	s := fieldsync.ReadScopeOf(c.Role, coll)
	switch {
	case s.None:
		return nil, true
	case s.All():
		return nil, false
	}
	mine = &Mine{User: c.UserID, Creator: s.Creator, Assignee: s.Assignee}
	if s.Window > 0 {
		// CanRead's window at now; the database's milliseconds only widen it.
		mine.Since = now.Add(-s.Window)
	}
	return mine, false
}

// rescanChange is what a scope rescan hands out for r: an upsert when the
// caller may read it now, a delete for a live record they cannot read but
// one of their earlier scopes could (was; every one when was is empty) —
// their own and recent inspections of a site they left, its reference data,
// not the records of that site they never could read.
func (e *Engine) rescanChange(c *fieldsync.Caller, was []Scope, r *Record, now time.Time) (fieldsync.Change, bool) {
	ch, ok := e.changeFor(c, r, now, true)
	if !ok || ch.Op == fieldsync.ChangeUpsert || len(was) == 0 {
		return ch, ok
	}
	ref := r.Ref()
	ref.AssigneeIDs = unionStrings(append([]string(nil), r.Assignees...), r.Former)
	for _, w := range was {
		before := &fieldsync.Caller{UserID: c.UserID, TenantID: c.TenantID, DeviceID: c.DeviceID, Department: c.Department,
			Role: w.Role, SiteIDs: w.Sites}
		at := now
		if _, window := e.windowOf(w.Role); window > 0 && w.Aged != 0 {
			// The device holds the records created since its aging edge:
			// judge the window as of the time that edge stands for.
			at = time.UnixMilli(w.Aged).Add(window)
		}
		if fieldsync.CanRead(before, ref, at) {
			return ch, true
		}
	}
	return ch, false
}

// changeFor decides what the caller gets for r: an upsert when they may read
// it, a delete when it is gone or has left their scope, nothing when it was
// never theirs. rescan sends a delete for every live record they cannot read
// (rescanChange narrows that to what they could have held).
func (e *Engine) changeFor(c *fieldsync.Caller, r *Record, now time.Time, rescan bool) (fieldsync.Change, bool) {
	ch := fieldsync.Change{Collection: r.Collection, ID: r.ID, Version: r.Version, Op: fieldsync.ChangeDelete}
	ref := r.Ref()
	if !r.Deleted && fieldsync.CanRead(c, ref, now) {
		ch.Op, ch.Doc = fieldsync.ChangeUpsert, e.render(c, r)
		return ch, true
	}
	if rescan {
		return ch, !r.Deleted
	}
	// Could the caller have held it before this change? Judge the record as of
	// the change, with every assignee it ever had.
	ref.CreatedAt = r.UpdatedAt
	ref.AssigneeIDs = unionStrings(append([]string(nil), r.Assignees...), r.Former)
	return ch, fieldsync.CanRead(c, ref, r.UpdatedAt)
}

// render is the record's doc as caller may see it.
func (e *Engine) render(c *fieldsync.Caller, r *Record) map[string]any {
	d := r.Doc()
	if coll := e.colls[r.Collection]; coll != nil && coll.Redact != nil {
		coll.Redact(c, d)
	}
	return d
}

// Bootstrap streams every record of the caller's scope as newline-delimited
// JSON changes, one store cursor per synced collection, then a final line
// with the cursor to continue from with Pull.
func (e *Engine) Bootstrap(ctx context.Context, schemaVersion int, w io.Writer) error {
	c, err := callerOf(ctx)
	if err != nil {
		return err
	}
	if err := checkSchema(schemaVersion); err != nil {
		return err
	}
	m, err := e.highWater(ctx, c.TenantID)
	if err != nil {
		return err
	}
	hw, now := m.hw, e.now()
	enc := json.NewEncoder(w)
	for _, name := range e.names {
		if err := e.streamCollection(ctx, c, name, now, enc); err != nil {
			return err
		}
	}
	end := Cursor{Tenant: c.TenantID, User: c.UserID, Pos: hw, Role: c.Role, Sites: sortedSites(c), Issued: now.Unix()}
	return enc.Encode(struct {
		Cursor     string    `json:"cursor"`
		ServerTime time.Time `json:"server_time"`
	}{EncodeCursor(e.key, end), now.UTC()})
}

// streamCollection writes every readable live record of one collection in
// the caller's scope, through one store cursor, read ahead of the
// writing (see readAhead).
func (e *Engine) streamCollection(ctx context.Context, c *fieldsync.Caller, name string, now time.Time, enc *json.Encoder) error {
	mine, none := mineOf(c, name, now)
	if none {
		return nil
	}
	dbc, err := e.store.Walk(ctx, c.TenantID, name, Query{Sites: scopeSites(c), Live: true, Mine: mine, Batch: streamBatch})
	if err != nil {
		return err
	}
	return readAhead(ctx, dbc, func(r *Record) error {
		if ch, ok := e.changeFor(c, r, now, false); ok && ch.Op == fieldsync.ChangeUpsert {
			return enc.Encode(ch)
		}
		return nil
	})
}

// streamBatch is the store's read batch of a bootstrap stream.
const streamBatch = 1000

// readAhead hands each record of dbc to fn, decoding them in a goroutine of
// their own up to two batches ahead: the database reads the next batch while
// fn writes out the last one, instead of each waiting for the other. dbc is
// closed on return.
func readAhead(ctx context.Context, dbc RecordCursor, fn func(*Record) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make(chan *Record, 2*streamBatch)
	read := make(chan error, 1)
	go func() {
		defer close(recs)
		defer dbc.Close(context.WithoutCancel(ctx))
		for {
			r, err := dbc.Next(ctx)
			if err != nil || r == nil {
				read <- err
				return
			}
			select {
			case recs <- r:
			case <-ctx.Done():
				read <- ctx.Err()
				return
			}
		}
	}()
	for r := range recs {
		if err := fn(r); err != nil {
			cancel()
			for range recs { // let the reader finish
			}
			return err
		}
	}
	return <-read
}

// agingStep is how far a read window moves before the records that left it
// are looked for (one scan of the sites' records of that collection per
// device at most this often).
const agingStep = time.Hour

// windowOf is the collection role reads by a window after creation
// (fieldsync.ReadScopeOf: a guard, the inspections of the last 7 days) and
// that window; "" when none (Open allows at most one per role).
func (e *Engine) windowOf(role fieldsync.Role) (string, time.Duration) {
	for _, name := range e.names {
		if w := fieldsync.ReadScopeOf(role, name).Window; w > 0 {
			return name, w
		}
	}
	return "", 0
}

// agingEdge is where role's read window starts at now (unix ms), 0 when the
// role reads by no window.
func (e *Engine) agingEdge(role fieldsync.Role, now time.Time) int64 {
	if _, window := e.windowOf(role); window > 0 {
		return now.Add(-window).UnixMilli()
	}
	return 0
}

// ageOut sends a delete for each record of the caller's sites that left
// their read window (windowOf: created longer ago than the window, and
// not otherwise theirs) since the cursor's last look, at most room of them
// per page; the phone does not keep what it may no longer see.
func (e *Engine) ageOut(ctx context.Context, c *fieldsync.Caller, cur *Cursor, now time.Time, room int, out *fieldsync.PullResult) error {
	coll, _ := e.windowOf(c.Role)
	if coll == "" {
		return nil
	}
	edge := e.agingEdge(c.Role, now)
	if cur.Aged == 0 {
		cur.Aged = edge // a cursor from before aging: from now on
		return nil
	}
	if edge-cur.Aged < agingStep.Milliseconds() || room <= 0 {
		return nil
	}
	q := Query{Sites: scopeSites(c), Live: true, CreatedFrom: time.UnixMilli(cur.Aged), CreatedBefore: time.UnixMilli(edge),
		CreatedAfterKey: cur.AgedKey, Order: ByCreation, Limit: room + 1}
	recs, err := e.store.Find(ctx, c.TenantID, coll, q)
	if err != nil {
		return err
	}
	aged, agedKey := edge, ""
	if len(recs) > room {
		// The rest in a later page, after the last one handed out.
		recs, out.HasMore = recs[:room], true
		last := recs[room-1]
		aged, agedKey = last.CreatedAt.UnixMilli(), last.Key
	}
	// A record the log part of this page already answered (it changed since
	// it left the window) is not answered twice.
	inPage := make(map[string]bool, len(out.Changes))
	for _, ch := range out.Changes {
		if ch.Collection == coll {
			inPage[ch.ID] = true
		}
	}
	for _, r := range recs {
		if !inPage[r.ID] && !fieldsync.CanRead(c, r.Ref(), now) {
			out.Changes = append(out.Changes, fieldsync.Change{Collection: r.Collection, ID: r.ID, Version: r.Version, Op: fieldsync.ChangeDelete})
		}
	}
	cur.Aged, cur.AgedKey = aged, agedKey
	return nil
}
