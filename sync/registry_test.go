package sync_test

import (
	"slices"
	"testing"

	"fieldsync"
	fsync "fieldsync/sync"
)

// TestDeclarationsMatchTheRegistry: the engine declares exactly the synced
// collections of the registry (fieldsync.SyncedCollections), from which the
// indexes, the media citations and the docs are derived; a collection whose
// records cite media is registered as Evidence, one naming a unit as Units.
func TestDeclarationsMatchTheRegistry(t *testing.T) {
	var declared []string
	for _, c := range fsync.DefaultCollections() {
		declared = append(declared, c.Name)
		i := slices.IndexFunc(fieldsync.SyncedCollections, func(r fieldsync.SyncedCollection) bool { return r.Name == c.Name })
		if i < 0 {
			t.Errorf("collection %s is declared but not in fieldsync.SyncedCollections", c.Name)
			continue
		}
		reg := fieldsync.SyncedCollections[i]
		for _, f := range c.Fields {
			if (f.Kind == fsync.Media || f.Kind == fsync.MediaList) && !reg.Evidence {
				t.Errorf("%s.%s cites media but the registry says %s holds no evidence", c.Name, f.Name, c.Name)
			}
			if f.Name == "unit_id" && !reg.Units {
				t.Errorf("%s names a unit but the registry says it does not", c.Name)
			}
		}
	}
	slices.Sort(declared)
	registered := fieldsync.SyncedCollectionNames(nil)
	slices.Sort(registered)
	if !slices.Equal(declared, registered) {
		t.Fatalf("declared %v, registered %v", declared, registered)
	}
}
