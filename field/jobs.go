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

// Jobs is the field domain's server work for one tenant at now, run by the
// engine's job runner (sync.JobOptions.Jobs) on the one instance holding
// the tenant's lease. It marks what time alone changes — overdue and
// breached work orders and complaints (with the automatic escalation of
// late urgent orders), missed patrol checkpoints — and links repeat
// repairs. The runner applies the writes it returns: versioned, logged and
// pulled like any change, and idempotent (a second run returns none).
func Jobs(ctx context.Context, e *fsync.Engine, tenant string, now time.Time) ([]fsync.Write, error) {
	var writes []fsync.Write
	var orders []*fsync.Record
	for _, name := range []string{fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		coll := e.Collection(name)
		if coll == nil || coll.Compute == nil {
			continue
		}
		err := e.Records(ctx, tenant, name, func(r *fsync.Record) error {
			if name == fieldsync.CollWorkOrders {
				orders = append(orders, r)
			}
			if w, ok := fsync.Recompute(ctx, coll, r, now); ok {
				writes = append(writes, w)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	writes = append(writes, repeatLinks(orders)...)
	rw, err := roundWrites(ctx, e, tenant, now)
	if err != nil {
		return nil, err
	}
	return append(writes, rw...), nil
}

// repeatLinks links each work order to the latest order completed at the
// same site, unit and category within RepeatWindow before it was created.
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

// roundWrites summarizes the recent rounds of tenant against their routes.
func roundWrites(ctx context.Context, e *fsync.Engine, tenant string, now time.Time) ([]fsync.Write, error) {
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
	err := e.Records(ctx, tenant, fieldsync.CollPatrolRounds, func(r *fsync.Record) error {
		if r.GetString("status") == RoundEnded && now.Sub(timeOf(r, "started_at")) > roundWatch {
			return nil
		}
		set, err := RoundSummary(r, lookup, now)
		if err != nil {
			return err
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
		return nil
	})
	return writes, err
}
