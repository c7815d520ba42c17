package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// record is one inspection of the workload: an id and ~400 bytes of fields as
// a phone would send them.
type record struct {
	ID     string
	Fields map[string]any
}

var (
	categories = []string{"facilities", "fire_safety", "vehicles", "renovation", "sanitation", "greening", "other"}
	severities = []string{"low", "medium", "high", "critical"}
	words      = strings.Fields("leak stairwell basement door lock broken light flicker smoke detector battery " +
		"graffiti bin overflow parking blocked hydrant access corridor tile cracked railing loose water " +
		"pressure pump noise gate intercom lift stuck garden hose sprinkler vent dust")
)

// makeRecords builds n records for site, deterministic in seed.
func makeRecords(n int, site string, seed uint64) []record {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]record, n)
	for i := range out {
		var d strings.Builder
		for d.Len() < 200 {
			d.WriteString(words[r.IntN(len(words))])
			d.WriteByte(' ')
		}
		id, _ := uuid.NewV7()
		out[i] = record{ID: id.String(), Fields: map[string]any{
			"site_id":     site,
			"category":    categories[r.IntN(len(categories))],
			"severity":    severities[r.IntN(len(severities))],
			"description": strings.TrimSpace(d.String()),
			"location":    fmt.Sprintf("Building %d, floor %d, unit %d", 1+r.IntN(12), r.IntN(30), 1+r.IntN(8)),
			"gps":         map[string]any{"lat": 22.5 + r.Float64()/10, "lng": 114.0 + r.Float64()/10},
		}}
	}
	return out
}

// batch is one push request: a device's consecutive records.
type batch struct {
	Device  int
	Records []record
}

// planBatches splits records among devices (contiguous shares) and cuts each
// share into batches of size. Batches are interleaved round-robin across
// devices so each device's batches go out in order and far apart.
func planBatches(recs []record, devices, size int) []batch {
	per := make([][]batch, devices)
	share := (len(recs) + devices - 1) / devices
	for d := 0; d < devices; d++ {
		lo, hi := min(d*share, len(recs)), min((d+1)*share, len(recs))
		for i := lo; i < hi; i += size {
			per[d] = append(per[d], batch{Device: d, Records: recs[i:min(i+size, hi)]})
		}
	}
	var out []batch
	for k := 0; ; k++ {
		added := false
		for d := range per {
			if k < len(per[d]) {
				out = append(out, per[d][k])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// runBatches sends batches with inflight concurrent requests and returns the
// wall time and each batch's latency.
func runBatches(ctx context.Context, batches []batch, inflight int, send func(context.Context, batch) error) (time.Duration, latencies, error) {
	jobs := make(chan batch)
	var mu sync.Mutex
	var lat latencies
	var firstErr error
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				t := time.Now()
				err := send(ctx, b)
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	for _, b := range batches {
		select {
		case jobs <- b:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	return time.Since(start), lat, firstErr
}
