// Command fieldsync-bench measures one system under the sync workload of
// issue 7 — fieldsync's API, pouchdb-server, or the raw driver against the
// same database — and aggregates runs into the table of docs/BENCHMARKS.md.
// scripts/bench starts the servers and calls it; see README.md.
//
//	fieldsync-bench run -system fieldsync|pouchdb|raw [flags]   one run → JSON
//	fieldsync-bench report [-json F] [-md F] RESULT.json...      medians → table
//	fieldsync-bench live -url U -admin A:P [flags]               live event streams (issue 17) → JSON
//	fieldsync-bench port                                          a free loopback port
//	fieldsync-bench scale -bin PATH [flags]                       the scale curve on the embedded store (scale.go)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"fieldsync/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fieldsync-bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: fieldsync-bench run|report [flags]")
	}
	switch args[0] {
	case "run":
		return runOne(ctx, args[1:], stdout)
	case "report":
		return runReport(args[1:], stdout)
	case "live":
		return runLive(ctx, args[1:], stdout)
	case "scale":
		return runScale(ctx, args[1:], stdout)
	case "port":
		// A free loopback port for scripts/bench to start a server on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		_, err = fmt.Fprintln(stdout, ln.Addr().(*net.TCPAddr).Port)
		return err
	}
	return fmt.Errorf("unknown command %q (want run or report)", args[0])
}

// Result is one run of one system.
type Result struct {
	System    string    `json:"system"`
	Tag       string    `json:"tag"`
	Started   time.Time `json:"started"`
	Records   int       `json:"records"`
	Devices   int       `json:"devices"`
	Batch     int       `json:"batch"`
	InFlight  int       `json:"inflight"`
	PageLimit int       `json:"page_limit"`
	Push      Phase     `json:"push"`
	Pull      Phase     `json:"pull"`
	// Stream is the single-stream full read: fieldsync's NDJSON bootstrap, the raw find cursor.
	Stream  *Phase `json:"stream,omitempty"`
	IncPush Phase  `json:"incremental_push"`
	IncPull Phase  `json:"incremental_pull"`
	// PeakRSSMiB is the server process's VmHWM (for fieldsync the API process alone).
	PeakRSSMiB       float64 `json:"server_peak_rss_mib"`
	StoresPeakRSSMiB float64 `json:"stores_peak_rss_mib,omitempty"`
}

type runFlags struct {
	system, url, debugURL, mongoURI, db, out, tag string
	storesDebugURL, profileDir                    string
	profileSeconds                                int
	username, password, tenant, site              string
	serverPID, storesPID                          int
	records, devices, batch, inflight, extra      int
	page                                          int
}

// driver is one system under test.
type driver interface {
	push(ctx context.Context, b batch) error
	// pull reads everything after from (everything for "") and returns where to continue.
	pull(ctx context.Context, from string, seen func(id string)) (string, latencies, error)
	// stream reads the whole data set in one stream; false when the system has none.
	stream(ctx context.Context, seen func(id string)) (bool, error)
	// commands returns the API's database command count so far, when it exposes one.
	commands(ctx context.Context) (int64, bool)
	close()
}

