package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"go.mongodb.org/mongo-driver/v2/bson"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigNamesTheBadVariable(t *testing.T) {
	chdirPkg(t)
	for _, tc := range []struct{ name, value string }{
		{"FIELDSYNC_ADDR", "8080"},
		{"FIELDSYNC_MONGO_URI", "postgres://x"},
		{"FIELDSYNC_S3_SECURE", "maybe"},
		{"FIELDSYNC_LOG_LEVEL", "loud"},
		{"FIELDSYNC_SYNC_RETENTION", "30 days"},
		{"FIELDSYNC_S3_ENDPOINT", "http://minio:9000"},
		{"FIELDSYNC_RATE_PER_DEVICE", "fast"},
		{"FIELDSYNC_RATE_PER_ADDRESS", "10"},
		{"FIELDSYNC_MEDIA_MAX_BYTES", "20MiB"},
		{"FIELDSYNC_MEDIA_MAX_BYTES", "0"},
		{"FIELDSYNC_MEDIA_MAX_BYTES_VIDEO", "200MiB"},
		{"FIELDSYNC_MEDIA_MAX_BYTES_SIGNATURE", "10"},
		{"FIELDSYNC_MEDIA_MAX_BYTES_AUDIO", "-1"},
		{"FIELDSYNC_MEDIA_MAX_BYTES_DOCUMENT", "9999999999999"},
		{"FIELDSYNC_MEDIA_STAMP_FONT", "/no/such/font.ttf"},
		{"FIELDSYNC_MEDIA_STAMP_FONT", "main_test.go"},
		{"FIELDSYNC_MEDIA_UPLOAD_EXPIRY", "200h"},
		{"FIELDSYNC_MEDIA_DOWNLOAD_EXPIRY", "-1m"},
		{"FIELDSYNC_MEDIA_CLEANUP_AGE", "week"},
		{"FIELDSYNC_MEDIA_CLEANUP_INTERVAL", "0s"},
	} {
		_, err := LoadConfig(envOf(map[string]string{tc.name: tc.value}))
		if err == nil || !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%q: got error %v, want one naming %s", tc.name, tc.value, err, tc.name)
		}
	}
	c, err := LoadConfig(envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	// Absolute at once (the embedded S3 gateway changes the working directory at start).
	if wantDir, _ := filepath.Abs("data"); c.Addr != "127.0.0.1:8080" || c.DataDir != wantDir || c.SyncRetention != 720*time.Hour || c.MongoDB != "fieldsync" {
		t.Fatalf("got defaults %+v", c)
	}
	if m := c.Media; m.MaxBytes != 20<<20 || m.UploadExpiry != 15*time.Minute || m.DownloadExpiry != 5*time.Minute ||
		m.CleanupAge != 168*time.Hour || m.CleanupInterval != 10*time.Minute || m.MaxBytesByKind["video"] != 200<<20 ||
		m.MaxBytesByKind["signature"] != 2<<20 || m.MaxBytesByKind["audio"] != 20<<20 || m.MaxBytesByKind["document"] != 20<<20 {
		t.Fatalf("got media defaults %+v", m)
	}
}

// chdirPkg returns this test binary to the package directory: an embedded S3
// gateway started in-process by an earlier test left it in that test's
// (removed) directory, and LoadConfig makes relative paths absolute against it.
func chdirPkg(tb testing.TB) {
	tb.Helper()
	if err := os.Chdir(pkgDir); err != nil {
		tb.Fatal(err)
	}
}

func TestHelpListsSubcommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, envOf(nil), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"serve", "seed demo", "user add", "version"} {
		if !strings.Contains(out.String(), sub) {
			t.Errorf("--help does not list %q:\n%s", sub, out.String())
		}
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveOnce runs `fieldsync serve` in-process on the embedded stack until
// check returns, then cancels it as SIGTERM would and waits for a clean stop.
func serveOnce(t *testing.T, dir string, check func(base string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncBuffer{}
	done := make(chan error, 1)
	env := envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir, "FIELDSYNC_ADDR": "127.0.0.1:0"})
	go func() { done <- run(ctx, []string{"serve"}, env, io.Discard, logs) }()
	var base string
	deadline := time.Now().Add(60 * time.Second)
	for base == "" {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start; logs:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve returned early: %v; logs:\n%s", err, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		for _, line := range strings.Split(logs.String(), "\n") {
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "fieldsync serving" {
				base = "http://" + l.Addr
			}
		}
	}
	check(base)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
}

// TestServeOnEmbeddedDefaults is README command 1: the server comes up on the
// embedded stores, /readyz answers 200, and it stops cleanly.
func TestServeOnEmbeddedDefaults(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		serveOnce(t, dir, func(base string) {
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("got /readyz %d %s, want 200", resp.StatusCode, body)
			}
		})
	}
}

// TestSecondStartKeepsData opens the app twice on one data dir: records and
// objects written by the first start are there for the second.
func TestSecondStartKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg, err := LoadConfig(envOf(map[string]string{"FIELDSYNC_DATA_DIR": dir}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		app, err := OpenApp(ctx, cfg, newLogger(cfg, io.Discard))
		if err != nil {
			t.Fatal(err)
		}
		coll := app.store.DB.Collection("keep")
		if i == 0 {
			if _, err := coll.InsertOne(ctx, bson.M{"_id": "a", "v": 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := app.objects.Client.PutObject(ctx, app.objects.Bucket, "keep/a", strings.NewReader("evidence"), 8, minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		} else {
			if n, err := coll.CountDocuments(ctx, bson.M{"_id": "a"}); err != nil || n != 1 {
				t.Fatalf("second start: got %d docs (err %v), want 1", n, err)
			}
			obj, err := app.objects.Client.GetObject(ctx, app.objects.Bucket, "keep/a", minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(obj)
			if err != nil || string(b) != "evidence" {
				t.Fatalf("second start: got object %q (err %v), want evidence", b, err)
			}
		}
		app.Close()
	}
}

func TestGCDefault(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("GOGC unset: GC percent %d, want %d", got, defaultGCPercent)
	}
	tuneGC(func(k string) string { return map[string]string{"GOGC": "50"}[k] })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC set: GC percent changed to %d, want it left alone", got)
	}
}
