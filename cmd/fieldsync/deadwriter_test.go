package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fieldsync/client"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// startStores runs `fieldsync devstack` on dir and returns the FIELDSYNC_*
// variables that point an API process at it.
func startStores(tb testing.TB, dir string) []string {
	tb.Helper()
	envFile := filepath.Join(dir, "stores.env")
	cmd := exec.Command(fieldsyncBinary(tb), "devstack", "--env-file", envFile)
	cmd.Env = append(os.Environ(), "FIELDSYNC_DATA_DIR="+dir, "FIELDSYNC_LOG_LEVEL=warn")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	for {
		if b, err := os.ReadFile(envFile); err == nil {
			var env []string
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				if l := strings.TrimSpace(sc.Text()); l != "" {
					env = append(env, l)
				}
			}
			return env
		}
		select {
		case err := <-done:
			tb.Fatalf("devstack exited: %v\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// reservationsOf returns the instance names carried by the live change-log
// reservations in the counters of db.
func reservationsOf(tb testing.TB, db *mongo.Database) []string {
	tb.Helper()
	cur, err := db.Collection("sync_counters").Find(context.Background(), bson.M{})
	if err != nil {
		tb.Fatal(err)
	}
	var docs []struct {
		R map[string]struct {
			In string `bson:"in"`
		} `bson:"r"`
	}
	if err := cur.All(context.Background(), &docs); err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, d := range docs {
		for _, r := range d.R {
			out = append(out, r.In)
		}
	}
	return out
}

// servingInstance reads the instance name from the "fieldsync serving" log line.
func servingInstance(tb testing.TB, p *proc) string {
	tb.Helper()
	for _, line := range strings.Split(p.logs.String(), "\n") {
		var l struct{ Msg, Instance string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "fieldsync serving" {
			return l.Instance
		}
	}
	tb.Fatalf("no serving line\n%s", p.logs.String())
	return ""
}

// seededStores starts a devstack process for dir, seeds the demo tenant
// into it with the built binary, and returns the stores' environment and a
// driver client on its database.
func seededStores(t *testing.T, dir string) ([]string, *mongo.Client) {
	t.Helper()
	stores := startStores(t, dir)
	seed := exec.Command(fieldsyncBinary(t), "seed", "demo")
	seed.Env = append(append(os.Environ(), "FIELDSYNC_DATA_DIR="+dir), stores...)
	if out, err := seed.CombinedOutput(); err != nil {
		t.Fatalf("seed demo: %v\n%s", err, out)
	}
	var uri string
	for _, kv := range stores {
		if v, ok := strings.CutPrefix(kv, "FIELDSYNC_MONGO_URI="); ok {
			uri = v
		}
	}
	mc, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mc.Disconnect(context.Background()) })
	return stores, mc
}

// TestKilledWriterHeldBackThenHealedAtRestart: two API processes on one
// database. The first is killed (SIGKILL) while it holds a change-log
// reservation — frozen with SIGSTOP until one is seen live in the database,
// so the crash lands between reserving and releasing. The second
// acknowledges a push; a pull on it stops below the dead reservation and
// says so (has_more and held_back) instead of has_more false with the
// acknowledged change missing. The first restarts on its address, releases
// its dead reservation before it serves, and the pull completes at once.
func TestKilledWriterHeldBackThenHealedAtRestart(t *testing.T) {
	dir := t.TempDir()
	stores, mc := seededStores(t, dir)
	db := mc.Database("fieldsync")

	addr1, addr2 := freePort(t), freePort(t)
	env := append([]string{"FIELDSYNC_RATE_PER_DEVICE=off", "FIELDSYNC_RATE_PER_ADDRESS=off"}, stores...)
	p1 := startProcess(t, dir, append(env, "FIELDSYNC_ADDR="+addr1)...)
	p2 := startProcess(t, dir, append(env, "FIELDSYNC_ADDR="+addr2)...)
	inst1 := servingInstance(t, p1)
	if inst1 == "" || inst1 == servingInstance(t, p2) {
		t.Fatalf("instance names %q and %q: want two distinct ones", inst1, servingInstance(t, p2))
	}
	base1, base2 := "http://"+addr1, "http://"+addr2

	// The desk's phone, bootstrapped on the second instance: from now on it reads the change log.
	desk := newDevice(t, base2, "cs.b1", 0)
	cursor, _, err := desk.c.PullAll(context.Background(), "", 500, func(client.Change) error { return nil })
	if err != nil {
		t.Fatal(err)
	}

	// Guards of site A push to the first instance until it dies.
	ctx, stopPushing := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range 8 {
		d := newDevice(t, base1, []string{"guard.a1", "guard.a2"}[i%2], 10+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				id, _ := uuid.NewV7()
				_, _ = d.c.Push(ctx, []client.Mutation{{MutationID: uuid.NewString(), Collection: "inspections", Op: client.OpCreate,
					ID: id.String(), Fields: map[string]any{"site_id": d.site, "category": "sanitation", "description": "found on patrol"}}})
			}
		}()
	}
	killed := false
	for attempt := 0; attempt < 5000 && !killed; attempt++ {
		_ = p1.cmd.Process.Signal(syscall.SIGSTOP)
		for _, in := range reservationsOf(t, db) {
			if in == inst1 {
				p1.kill9(t) // frozen between reserving and releasing: dies there
				killed = true
				break
			}
		}
		if !killed {
			_ = p1.cmd.Process.Signal(syscall.SIGCONT)
			time.Sleep(2 * time.Millisecond)
		}
	}
	stopPushing()
	wg.Wait()
	if !killed {
		t.Fatal("never caught the first instance holding a reservation")
	}

	// A push acknowledged by the second instance, after the dead reservation.
	guardB := newDevice(t, base2, "guard.b1", 20)
	acked, _ := uuid.NewV7()
	res, err := guardB.c.Push(context.Background(), []client.Mutation{{MutationID: uuid.NewString(), Collection: "inspections", Op: client.OpCreate,
		ID: acked.String(), Fields: map[string]any{"site_id": guardB.site, "category": "sanitation", "description": "after the crash"}}})
	if err != nil || res[0].Status != client.StatusApplied {
		t.Fatalf("push to the second instance: %v %+v", err, res)
	}
	page, err := desk.c.Pull(context.Background(), cursor, 500)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range page.Changes {
		if ch.ID == acked.String() {
			t.Fatal("the acknowledged record came past the dead reservation before it was released")
		}
	}
	if !page.HasMore || !page.HeldBack {
		t.Errorf("a pull held back by the killed writer's reservation, an acknowledged change missing: got has_more=%v held_back=%v, want both true",
			page.HasMore, page.HeldBack)
	}

	// The first instance restarts on its address: before it serves, its dead reservation is gone.
	p1 = startProcess(t, dir, append(env, "FIELDSYNC_ADDR="+addr1)...)
	if got := servingInstance(t, p1); got != inst1 {
		t.Fatalf("restarted as %q, want %q", got, inst1)
	}
	for _, in := range reservationsOf(t, db) {
		if in == inst1 {
			t.Fatalf("after the restart a reservation of the dead run is still live\n%s", p1.logs.String())
		}
	}
	page, err = desk.c.Pull(context.Background(), page.Cursor, 500)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ch := range page.Changes {
		found = found || ch.ID == acked.String()
	}
	if !found || page.HeldBack {
		t.Errorf("after the restart: acknowledged record in the page %v, held_back %v; want it there and the page not held back", found, page.HeldBack)
	}
}
