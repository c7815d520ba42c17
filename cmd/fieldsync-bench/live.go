package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fieldsync/client"

	"github.com/google/uuid"
)

// Targets of issue 17, target 4 ("live phones").
const (
	liveRSSTargetMiB  = 1024
	liveIdleCPUTarget = 25 // percent of one core
	liveFanoutTarget  = 2 * time.Second
	livePushTarget    = 100 * time.Millisecond
)

// LiveResult is one `fieldsync-bench live` run: the server holding more and
// more event streams, one step per stream count.
type LiveResult struct {
	Tag      string    `json:"tag"`
	Started  time.Time `json:"started"`
	Users    int       `json:"users"`
	Sessions int       `json:"sessions"`
	// PerSession is how many streams each session opens.
	PerSession int        `json:"streams_per_session"`
	Idle       float64    `json:"idle_seconds"`
	NoFile     uint64     `json:"client_nofile"`
	Steps      []LiveStep `json:"steps"`
	Complete   bool       `json:"complete"`
}

// LiveStep is the server at one number of open streams.
type LiveStep struct {
	Streams     int     `json:"streams"`
	Open        int     `json:"open"`         // streams open after the ramp
	Refused     int     `json:"refused"`      // streams the server did not open (status, error)
	RampSeconds float64 `json:"ramp_seconds"` // to open this step's new streams
	// Server process: resident set (VmRSS) after the ramp and after the idle
	// window, goroutines after the ramp, CPU over the idle window.
	RSSAfterRampMiB float64 `json:"rss_after_ramp_mib"`
	RSSAfterIdleMiB float64 `json:"rss_after_idle_mib"`
	Goroutines      int     `json:"goroutines,omitempty"`
	IdleCPUPercent  float64 `json:"idle_cpu_percent"`
	// StoresIdleCPUPercent is the database process's CPU over the same window.
	StoresIdleCPUPercent float64 `json:"stores_idle_cpu_percent"`
	// Streams the server ended during the idle window, and reconnects the
	// clients made for them (after the stream's `retry`, as EventSource does).
	EndedIdle  int `json:"ended_while_idle"`
	Reconnects int `json:"reconnects"`
	// One push at the site every stream watches.
	PushMs float64 `json:"push_ms"`
	// Fan-out: from sending the push to each stream's `changed`.
	FanoutStreams int     `json:"fanout_streams"` // streams open when the push went out
	Received      int     `json:"received"`       // got `changed` within the wait
	Within2s      int     `json:"within_2s"`
	FanoutP50ms   float64 `json:"fanout_p50_ms"`
	FanoutP99ms   float64 `json:"fanout_p99_ms"` // -1: more than 1 % got nothing within the wait
	FanoutWaitS   float64 `json:"fanout_wait_seconds"`
}

type liveFlags struct {
	url, debugURL, admin, tenant, site, out, tag, profileDir, tokens string
	sources                                                          string
	steps                                                            string
	serverPID, storesPID                                             int
	idle, wait                                                       time.Duration
	inflight, sessionsPerUser, perSession                            int
}

