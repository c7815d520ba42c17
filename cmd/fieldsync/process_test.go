package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests run fieldsync as a real process: built once per test binary,
// started on a data dir, killed with SIGKILL or stopped with SIGTERM.

// pkgDir is resolved at init, before the embedded S3 gateway changes the
// process's working directory (posix.New chdirs to its root).
var pkgDir, _ = os.Getwd()

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func fieldsyncBinary(tb testing.TB) string {
	tb.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fieldsync-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "fieldsync")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Dir = pkgDir
		out, err := build.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		tb.Fatal(binErr)
	}
	return binPath
}

// proc is a running fieldsync server process.
type proc struct {
	cmd  *exec.Cmd
	Base string
	logs *syncBuffer
	done chan error
}

// startProcess starts `fieldsync serve` on dir with extra env and waits until it serves.
func startProcess(tb testing.TB, dir string, env ...string) *proc {
	tb.Helper()
	return startProcessIn(tb, "", append([]string{"FIELDSYNC_DATA_DIR=" + dir}, env...)...)
}

// startProcessIn starts `fieldsync serve` in the working directory cwd (the
// test's own when empty) with env, and waits until it serves.
func startProcessIn(tb testing.TB, cwd string, env ...string) *proc {
	tb.Helper()
	cmd := exec.Command(fieldsyncBinary(tb), "serve")
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "FIELDSYNC_ADDR=127.0.0.1:0", "FIELDSYNC_LOG_LEVEL=info")
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &proc{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = p.logs.Write([]byte(line + "\n"))
			var l struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "fieldsync serving" {
				addr <- l.Addr
			}
		}
	}()
	go func() { p.done <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	select {
	case a := <-addr:
		p.Base = "http://" + a
	case err := <-p.done:
		p.done <- err
		tb.Fatalf("fieldsync exited at start: %v\n%s", err, p.logs.String())
	case <-time.After(60 * time.Second):
		tb.Fatalf("fieldsync did not start\n%s", p.logs.String())
	}
	return p
}

// kill9 kills the process without warning, as a crash or the OOM killer would.
func (p *proc) kill9(tb testing.TB) {
	tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.done
	p.done <- err
}

// term sends SIGTERM and waits for the exit status.
func (p *proc) term(tb testing.TB) error {
	tb.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(60 * time.Second):
		tb.Fatalf("fieldsync did not stop after SIGTERM\n%s", p.logs.String())
		return nil
	}
}

func getStatus(tb testing.TB, url string) int {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestProcessKillAndRestart kills the server with SIGKILL and restarts it on
// the same data dir: it comes back ready with the same generated credentials.
func TestProcessKillAndRestart(t *testing.T) {
	dir := t.TempDir()
	p := startProcess(t, dir)
	if got := getStatus(t, p.Base+"/readyz"); got != 200 {
		t.Fatalf("got /readyz %d, want 200\n%s", got, p.logs.String())
	}
	creds, err := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if err != nil {
		t.Fatal(err)
	}
	p.kill9(t)
	p = startProcess(t, dir)
	if got := getStatus(t, p.Base+"/readyz"); got != 200 {
		t.Fatalf("after SIGKILL and restart: got /readyz %d, want 200\n%s", got, p.logs.String())
	}
	again, _ := os.ReadFile(filepath.Join(dir, "credentials.json"))
	if string(again) != string(creds) {
		t.Fatal("restart generated new store credentials instead of reusing them")
	}
	if err := p.term(t); err != nil {
		t.Fatalf("SIGTERM: got exit %v, want a clean exit\n%s", err, p.logs.String())
	}
	if !strings.Contains(p.logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the logs:\n%s", p.logs.String())
	}
}
