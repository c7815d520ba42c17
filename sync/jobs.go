package sync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"time"
)

// Job defaults.
const (
	DefaultJobInterval = 30 * time.Second
	DefaultJobLease    = 2 * time.Minute
)

// JobOptions configure the server jobs. Zero values mean defaults.
type JobOptions struct {
	// Interval between runs (default 30s).
	Interval time.Duration
	// Lease is how long a claimed tenant stays with this instance without
	// renewal (default 2m): an instance that dies stops holding it then.
	Lease time.Duration
	// Holder names this instance (default: random).
	Holder string
	// Jobs, when set, is the domain's work for one run on a tenant (the
	// field package's field.Jobs): the writes it returns are applied
	// through Apply. The engine's own upkeep (the audit trail's retention)
	// runs with or without it.
	Jobs func(ctx context.Context, e *Engine, run JobRun) ([]Write, error)
}

// JobRun is one run of the jobs on a tenant.
type JobRun struct {
	Tenant string
	Now    time.Time
	// Seen is the high-water mark of this engine's last run on the tenant
	// whose writes were all applied (0: none since it started): that run
	// saw every change at or below it, so what only a change can alter
	// (field's repeat repairs) needs a look only where something changed
	// since (Engine.Changed). A run that fails leaves it where it was.
	Seen int64
	// Upto is this run's high-water mark, taken before it reads: every
	// change at or below it is visible. It becomes the next run's Seen.
	Upto int64
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

// RunJobs runs the server jobs every opts.Interval until ctx ends. Any number
// of API instances may run it: each tenant's jobs run on the one instance
// holding its lease.
func (e *Engine) RunJobs(ctx context.Context, opts JobOptions) {
	opts = opts.withDefaults()
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		if _, err := e.RunJobsOnce(ctx, opts); err != nil && ctx.Err() == nil {
			e.log.Error("sync: jobs", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunJobsOnce runs the jobs of every tenant whose lease this instance holds
// or can claim, and returns the tenants it ran. The jobs mark what time
// alone changes (opts.Jobs). Every mark is a write through Apply:
// versioned, logged and pulled like any change, and idempotent (a second run
// changes nothing).
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
		if err := e.tenantJobs(ctx, t.Tenant, opts); err != nil {
			return ran, err
		}
		ran = append(ran, t.Tenant)
	}
	return ran, nil
}

// tenantJobs runs the engine's upkeep and opts.Jobs for one tenant and
// applies the writes the jobs return; once all have landed, the run's
// high-water mark becomes the next run's JobRun.Seen.
func (e *Engine) tenantJobs(ctx context.Context, tenant string, opts JobOptions) error {
	now := e.now()
	if err := e.sweepAudit(ctx, tenant, now); err != nil {
		return err
	}
	if opts.Jobs == nil {
		return nil
	}
	m, err := e.highWater(ctx, tenant)
	if err != nil {
		return err
	}
	run := JobRun{Tenant: tenant, Now: now, Upto: m.hw}
	if v, ok := e.jobMarks.Load(tenant); ok {
		run.Seen = v.(int64)
	}
	writes, err := opts.Jobs(ctx, e, run)
	if err != nil {
		return err
	}
	if len(writes) > 0 {
		if err := e.Apply(ctx, tenant, writes); err != nil {
			return err
		}
	}
	e.jobMarks.Store(tenant, run.Upto)
	return nil
}

// Recompute runs coll.Compute on a copy of r at now and returns the write
// that brings r there: plain fields set, append-only lists appended (so a
// concurrent append is never overwritten). ok is false when nothing changes.
func Recompute(ctx context.Context, coll *Collection, r *Record, now time.Time) (w Write, ok bool) {
	c := r.clone()
	coll.Compute(ctx, c, now)
	w = Write{Collection: r.Collection, ID: r.ID, Set: map[string]any{}, Append: map[string][]any{}}
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
