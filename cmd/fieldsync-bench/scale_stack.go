package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// scaleStack is the processes of one scenario: the embedded stores in a
// `fieldsync devstack` process and, once the tenant is filled, the API.
type scaleStack struct {
	bin, dir string
	// env is FIELDSYNC_* for every fieldsync command of the scenario.
	env    map[string]string
	stores *proc
	api    *proc
	base   string
	// seedOut is what `fieldsync seed demo` printed (it names the demo users' ids).
	seedOut string
}

func startScaleStack(ctx context.Context, bin, dir string) (*scaleStack, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &scaleStack{bin: bin, dir: dir, env: map[string]string{
		"FIELDSYNC_DATA_DIR": dir, "FIELDSYNC_LOG_LEVEL": "warn",
	}}
	envFile := filepath.Join(dir, "env")
	var err error
	s.env["FIELDSYNC_DEBUG_ADDR"] = freeAddr()
	fmt.Fprintf(os.Stderr, "   stores debug server http://%s\n", s.env["FIELDSYNC_DEBUG_ADDR"])
	if s.stores, err = s.start("devstack", "stores.log", "devstack", "--env-file", envFile); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(envFile)
		if err == nil {
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					s.env[k] = v
				}
			}
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("devstack did not start (see %s/stores.log)", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The demo tenant: sites A and B, its users, a week of activity.
	seed := s.command(ctx, "seed", "demo")
	out, err := seed.CombinedOutput()
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("seed demo: %w: %s", err, out)
	}
	s.seedOut = string(out)
	return s, nil
}

// serve starts the API process on a free port and waits until it is ready.
func (s *scaleStack) serve(ctx context.Context) error {
	addr := freeAddr()
	s.env["FIELDSYNC_ADDR"] = addr
	s.env["FIELDSYNC_DEFAULT_TENANT"] = "demo"
	s.env["FIELDSYNC_DEBUG_ADDR"] = freeAddr()
	fmt.Fprintf(os.Stderr, "   API debug server http://%s\n", s.env["FIELDSYNC_DEBUG_ADDR"])
	s.env["FIELDSYNC_RATE_PER_ADDRESS"] = "off"
	s.env["FIELDSYNC_RATE_PER_DEVICE"] = "off"
	var err error
	if s.api, err = s.start("serve", "api.log", "serve"); err != nil {
		return err
	}
	s.base = "http://" + addr
	deadline := time.Now().Add(120 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the API did not become ready (see %s/api.log)", s.dir)
}

func (s *scaleStack) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = os.Environ()
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = s.dir
	return cmd
}

// proc is a running fieldsync process; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// start runs a long-lived fieldsync command with its output in logName.
func (s *scaleStack) start(what, logName string, args ...string) (*proc, error) {
	// Not tied to a context: stop ends it with SIGTERM so it shuts down cleanly.
	cmd := s.command(context.Background(), args...)
	logf, err := os.Create(filepath.Join(s.dir, logName))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// stop ends the API, then the stores, each with SIGTERM (SIGKILL after 30 s).
func (s *scaleStack) stop() {
	for _, p := range []*proc{s.api, s.stores} {
		if p == nil {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	s.api, s.stores = nil, nil
}

// freeAddr is a free loopback address for a process to listen on.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}
