package sim

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxSamples bounds the latencies kept per operation (a reservoir beyond it).
const maxSamples = 200_000

// counters are the live figures of a run, read by the progress display.
type counters struct {
	pushed, applied, duplicates, conflicts, rejected atomic.Int64
	pulled, pushes, pulls, lost, offline             atomic.Int64
	photos, photoErrors                              atomic.Int64
}

// Snapshot is the state of a running simulation, for a progress display.
type Snapshot struct {
	Elapsed, Duration time.Duration
	// Done is the fraction of the run completed, 0..1.
	Done       float64
	Pushed     int64 // mutations acknowledged by the server
	Duplicates int64
	Conflicts  int64
	Rejected   int64
	Pulled     int64 // changes received
	Errors     int64 // failed HTTP exchanges (each retry counts)
	Offline    int64 // devices offline now
}

// Percentiles of one operation's latency.
type Percentiles struct {
	Count         int
	P50, P95, P99 time.Duration
}

// recorder keeps per-operation latencies and errors by code.
type recorder struct {
	mu      sync.Mutex
	samples map[string][]time.Duration
	seen    map[string]int
	errors  map[string]int64
	nerr    atomic.Int64
}

func newRecorder() *recorder {
	return &recorder{samples: map[string][]time.Duration{}, seen: map[string]int{}, errors: map[string]int64{}}
}

func (r *recorder) latency(op string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[op]++
	s := r.samples[op]
	if len(s) < maxSamples {
		r.samples[op] = append(s, d)
		return
	}
	// Replace a sample at a stride so a long run still spans its whole length.
	s[r.seen[op]%maxSamples] = d
}

func (r *recorder) error(code string) {
	r.nerr.Add(1)
	r.mu.Lock()
	r.errors[code]++
	r.mu.Unlock()
}

func (r *recorder) percentiles() map[string]Percentiles {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]Percentiles{}
	for op, s := range r.samples {
		s = slices.Clone(s)
		slices.Sort(s)
		at := func(p float64) time.Duration {
			i := int(p*float64(len(s))+0.5) - 1
			return s[max(0, min(i, len(s)-1))]
		}
		out[op] = Percentiles{Count: r.seen[op], P50: at(0.50), P95: at(0.95), P99: at(0.99)}
	}
	return out
}

func (r *recorder) errorCounts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.errors))
	for k, v := range r.errors {
		out[k] = v
	}
	return out
}
