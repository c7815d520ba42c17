package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fieldsync/devstack/devtest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

func TestPlanBatchesKeepsEachDeviceInOrderAndCoversAll(t *testing.T) {
	t.Parallel()
	recs := makeRecords(1003, "s", 1)
	bs := planBatches(recs, 7, 50)
	seen := map[string]bool{}
	last := map[int]string{}
	for _, b := range bs {
		if len(b.Records) == 0 || len(b.Records) > 50 {
			t.Fatalf("got a batch of %d records, want 1..50", len(b.Records))
		}
		for _, r := range b.Records {
			if seen[r.ID] {
				t.Fatalf("record %s in two batches", r.ID)
			}
			seen[r.ID] = true
			// UUIDv7 ids are made in order: a device's records must go out increasing.
			if r.ID <= last[b.Device] {
				t.Fatalf("device %d sent %s after %s", b.Device, r.ID, last[b.Device])
			}
			last[b.Device] = r.ID
		}
	}
	if len(seen) != len(recs) {
		t.Fatalf("got %d records in batches, want %d", len(seen), len(recs))
	}
}

func TestRecordsAreAbout400Bytes(t *testing.T) {
	t.Parallel()
	for _, r := range makeRecords(20, "site-bench", 3) {
		n := len(mustJSON(t, r.Fields)) + len(r.ID)
		if n < 330 || n > 470 {
			t.Fatalf("got a %d-byte record, want ~400", n)
		}
	}
}

// TestRawRunMeasuresEveryPhase runs the whole measurement on the raw driver
// against the real embedded database, small.
func TestRawRunMeasuresEveryPhase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := newRawSystem(ctx, devtest.MongoURI(t), devtest.DBName(t), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	t.Cleanup(func() { _ = d.coll.Database().Drop(context.Background()) })
	res, err := measure(ctx, d, runFlags{system: "raw", records: 300, devices: 4, batch: 25, inflight: 2, extra: 40, page: 100,
		site: "s", storesPID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Push.Records != 300 || res.Push.Requests != 12 || res.Pull.Records != 300 || res.Stream == nil || res.Stream.Records != 300 {
		t.Fatalf("got push %+v pull %+v stream %+v, want 300 records in 12 batches, pulled and streamed", res.Push, res.Pull, res.Stream)
	}
	if res.IncPull.Records != 40 {
		t.Fatalf("got %d records in the incremental pull, want the 40 new ones", res.IncPull.Records)
	}
	if res.Push.RecordsPerS <= 0 || res.StoresPeakRSSMiB <= 0 {
		t.Fatalf("got %.1f records/s and %.1f MiB, want both measured", res.Push.RecordsPerS, res.StoresPeakRSSMiB)
	}
}

func TestReportMediansRatiosAndSection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for i, v := range []struct {
		sys  string
		push float64
	}{{"fieldsync", 9000}, {"fieldsync", 3000}, {"fieldsync", 6000}, {"pouchdb", 2000}, {"raw", 10000}} {
		r := Result{System: v.sys, Push: Phase{RecordsPerS: v.push}, Pull: Phase{RecordsPerS: 1000}, PeakRSSMiB: 50}
		p := filepath.Join(dir, v.sys+string(rune('a'+i))+".json")
		if err := os.WriteFile(p, mustJSON(t, r), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	md := filepath.Join(dir, "B.md")
	os.WriteFile(md, []byte("# B\n\nintro\n\n"+beginMark+"\nold\n"+endMark+"\n\n## prose kept\n"), 0o644)
	var out strings.Builder
	if err := run(context.Background(), append([]string{"report", "-md", md}, files...), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| push records/s | 6000 | 2000 | 10000 |") {
		t.Fatalf("want the median 6000 beside 2000 and 10000 in:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "| push records/s vs pouchdb-server | 3.00 | >= 2 | met |") ||
		!strings.Contains(out.String(), "| push records/s vs raw insertMany (same batches, same concurrency, same database) | 0.60 | >= 1.0 | **not met** |") {
		t.Fatalf("want the goal ratios in:\n%s", out.String())
	}
	b, _ := os.ReadFile(md)
	if s := string(b); !strings.Contains(s, "intro") || !strings.Contains(s, "## prose kept") || strings.Contains(s, "\nold\n") {
		t.Fatalf("want the section replaced and the prose kept, got:\n%s", s)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
