// Package sim plays a site's field staff against a fieldsync server through
// the public client: guards log inspections (some with photos), customer
// service raises complaints and dispatches work orders and edits records,
// technicians work their orders — with offline periods, lost answers and
// concurrent edits — and at the end checks that every device's local copy
// equals a fresh bootstrap of its scope. It drives `fieldsync sim` and the
// client package's convergence test.
package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"fieldsync/client"
)

// Account is a user the simulator logs in as; its role comes from the login answer.
type Account struct {
	Username, Password string
}

// Options configure Run. Zero values mean the defaults in brackets.
type Options struct {
	// BaseURL is the server (http://127.0.0.1:8080).
	BaseURL string
	// Tenant is sent with every login (empty: the server's default tenant).
	Tenant string
	// Accounts are the staff to play; each gets DevicesPerUser phones [1].
	Accounts       []Account
	DevicesPerUser int
	// Duration bounds the run [20s]; Rounds, when set, stops each device after that many rounds.
	Duration time.Duration
	Rounds   int
	// Think is the pause between a device's rounds [250ms].
	Think time.Duration
	// OfflineRate is the chance a round starts an offline period of OfflineFor [2s]:
	// the device keeps working into its outbox and syncs when back.
	OfflineRate float64
	OfflineFor  time.Duration
	// LostRate is the chance the answer to a push is lost on the way back (the
	// client retries; the server must answer duplicate).
	LostRate float64
	// PhotoRate is the chance a new inspection carries a photo, uploaded
	// through the resumable path (parts to the object store, then complete).
	PhotoRate float64
	// BatchSize bounds the mutations of one push [50].
	BatchSize int
	// Seed makes the choices reproducible [1].
	Seed uint64
	// Progress, when set, is called about every ProgressEvery [250ms] while the run lasts.
	Progress      func(Snapshot)
	ProgressEvery time.Duration
	// Transport sends the requests (default: http.DefaultTransport's settings with more idle connections).
	Transport http.RoundTripper
}

// Report is the outcome of a run.
type Report struct {
	Devices int
	Elapsed time.Duration
	Pushes  int64 // push requests acknowledged
	Pushed  int64 // mutations acknowledged
	Applied int64
	// Duplicates are mutations the server recognised as already applied (after a lost answer).
	Duplicates int64
	Conflicts  int64
	// Rejected counts rejected mutations by error code.
	Rejected map[string]int64
	Pulls    int64
	Pulled   int64 // changes received by pulls
	// LostAnswers is how many push answers the simulator threw away.
	LostAnswers int64
	// Photos are the photos stored through the resumable upload; PhotoErrors
	// those that failed (the inspection went without).
	Photos, PhotoErrors int64
	Latency             map[string]Percentiles
	// Errors counts failed HTTP exchanges by code (each retried attempt counts; "transport" when no answer came).
	Errors map[string]int64
	// Collections are the collections the run wrote to.
	Collections []string
	// Converged and Diverged count devices whose local copy did (not) equal a fresh bootstrap.
	Converged, Diverged int
	Divergences         []string
}

func (o *Options) defaults() {
	if o.DevicesPerUser <= 0 {
		o.DevicesPerUser = 1
	}
	if o.Duration <= 0 {
		o.Duration = 20 * time.Second
	}
	if o.Think <= 0 {
		o.Think = 250 * time.Millisecond
	}
	if o.OfflineFor <= 0 {
		o.OfflineFor = 2 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 50
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 250 * time.Millisecond
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 64
		o.Transport = t
	}
}

// world is what all devices of a run share.
type world struct {
	opts  Options
	cnt   counters
	rec   *recorder
	start time.Time

	mu          sync.Mutex
	rejected    map[string]int64
	technicians []technician // for dispatch
	// disabled collections: the server refused creates there (not deployed yet).
	createFail map[string]int
	enabled    map[string]bool
}

// errLost is the transport error of an answer the simulator dropped.
var errLost = errors.New("sim: answer lost on the way back")

// lossy drops the answer to a push with probability rate, after the server handled it.
type lossy struct {
	next http.RoundTripper
	rate float64
	w    *world
	mu   sync.Mutex
	rng  *rand.Rand
}

func (l *lossy) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || l.rate <= 0 || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/v1/sync/push") {
		return resp, err
	}
	l.mu.Lock()
	drop := l.rng.Float64() < l.rate
	l.mu.Unlock()
	if !drop {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.w.cnt.lost.Add(1)
	return nil, errLost
}

