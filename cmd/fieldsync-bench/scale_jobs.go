package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

// scaleJobsHolder holds the demo tenant's jobs lease for the scenario
// (fillTenant): the API process never runs its jobs, measureJobs does.
const scaleJobsHolder = "fieldsync-bench-scale"

// The jobs' operations (#17 jobs at scale), measured in this process.
const (
	opJobsWalk  = "jobs' reads before #17: every live order, complaint, round"
	opJobsFirst = "jobs run, first on an instance (reads every order once)"
	opJobs      = "jobs run, each after (every 30 s)"
)

var jobOps = []string{opJobsWalk, opJobsFirst, opJobs}

// measureJobs times the server jobs (field.Jobs through sync's runner) on
// the filled tenant, on an engine of this process over the scenario's
// store, tuned as the server tunes it: the walk every run made before they
// narrowed their reads (each live work order, complaint and round read
// and computed, once), the first run of an instance, and reps runs after
// it, each a few seconds apart with one desk change between them.
func measureJobs(ctx context.Context, stack *scaleStack, reps int, res *ScaleResult) error {
	store, err := openScaleStore(ctx, stack)
	if err != nil {
		return err
	}
	defer store.Close(context.Background())
	eng, err := fsync.Open(ctx, store.Sync(), fsync.Options{Collections: field.Collections(field.Options{})})
	if err != nil {
		return err
	}
	opts := fsync.JobOptions{Holder: scaleJobsHolder, Lease: scaleTimeout, Jobs: field.Jobs}
	ops := opTimes{}
	timed := ops.time
	run := func() error {
		ran, err := eng.RunJobsOnce(ctx, opts)
		if err == nil && !slices.Contains(ran, fieldsync.DemoTenant) {
			err = fmt.Errorf("the jobs did not run on %s (lease)", fieldsync.DemoTenant)
		}
		return err
	}
	if err := timed(opJobsWalk, func() error { return walkAsBefore(ctx, eng, eng.Now()) }); err != nil {
		return err
	}
	if err := timed(opJobsFirst, run); err != nil {
		return err
	}
	for i := range reps {
		// One change between runs, as a desk makes them: the next run looks at its unit.
		err := eng.Apply(ctx, fieldsync.DemoTenant, []fsync.Write{{Collection: fieldsync.CollWorkOrders, ID: newV7(), Create: true,
			SiteID: fieldsync.DemoSiteA, Set: map[string]any{"title": fmt.Sprint("Jobs bench order ", i), "unit": "1-1203", "category": "facilities"}}})
		if err != nil {
			return err
		}
		if err := timed(opJobs, run); err != nil {
			return err
		}
	}
	ops.report(jobOps, res)
	return nil
}

// walkAsBefore reads and computes what each run of the jobs did before
// they narrowed their reads: every live work order and complaint through
// its Compute, every round.
func walkAsBefore(ctx context.Context, e *fsync.Engine, now time.Time) error {
	for _, name := range []string{fieldsync.CollWorkOrders, fieldsync.CollComplaints, fieldsync.CollPatrolRounds} {
		coll := e.Collection(name)
		err := e.Records(ctx, fieldsync.DemoTenant, name, func(r *fsync.Record) error {
			if coll.Compute != nil {
				fsync.Recompute(ctx, coll, r, now)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
