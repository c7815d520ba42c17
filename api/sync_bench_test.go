package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/devstack"
	"fieldsync/field"
	"fieldsync/mongodb"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// The API's CPU per pushed record (issue 17, target 3), measured the way
// scripts/bench does — the database in a process of its own, so that the
// CPU this process spends is the API's (and the benchmark's HTTP client's) —
// against a peer measured in the same run: the raw driver inserting the same
// records, the same batches, into the same database.

// storesChildEnv makes a test binary run only the embedded database (in the
// directory it names) and print its URI, until its standard input closes.
const storesChildEnv = "FIELDSYNC_BENCH_STORES_CHILD"

func init() {
	dir := os.Getenv(storesChildEnv)
	if dir == "" {
		return
	}
	st, err := devstack.Start(context.Background(), devstack.Options{Dir: dir, NoObjectStore: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "stores child:", err)
		os.Exit(1)
	}
	fmt.Println(st.MongoURI)
	_, _ = io.Copy(io.Discard, os.Stdin)
	st.Close()
	os.Exit(0)
}

// startStoresChild runs the embedded database in a child process (this test
// binary again) and returns its URI; it stops with the benchmark.
func startStoresChild(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), storesChildEnv+"="+filepath.Join(tb.TempDir(), "stores"))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = in.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		tb.Fatalf("stores child: %v", err)
	}
	return strings.TrimSpace(line)
}

// cpuTime is the CPU (user + system) this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchInspections are n inspections as the bench's phones send them
// (cmd/fieldsync-bench: ~400 bytes of fields), deterministic in seed.
func benchInspections(n int, seed uint64) []map[string]any {
	words := strings.Fields("leak stairwell basement door lock broken light flicker smoke detector battery " +
		"graffiti bin overflow parking blocked hydrant access corridor tile cracked railing loose water")
	cats, sevs := []string{"facilities", "fire_safety", "sanitation", "other"}, []string{"low", "medium", "high", "critical"}
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]map[string]any, n)
	for i := range out {
		var d strings.Builder
		for d.Len() < 200 {
			d.WriteString(words[r.IntN(len(words))] + " ")
		}
		out[i] = map[string]any{"site_id": fieldsync.DemoSiteA, "category": cats[r.IntN(len(cats))],
			"severity": sevs[r.IntN(len(sevs))], "description": strings.TrimSpace(d.String()),
			"location": fmt.Sprintf("Building %d, floor %d, unit %d", 1+r.IntN(12), r.IntN(30), 1+r.IntN(8)),
			"gps":      map[string]any{"lat": 22.5 + r.Float64()/10, "lng": 114.0 + r.Float64()/10}}
	}
	return out
}

const (
	benchBatch    = 50
	benchInFlight = 4
)

// inFlight runs do(i) for i in [0, n), benchInFlight at a time; lane i%benchInFlight
// runs its calls in order (one device's batches go out in order).
func inFlight(tb testing.TB, n int, do func(lane, i int) error) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make([]error, benchInFlight)
	for lane := range benchInFlight {
		wg.Go(func() {
			for i := lane; i < n; i += benchInFlight {
				if err := do(lane, i); err != nil {
					errs[lane] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkPushCPU pushes 2,000 inspections a round through the API over a
// real socket (batches of 50, 4 devices with a batch in flight each), then
// inserts the same records with the raw driver (insertMany of 50, 4 in
// flight) into the same database, and reports the CPU of this process per
// record for each and their ratio (api/raw). Profile the API's share with
// -cpuprofile: the database runs in a child process.
func BenchmarkPushCPU(b *testing.B) {
	const perRound = 2000
	ctx := context.Background()
	uri := startStoresChild(b)
	store, err := mongodb.Open(ctx, uri, "pushcpu", mongodb.Options{Collections: field.Registry()})
	if err != nil {
		b.Fatal(err)
	}
	if err := store.EnsureIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close(context.Background()) })
	srv := newFullServerOn(b, store, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	url := "http://" + ln.Addr().String() + "/v1/sync/push"
	var sessions [benchInFlight]session
	for i := range sessions {
		sessions[i] = mustLoginSession(b, srv, "guard.a1", "")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchInFlight}}
	raw := store.DB.Collection("raw_inspections")
	// The collector's target the fieldsync binary runs with (cmd/fieldsync: defaultGCPercent).
	defer debug.SetGCPercent(debug.SetGCPercent(300))
	var apiCPU, rawCPU time.Duration
	seed := uint64(0)
	for b.Loop() {
		seed++
		recs := benchInspections(perRound, seed)
		ids := make([]string, len(recs))
		for i := range ids {
			ids[i] = uuid.Must(uuid.NewV7()).String()
		}
		// Every body and document is made before the clock starts.
		bodies := make([][]byte, 0, perRound/benchBatch)
		docs := make([][]any, 0, perRound/benchBatch)
		for lo := 0; lo < perRound; lo += benchBatch {
			lane := len(bodies) % benchInFlight
			ms := make([]fieldsync.Mutation, 0, benchBatch)
			ds := make([]any, 0, benchBatch)
			for i := lo; i < lo+benchBatch; i++ {
				f := make(map[string]json.RawMessage, len(recs[i]))
				for k, v := range recs[i] {
					f[k], _ = json.Marshal(v)
				}
				ms = append(ms, fieldsync.Mutation{MutationID: uuid.NewString(), Collection: fieldsync.CollInspections,
					Op: fieldsync.OpCreate, ID: ids[i], Fields: f})
				d := bson.D{{Key: "_id", Value: ids[i]}}
				for k, v := range recs[i] {
					d = append(d, bson.E{Key: k, Value: v})
				}
				doc, err := bson.Marshal(d)
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, bson.Raw(doc))
			}
			body, _ := json.Marshal(fieldsync.PushRequest{DeviceID: sessions[lane].DeviceID, Mutations: ms})
			bodies, docs = append(bodies, body), append(docs, ds)
		}
		t0 := cpuTime(b)
		inFlight(b, len(bodies), func(lane, i int) error {
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+sessions[lane].Access)
			// As a phone asks (the bench client too); the answer is not unpacked here.
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("push: %s", resp.Status)
			}
			return nil
		})
		t1 := cpuTime(b)
		inFlight(b, len(docs), func(_, i int) error {
			_, err := raw.InsertMany(ctx, docs[i])
			return err
		})
		apiCPU, rawCPU = apiCPU+t1-t0, rawCPU+cpuTime(b)-t1
	}
	n := float64(b.N * perRound)
	b.ReportMetric(float64(apiCPU.Microseconds())/n, "api-cpu-µs/record")
	b.ReportMetric(float64(rawCPU.Microseconds())/n, "raw-cpu-µs/record")
	b.ReportMetric(float64(apiCPU)/float64(rawCPU), "api/raw")
	applied, err := store.DB.Collection(fieldsync.CollInspections).CountDocuments(ctx, bson.M{})
	if err != nil || applied != int64(b.N*perRound) {
		b.Fatalf("%d records stored (%v), want %d", applied, err, b.N*perRound)
	}
}
