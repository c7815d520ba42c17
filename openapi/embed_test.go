package openapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"fieldsync/openapi"
)

// TestDocsBuildIsCurrent fails when the committed /docs build (docs/dist,
// embedded in the binary) was not made from the committed sources and
// lockfile: docs/build.mjs records their SHA-256 in dist/STAMP. The full
// byte-for-byte check (`npm ci && npm run check` in openapi/docs) runs in
// scripts/test.
func TestDocsBuildIsCurrent(t *testing.T) {
	lock, err := os.ReadFile(filepath.Join("docs", "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"package-lock.json " + sum(lock)}
	srcs, err := os.ReadDir(filepath.Join("docs", "src"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range srcs {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("docs", "src", n))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, "src/"+n+" "+sum(b))
	}
	var l struct {
		Packages map[string]struct{ Version string } `json:"packages"`
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatal(err)
	}
	want = append(want, "swagger-ui-dist "+l.Packages["node_modules/swagger-ui-dist"].Version)
	got, err := fs.ReadFile(openapi.Docs(), "STAMP")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.Join(want, "\n")+"\n" {
		t.Fatalf("openapi/docs/dist is stale against its sources or lockfile; run: cd openapi/docs && npm ci && npm run build\ngot STAMP:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, f := range []string{"index.html", "init.js", "swagger-ui-bundle.js", "swagger-ui.css"} {
		if _, err := fs.Stat(openapi.Docs(), f); err != nil {
			t.Errorf("the /docs build lacks %s: %v", f, err)
		}
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
