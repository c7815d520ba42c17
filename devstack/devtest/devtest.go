// Package devtest gives tests real stores: one embedded stack per test binary
// (started in TestMain through Main), a fresh database and bucket per test.
// With FIELDSYNC_TEST_MONGO_URI (and FIELDSYNC_TEST_S3_ENDPOINT,
// _S3_ACCESS_KEY, _S3_SECRET_KEY) set, the same tests run against a real
// MongoDB and S3 instead.
package devtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fieldsync/devstack"
	"fieldsync/media"
	"fieldsync/mongodb"

	"github.com/minio/minio-go/v7"
)

var (
	stack                                    *devstack.Stack
	mongoURI, s3Endpoint, s3Access, s3Secret string
	tmpRoot                                  string
)

// Main runs the tests and stops the shared stack if any test started it.
// Call it from TestMain. The stack starts on first use, so test binaries (and
// fuzz workers) that never touch a store never pay for it.
func Main(m *testing.M) {
	os.Exit(run(m))
}

var (
	stackOnce sync.Once
	stackErr  error
)

func run(m *testing.M) int {
	var err error
	tmpRoot, err = os.MkdirTemp("", "fieldsync-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "devtest:", err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	mongoURI = os.Getenv("FIELDSYNC_TEST_MONGO_URI")
	s3Endpoint = os.Getenv("FIELDSYNC_TEST_S3_ENDPOINT")
	s3Access, s3Secret = os.Getenv("FIELDSYNC_TEST_S3_ACCESS_KEY"), os.Getenv("FIELDSYNC_TEST_S3_SECRET_KEY")
	defer func() {
		if stack != nil {
			stack.Close()
		}
	}()
	return m.Run()
}

// ensureStack starts the embedded stores the environment does not provide, once.
func ensureStack(tb testing.TB) {
	tb.Helper()
	stackOnce.Do(func() {
		if mongoURI != "" && s3Endpoint != "" {
			return
		}
		stack, stackErr = devstack.Start(context.Background(), devstack.Options{
			Dir: filepath.Join(tmpRoot, "stack"), NoDatabase: mongoURI != "", NoObjectStore: s3Endpoint != "",
			Logger: quietLogger(),
		})
		if stackErr != nil {
			return
		}
		if mongoURI == "" {
			mongoURI = stack.MongoURI
		}
		if s3Endpoint == "" {
			s3Endpoint, s3Access, s3Secret = stack.S3Endpoint, stack.S3AccessKey, stack.S3SecretKey
		}
	})
	if stackErr != nil {
		tb.Fatalf("devtest: embedded stores: %v", stackErr)
	}
}

// MongoURI is the shared database server's URI.
func MongoURI(tb testing.TB) string { ensureStack(tb); return mongoURI }

// S3 returns the shared object store's endpoint and keys.
func S3(tb testing.TB) (endpoint, access, secret string) {
	ensureStack(tb)
	return s3Endpoint, s3Access, s3Secret
}

// Name returns a fresh name usable as a database or bucket name, derived from the test.
func Name(tb testing.TB) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	n := strings.ToLower(tb.Name())
	n = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, n)
	if len(n) > 40 {
		n = n[:40]
	}
	return strings.Trim(n, "-") + "-" + hex.EncodeToString(b)
}

// DBName returns the database name Store(tb) would use, for a second store on the same database.
func DBName(tb testing.TB) string { return strings.ReplaceAll("t"+Name(tb), "-", "_") }

// MustOpenStore returns a store on a fresh database, dropped when the test ends.
func MustOpenStore(tb testing.TB) *mongodb.Store {
	tb.Helper()
	return MustOpenStoreDB(tb, DBName(tb), mongodb.Options{})
}

// MustOpenStoreDB opens another connection pool on database name (a second API instance).
func MustOpenStoreDB(tb testing.TB, name string, opts mongodb.Options) *mongodb.Store {
	tb.Helper()
	ctx := context.Background()
	ensureStack(tb)
	s, err := mongodb.Open(ctx, mongoURI, name, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.DB.Drop(ctx)
		_ = s.Close(ctx)
	})
	return s
}

// MustOpenObjects returns an object store on a fresh bucket, emptied and removed when the test ends.
func MustOpenObjects(tb testing.TB) *media.ObjectStore {
	tb.Helper()
	ensureStack(tb)
	o, err := media.OpenObjectStore(media.ObjectStoreOptions{
		Endpoint: s3Endpoint, AccessKey: s3Access, SecretKey: s3Secret, Bucket: Name(tb),
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := o.EnsureBucket(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for obj := range o.Client.ListObjects(ctx, o.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			if obj.Err == nil {
				_ = o.Client.RemoveObject(ctx, o.Bucket, obj.Key, minio.RemoveObjectOptions{})
			}
		}
		_ = o.Client.RemoveBucket(ctx, o.Bucket)
	})
	return o
}

// TempDir is a directory under the shared test root (t.TempDir works too).
func TempDir(tb testing.TB) string {
	tb.Helper()
	d, err := os.MkdirTemp(tmpRoot, "t")
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
