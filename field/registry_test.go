package field_test

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"fieldsync"
	"fieldsync/field"
	fsync "fieldsync/sync"
)

// TestDeclarationsMatchTheRegistry: the registry (field.Registry, from
// which cmd/ derives the stores' indexes and the uploads' citations) names
// exactly the declared collections, in order; a collection whose records
// cite media is registered as Evidence.
func TestDeclarationsMatchTheRegistry(t *testing.T) {
	reg := field.Registry()
	colls := field.Collections(field.Options{})
	if len(reg) != len(colls) {
		t.Fatalf("registry has %d collections, the declarations %d", len(reg), len(colls))
	}
	for i, c := range colls {
		if reg[i].Name != c.Name {
			t.Fatalf("registry entry %d is %s, declaration %s", i, reg[i].Name, c.Name)
		}
		for _, f := range c.Fields {
			if (f.Kind == fsync.Media || f.Kind == fsync.MediaList) && !reg[i].Evidence {
				t.Errorf("%s.%s cites media but the registry says %s holds no evidence", c.Name, f.Name, c.Name)
			}
		}
	}
	i := slices.IndexFunc(reg, func(r fieldsync.SyncedCollection) bool { return r.Name == fieldsync.CollWorkOrders })
	if i < 0 || !reg[i].Units || !reg[i].Dated || !reg[i].Evidence {
		t.Fatalf("registry %+v: want work_orders with Evidence, Units and Dated", reg)
	}
}

// TestDataModelNamesEveryCollection: docs/DATA-MODEL.md lists the
// registered collections, in the registry's order, and shows an example
// document of each (under a line that names it).
func TestDataModelNamesEveryCollection(t *testing.T) {
	_, self, _, _ := runtime.Caller(0) // the devstack changes the working directory
	doc, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "docs", "DATA-MODEL.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range field.Registry() {
		names = append(names, "`"+c.Name+"`")
	}
	if list := strings.Join(names, ", "); !strings.Contains(strings.ReplaceAll(string(doc), "\n", " "), list) {
		t.Errorf("docs/DATA-MODEL.md does not list the registered collections: want %s", list)
	}
	for _, n := range names {
		if !slices.ContainsFunc(strings.Split(string(doc), "\n"), func(l string) bool {
			return strings.HasPrefix(l, "`") && strings.HasSuffix(l, ":") && strings.Contains(l, n)
		}) {
			t.Errorf("docs/DATA-MODEL.md shows no example of %s (a line \"%s …:\" before it)", n, n)
		}
	}
}
