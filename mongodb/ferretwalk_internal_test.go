//go:build !noembed

package mongodb

import (
	"os"
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

// BenchmarkSJSONToBSON reads the stored rows of testdata/sjson, with
// their schemas known to the decoder and new to it.
func BenchmarkSJSONToBSON(b *testing.B) {
	entries, err := os.ReadDir("testdata/sjson")
	if err != nil || len(entries) == 0 {
		b.Fatal(len(entries), err)
	}
	var rows [][]byte
	for _, e := range entries {
		row, err := os.ReadFile("testdata/sjson/" + e.Name())
		if err != nil {
			b.Fatal(err)
		}
		rows = append(rows, row)
	}
	for _, fresh := range []bool{false, true} {
		b.Run(map[bool]string{false: "schemas_known", true: "schemas_new"}[fresh], func(b *testing.B) {
			var d sjDecoder
			for b.Loop() {
				if fresh {
					d = sjDecoder{}
				}
				for _, row := range rows {
					if _, err := d.sjsonToBSON(row); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
