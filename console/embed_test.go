package console_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"fieldsync/console"
)

// TestConsoleBuildIsCurrent fails when the committed /console build (dist/,
// embedded in the binary) was not made from the committed sources: build.mjs
// records the SHA-256 of the lockfile, itself, every file of src/ and of the
// TypeScript client's sources in dist/STAMP. The byte-for-byte rebuild
// (`npm ci && npm run check` in console/) runs in scripts/test.
func TestConsoleBuildIsCurrent(t *testing.T) {
	want := []string{"package-lock.json " + sumFile(t, "package-lock.json"), "build.mjs " + sumFile(t, "build.mjs")}
	var files []string
	for _, dir := range []string{"src", filepath.Join("..", "sdk", "typescript", "src")} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files = append(files, filepath.ToSlash(p))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(files)
	for _, f := range files {
		want = append(want, f+" "+sumFile(t, f))
	}
	got, err := fs.ReadFile(console.Files(), "STAMP")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != strings.Join(want, "\n")+"\n" {
		t.Fatalf("console/dist is stale against its sources; run: cd console && npm ci && npm run build\ngot STAMP:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	for _, f := range []string{"index.html", "app.js", "app.css"} {
		if _, err := fs.Stat(console.Files(), f); err != nil {
			t.Errorf("the /console build lacks %s: %v", f, err)
		}
	}
}

func sumFile(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