func runOne(ctx context.Context, args []string, stdout io.Writer) error {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&f.system, "system", "", "fieldsync, pouchdb or raw")
	fs.StringVar(&f.url, "url", "", "base URL of the fieldsync API or of pouchdb-server")
	fs.StringVar(&f.debugURL, "debug-url", "", "fieldsync debug server (FIELDSYNC_DEBUG_ADDR) for database round trips")
	fs.StringVar(&f.storesDebugURL, "stores-debug-url", "", "debug server of the database process, for -profile-dir")
	fs.StringVar(&f.profileDir, "profile-dir", "", "save CPU profiles of the server (and database process) for the push and pull phases here")
	fs.IntVar(&f.profileSeconds, "profile-seconds", 5, "length of each CPU profile")
	fs.StringVar(&f.mongoURI, "mongo-uri", "", "database URI for -system raw")
	fs.StringVar(&f.db, "db", "", "database name (pouchdb, raw); default bench_<tag>")
	fs.StringVar(&f.tag, "tag", "", "run tag (device ids, database names); default the time")
	fs.StringVar(&f.out, "out", "", "write the result JSON here (default stdout)")
	fs.StringVar(&f.username, "username", "bench", "fieldsync user")
	fs.StringVar(&f.password, "password", "", "fieldsync password")
	fs.StringVar(&f.tenant, "tenant", "", "fieldsync tenant (empty: the server's default)")
	fs.StringVar(&f.site, "site", "site-bench", "site_id of the records")
	fs.IntVar(&f.serverPID, "server-pid", 0, "pid of the server process (fieldsync API, pouchdb-server)")
	fs.IntVar(&f.storesPID, "stores-pid", 0, "pid of the process hosting the database (fieldsync devstack; raw)")
	fs.IntVar(&f.records, "records", 20000, "records in the initial push")
	fs.IntVar(&f.devices, "devices", 40, "pushing devices")
	fs.IntVar(&f.batch, "batch", 50, "records per push batch")
	fs.IntVar(&f.inflight, "inflight", 4, "push batches in flight at once (all devices together)")
	fs.IntVar(&f.extra, "extra", 1000, "records written after the full pull, then pulled incrementally")
	fs.IntVar(&f.page, "page", 500, "pull page size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if f.tag == "" {
		f.tag = time.Now().UTC().Format("150405")
	}
	if f.db == "" {
		f.db = "bench_" + f.tag
	}
	if f.records <= 0 || f.devices <= 0 || f.batch <= 0 || f.inflight <= 0 || f.extra < 0 || f.page <= 0 {
		return errors.New("run: -records, -devices, -batch, -inflight, -page must be positive")
	}
	var d driver
	var err error
	switch f.system {
	case "fieldsync":
		d, err = newFieldsyncSystem(ctx, f.url, f.debugURL, client.Credentials{Username: f.username, Password: f.password, Tenant: f.tenant}, f.devices, f.page, f.tag)
	case "pouchdb":
		d, err = newPouchSystem(ctx, f.url, f.db, f.page)
	case "raw":
		d, err = newRawSystem(ctx, f.mongoURI, f.db, f.page)
	default:
		return fmt.Errorf("run: -system %q: want fieldsync, pouchdb or raw", f.system)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", f.system, err)
	}
	defer d.close()
	res, err := measure(ctx, d, f)
	if err != nil {
		return fmt.Errorf("%s: %w", f.system, err)
	}
	return writeResult(res, f.out, stdout)
}

