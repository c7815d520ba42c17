package sync_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack/devtest"
	"fieldsync/mongodb"
	fsync "fieldsync/sync"
)

// TestConvergenceTwoInstances: two engines on one database, 20+ devices of
// every field role at two sites pushing overlapping creates, updates, actions
// and deletes to either engine (some batches retried), while other devices
// pull continuously. At the end every device's replica, pulled to the end,
// equals a fresh bootstrap of its scope.
func TestConvergenceTwoInstances(t *testing.T) {
	t.Parallel()
	convergeTwoInstances(t, mongodb.Tuning{})
}

// TestConvergenceTwoInstancesEmbeddedOptions is the same with the tuning
// the mongodb store picks on the embedded database: bootstraps walked in its
// own order (pages go to either instance, so walks lose their held query)
// and pushes loading their records by _id.
func TestConvergenceTwoInstancesEmbeddedOptions(t *testing.T) {
	t.Parallel()
	convergeTwoInstances(t, mongodb.Tuning{UnsortedScans: true, PointLoads: true, ScopedReads: true})
}

func convergeTwoInstances(t *testing.T, tuning mongodb.Tuning) {
	h1 := newTunedHarness(t, tuning, fsync.Options{})
	opts := fsync.Options{Now: h1.now.Now}
	h2 := openTunedOn(t, devtest.MustOpenStoreDB(t, h1.store.DB.Name(), mongodb.Options{}), tuning, opts)
	engines := []*fsync.Engine{h1.e, h2.e}

	var devices []*device
	techs := map[string][]string{}
	for _, site := range []string{"s1", "s2"} {
		add := func(role fieldsync.Role, n int) {
			for i := range n {
				name := fmt.Sprintf("%s-%s-%d", role, site, i)
				uid := name
				if role == fieldsync.RoleTechnician { // assignees are UUIDs
					uid = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(devices))
					techs[site] = append(techs[site], uid)
				}
				c := &fieldsync.Caller{UserID: uid, TenantID: tenant, DeviceID: "d-" + name, Role: role, SiteIDs: []string{site}}
				devices = append(devices, &device{r: newReplica(c), site: site, rng: rand.New(rand.NewPCG(uint64(len(devices)), 7))})
			}
		}
		add(fieldsync.RoleGuard, 4)
		add(fieldsync.RoleTechnician, 3)
		add(fieldsync.RoleCSAgent, 3)
	}
	for _, d := range devices {
		d.techs = techs[d.site]
	}
	// Pullers only: a supervisor per site and an admin.
	pullers := []*replica{
		newReplica(&fieldsync.Caller{UserID: "u-sup-s1", TenantID: tenant, DeviceID: "d-sup-s1", Role: fieldsync.RoleSupervisor, SiteIDs: []string{"s1"}}),
		newReplica(&fieldsync.Caller{UserID: "u-sup-s2", TenantID: tenant, DeviceID: "d-sup-s2", Role: fieldsync.RoleSupervisor, SiteIDs: []string{"s2"}}),
		newReplica(&fieldsync.Caller{UserID: "u-admin", TenantID: tenant, DeviceID: "d-admin", Role: fieldsync.RoleAdmin}),
	}

	const rounds = 3
	var (
		wg, pw  gosync.WaitGroup
		errMu   gosync.Mutex
		errs    []error
		done    = make(chan struct{})
		pushed  int
		retried int
	)
	fail := func(err error) { errMu.Lock(); errs = append(errs, err); errMu.Unlock() }
	start := time.Now()
	for i, r := range pullers {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for n := 0; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				if err := pullAll(engines[(i+n)%2], r, 50); err != nil {
					fail(err)
					return
				}
				time.Sleep(20 * time.Millisecond) // a phone pulls often, not in a hot loop
			}
		}()
	}
	for i, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds {
				e := engines[(i+n)%2]
				ms := d.batch()
				if len(ms) == 0 {
					continue
				}
				res, err := e.Push(as(d.r.c), fieldsync.PushRequest{DeviceID: d.r.c.DeviceID, Mutations: ms})
				if err != nil {
					fail(fmt.Errorf("push as %s: %w", d.r.c.UserID, err))
					return
				}
				if d.rng.IntN(10) == 0 { // lost response: the phone retries the same batch elsewhere
					again, err := engines[(i+n+1)%2].Push(as(d.r.c), fieldsync.PushRequest{DeviceID: d.r.c.DeviceID, Mutations: ms})
					if err != nil {
						fail(fmt.Errorf("retry as %s: %w", d.r.c.UserID, err))
						return
					}
					for k, r := range again.Results {
						first := res.Results[k]
						if first.Status == fieldsync.StatusApplied && r.Status != fieldsync.StatusDuplicate {
							fail(fmt.Errorf("retry of applied %s %s: %s", ms[k].Op, ms[k].ID, r.Status))
						}
					}
					errMu.Lock()
					retried++
					errMu.Unlock()
				}
				for k, r := range res.Results {
					if r.Status == fieldsync.StatusRejected && ms[k].Op == fieldsync.OpCreate {
						fail(fmt.Errorf("create by %s rejected: %+v", d.r.c.UserID, r.Error))
					}
				}
				errMu.Lock()
				pushed++
				errMu.Unlock()
				if err := pullAll(engines[(i+n+1)%2], d.r, 10); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	pw.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	t.Logf("%d devices, %d batches, %d retried in %v", len(devices), pushed, retried, time.Since(start))

	all := pullers
	for _, d := range devices {
		all = append(all, d.r)
	}
	total := 0
	for i, r := range all {
		if err := pullAll(engines[i%2], r, 0); err != nil {
			t.Fatal(err)
		}
		want := bootstrapVersions(t, engines[(i+1)%2], r.c)
		got := map[string]int64{}
		for k, ch := range r.docs {
			got[k] = ch.Version
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s (%s): replica has %d records, bootstrap %d:\nreplica   %v\nbootstrap %v", r.c.UserID, r.c.Role, len(got), len(want), got, want)
		}
		if r.c.Role == fieldsync.RoleAdmin {
			total = len(want)
		}
	}
	// A new phone of each puller bootstraps page by page, its pages going to
	// either instance: it ends with the same records.
	for _, p := range pullers {
		fresh := newReplica(p.c)
		for page := 0; ; page++ {
			res, err := engines[page%2].Pull(as(p.c), fieldsync.PullRequest{Cursor: fresh.cursor, Limit: 7})
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range res.Changes {
				fresh.apply(ch)
			}
			if fresh.cursor = res.Cursor; !res.HasMore {
				break
			}
			if page > 10000 {
				t.Fatalf("%s: the paged bootstrap does not end", p.c.UserID)
			}
		}
		if !maps.Equal(versionsOf(fresh), versionsOf(p)) {
			t.Errorf("%s: a new phone's paged bootstrap has %d records, the long-running replica %d", p.c.UserID, len(fresh.docs), len(p.docs))
		}
	}
	t.Logf("checked in %v", time.Since(start))
	if total < 60 {
		t.Fatalf("admin sees %d records; the test made too few", total)
	}
}

