package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"fieldsync"
	"fieldsync/client"

	"github.com/google/uuid"
)

// demoPassword is every demo user's password (README, `fieldsync seed demo`).
const demoPassword = "demo-pass-2026"

// measureScale times each operation reps times through the public API, as
// the desk, a technician and a guard of site A.
func measureScale(ctx context.Context, base string, plan *scalePlan, reps int, res *ScaleResult) error {
	login := func(user string) (*client.Client, error) {
		c, err := client.New(base, client.Options{HTTPClient: httpClient(), UserAgent: "fieldsync-bench-scale"})
		if err != nil {
			return nil, err
		}
		if _, err := c.Login(ctx, client.Credentials{Username: user, Password: demoPassword, DeviceID: "scale-" + user + "-" + uuid.NewString()[:8]}); err != nil {
			return nil, fmt.Errorf("login %s: %w", user, err)
		}
		return c, nil
	}
	desk, err := login("cs.a1")
	if err != nil {
		return err
	}
	tech, err := login("tech.a1")
	if err != nil {
		return err
	}
	guard, err := login("guard.a1")
	if err != nil {
		return err
	}
	// The desk's phone or console is up to date before it acts: one bootstrap.
	t := time.Now()
	cursor, err := desk.Bootstrap(ctx, func(client.Change) error { return nil })
	if err != nil {
		return fmt.Errorf("desk bootstrap: %w", err)
	}
	fmt.Fprintf(os.Stderr, "   desk bootstrap (stream) %.2fs\n", time.Since(t).Seconds())
	if len(plan.openOrders) < reps || len(plan.receivedComplaints) < reps {
		return fmt.Errorf("scale: %d open orders and %d received complaints for %d repetitions", len(plan.openOrders), len(plan.receivedComplaints), reps)
	}
	ops := opTimes{}
	timed := ops.time
	bootstrap := func(c *client.Client, n *int) func() error {
		return func() error {
			*n = 0
			_, _, err := c.PullAll(ctx, "", 500, func(client.Change) error { *n++; return nil })
			return err
		}
	}
	for i := range reps {
		steps := []struct {
			name string
			fn   func() error
		}{
			{opAssign, func() error {
				return pushApplied(ctx, desk, client.Mutation{Collection: fieldsync.CollWorkOrders, Op: client.OpAction, ID: plan.openOrders[i],
					BaseVersion: 1, Action: "assign", Args: map[string]any{"assignee_id": plan.users["tech.a1"]}})
			}},
			{opIncPull, func() error {
				var err error
				cursor, _, err = desk.PullAll(ctx, cursor, 500, func(client.Change) error { return nil })
				return err
			}},
			{opComplaint, func() error {
				return pushApplied(ctx, desk, client.Mutation{Collection: fieldsync.CollComplaints, Op: client.OpAction, ID: plan.receivedComplaints[i],
					BaseVersion: 1, Action: "clarify", Args: map[string]any{"notes": "called the owner back"}})
			}},
			{opCreate, func() error {
				return pushApplied(ctx, desk, client.Mutation{Collection: fieldsync.CollWorkOrders, Op: client.OpCreate, ID: newV7(),
					Fields: map[string]any{"site_id": fieldsync.DemoSiteA, "source": "owner_request", "department": "engineering",
						"priority": "normal", "title": "Leaking tap, unit 1203", "description": "Owner called: the kitchen tap leaks."}})
			}},
			{opTechBoot, bootstrap(tech, &res.TechRecords)},
			{opGuardBoot, bootstrap(guard, &res.GuardRecords)},
		}
		for _, s := range steps {
			if err := timed(s.name, s.fn); err != nil {
				return err
			}
		}
	}
	ops.report(opOrder, res)
	return nil
}

// opTimes collects each operation's latencies, by name.
type opTimes map[string]*OpResult

// time runs fn and adds its latency to name's.
func (ops opTimes) time(name string, fn func() error) error {
	t := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ops[name] == nil {
		ops[name] = &OpResult{Name: name}
	}
	ops[name].MS = append(ops[name].MS, float64(time.Since(t))/float64(time.Millisecond))
	return nil
}

// report adds the operations of names, each with its p50, to res.
func (ops opTimes) report(names []string, res *ScaleResult) {
	for _, name := range names {
		o := ops[name]
		if o == nil {
			o = &OpResult{Name: name}
		}
		o.P50ms = median(o.MS)
		res.Ops = append(res.Ops, *o)
		fmt.Fprintf(os.Stderr, "   %-42s p50 %s\n", name, fmtMS(o.P50ms))
	}
}

// pushApplied pushes one mutation and wants it applied.
func pushApplied(ctx context.Context, c *client.Client, m client.Mutation) error {
	m.MutationID = uuid.NewString()
	res, err := c.Push(ctx, []client.Mutation{m})
	if err != nil {
		return err
	}
	if len(res) != 1 || res[0].Status != client.StatusApplied {
		if len(res) == 1 && res[0].Error != nil {
			return fmt.Errorf("%s %s: %s: %w", m.Action, m.ID, res[0].Status, res[0].Error)
		}
		return fmt.Errorf("%s %s: not applied: %+v", m.Action, m.ID, res)
	}
	return nil
}

func newV7() string {
	id, _ := uuid.NewV7()
	return id.String()
}
