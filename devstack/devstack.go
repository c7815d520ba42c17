//go:build !noembed

// Package devstack runs the embedded stores fieldsync uses when no external
// MongoDB or S3 is configured, and in tests: FerretDB over SQLite behind a
// write-serializing wire front, and the Versity S3 gateway on a posix folder.
// Build with -tags noembed to leave it out of a production binary.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"github.com/versity/versitygw/backend/meta"
	"github.com/versity/versitygw/backend/posix"
	"github.com/versity/versitygw/embedgw"
)

// Available reports whether this binary was built with the embedded stack.
const Available = true

// Options configure Start. The zero value of every field but Dir means a default.
type Options struct {
	// Dir holds everything: db/, objects/, objmeta/ and credentials.json.
	Dir    string
	Logger *slog.Logger
	// NoDatabase and NoObjectStore skip one of the two stores.
	NoDatabase    bool
	NoObjectStore bool
	// UnlockedWrites removes the write serialization; only for the test that
	// proves the atomicity tests fail without it.
	UnlockedWrites bool
}

// Stack is a running embedded stack.
type Stack struct {
	// MongoURI reaches the embedded database through its write-serializing front.
	MongoURI string
	// S3Endpoint is host:port of the embedded S3 gateway (plain HTTP).
	S3Endpoint  string
	S3AccessKey string
	S3SecretKey string

	cancel context.CancelFunc
	lockf  *os.File
	wg     sync.WaitGroup
	lock   *wireLock
	s3Done chan error
}

type credentials struct {
	S3AccessKey string `json:"s3_access_key"`
	S3SecretKey string `json:"s3_secret_key"`
}

var gatewayOnce sync.Mutex
var gatewayStarted bool

// Start starts the embedded stores under opts.Dir and waits until both answer.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	if opts.Dir == "" {
		return nil, errors.New("devstack: empty data dir")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	// posix.New changes the working directory: resolve every path first.
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	for _, sub := range []string{"db", "objects", "objmeta"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("devstack: %w", err)
		}
	}
	// One process owns a data dir: a second one (a `seed demo` next to a running
	// server) would run its own database front on the same files and lose the
	// write serialization, so it is refused with a clear error instead.
	lockf, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	creds, err := loadCredentials(filepath.Join(dir, "credentials.json"))
	if err != nil {
		lockf.Close()
		return nil, err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s := &Stack{cancel: cancel, lockf: lockf, S3AccessKey: creds.S3AccessKey, S3SecretKey: creds.S3SecretKey}
	if !opts.NoDatabase {
		if err := s.startDatabase(runCtx, dir, log, opts.UnlockedWrites); err != nil {
			s.Close()
			return nil, err
		}
	}
	if !opts.NoObjectStore {
		if err := s.startObjectStore(ctx, runCtx, dir, log); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) startDatabase(ctx context.Context, dir string, log *slog.Logger, unlocked bool) error {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.Join(dir, "db") + "/",
		Logger:    slog.New(discardHandler{}),
	})
	if err != nil {
		return fmt.Errorf("devstack: start embedded database: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = f.Run(ctx)
	}()
	backend := hostOf(f.MongoDBURI())
	lock, err := newWireLock(backend, log)
	if err != nil {
		return fmt.Errorf("devstack: start database front: %w", err)
	}
	lock.disabled = unlocked
	lock.ferret = newFerretFront(filepath.Join(dir, "db"))
	s.lock = lock
	s.MongoURI = "mongodb://" + lock.addr() + "/?maxPoolSize=32"
	return nil
}

func hostOf(uri string) string {
	// uri is mongodb://host:port/
	h := uri[len("mongodb://"):]
	if i := len(h) - 1; i >= 0 && h[i] == '/' {
		h = h[:i]
	}
	return h
}

func (s *Stack) startObjectStore(ctx, runCtx context.Context, dir string, log *slog.Logger) error {
	gatewayOnce.Lock()
	defer gatewayOnce.Unlock()
	if gatewayStarted {
		return errors.New("devstack: only one embedded S3 gateway per process")
	}
	sc, err := meta.NewSideCar(filepath.Join(dir, "objmeta"))
	if err != nil {
		return fmt.Errorf("devstack: object store metadata: %w", err)
	}
	be, err := posix.New(filepath.Join(dir, "objects"), sc, posix.PosixOpts{
		SideCarDir:          filepath.Join(dir, "objmeta"),
		CopyObjectThreshold: 5 << 30,
		Concurrency:         64,
		NewDirPerm:          0o700,
	})
	if err != nil {
		return fmt.Errorf("devstack: object store backend: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	s.S3Endpoint = addr
	s.s3Done = make(chan error, 1)
	gatewayStarted = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := embedgw.RunVersityGW(runCtx, be, &embedgw.Config{
			RootUserAccess:    s.S3AccessKey,
			RootUserSecret:    s.S3SecretKey,
			Region:            "us-east-1",
			Ports:             []string{addr},
			MaxConnections:    512,
			MaxRequests:       512,
			MultipartMaxParts: 10000,
			Quiet:             true,
			HealthPath:        "/health",
		})
		s.s3Done <- err
		gatewayOnce.Lock()
		gatewayStarted = false
		gatewayOnce.Unlock()
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-s.s3Done:
			return fmt.Errorf("devstack: object store stopped: %w", err)
		default:
		}
		resp, err := http.Get("http://" + addr + "/health")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devstack: object store did not start: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// PauseDatabase makes the embedded database unreachable, dropping every
// connection, as a crashed or partitioned database would (fault tests).
func (s *Stack) PauseDatabase() { s.lock.pause() }

// ResumeDatabase makes it reachable again on the same address.
func (s *Stack) ResumeDatabase() error { return s.lock.resume() }

// Close stops both stores and waits for them.
func (s *Stack) Close() {
	s.cancel()
	if s.lock != nil {
		s.lock.close()
		if s.lock.ferret != nil {
			s.lock.ferret.close()
		}
	}
	s.wg.Wait()
	if s.lockf != nil {
		s.lockf.Close() // releases the flock
	}
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("devstack: data dir %s is in use by another fieldsync process; stop it first", dir)
	}
	return f, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("devstack: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func loadCredentials(path string) (credentials, error) {
	var c credentials
	b, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("devstack: %s: %w", path, err)
		}
		if c.S3AccessKey != "" && c.S3SecretKey != "" {
			return c, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return c, fmt.Errorf("devstack: %w", err)
	}
	c = credentials{S3AccessKey: "fs" + randomHex(9), S3SecretKey: randomHex(20)}
	b, _ = json.MarshalIndent(c, "", "  ")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return c, fmt.Errorf("devstack: %w", err)
	}
	return c, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type discardHandler struct{}

func (discardHandler) Enabled(context.Context, slog.Level) bool  { return false }
func (discardHandler) Handle(context.Context, slog.Record) error { return nil }
func (h discardHandler) WithAttrs([]slog.Attr) slog.Handler      { return h }
func (h discardHandler) WithGroup(string) slog.Handler           { return h }
