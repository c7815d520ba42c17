package field

import (
	"cmp"
	"context"
	"reflect"
	"slices"
	"sort"
	"time"

	"fieldsync"
	fsync "fieldsync/sync"
)

// roundWatch is how long after its start a round is still summarized by the job.
const roundWatch = 48 * time.Hour

// Jobs is the field domain's server work for one run on a tenant, run by
// the engine's job runner (sync.JobOptions.Jobs) on the one instance
// holding the tenant's lease. It marks what time alone changes — overdue and
// breached work orders and complaints (with the automatic escalation of
// late urgent orders), missed patrol checkpoints — and links repeat
// repairs. The runner applies the writes it returns: versioned, logged and
// pulled like any change, and idempotent (a second run returns none).
//
// It reads only the records whose outcome can still change, and returns
// the writes a walk over every record would (TestJobsWriteWhatTheFullWalkWrites):
//   - Compute runs on the orders and complaints watched selects. Every
//     stored version was made with Compute at its write's time
//     (sync.Engine's newVersion), so a record changes under Compute later
//     only through what depends on the time: a breach flag whose deadline
//     is not yet met by its action (and the escalation that follows it). A
//     finished order (completed, verified) whose accepted_at and
//     completed_at are set, a cancelled one with cancelled_at, and a closed
//     complaint have no such flag: their flags are final. The state
//     machines set those times on the way there; a finished record that
//     lacks one (written straight by the server: the demo, an import) is
//     watched until it has them. One record is left out that the full walk
//     would change: one whose write could not read its site's deadline
//     settings (it keeps none, see policy) and that is finished by then —
//     the full walk would store the settings on it (on a complaint, with a
//     callback time from them) at the next run that reads them; its flags
//     stay as they are either way.
//   - A repeat link depends on the orders alone, not on the time: a pair
//     the last run saw unchanged it linked already. So repeat repairs are
//     looked for among the orders of the units of the orders changed since
//     that run (JobRun.Seen; a late completion from an offline phone, its
//     completed_at days back, is such a change, whatever time it names),
//     and among every order on the first run, or when the change log no
//     longer reaches back that far. (A change above JobRun.Upto, still
//     being written when the run starts, is the next run's.)
//   - Rounds: those in progress, and the ended ones created within
//     roundWatch and MaxClientSkew (a round's started_at, set once when it
//     is pushed, is at most MaxClientSkew past its creation).
func Jobs(ctx context.Context, e *fsync.Engine, run fsync.JobRun) ([]fsync.Write, error) {
	var writes []fsync.Write
	for _, name := range []string{fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		coll := e.Collection(name)
		if coll == nil || coll.Compute == nil {
			continue
		}
		err := selectEach(ctx, e, run.Tenant, name, watched(name), func(r *fsync.Record) error {
			if w, ok := fsync.Recompute(ctx, coll, r, run.Now); ok {
				writes = append(writes, w)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if e.Collection(fieldsync.CollWorkOrders) != nil {
		orders, err := repeatCandidates(ctx, e, run)
		if err != nil {
			return nil, err
		}
		writes = append(writes, repeatLinks(orders)...)
	}
	rw, err := roundWrites(ctx, e, run.Tenant, run.Now)
	if err != nil {
		return nil, err
	}
	return append(writes, rw...), nil
}

// missing are the values of a time that is not set.
var missing = []any{nil, ""}

// watched are the selections of coll's records that Compute may still
// change at a later time (see Jobs): every state but the finished ones,
// and the finished ones that lack a time their flags count from.
func watched(coll string) []fsync.Query {
	in := func(m map[string][]any) fsync.Query { return fsync.Query{In: m} }
	switch coll {
	case fieldsync.CollWorkOrders:
		finished := []string{fieldsync.WOCompleted, fieldsync.WOVerified, fieldsync.WOCancelled}
		done := []any{fieldsync.WOCompleted, fieldsync.WOVerified}
		return []fsync.Query{
			in(map[string][]any{"status": statesBut(WorkOrderStatuses, finished)}),
			in(map[string][]any{"status": done, "accepted_at": missing}),
			in(map[string][]any{"status": done, "completed_at": missing}),
			in(map[string][]any{"status": {fieldsync.WOCancelled}, "cancelled_at": missing}),
		}
	case fieldsync.CollComplaints:
		return []fsync.Query{in(map[string][]any{"stage": statesBut(ComplaintStages, []string{fieldsync.StageClosed})})}
	}
	return []fsync.Query{{}}
}

// statesBut lists the states of all but those of but, and none (a record
// without a state is computed as one in progress).
func statesBut(all, but []string) []any {
	out := []any{nil}
	for _, s := range all {
		if !slices.Contains(but, s) {
			out = append(out, s)
		}
	}
	return out
}

// selectEach calls fn once for each live record of tenant's coll that any
// of qs selects.
func selectEach(ctx context.Context, e *fsync.Engine, tenant, coll string, qs []fsync.Query, fn func(*fsync.Record) error) error {
	seen := map[string]bool{}
	for _, q := range qs {
		err := e.Select(ctx, tenant, coll, q, func(r *fsync.Record) error {
			if seen[r.Key] {
				return nil
			}
			seen[r.Key] = true
			return fn(r)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// unitBatch bounds the units one selection of repeat candidates names.
const unitBatch = 500

// repeatCandidates returns the orders repeatLinks must see to link what a
// walk over every order would: every order of a unit an order changed
// since run.Seen names (all of them on a first run, or when the change log
// no longer reaches back to run.Seen), ordered by key.
func repeatCandidates(ctx context.Context, e *fsync.Engine, run fsync.JobRun) ([]*fsync.Record, error) {
	var orders []*fsync.Record
	keep := func(r *fsync.Record) error { orders = append(orders, r); return nil }
	var changed []*fsync.Record
	ok := false
	if run.Seen > 0 {
		var err error
		if changed, ok, err = e.Changed(ctx, run.Tenant, fieldsync.CollWorkOrders, run.Seen, run.Upto); err != nil {
			return nil, err
		}
	}
	switch {
	case !ok:
		if err := e.Records(ctx, run.Tenant, fieldsync.CollWorkOrders, keep); err != nil {
			return nil, err
		}
	default:
		var units []any
		for _, r := range changed {
			if u := r.GetString("unit"); u != "" && !slices.Contains(units, any(u)) {
				units = append(units, u)
			}
		}
		for part := range slices.Chunk(units, unitBatch) {
			if err := e.Select(ctx, run.Tenant, fieldsync.CollWorkOrders, fsync.Query{In: map[string][]any{"unit": part}}, keep); err != nil {
				return nil, err
			}
		}
	}
	slices.SortFunc(orders, func(a, b *fsync.Record) int { return cmp.Compare(a.Key, b.Key) })
	return orders, nil
}

// repeatLinks links each work order to the latest order completed at the
// same site, unit and category within RepeatWindow before it was created
// (of orders completed at the same instant, the first listed: callers list
// them by key, so that the choice depends on the orders alone).
// The completed orders are grouped by place and sorted by completion, so
// each order looks only at its own group's last window (not every order
// against every other: 10^10 comparisons at 100,000 orders every run).
func repeatLinks(orders []*fsync.Record) []fsync.Write {
	type place struct{ site, unit, building, category string }
	placeOf := func(r *fsync.Record) place {
		return place{r.SiteID, r.GetString("unit"), r.GetString("building"), r.GetString("category")}
	}
	done := make([]time.Time, len(orders))
	groups := map[place][]int{}
	for i, p := range orders {
		if done[i] = timeOf(p, "completed_at"); !done[i].IsZero() && p.GetString("unit") != "" {
			groups[placeOf(p)] = append(groups[placeOf(p)], i)
		}
	}
	for _, g := range groups {
		// By completion; among equal ones the earliest listed is found first below.
		slices.SortStableFunc(g, func(a, b int) int { return cmp.Or(done[a].Compare(done[b]), cmp.Compare(b, a)) })
	}
	var out []fsync.Write
	for _, o := range orders {
		if o.GetString("unit") == "" || o.GetString("repeat_of") != "" {
			continue
		}
		g := groups[placeOf(o)]
		// The last one completed by o's creation, then back through the window.
		i := sort.Search(len(g), func(i int) bool { return done[g[i]].After(o.CreatedAt) }) - 1
		for ; i >= 0 && o.CreatedAt.Sub(done[g[i]]) <= RepeatWindow; i-- {
			if p := orders[g[i]]; p.ID != o.ID && p.CreatedAt.Before(o.CreatedAt) {
				out = append(out, fsync.Write{Collection: fieldsync.CollWorkOrders, ID: o.ID, Set: map[string]any{"repeat_of": p.ID}})
				break
			}
		}
	}
	return out
}

// roundWrites summarizes the recent rounds of tenant against their routes:
// those in progress, and the ended ones started within roundWatch.
func roundWrites(ctx context.Context, e *fsync.Engine, tenant string, now time.Time) ([]fsync.Write, error) {
	var rounds []*fsync.Record
	err := selectEach(ctx, e, tenant, fieldsync.CollPatrolRounds, []fsync.Query{
		{In: map[string][]any{"status": {RoundInProgress, nil}}},
		{In: map[string][]any{"status": {RoundEnded}}, CreatedFrom: now.Add(-roundWatch - fsync.MaxClientSkew)},
	}, func(r *fsync.Record) error {
		if r.GetString("status") != RoundEnded || now.Sub(timeOf(r, "started_at")) <= roundWatch {
			rounds = append(rounds, r)
		}
		return nil
	})
	if err != nil || len(rounds) == 0 {
		return nil, err
	}
	return summarizeRounds(ctx, e, tenant, now, rounds)
}

// summarizeRounds returns the writes that bring rounds' summaries up to
// date at now, against tenant's routes.
func summarizeRounds(ctx context.Context, e *fsync.Engine, tenant string, now time.Time, rounds []*fsync.Record) ([]fsync.Write, error) {
	refs := map[string]map[string]*fsync.Record{}
	for _, name := range []string{fieldsync.CollSites, fieldsync.CollPatrolRoutes, fieldsync.CollCheckpoints} {
		m := map[string]*fsync.Record{}
		if err := e.Records(ctx, tenant, name, func(r *fsync.Record) error { m[r.ID] = r; return nil }); err != nil {
			return nil, err
		}
		refs[name] = m
	}
	lookup := func(coll string, ids ...string) ([]*fsync.Record, error) {
		var out []*fsync.Record
		for _, id := range ids {
			if r := refs[coll][id]; r != nil {
				out = append(out, r)
			}
		}
		return out, nil
	}
	var writes []fsync.Write
	for _, r := range rounds {
		set, err := RoundSummary(r, lookup, now)
		if err != nil {
			return nil, err
		}
		stored := &fsync.Record{Fields: map[string]any{}} // each value as the engine stores it
		for k, v := range set {
			if stored.Set(k, v); reflect.DeepEqual(r.Get(k), stored.Get(k)) {
				delete(set, k)
			}
		}
		if len(set) > 0 {
			writes = append(writes, fsync.Write{Collection: fieldsync.CollPatrolRounds, ID: r.ID, Set: set})
		}
	}
	return writes, nil
}
