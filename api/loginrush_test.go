package api_test

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"fieldsync"
	"fieldsync/api"
	"fieldsync/auth"
)

// rushUsers are the demo users the morning rush logs in as (any may log in on many phones).
var rushUsers = []string{"guard.a1", "guard.a2", "tech.a1", "tech.a2", "cs.a1", "super.a1", "guard.b1", "tech.b1", "cs.b1", "admin"}

// rushResult counts what a login burst and the pulls beside it were answered.
type rushResult struct {
	logins, pulls map[int]int
	pullTimes     []time.Duration
	took          time.Duration
}

// rush logs n phones in at once over real connections while phones that are
// already logged in push and pull in a loop, and counts the answers (every
// push and pull must be 200). A login answered
// 503 must carry Retry-After and be problem+json with code unavailable.
func rush(tb testing.TB, srv *api.Server, base string, n int, pullers []session) rushResult {
	tb.Helper()
	client := clientFrom("127.0.0.1")
	res := rushResult{logins: map[int]int{}, pulls: map[int]int{}}
	var mu sync.Mutex
	stop := make(chan struct{})
	var pulls sync.WaitGroup
	for _, p := range pullers {
		pulls.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, create := inspectionCreate(fieldsync.DemoSiteA, "pushed during the rush")
				if resp, b := send(tb, client, "POST", base+"/v1/sync/push", `{"device_id":"`+p.DeviceID+`","mutations":[`+create+`]}`, p.Headers()); resp.StatusCode != 200 {
					tb.Errorf("a push during the login rush: got %d %.300s", resp.StatusCode, b)
				}
				start := time.Now()
				resp, b := send(tb, client, "GET", base+"/v1/sync/pull?limit=50", "", p.Headers())
				took := time.Since(start)
				mu.Lock()
				res.pulls[resp.StatusCode]++
				res.pullTimes = append(res.pullTimes, took)
				mu.Unlock()
				if resp.StatusCode != 200 {
					tb.Errorf("a pull during the login rush: got %d %.300s", resp.StatusCode, b)
				}
			}
		})
	}
	start := time.Now()
	var logins sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		logins.Go(func() {
			<-gate
			body := fmt.Sprintf(`{"username":%q,"password":%q,"device_id":"rush-%d"}`, rushUsers[i%len(rushUsers)], auth.DemoPassword, i)
			resp, b := send(tb, client, "POST", base+"/v1/auth/login", body, nil)
			mu.Lock()
			res.logins[resp.StatusCode]++
			mu.Unlock()
			switch resp.StatusCode {
			case 200:
			case 503:
				if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 {
					tb.Errorf("a login refused with 503 without a Retry-After: %q", resp.Header.Get("Retry-After"))
				}
				assertProblem(tb, resp, b)
			default:
				tb.Errorf("a login during the rush: got %d %.300s, want 200 or 503", resp.StatusCode, b)
			}
		})
	}
	close(gate)
	logins.Wait()
	res.took = time.Since(start)
	close(stop)
	pulls.Wait()
	return res
}

// newRushServer is a server whose users have production-cost password
// hashes (7 MiB, 5 passes), with per-device limits off so the pulls run
// freely, and the given login queue.
func newRushServer(tb testing.TB, queue int) (*api.Server, string, []session) {
	tb.Helper()
	srv := newFullServerWith(tb, func(c *fullConfig) {
		c.Auth.Password = auth.PasswordParams{}
		c.Auth.LoginQueue = queue
		c.API.DeviceLimit = api.RateLimit{Rate: -1}
		c.API.AddressLimit = api.RateLimit{Rate: -1}
	})
	base := "http://" + serveOnLoopback(tb, srv)
	var pullers []session
	for _, who := range []string{"cs.a1", "guard.a1", "cs.a1", "super.a1"} { // site A: they may create inspections there
		pullers = append(pullers, mustLoginSession(tb, srv, who, ""))
	}
	return srv, base, pullers
}

// TestLoginRushLeavesSyncServed (#15 item 9): 24 staff logging in at once
// while phones push and pull: every push and pull is answered 200; every login 200, or 503
// with Retry-After when it cannot be served in time (here: beyond a queue of
// 4), never another error and never a hang; some logins get through.
func TestLoginRushLeavesSyncServed(t *testing.T) {
	t.Parallel()
	srv, base, pullers := newRushServer(t, 4)
	res := rush(t, srv, base, 24, pullers)
	t.Logf("login rush: logins %v, pulls %v, in %v", res.logins, res.pulls, res.took.Round(time.Millisecond))
	if res.logins[200] == 0 {
		t.Fatalf("got logins %v, want some served", res.logins)
	}
	if res.pulls[200] == 0 {
		t.Fatal("no pull ran during the rush")
	}
}

// BenchmarkLoginRush: 100 simultaneous logins (production password cost)
// while every core is kept busy by other processes and four phones push and pull.
// Reports logins served per second, those refused 503, and the p99 of the
// pulls meanwhile. It asserts nothing about time.
func BenchmarkLoginRush(b *testing.B) {
	srv, base, pullers := newRushServer(b, auth.DefaultLoginQueue)
	stopHogs := startCPUHogs(b, runtime.NumCPU())
	defer stopHogs()
	var served, refused int
	var took time.Duration
	var pullTimes []time.Duration
	b.ResetTimer()
	for range b.N {
		res := rush(b, srv, base, 100, pullers)
		served += res.logins[200]
		refused += res.logins[503]
		took += res.took
		pullTimes = append(pullTimes, res.pullTimes...)
	}
	b.StopTimer()
	slices.Sort(pullTimes)
	if len(pullTimes) > 0 {
		b.ReportMetric(float64(pullTimes[len(pullTimes)*99/100].Microseconds())/1000, "pull-p99-ms")
	}
	b.ReportMetric(float64(served)/took.Seconds(), "logins-served/s")
	b.ReportMetric(float64(refused)/float64(b.N), "logins-503/op")
}

// startCPUHogs runs n processes that spin (other work on the machine) and
// returns a function that stops them.
func startCPUHogs(tb testing.TB, n int) (stop func()) {
	tb.Helper()
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	return func() {
		for _, cmd := range cmds {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
}
