package sync

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"slices"
	"sort"
	"time"

	"fieldsync"
)

// Job defaults.
const (
	DefaultJobInterval = 30 * time.Second
	DefaultJobLease    = 2 * time.Minute
	// roundWatch is how long after its start a round is still summarized by the job.
	roundWatch = 48 * time.Hour
)

// JobOptions configure the field-domain server jobs. Zero values mean defaults.
type JobOptions struct {
	// Interval between runs (default 30s).
	Interval time.Duration
	// Lease is how long a claimed tenant stays with this instance without
	// renewal (default 2m): an instance that dies stops holding it then.
	Lease time.Duration
	// Holder names this instance (default: random).
	Holder string
}

func (o JobOptions) withDefaults() JobOptions {
	if o.Interval <= 0 {
		o.Interval = DefaultJobInterval
	}
	if o.Lease <= 0 {
		o.Lease = DefaultJobLease
	}
	if o.Holder == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.Holder = hex.EncodeToString(b)
	}
	return o
}

// RunJobs runs the field jobs every opts.Interval until ctx ends. Any number
// of API instances may run it: each tenant's jobs run on the one instance
// holding its lease.
func (e *Engine) RunJobs(ctx context.Context, opts JobOptions) {
	opts = opts.withDefaults()
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		if _, err := e.RunJobsOnce(ctx, opts); err != nil && ctx.Err() == nil {
			e.log.Error("sync: field jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunJobsOnce runs the field jobs of every tenant whose lease this instance
// holds or can claim, and returns the tenants it ran. The jobs mark what time
// alone changes — overdue and breached work orders and complaints (with the
// automatic escalation of late urgent orders), missed patrol checkpoints —
// and link repeat repairs. Every mark is a write through Apply: versioned,
// logged and pulled like any change, and idempotent (a second run changes nothing).
func (e *Engine) RunJobsOnce(ctx context.Context, opts JobOptions) ([]string, error) {
	opts = opts.withDefaults()
	tenants, err := e.store.Counters(ctx)
	if err != nil {
		return nil, err
	}
	var ran []string
	for _, t := range tenants {
		ok, err := e.store.Claim(ctx, "field-jobs/"+t.Tenant, opts.Holder, e.now(), opts.Lease)
		if err != nil {
			return ran, err
		}
		if !ok {
			continue
		}
		if err := e.tenantJobs(ctx, t.Tenant); err != nil {
			return ran, err
		}
		ran = append(ran, t.Tenant)
	}
	return ran, nil
}

// tenantJobs recomputes every time-dependent field of one tenant and writes
// the differences.
func (e *Engine) tenantJobs(ctx context.Context, tenant string) error {
	now := e.now()
	if err := e.sweepAudit(ctx, tenant, now); err != nil {
		return err
	}
	var writes []Write
	var orders []*Record
	for _, name := range []string{fieldsync.CollWorkOrders, fieldsync.CollComplaints} {
		coll := e.colls[name]
		if coll == nil || coll.Compute == nil {
			continue
		}
		err := e.Records(ctx, tenant, name, func(r *Record) error {
			if name == fieldsync.CollWorkOrders {
				orders = append(orders, r)
			}
			if w, ok := recompute(ctx, coll, r, now); ok {
				writes = append(writes, w)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	writes = append(writes, repeatLinks(orders)...)
	rw, err := e.roundWrites(ctx, tenant, now)
	if err != nil {
		return err
	}
	writes = append(writes, rw...)
	if len(writes) == 0 {
		return nil
	}
	return e.Apply(ctx, tenant, writes)
}

// recompute runs coll.Compute on a copy of r at now and returns the write
// that brings r there: plain fields set, append-only lists appended (so a
// concurrent append is never overwritten).
func recompute(ctx context.Context, coll *Collection, r *Record, now time.Time) (Write, bool) {
	c := r.clone()
	coll.Compute(ctx, c, now)
	w := Write{Collection: r.Collection, ID: r.ID, Set: map[string]any{}, Append: map[string][]any{}}
	for _, f := range coll.Fields {
		old, nu := r.Fields[f.Name], c.Fields[f.Name]
		if reflect.DeepEqual(old, nu) {
			continue
		}
		if f.AppendOnly {
			ol, _ := old.([]any)
			nl, _ := nu.([]any)
			if len(nl) > len(ol) {
				w.Append[f.Name] = nl[len(ol):]
			}
			continue
		}
		w.Set[f.Name] = nu
	}
	return w, len(w.Set)+len(w.Append) > 0
}

// repeatLinks links each work order to the latest order completed at the
// same site, unit and category within RepeatWindow before it was created.
// The completed orders are grouped by place and sorted by completion, so
// each order looks only at its own group's last window.
func repeatLinks(orders []*Record) []Write {
	type place struct{ site, unit, building, category string }
	placeOf := func(r *Record) place {
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
	var out []Write
	for _, o := range orders {
		if o.GetString("unit") == "" || o.GetString("repeat_of") != "" {
			continue
		}
		g := groups[placeOf(o)]
		// The last one completed by o's creation, then back through the window.
		i := sort.Search(len(g), func(i int) bool { return done[g[i]].After(o.CreatedAt) }) - 1
		for ; i >= 0 && o.CreatedAt.Sub(done[g[i]]) <= RepeatWindow; i-- {
			if p := orders[g[i]]; p.ID != o.ID && p.CreatedAt.Before(o.CreatedAt) {
				out = append(out, Write{Collection: fieldsync.CollWorkOrders, ID: o.ID, Set: map[string]any{"repeat_of": p.ID}})
				break
			}
		}
	}
	return out
}

// roundWrites summarizes the recent rounds of tenant against their routes.
func (e *Engine) roundWrites(ctx context.Context, tenant string, now time.Time) ([]Write, error) {
	refs := map[string]map[string]*Record{}
	for _, name := range []string{fieldsync.CollSites, fieldsync.CollPatrolRoutes, fieldsync.CollCheckpoints} {
		m := map[string]*Record{}
		if err := e.Records(ctx, tenant, name, func(r *Record) error { m[r.ID] = r; return nil }); err != nil {
			return nil, err
		}
		refs[name] = m
	}
	lookup := func(coll string, ids ...string) ([]*Record, error) {
		var out []*Record
		for _, id := range ids {
			if r := refs[coll][id]; r != nil {
				out = append(out, r)
			}
		}
		return out, nil
	}
	var writes []Write
	err := e.Records(ctx, tenant, fieldsync.CollPatrolRounds, func(r *Record) error {
		if r.GetString("status") == RoundEnded && now.Sub(timeOf(r, "started_at")) > roundWatch {
			return nil
		}
		set, err := RoundSummary(r, lookup, now)
		if err != nil {
			return err
		}
		for k, v := range set {
			if reflect.DeepEqual(r.Get(k), normalize(v)) {
				delete(set, k)
			}
		}
		if len(set) > 0 {
			writes = append(writes, Write{Collection: fieldsync.CollPatrolRounds, ID: r.ID, Set: set})
		}
		return nil
	})
	return writes, err
}
