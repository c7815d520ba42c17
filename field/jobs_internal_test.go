package field

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	fsync "fieldsync/sync"
)

// repeatLinksByPairs is repeatLinks as it was before grouping: every order
// against every other, the reference the grouped one must agree with.
func repeatLinksByPairs(orders []*fsync.Record) []fsync.Write {
	var out []fsync.Write
	for _, o := range orders {
		unit := o.GetString("unit")
		if unit == "" || o.GetString("repeat_of") != "" {
			continue
		}
		var best *fsync.Record
		for _, p := range orders {
			done := timeOf(p, "completed_at")
			if p.ID == o.ID || done.IsZero() || p.SiteID != o.SiteID || p.GetString("unit") != unit ||
				p.GetString("building") != o.GetString("building") || p.GetString("category") != o.GetString("category") ||
				!p.CreatedAt.Before(o.CreatedAt) || done.After(o.CreatedAt) || o.CreatedAt.Sub(done) > RepeatWindow {
				continue
			}
			if best == nil || done.After(timeOf(best, "completed_at")) {
				best = p
			}
		}
		if best != nil {
			out = append(out, fsync.Write{Collection: o.Collection, ID: o.ID, Set: map[string]any{"repeat_of": best.ID}})
		}
	}
	return out
}

func TestRepeatLinksAgreeWithEveryPair(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 20 {
		var orders []*fsync.Record
		for i := range 300 {
			created := start.Add(time.Duration(r.IntN(120*24)) * time.Hour)
			f := map[string]any{"unit": []string{"", "1203", "1204"}[r.IntN(3)], "building": []string{"A", "B"}[r.IntN(2)],
				"category": []string{"plumbing", "electrical"}[r.IntN(2)]}
			if r.IntN(3) > 0 {
				// Some complete at the same instant, to check which of equals wins.
				f["completed_at"] = created.Add(time.Duration(r.IntN(10)) * 24 * time.Hour).Truncate(48 * time.Hour).Format(time.RFC3339Nano)
			}
			if r.IntN(10) == 0 {
				f["repeat_of"] = "x"
			}
			orders = append(orders, &fsync.Record{ID: fmt.Sprint(round, "-", i), Collection: "work_orders",
				SiteID: []string{"s1", "s2"}[r.IntN(2)], CreatedAt: created, Fields: f})
		}
		want, got := repeatLinksByPairs(orders), repeatLinks(orders)
		if len(want) == 0 {
			t.Fatal("no order links a repeat: the comparison proves nothing")
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: grouped links differ from every pair's:\n%v\n%v", round, got, want)
		}
	}
}