// versionsOf is a replica's records: key → version.
func versionsOf(r *replica) map[string]int64 {
	out := map[string]int64{}
	for k, ch := range r.docs {
		out[k] = ch.Version
	}
	return out
}

// device is a simulated phone: it writes from what its replica knows.
type device struct {
	r     *replica
	site  string
	techs []string
	rng   *rand.Rand
}

// batch makes the device's next offline batch: creates for its role plus a few
// updates, actions and deletes on records it has pulled (possibly stale).
func (d *device) batch() []fieldsync.Mutation {
	var ms []fieldsync.Mutation
	known := func(coll string) []fieldsync.Change {
		var out []fieldsync.Change
		for _, ch := range d.r.docs {
			if ch.Collection == coll {
				out = append(out, ch)
			}
		}
		slices.SortFunc(out, func(a, b fieldsync.Change) int { return strings.Compare(a.ID, b.ID) })
		return out
	}
	pick := func(coll string) (fieldsync.Change, bool) {
		k := known(coll)
		if len(k) == 0 {
			return fieldsync.Change{}, false
		}
		return k[d.rng.IntN(len(k))], true
	}
	switch d.r.c.Role {
	case fieldsync.RoleGuard:
		for range 4 {
			ms = append(ms, createInspection(newID(), d.site, "severity", "low"))
		}
		if ch, ok := pick(fieldsync.CollInspections); ok && ch.Doc["created_by"] == d.r.c.UserID {
			ms = append(ms, update(fieldsync.CollInspections, ch.ID, ch.Version, "description", "seen again", "severity", "high"))
		}
	case fieldsync.RoleCSAgent:
		for range 2 {
			ms = append(ms, createOrder(newID(), d.site, "priority", "normal"))
		}
		if ch, ok := pick(fieldsync.CollWorkOrders); ok && ch.Doc["status"] == "open" {
			ms = append(ms, action(fieldsync.CollWorkOrders, ch.ID, ch.Version, "assign", "assignee_id", d.techs[d.rng.IntN(len(d.techs))]))
		}
		if ch, ok := pick(fieldsync.CollWorkOrders); ok {
			ms = append(ms, update(fieldsync.CollWorkOrders, ch.ID, ch.Version, "title", fmt.Sprintf("leak %d", d.rng.IntN(100)), "tags", []string{d.r.c.UserID}))
		}
		if ch, ok := pick(fieldsync.CollInspections); ok && d.rng.IntN(2) == 0 {
			ms = append(ms, del(fieldsync.CollInspections, ch.ID, ch.Version))
		}
	case fieldsync.RoleTechnician:
		if ch, ok := pick(fieldsync.CollWorkOrders); ok {
			switch ch.Doc["status"] {
			case "assigned":
				ms = append(ms, action(fieldsync.CollWorkOrders, ch.ID, ch.Version, "accept"))
			case "accepted":
				ms = append(ms, action(fieldsync.CollWorkOrders, ch.ID, ch.Version, "start"))
			default:
				ms = append(ms, update(fieldsync.CollWorkOrders, ch.ID, ch.Version, "parts", []string{"valve"}))
			}
		}
	}
	return ms
}

// pullAll pulls r from e until has_more is false.
func pullAll(e *fsync.Engine, r *replica, limit int) error {
	for i := 0; i < 10000; i++ {
		page, err := e.Pull(as(r.c), fieldsync.PullRequest{Cursor: r.cursor, Limit: limit})
		if err != nil {
			return fmt.Errorf("pull as %s: %w", r.c.UserID, err)
		}
		for _, ch := range page.Changes {
			r.apply(ch)
		}
		r.cursor = page.Cursor
		if !page.HasMore {
			return nil
		}
	}
	return fmt.Errorf("pull as %s never ends", r.c.UserID)
}

// bootstrapVersions returns collection/id → version of a fresh bootstrap of c.
func bootstrapVersions(tb testing.TB, e *fsync.Engine, c *fieldsync.Caller) map[string]int64 {
	tb.Helper()
	var buf bytes.Buffer
	if err := e.Bootstrap(as(c), 0, &buf); err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ch fieldsync.Change
		if err := json.Unmarshal(sc.Bytes(), &ch); err != nil {
			tb.Fatal(err)
		}
		if ch.ID != "" {
			out[ch.Collection+"/"+ch.ID] = ch.Version
		}
	}
	return out
}
