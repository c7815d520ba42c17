//go:build !noembed

package mongodb

import (
	"testing"
	"time"

	fsync "fieldsync/sync"
)

// TestSideWalkServesOnlyWhatItFilters: a query with any condition besides
// sites, liveness and positions goes to the driver.
func TestSideWalkServesOnlyWhatItFilters(t *testing.T) {
	served := fsync.Query{Sites: []string{"s"}, Live: true, After: 1, Upto: 9, Order: fsync.ByPositionOrCheaper, Limit: 3, Batch: 2}
	if !sideWalkServes(served) {
		t.Fatalf("%+v not served", served)
	}
	for _, q := range []fsync.Query{{Keys: []string{}}, {Equal: map[string]any{"a": 1}}, {Device: "d", OwnAbove: 1},
		{CitesAny: []string{"m"}}, {CitesMedia: true}, {Mine: &fsync.Mine{User: "u"}}, {CreatedFrom: time.Now()},
		{CreatedBefore: time.Now()}, {CreatedAfterKey: "k"}, {Order: fsync.ByCreation}} {
		if sideWalkServes(q) {
			t.Errorf("%+v served by the side door's walk", q)
		}
	}
}