// writeResult writes v as indented JSON into the file out, or to stdout when out is empty.
func writeResult(v any, out string, stdout io.Writer) error {
	b, _ := json.MarshalIndent(v, "", "  ")
	if out == "" {
		_, err := stdout.Write(append(b, '\n'))
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// meter samples the server's and the stores' CPU and the database command count around a phase.
type meter struct {
	d                    driver
	serverPID, storesPID int
	cpu, storesCPU       float64
	cmds                 int64
	hasCmds              bool
	// CPU profiles of the phases (only those named in profile).
	profileDir     string
	profileSeconds int
	profileURLs    map[string]string // process name → debug server
	profiling      sync.WaitGroup
}

// profiled are the phases whose CPU profiles are taken with -profile-dir.
var profiled = map[string]bool{"push": true, "pull": true, "stream": true}

func (m *meter) start(ctx context.Context, phase string) {
	if m.profileDir != "" && profiled[phase] {
		for proc, u := range m.profileURLs {
			if u == "" {
				continue
			}
			m.profiling.Add(1)
			go func() {
				defer m.profiling.Done()
				path := filepath.Join(m.profileDir, proc+"-"+phase+".pprof")
				if err := fetchProfile(ctx, u, m.profileSeconds, path); err != nil {
					fmt.Fprintln(os.Stderr, "fieldsync-bench: profile:", err)
				}
			}()
		}
	}
	m.cpu, _ = procCPU(m.serverPID)
	m.storesCPU, _ = procCPU(m.storesPID)
	m.cmds, m.hasCmds = m.d.commands(ctx)
}

// stop fills in p's per-record CPU and per-request round trips, then waits
// for the phase's profiles (after the figures are taken, so they are not skewed).
func (m *meter) stop(ctx context.Context, p *Phase) {
	defer m.profiling.Wait()
	cpu, _ := procCPU(m.serverPID)
	scpu, _ := procCPU(m.storesPID)
	if p.Records > 0 {
		p.ServerCPUPer10k = (cpu - m.cpu) / float64(p.Records) * 10000
		if m.storesPID > 0 {
			p.StoresCPUPer10k = (scpu - m.storesCPU) / float64(p.Records) * 10000
		}
	}
	if n, ok := m.d.commands(ctx); ok && m.hasCmds && p.Requests > 0 {
		p.DBCommandsPerRequest = float64(n-m.cmds) / float64(p.Requests)
	}
}

// idSet counts how many of the expected ids a read saw.
type idSet struct {
	mu     sync.Mutex
	want   map[string]bool
	seen   int
	unique int
}

func newIDSet(recs []record) *idSet {
	s := &idSet{want: make(map[string]bool, len(recs))}
	for _, r := range recs {
		s.want[r.ID] = false
	}
	return s
}

func (s *idSet) see(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen++
	if got, ok := s.want[id]; ok && !got {
		s.want[id] = true
		s.unique++
	}
}

func (s *idSet) check(what string) error {
	if s.unique != len(s.want) {
		return fmt.Errorf("%s: saw %d of %d records", what, s.unique, len(s.want))
	}
	return nil
}

func measure(ctx context.Context, d driver, f runFlags) (*Result, error) {
	res := &Result{System: f.system, Tag: f.tag, Started: time.Now().UTC(), Records: f.records, Devices: f.devices,
		Batch: f.batch, InFlight: f.inflight, PageLimit: f.page}
	recs := makeRecords(f.records, f.site, 1)
	extra := makeRecords(f.extra, f.site, 2)
	m := &meter{d: d, serverPID: f.serverPID, storesPID: f.storesPID, profileDir: f.profileDir, profileSeconds: f.profileSeconds,
		profileURLs: map[string]string{"server": f.debugURL, "stores": f.storesDebugURL}}

	// push sends recs as the devices' batches.
	push := func(name string, recs []record) (Phase, error) {
		m.start(ctx, name)
		dur, lat, err := runBatches(ctx, planBatches(recs, f.devices, f.batch), f.inflight, d.push)
		if err != nil {
			return Phase{}, fmt.Errorf("%s: %w", name, err)
		}
		p := newPhase(len(recs), dur, lat)
		m.stop(ctx, &p)
		logPhase(f.system, name, p)
		return p, nil
	}
	// read times one read that must see every record of want.
	read := func(name string, want []record, fn func(seen func(string)) (latencies, error)) (Phase, error) {
		ids := newIDSet(want)
		m.start(ctx, name)
		t := time.Now()
		lat, err := fn(ids.see)
		if err != nil {
			return Phase{}, fmt.Errorf("%s: %w", name, err)
		}
		p := newPhase(ids.seen, time.Since(t), lat)
		m.stop(ctx, &p)
		if lat != nil {
			logPhase(f.system, name, p)
		}
		return p, ids.check(name)
	}

	var err error
	if res.Push, err = push("push", recs); err != nil {
		return nil, err
	}
	var cursor string
	if res.Pull, err = read("pull", recs, func(seen func(string)) (lat latencies, err error) {
		cursor, lat, err = d.pull(ctx, "", seen)
		return lat, err
	}); err != nil {
		return nil, err
	}
	streamed := false
	stream, err := read("stream", recs, func(seen func(string)) (latencies, error) {
		t := time.Now()
		ok, err := d.stream(ctx, seen)
		if !ok {
			return nil, nil
		}
		streamed = true
		return latencies{time.Since(t)}, err
	})
	if streamed {
		if err != nil {
			return nil, err
		}
		res.Stream = &stream
	}
	if res.IncPush, err = push("incremental_push", extra); err != nil {
		return nil, err
	}
	if res.IncPull, err = read("incremental_pull", extra, func(seen func(string)) (lat latencies, err error) {
		_, lat, err = d.pull(ctx, cursor, seen)
		return lat, err
	}); err != nil {
		return nil, err
	}
	res.PeakRSSMiB, _ = procPeakRSS(f.serverPID)
	res.StoresPeakRSSMiB, _ = procPeakRSS(f.storesPID)
	return res, nil
}

// logPhase tells the person watching scripts/bench that the run is alive.
func logPhase(system, name string, p Phase) {
	fmt.Fprintf(os.Stderr, "   %s %-16s %6d records in %7.2fs  %8.0f records/s\n", system, name, p.Records, p.Seconds, p.RecordsPerS)
}

// httpClient is a keep-alive client sized for the workload's concurrency.
func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        128,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     60 * time.Second,
	}}
}

// fetchProfile saves a CPU profile of seconds from a Go debug server.
func fetchProfile(ctx context.Context, debugURL string, seconds int, path string) error {
	return fetchURL(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", debugURL, seconds), path)
}

// fetchURL saves what a GET of u answers into path.
func fetchURL(ctx context.Context, u, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