// Run plays the accounts until the duration or the rounds are over, syncs
// every device one last time and checks convergence. It returns an error only
// when the run could not take place (no login, no server); divergence is in the Report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	opts.defaults()
	if len(opts.Accounts) == 0 {
		return nil, errors.New("sim: no accounts")
	}
	w := &world{opts: opts, rec: newRecorder(), rejected: map[string]int64{}, createFail: map[string]int{},
		enabled: map[string]bool{collInspections: true, collWorkOrders: true, collComplaints: true}}
	hc := &http.Client{Transport: &lossy{next: opts.Transport, rate: opts.LostRate, w: w, rng: rand.New(rand.NewPCG(opts.Seed, 99))}}

	var devs []*device
	for i, a := range opts.Accounts {
		for j := range opts.DevicesPerUser {
			d, err := w.newDevice(ctx, hc, a, fmt.Sprintf("sim-%s-%d", a.Username, j+1), opts.Seed+uint64(i*100+j))
			if err != nil {
				return nil, err
			}
			devs = append(devs, d)
		}
	}
	w.configure(ctx, devs[0])

	w.start = time.Now()
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	stopProgress := w.progress(runCtx, len(devs))
	var wg sync.WaitGroup
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.play(runCtx)
		}()
	}
	wg.Wait()
	stopProgress()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Everyone back online: flush every outbox, then (all writes done) check convergence.
	finCtx, finCancel := context.WithTimeout(ctx, 2*time.Minute)
	defer finCancel()
	for _, d := range devs {
		if err := d.flush(finCtx); err != nil {
			d.failf("final push: %v", err)
		}
	}
	rep := &Report{Devices: len(devs)}
	var mu sync.Mutex
	for _, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.converge(finCtx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Diverged++
				rep.Divergences = append(rep.Divergences, d.id+": "+err.Error())
			} else if len(d.failures) > 0 {
				rep.Diverged++
				rep.Divergences = append(rep.Divergences, d.id+": "+d.failures[0])
			} else {
				rep.Converged++
			}
		}()
	}
	wg.Wait()
	slices.Sort(rep.Divergences)
	w.fill(rep)
	return rep, nil
}

func (w *world) fill(rep *Report) {
	rep.Elapsed = time.Since(w.start)
	c := &w.cnt
	rep.Pushes, rep.Pushed, rep.Applied = c.pushes.Load(), c.pushed.Load(), c.applied.Load()
	rep.Duplicates, rep.Conflicts = c.duplicates.Load(), c.conflicts.Load()
	rep.Pulls, rep.Pulled, rep.LostAnswers = c.pulls.Load(), c.pulled.Load(), c.lost.Load()
	rep.Photos, rep.PhotoErrors = c.photos.Load(), c.photoErrors.Load()
	rep.Latency, rep.Errors = w.rec.percentiles(), w.rec.errorCounts()
	w.mu.Lock()
	rep.Rejected = w.rejected
	for coll, on := range w.enabled {
		if on {
			rep.Collections = append(rep.Collections, coll)
		}
	}
	w.mu.Unlock()
	slices.Sort(rep.Collections)
}

// progress calls Options.Progress until stopped.
func (w *world) progress(ctx context.Context, devices int) func() {
	if w.opts.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(w.opts.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				w.opts.Progress(w.snapshot(1))
				return
			case <-t.C:
				w.opts.Progress(w.snapshot(-1))
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

func (w *world) snapshot(done float64) Snapshot {
	el := time.Since(w.start)
	if done < 0 {
		done = min(1, float64(el)/float64(w.opts.Duration))
	}
	c := &w.cnt
	return Snapshot{Elapsed: el, Duration: w.opts.Duration, Done: done, Pushed: c.pushed.Load(),
		Duplicates: c.duplicates.Load(), Conflicts: c.conflicts.Load(), Rejected: c.rejected.Load(),
		Pulled: c.pulled.Load(), Errors: w.rec.nerr.Load(), Offline: c.offline.Load()}
}

// configure reads GET /v1/sync/config: when it lists collections, only those are written.
func (w *world) configure(ctx context.Context, d *device) {
	cfg, err := d.c.Config(ctx)
	if err != nil {
		return
	}
	var names []string
	if list, ok := cfg["collections"].([]any); ok {
		for _, it := range list {
			switch v := it.(type) {
			case string:
				names = append(names, v)
			case map[string]any:
				if n, ok := v["name"].(string); ok {
					names = append(names, n)
				}
			}
		}
	} else if m, ok := cfg["collections"].(map[string]any); ok {
		for n := range m {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for coll := range w.enabled {
		w.enabled[coll] = slices.Contains(names, coll)
	}
}

func (w *world) isEnabled(coll string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.enabled[coll]
}

// createRejected notes a refused create; after a few, the collection is left alone
// (a server without it yet answers every create with rejected).
func (w *world) createRejected(coll, code string) {
	if code != "invalid_input" && code != "forbidden" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.createFail[coll]++
	if w.createFail[coll] >= 5 && coll != collInspections {
		w.enabled[coll] = false
	}
}

func (w *world) reject(code string) {
	w.cnt.rejected.Add(1)
	w.mu.Lock()
	w.rejected[code]++
	w.mu.Unlock()
}

func (w *world) addTechnician(id, department string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if department == "" {
		department = "engineering"
	}
	w.technicians = append(w.technicians, technician{id, department})
}

// technician is a technician orders are dispatched to: orders go to the
// technicians of their department.
type technician struct{ id, department string }

func (w *world) technician(rng *rand.Rand) technician {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.technicians) == 0 {
		return technician{}
	}
	return w.technicians[rng.IntN(len(w.technicians))]
}

// observe turns the client's exchanges into latencies and error counts.
func (w *world) observe(a client.Attempt) {
	if a.Status > 0 && a.Status < 400 {
		w.rec.latency(a.Op, a.Latency)
		return
	}
	switch {
	case errors.Is(a.Err, errLost):
		w.rec.error("lost_answer")
	case errors.Is(a.Err, context.Canceled) || errors.Is(a.Err, context.DeadlineExceeded):
		// The run's end cut a request short; the outbox still holds it.
		w.rec.error("cut_at_end")
	case a.Status == 0:
		w.rec.error("transport")
	default:
		w.rec.error(fmt.Sprintf("%d %s", a.Status, a.Code))
	}
}