func runLive(ctx context.Context, args []string, stdout io.Writer) error {
	var f liveFlags
	fs := flag.NewFlagSet("live", flag.ContinueOnError)
	fs.StringVar(&f.url, "url", "", "base URL of the fieldsync API")
	fs.StringVar(&f.debugURL, "debug-url", "", "fieldsync debug server (FIELDSYNC_DEBUG_ADDR): goroutines, and profiles with -profile-dir")
	fs.StringVar(&f.admin, "admin", "", "ADMIN:PASSWORD of an admin who creates the phones' users")
	fs.StringVar(&f.tenant, "tenant", "", "tenant (empty: the server's default)")
	fs.StringVar(&f.site, "site", "site-live", "the site every phone's user works at")
	fs.StringVar(&f.steps, "streams", "1000,5000,10000,20000", "stream counts to measure at, ascending")
	fs.StringVar(&f.sources, "sources", "127.0.0.1-127.0.0.8", "loopback source addresses the streams are spread over (FIRST-LAST or a list)")
	fs.IntVar(&f.serverPID, "server-pid", 0, "pid of the fieldsync API process")
	fs.IntVar(&f.storesPID, "stores-pid", 0, "pid of the process hosting the database (its CPU while idle is reported apart)")
	fs.DurationVar(&f.idle, "idle", 65*time.Second, "idle window after each ramp (CPU, RSS, streams ended)")
	fs.DurationVar(&f.wait, "wait", 10*time.Second, "how long a push's fan-out is waited for")
	fs.IntVar(&f.inflight, "inflight", 16, "streams opened at once during a ramp")
	fs.IntVar(&f.perSession, "streams-per-session", 4, "streams each logged-in session (phone) opens")
	fs.IntVar(&f.sessionsPerUser, "sessions-per-user", 100, "sessions per user; the server must allow streams-per-session × this many streams per user (FIELDSYNC_EVENT_STREAMS_PER_USER)")
	fs.StringVar(&f.profileDir, "profile-dir", "", "save heap, goroutine and idle CPU profiles of the server at each step here")
	fs.StringVar(&f.tag, "tag", "", "run tag (user names); default the time")
	fs.StringVar(&f.out, "out", "", "write the result JSON here")
	fs.StringVar(&f.tokens, "tokens", "", "keep the sessions' access tokens in this file, and reuse them when it exists (a second run on the same stores skips the logins)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	steps, err := parseSteps(f.steps)
	if err != nil {
		return err
	}
	sources, err := parseSources(f.sources)
	if err != nil {
		return err
	}
	name, pass, ok := strings.Cut(f.admin, ":")
	if f.url == "" || !ok {
		return errors.New("live: -url and -admin ADMIN:PASSWORD are required")
	}
	if f.tag == "" {
		f.tag = time.Now().UTC().Format("150405")
	}
	maxStreams := steps[len(steps)-1]
	res := &LiveResult{Tag: f.tag, Started: time.Now().UTC(), Idle: f.idle.Seconds()}
	res.NoFile = raiseNoFile(uint64(maxStreams) + 4096)
	logf("live: open files limit of this client %d", res.NoFile)

	sessions := (maxStreams + f.perSession - 1) / f.perSession
	users := (sessions + f.sessionsPerUser - 1) / f.sessionsPerUser
	res.Users, res.Sessions, res.PerSession = users, sessions, f.perSession
	admin, err := newLiveClient(f.url)
	if err != nil {
		return err
	}
	if _, err := admin.Login(ctx, client.Credentials{Username: name, Password: pass, DeviceID: "live-admin-" + f.tag, Tenant: f.tenant}); err != nil {
		return fmt.Errorf("live: admin login: %w", err)
	}
	t := time.Now()
	tokens, err := readTokens(f.tokens)
	if err != nil {
		return err
	}
	if len(tokens) < sessions {
		kept := len(tokens)
		more, err := livePhones(ctx, admin, f, users, kept, sessions)
		if err != nil {
			return err
		}
		tokens = append(tokens, more...)
		logf("live: %d users, %d sessions logged in (%d kept from an earlier run) in %.0fs", users, sessions, kept, time.Since(t).Seconds())
		if f.tokens != "" {
			if err := os.WriteFile(f.tokens, []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
				return err
			}
		}
	}
	pusher, err := livePusher(ctx, admin, f)
	if err != nil {
		return err
	}

	lc := &liveClients{base: f.url, sources: sources, tokens: tokens, perSession: f.perSession}
	defer lc.closeAll()
	write := func() error { return writeResult(res, f.out, stdout) }
	for _, n := range steps {
		st, err := liveStep(ctx, lc, pusher, f, n)
		if st != nil {
			res.Steps = append(res.Steps, *st)
			printLiveStep(os.Stderr, *st)
		}
		if err != nil {
			_ = write()
			return err
		}
	}
	res.Complete = true
	return write()
}

// liveStep opens streams up to n, lets them idle, then makes one push.
func liveStep(ctx context.Context, lc *liveClients, pusher *client.Client, f liveFlags, n int) (*LiveStep, error) {
	st := &LiveStep{Streams: n}
	logf("live: opening streams up to %d", n)
	t := time.Now()
	st.Refused = lc.ramp(ctx, n, f.inflight)
	st.RampSeconds = time.Since(t).Seconds()
	st.Open = int(lc.open.Load())
	time.Sleep(2 * time.Second) // the server settles (its ramp-time garbage)
	st.RSSAfterRampMiB, _ = procRSS(f.serverPID)
	st.Goroutines = serverGoroutines(ctx, f.debugURL)
	if f.profileDir != "" {
		saveProfile(ctx, f.debugURL, "heap?gc=1", filepath.Join(f.profileDir, fmt.Sprintf("live-%d-heap.pprof", n)))
		saveProfile(ctx, f.debugURL, "goroutine", filepath.Join(f.profileDir, fmt.Sprintf("live-%d-goroutine.pprof", n)))
	}
	logf("live: %d streams open (%d refused) in %.1fs; server RSS %.0f MiB, %d goroutines; idle %s",
		st.Open, st.Refused, st.RampSeconds, st.RSSAfterRampMiB, st.Goroutines, f.idle)

	ended, reconnects := lc.ended.Load(), lc.reconnects.Load()
	cpu0, _ := procCPU(f.serverPID)
	scpu0, _ := procCPU(f.storesPID)
	t = time.Now()
	if f.profileDir != "" {
		secs := max(1, int(f.idle.Seconds())-5)
		saveProfile(ctx, f.debugURL, "profile?seconds="+strconv.Itoa(secs), filepath.Join(f.profileDir, fmt.Sprintf("live-%d-idle-cpu.pprof", n)))
	}
	if err := sleepCtx(ctx, t.Add(f.idle)); err != nil {
		return st, err
	}
	cpu1, _ := procCPU(f.serverPID)
	scpu1, _ := procCPU(f.storesPID)
	st.IdleCPUPercent = (cpu1 - cpu0) / time.Since(t).Seconds() * 100
	st.StoresIdleCPUPercent = (scpu1 - scpu0) / time.Since(t).Seconds() * 100
	st.RSSAfterIdleMiB, _ = procRSS(f.serverPID)
	st.EndedIdle = int(lc.ended.Load() - ended)
	st.Reconnects = int(lc.reconnects.Load() - reconnects)

	// One push every stream's user may read; each stream's first `changed`
	// after it went out is its fan-out latency.
	sent := time.Now()
	st.FanoutStreams = lc.arm(sent)
	err := pushOne(ctx, pusher, f.site, uint64(n))
	st.PushMs = float64(time.Since(sent).Microseconds()) / 1000
	if err != nil {
		return st, fmt.Errorf("live: push: %w", err)
	}
	deadline := sent.Add(f.wait)
	for time.Now().Before(deadline) && lc.received() < st.FanoutStreams {
		if err := sleepCtx(ctx, time.Now().Add(50*time.Millisecond)); err != nil {
			return st, err
		}
	}
	lat := lc.fanout()
	st.FanoutWaitS = f.wait.Seconds()
	st.Received = len(lat)
	for _, d := range lat {
		if d <= liveFanoutTarget {
			st.Within2s++
		}
	}
	st.FanoutP50ms = fanoutPercentile(lat, st.FanoutStreams, 50)
	st.FanoutP99ms = fanoutPercentile(lat, st.FanoutStreams, 99)
	return st, nil
}

// pushOne pushes one new inspection at site.
func pushOne(ctx context.Context, c *client.Client, site string, seed uint64) error {
	rec := makeRecords(1, site, seed)[0]
	res, err := c.Push(ctx, []client.Mutation{{MutationID: uuid.NewString(), Collection: "inspections", Op: client.OpCreate, ID: rec.ID, Fields: rec.Fields}})
	if err == nil && (len(res) != 1 || res[0].Status != client.StatusApplied) {
		err = fmt.Errorf("push: got %+v", res)
	}
	return err
}

// fanoutPercentile is the p-th percentile of the fan-out over all of total
// streams, counting a stream that got nothing as slower than any; -1 when the
// percentile falls among those.
func fanoutPercentile(lat latencies, total int, p float64) float64 {
	if total == 0 {
		return -1
	}
	i := int(p/100*float64(total)+0.5) - 1
	i = max(0, min(i, total-1))
	if i >= len(lat) {
		return -1
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return float64(s[i].Microseconds()) / 1000
}

// printLiveStep prints each figure of a step with its target.
func printLiveStep(w io.Writer, st LiveStep) {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	ms := func(v float64) string {
		if v < 0 {
			return fmt.Sprintf("> %.0f s", st.FanoutWaitS)
		}
		return fmt.Sprintf("%.0f ms", v)
	}
	fmt.Fprintf(w, "live %6d streams: open %d, refused %d, ramp %.1fs, %d server goroutines\n", st.Streams, st.Open, st.Refused, st.RampSeconds, st.Goroutines)
	fmt.Fprintf(w, "  streams open                 %8d   target %d   %s\n", st.Open, st.Streams, met(st.Open >= st.Streams))
	fmt.Fprintf(w, "  server RSS after ramp        %6.0f MiB   target < %d MiB   %s\n", st.RSSAfterRampMiB, liveRSSTargetMiB, met(st.RSSAfterRampMiB < liveRSSTargetMiB))
	fmt.Fprintf(w, "  server RSS after idle        %6.0f MiB   target < %d MiB   %s\n", st.RSSAfterIdleMiB, liveRSSTargetMiB, met(st.RSSAfterIdleMiB < liveRSSTargetMiB))
	fmt.Fprintf(w, "  server CPU while idle        %6.1f %%     target < %d %% of one core   %s   (database process %.1f %%)\n", st.IdleCPUPercent, liveIdleCPUTarget, met(st.IdleCPUPercent < liveIdleCPUTarget), st.StoresIdleCPUPercent)
	fmt.Fprintf(w, "  streams ended while idle     %8d   reconnects %d   target 0   %s\n", st.EndedIdle, st.Reconnects, met(st.EndedIdle == 0))
	fmt.Fprintf(w, "  push answered in             %6.0f ms    target < %d ms   %s\n", st.PushMs, livePushTarget.Milliseconds(), met(st.PushMs < float64(livePushTarget.Milliseconds())))
	fmt.Fprintf(w, "  fan-out p50 %s, p99 %s; %d of %d within 2 s, %d within %.0f s   target p99 < 2 s   %s\n",
		ms(st.FanoutP50ms), ms(st.FanoutP99ms), st.Within2s, st.FanoutStreams, st.Received, st.FanoutWaitS,
		met(st.FanoutP99ms >= 0 && st.FanoutP99ms < float64(liveFanoutTarget.Milliseconds())))
}

// livePhones creates users guards of f.site (existing ones are reused) and
// logs in sessions from..to-1, f.sessionsPerUser of each user in turn (so a
// later run with more sessions adds users, never sessions to a full one);
// it returns their access tokens.
func livePhones(ctx context.Context, admin *client.Client, f liveFlags, users, from, to int) ([]string, error) {
	const password = "live-password-1"
	name := func(i int) string { return fmt.Sprintf("live-%s-%05d", f.tag, i) }
	err := forEach(ctx, users, 4, func(i int) error {
		u := client.NewUser{Username: name(i), Password: password, Name: fmt.Sprintf("Live %d", i), Role: "guard", SiteIDs: []string{f.site}}
		if _, err := admin.CreateUser(ctx, u); err != nil {
			var p *client.Problem
			if !errors.As(err, &p) || p.Status != http.StatusConflict {
				return fmt.Errorf("live: create %s: %w", u.Username, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	tokens := make([]string, to-from)
	var done atomic.Int64
	err = forEach(ctx, to-from, 4, func(k int) error {
		i := from + k
		c, err := newLiveClient(f.url)
		if err != nil {
			return err
		}
		s, err := c.Login(ctx, client.Credentials{Username: name(i / f.sessionsPerUser), Password: password, DeviceID: "live-phone-" + strconv.Itoa(i), Tenant: f.tenant})
		if err != nil {
			return fmt.Errorf("live: login %s: %w", name(i/f.sessionsPerUser), err)
		}
		// One request as a phone makes after its login: the server marks the
		// token's first use then, not when its streams open.
		if _, err := c.Config(ctx); err != nil {
			return fmt.Errorf("live: first request of %s: %w", name(i/f.sessionsPerUser), err)
		}
		tokens[k] = s.AccessToken
		if n := done.Add(1); n%250 == 0 {
			logf("live: %d of %d sessions logged in", n, to-from)
		}
		return nil
	})
	return tokens, err
}

// readTokens reads the access tokens kept by an earlier run; none when there is no file.
func readTokens(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// livePusher is a cs agent of the site who makes the pushes.
func livePusher(ctx context.Context, admin *client.Client, f liveFlags) (*client.Client, error) {
	const password = "live-password-1"
	u := client.NewUser{Username: "live-" + f.tag + "-pusher", Password: password, Name: "Live pusher", Role: "cs_agent", SiteIDs: []string{f.site}}
	var p *client.Problem
	if _, err := admin.CreateUser(ctx, u); err != nil && !(errors.As(err, &p) && p.Status == http.StatusConflict) {
		return nil, fmt.Errorf("live: create the pusher: %w", err)
	}
	c, err := newLiveClient(f.url)
	if err != nil {
		return nil, err
	}
	if _, err := c.Login(ctx, client.Credentials{Username: u.Username, Password: password, DeviceID: "live-pusher", Tenant: f.tenant}); err != nil {
		return nil, fmt.Errorf("live: pusher login: %w", err)
	}
	// A first push before any stream: the timed pushes are not this
	// device's first (its connection, the server's first push of the run).
	if err := pushOne(ctx, c, f.site, 0); err != nil {
		return nil, fmt.Errorf("live: warm-up push: %w", err)
	}
	return c, nil
}

func newLiveClient(base string) (*client.Client, error) {
	return client.New(base, client.Options{HTTPClient: httpClient(), UserAgent: "fieldsync-bench-live"})
}

// forEach runs fn(0..n-1), inflight at once; the first error stops it.
func forEach(ctx context.Context, n, inflight int, fn func(i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// liveClients are the phones' event streams, each a raw connection read by
// one goroutine, as lean as a client can be so that the server is what is measured.
type liveClients struct {
	base    string
	sources []net.IP
	tokens  []string
	// perSession streams share each token.
	perSession int

	mu      sync.Mutex
	streams []*liveStream

	open, ended, reconnects atomic.Int64
	closed                  atomic.Bool
}

// liveStream is one phone's stream.
type liveStream struct {
	i     int
	armed atomic.Int64 // UnixNano the push went out; 0 when no push is awaited
	got   atomic.Int64 // nanoseconds from armed to the first `changed`
	conn  atomic.Pointer[net.Conn]
	done  chan struct{}
}

// rampTries is how often ramp tries to open one stream.
const rampTries = 5

// ramp opens streams until n are open; it returns how many the server refused rampTries times.
func (lc *liveClients) ramp(ctx context.Context, n, inflight int) int {
	var refused atomic.Int64
	lc.mu.Lock()
	from := len(lc.streams)
	lc.mu.Unlock()
	_ = forEach(ctx, n-from, inflight, func(k int) error {
		s := &liveStream{i: from + k, done: make(chan struct{})}
		lc.mu.Lock()
		lc.streams = append(lc.streams, s)
		lc.mu.Unlock()
		// A refused stream is tried again a few times, a second apart, as a
		// phone's EventSource would.
		br, err := lc.dial(ctx, s)
		for try := 1; err != nil && try < rampTries && sleepCtx(ctx, time.Now().Add(time.Second)) == nil; try++ {
			br, err = lc.dial(ctx, s)
		}
		if err != nil {
			if refused.Add(1) <= 5 {
				logf("live: stream %d: %v", s.i, err)
			}
			close(s.done)
			return nil
		}
		lc.open.Add(1)
		go lc.read(ctx, s, br)
		return nil
	})
	return int(refused.Load())
}

// dial opens s's stream and reads up to its `ready`.
func (lc *liveClients) dial(ctx context.Context, s *liveStream) (*bufio.Reader, error) {
	u, _ := url.Parse(lc.base)
	src := lc.sources[s.i%len(lc.sources)]
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: src}}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	token := lc.tokens[s.i/lc.perSession]
	if _, err := fmt.Fprintf(conn, "GET /v1/sync/events HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n\r\n", u.Host, token); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 512)
	status, err := br.ReadString('\n')
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !strings.Contains(status, " 200 ") {
		conn.Close()
		return nil, fmt.Errorf("status %s", strings.TrimSpace(status))
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			conn.Close()
			return nil, err
		}
		if strings.HasPrefix(line, "event: ready") {
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	s.conn.Store(&conn)
	return br, nil
}

// read watches s's stream for `changed` until it ends; then, as an
// EventSource would, it reconnects after the stream's retry (1 s).
func (lc *liveClients) read(ctx context.Context, s *liveStream, br *bufio.Reader) {
	for {
		for {
			line, err := br.ReadSlice('\n')
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
			if strings.HasPrefix(string(line), "event: changed") {
				if a := s.armed.Load(); a != 0 && s.got.Load() == 0 {
					s.got.Store(max(1, time.Now().UnixNano()-a))
				}
			}
		}
		(*s.conn.Load()).Close()
		lc.open.Add(-1)
		lc.ended.Add(1)
		if ctx.Err() != nil || lc.closing() {
			close(s.done)
			return
		}
		var err error
		for {
			if sleepCtx(ctx, time.Now().Add(time.Second)) != nil || lc.closing() {
				close(s.done)
				return
			}
			lc.reconnects.Add(1)
			if br, err = lc.dial(ctx, s); err == nil {
				break
			}
		}
		lc.open.Add(1)
	}
}

func (lc *liveClients) closing() bool { return lc.closed.Load() }

// arm starts a fan-out measurement and returns the streams open now.
func (lc *liveClients) arm(sent time.Time) int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, s := range lc.streams {
		s.got.Store(0)
		s.armed.Store(sent.UnixNano())
	}
	return int(lc.open.Load())
}

func (lc *liveClients) received() int {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	n := 0
	for _, s := range lc.streams {
		if s.got.Load() != 0 {
			n++
		}
	}
	return n
}

// fanout returns the fan-out latencies of the streams that got the change, and disarms.
func (lc *liveClients) fanout() latencies {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	var out latencies
	for _, s := range lc.streams {
		s.armed.Store(0)
		if g := s.got.Load(); g != 0 {
			out = append(out, time.Duration(g))
		}
	}
	return out
}

func (lc *liveClients) closeAll() {
	lc.closed.Store(true)
	lc.mu.Lock()
	streams := slices.Clone(lc.streams)
	lc.mu.Unlock()
	for _, s := range streams {
		if c := s.conn.Load(); c != nil {
			(*c).Close()
		}
	}
	for _, s := range streams {
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			return
		}
	}
}

// raiseNoFile raises this process's open-files limit to want where the hard
// limit allows it (or to the hard limit) and returns the soft limit now.
func raiseNoFile(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	if l.Max < want {
		// A privileged process may raise the hard limit too.
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want
		}
	}
	l.Cur = l.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

func parseSteps(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 || len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("live: -streams %q: want ascending positive counts", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// parseSources reads "127.0.0.1-127.0.0.8" or "127.0.0.1,127.0.0.2".
func parseSources(s string) ([]net.IP, error) {
	bad := fmt.Errorf("live: -sources %q: want FIRST-LAST loopback addresses or a list", s)
	if a, b, ok := strings.Cut(s, "-"); ok {
		lo, hi := net.ParseIP(a).To4(), net.ParseIP(b).To4()
		if lo == nil || hi == nil || !slices.Equal(lo[:3], hi[:3]) || lo[3] > hi[3] {
			return nil, bad
		}
		var out []net.IP
		for i := int(lo[3]); i <= int(hi[3]); i++ {
			out = append(out, net.IPv4(lo[0], lo[1], lo[2], byte(i)))
		}
		return out, nil
	}
	var out []net.IP
	for _, p := range strings.Split(s, ",") {
		ip := net.ParseIP(strings.TrimSpace(p))
		if ip == nil {
			return nil, bad
		}
		out = append(out, ip)
	}
	return out, nil
}

// procRSS returns a process's resident set now (VmRSS) in MiB.
func procRSS(pid int) (float64, error) {
	return procStatusMiB(pid, "VmRSS:")
}

var goroutineTotal = regexp.MustCompile(`goroutine profile: total (\d+)`)

// serverGoroutines reads the server's goroutine count from its debug server (0 without one).
func serverGoroutines(ctx context.Context, debugURL string) int {
	if debugURL == "" {
		return 0
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, debugURL+"/debug/pprof/goroutine?debug=1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if m := goroutineTotal.FindSubmatch(b); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	return 0
}

// saveProfile saves /debug/pprof/<what> of the server into path, in the background for CPU profiles.
func saveProfile(ctx context.Context, debugURL, what, path string) {
	if debugURL == "" {
		return
	}
	get := func() {
		if err := fetchURL(ctx, debugURL+"/debug/pprof/"+what, path); err != nil {
			logf("live: profile %s: %v", what, err)
		}
	}
	if strings.HasPrefix(what, "profile") {
		go get()
		return
	}
	get()
}

func sleepCtx(ctx context.Context, until time.Time) error {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
