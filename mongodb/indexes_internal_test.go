package mongodb

import (
	"testing"

	domain "fieldsync/field"
)

// TestIndexNamesAreOnePerCollection: MongoDB refuses a second index of
// one name on other keys, so two declarations sharing a name on one
// collection would fail every start on MongoDB (FerretDB drops them).
func TestIndexNamesAreOnePerCollection(t *testing.T) {
	seen := map[string]index{}
	for _, ix := range append(recordIndexes(domain.Registry()), indexes...) {
		k := ix.Collection + "." + ix.Name
		if was, ok := seen[k]; ok {
			t.Errorf("index %s declared twice: %v and %v", k, was.Keys, ix.Keys)
		}
		seen[k] = ix
	}
	if len(seen) < 20 {
		t.Fatalf("only %d indexes declared", len(seen))
	}
}
