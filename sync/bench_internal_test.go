package sync

import (
	"fmt"
	"testing"
)

// BenchmarkMergeAppendOnly is the field-level merge of a stale update's
// append-only list (photo ids) into the stored one: a set union.
func BenchmarkMergeAppendOnly(b *testing.B) {
	var stored, incoming []any
	for i := range 50 {
		stored = append(stored, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
		incoming = append(incoming, fmt.Sprintf("00000000-0000-4000-8000-%012d", i+25))
	}
	for b.Loop() {
		if got := union(stored, incoming).([]any); len(got) != 75 {
			b.Fatalf("union has %d elements", len(got))
		}
	}
}
