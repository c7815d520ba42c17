package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/client"

	"github.com/google/uuid"
)

// faultFigures are what a fault test counts; TestMain-free, they are logged
// so docs/SECURITY.md's table can be refreshed from `go test -v`.
type faultFigures struct {
	sent, acked, lost, duplicates int64
}

func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func seedDemoProcess(tb testing.TB, dir string) {
	tb.Helper()
	cmd := exec.Command(fieldsyncBinary(tb), "seed", "demo")
	cmd.Env = append(cmd.Environ(), "FIELDSYNC_DATA_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("seed demo: %v\n%s", err, out)
	}
}

// device is one simulated phone: its client and what the server acknowledged.
type device struct {
	c     *client.Client
	site  string
	acked map[string]int64 // record id → version acknowledged by the last applied/duplicate result
}

func newDevice(tb testing.TB, base, user string, n int) *device {
	tb.Helper()
	c, err := client.New(base, client.Options{MaxRetries: 200, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Login(ctx, client.Credentials{Username: user, Password: auth.DemoPassword, DeviceID: fmt.Sprintf("d-%s-%d", user, n), Tenant: "demo"})
	if err != nil {
		tb.Fatalf("login %s: %v", user, err)
	}
	d := &device{c: c, acked: map[string]int64{}}
	if len(s.User.SiteIDs) > 0 {
		d.site = s.User.SiteIDs[0]
	}
	return d
}

// TestKillDuringPushes kills the server with SIGKILL while 30 devices push,
// restarts it on the same address, and lets every device retry its
// unacknowledged batch: no acknowledged mutation is lost, no mutation is
// applied twice, and every record ends at exactly the version its
// mutations imply.
func TestKillDuringPushes(t *testing.T) {
	pushThroughFault(t, "kill -9", func(t *testing.T, p *proc) { p.kill9(t) })
}

// TestTermDuringPushes stops the server with SIGTERM while 30 devices push:
// it exits cleanly after finishing in-flight requests, and after a restart
// no acknowledged write is lost or doubled.
func TestTermDuringPushes(t *testing.T) {
	pushThroughFault(t, "SIGTERM", func(t *testing.T, p *proc) {
		if err := p.term(t); err != nil {
			t.Errorf("SIGTERM under load: got exit %v, want a clean exit\n%s", err, p.logs.String())
		}
	})
}

// pushThroughFault runs 30 pushing devices, applies fault to the server once
// they are under way, restarts it on the same address and checks the outcome.
func pushThroughFault(t *testing.T, name string, fault func(*testing.T, *proc)) {
	dir := t.TempDir()
	seedDemoProcess(t, dir)
	addr := freePort(t)
	env := []string{"FIELDSYNC_ADDR=" + addr, "FIELDSYNC_RATE_PER_DEVICE=off", "FIELDSYNC_RATE_PER_ADDRESS=off"}
	p := startProcess(t, dir, env...)
	base := "http://" + addr

	seeded := inspectionVersions(t, newDevice(t, base, "admin", 0))
	users := []string{"guard.a1", "guard.a2", "guard.b1"}
	var devs []*device
	for i := range 30 {
		devs = append(devs, newDevice(t, base, users[i%len(users)], i))
	}

	// Updates cost a scan of the record collection on the embedded FerretDB
	// (its _id pushdown only takes a lone _id filter; ours carries the version),
	// so the load is mostly creates with a few updates.
	const batches, perBatch = 4, 5
	var fig faultFigures
	var wg sync.WaitGroup
	var pushedBatches atomic.Int64
	errs := make(chan error, len(devs))
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			var ids []string
			for b := range batches {
				var muts []client.Mutation
				for k := range perBatch {
					if b == 2 && k < 2 {
						// The third batch updates records made earlier: a doubled update would show as a version too high.
						id := ids[len(ids)-1-k]
						muts = append(muts, client.Mutation{MutationID: uuid.NewString(), Collection: "inspections", Op: client.OpUpdate,
							ID: id, BaseVersion: d.acked[id], Fields: map[string]any{"description": fmt.Sprintf("batch %d", b)}})
						continue
					}
					id, _ := uuid.NewV7()
					muts = append(muts, client.Mutation{MutationID: uuid.NewString(), Collection: "inspections", Op: client.OpCreate,
						ID: id.String(), Fields: map[string]any{"site_id": d.site, "category": "sanitation", "severity": "low", "description": "found on patrol"}})
					ids = append(ids, id.String())
				}
				atomic.AddInt64(&fig.sent, int64(len(muts)))
				// The client retries the same batch (same mutation ids) across the crash.
				res, err := d.c.Push(ctx, muts)
				if err != nil {
					errs <- fmt.Errorf("device %s: %w", d.c.DeviceID(), err)
					return
				}
				pushedBatches.Add(1)
				for i, r := range res {
					switch r.Status {
					case client.StatusApplied, client.StatusDuplicate:
						d.acked[r.ID] = r.Version
						atomic.AddInt64(&fig.acked, 1)
					default:
						errs <- fmt.Errorf("device %s mutation %s (%s): got %s %+v", d.c.DeviceID(), muts[i].MutationID, muts[i].Op, r.Status, r.Error)
						return
					}
				}
			}
		}()
	}
	// Kill once some batches are in, then restart on the same address.
	for pushedBatches.Load() < int64(len(devs)) {
		time.Sleep(10 * time.Millisecond)
	}
	fault(t, p)
	p = startProcess(t, dir, env...)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		logs := p.logs.String()
		if len(logs) > 6000 {
			logs = logs[len(logs)-6000:]
		}
		t.Fatalf("server logs (tail):\n%s", logs)
	}

	// Every device's acknowledged records, at the acknowledged version, exactly once.
	server := inspectionVersions(t, newDevice(t, base, "admin", 1))
	for id := range seeded {
		delete(server, id)
	}
	want := 0
	for _, d := range devs {
		for id, v := range d.acked {
			want++
			got, ok := server[id]
			switch {
			case !ok:
				fig.lost++
				t.Errorf("record %s acknowledged at version %d is missing", id, v)
			case got != v:
				fig.duplicates++
				t.Errorf("record %s: server has version %d, device was acknowledged %d (an effect applied twice or lost)", id, got, v)
			}
		}
	}
	if len(server) != want {
		fig.duplicates += int64(len(server) - want)
		t.Errorf("server holds %d inspections, devices created %d", len(server), want)
	}
	t.Logf("%s during push: devices=%d mutations sent=%d acknowledged=%d lost=%d duplicates=%d", name, len(devs), fig.sent, fig.acked, fig.lost, fig.duplicates)
	if err := p.term(t); err != nil {
		t.Fatalf("SIGTERM after the run: %v", err)
	}
	// Every committed version has its audit entry, chained: the verifier
	// walks each record from its head down to version 1.
	verify := exec.Command(fieldsyncBinary(t), "audit", "verify", "--tenant", "demo")
	verify.Env = append(verify.Environ(), "FIELDSYNC_DATA_DIR="+dir)
	if out, err := verify.CombinedOutput(); err != nil || !strings.Contains(string(out), "broken 0") {
		t.Fatalf("audit verify after the %s: %v\n%s", name, err, out)
	}
}

// inspectionVersions pulls every inspection an admin sees: id → version. A
// record appears at most once per page; a later page may repeat it (its
// writer was still in flight when an earlier page walked past it), never at
// an older version.
func inspectionVersions(tb testing.TB, admin *device) map[string]int64 {
	tb.Helper()
	out := map[string]int64{}
	cursor := ""
	for {
		p, err := admin.c.Pull(context.Background(), cursor, 500)
		if err != nil {
			tb.Fatal(err)
		}
		page := map[string]bool{}
		for _, ch := range p.Changes {
			if ch.Collection != fieldsync.CollInspections || ch.Op != client.ChangeUpsert {
				continue
			}
			if page[ch.ID] {
				tb.Errorf("inspection %s handed out twice in one page", ch.ID)
			}
			page[ch.ID] = true
			if v, ok := out[ch.ID]; ok && v > ch.Version {
				tb.Errorf("inspection %s handed out at version %d after version %d", ch.ID, ch.Version, v)
			}
			out[ch.ID] = ch.Version
		}
		if cursor = p.Cursor; !p.HasMore {
			return out
		}
	}
}
