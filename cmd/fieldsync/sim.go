package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"fieldsync"
	"fieldsync/auth"
	"fieldsync/client"
	"fieldsync/client/sim"
)

const simUsage = `fieldsync sim — play a site's field staff against a running server

Usage:
  fieldsync sim [flags]                      run the simulation, print a summary, check convergence
  fieldsync sim -watch USER:PASSWORD [flags] tail what one user's phone receives (the demo's cs view)

Staff come from -users (existing accounts), or are created first with -admin
(sim-guard-N, sim-tech-N, sim-cs-N on -sites); with neither, the demo tenant's
site A staff play (run fieldsync seed demo first). Exits 1 when any device's
local copy differs from a fresh bootstrap of its scope.

Flags:
`

// simFlags are the flags of fieldsync sim.
type simFlags struct {
	url, tenant, users, password, admin, sites, watch string
	guards, technicians, cs, devices, rounds          int
	duration, offlineFor, think                       time.Duration
	offline, lost, photos                             float64
	batch                                             int
	seed                                              uint64
	quiet                                             bool
}

func parseSimFlags(args []string, getenv func(string) string, stderr io.Writer) (*simFlags, error) {
	f := &simFlags{}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, simUsage)
		fs.PrintDefaults()
	}
	defURL := "http://" + envOr(getenv, "FIELDSYNC_ADDR", "127.0.0.1:8080")
	fs.StringVar(&f.url, "url", defURL, "server base URL")
	fs.StringVar(&f.tenant, "tenant", envOr(getenv, "FIELDSYNC_DEFAULT_TENANT", "demo"), "tenant of the accounts")
	fs.StringVar(&f.users, "users", "", "comma-separated existing usernames to play (roles come from the server)")
	fs.StringVar(&f.password, "password", "", "password of -users, and of the users -admin creates (default sim-password-1 there)")
	fs.StringVar(&f.admin, "admin", "", "ADMIN:PASSWORD: create the sim's users first (see -guards, -technicians, -cs, -sites)")
	fs.StringVar(&f.sites, "sites", "", "comma-separated site ids for the users -admin creates")
	fs.IntVar(&f.guards, "guards", 4, "guards to create with -admin")
	fs.IntVar(&f.technicians, "technicians", 2, "technicians to create with -admin")
	fs.IntVar(&f.cs, "cs", 2, "customer-service agents to create with -admin")
	fs.IntVar(&f.devices, "devices", 1, "phones per user")
	fs.DurationVar(&f.duration, "duration", 20*time.Second, "how long the staff work")
	fs.IntVar(&f.rounds, "rounds", 0, "stop each device after this many rounds (0: run for -duration)")
	fs.DurationVar(&f.think, "think", 250*time.Millisecond, "mean pause between a device's rounds")
	fs.Float64Var(&f.offline, "offline", 0.05, "chance a round starts an offline period")
	fs.DurationVar(&f.offlineFor, "offline-for", 2*time.Second, "length of an offline period")
	fs.Float64Var(&f.lost, "lost", 0.05, "chance the answer to a push is lost (the push is retried)")
	fs.Float64Var(&f.photos, "photos", 0.2, "chance a new inspection carries a photo")
	fs.IntVar(&f.batch, "batch", 50, "mutations per push at most")
	fs.Uint64Var(&f.seed, "seed", 1, "random seed")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress display")
	fs.StringVar(&f.watch, "watch", "", "USER:PASSWORD: print every change this user's phone receives, live")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("sim: unexpected argument %q", fs.Arg(0))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"-offline", f.offline}, {"-lost", f.lost}, {"-photos", f.photos}} {
		if p.v < 0 || p.v > 1 {
			return nil, fmt.Errorf("sim: %s=%g: want a probability between 0 and 1", p.name, p.v)
		}
	}
	if f.devices < 1 || f.batch < 1 || f.batch > 500 || f.duration <= 0 {
		return nil, errors.New("sim: -devices must be ≥ 1, -batch 1..500, -duration positive")
	}
	return f, nil
}

func envOr(getenv func(string) string, name, def string) string {
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return def
}

func runSim(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f, err := parseSimFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if f.watch != "" {
		return simWatch(ctx, f, stdout)
	}
	accounts, err := simAccounts(ctx, f)
	if err != nil {
		return err
	}
	opts := sim.Options{
		BaseURL: f.url, Tenant: f.tenant, Accounts: accounts, DevicesPerUser: f.devices,
		Duration: f.duration, Rounds: f.rounds, Think: f.think, OfflineRate: f.offline, OfflineFor: f.offlineFor,
		LostRate: f.lost, PhotoRate: f.photos, BatchSize: f.batch, Seed: f.seed,
	}
	if !f.quiet {
		opts.Progress = progressBar(stderr)
	}
	fmt.Fprintf(stderr, "sim: %d users × %d devices against %s for %s\n", len(accounts), f.devices, f.url, f.duration)
	rep, err := sim.Run(ctx, opts)
	if err != nil {
		return err
	}
	printSimReport(stdout, rep)
	if rep.Diverged > 0 {
		return fmt.Errorf("sim: %d of %d devices diverged", rep.Diverged, rep.Devices)
	}
	return nil
}

// simAccounts returns the accounts to play: -users as given, or the users -admin creates.
func simAccounts(ctx context.Context, f *simFlags) ([]sim.Account, error) {
	var out []sim.Account
	if f.users != "" {
		if f.password == "" {
			return nil, errors.New("sim: -users needs -password")
		}
		for _, u := range strings.Split(f.users, ",") {
			if u = strings.TrimSpace(u); u != "" {
				out = append(out, sim.Account{Username: u, Password: f.password})
			}
		}
		return out, nil
	}
	if f.admin == "" {
		// The demo tenant's site A staff (fieldsync seed demo).
		pass := f.password
		if pass == "" {
			pass = auth.DemoPassword
		}
		for _, u := range auth.DemoUsers {
			if u.Role != fieldsync.RoleAdmin && slices.Contains(u.SiteIDs, fieldsync.DemoSiteA) {
				out = append(out, sim.Account{Username: u.Username, Password: pass})
			}
		}
		return out, nil
	}
	name, pass, ok := strings.Cut(f.admin, ":")
	if !ok || f.sites == "" {
		return nil, errors.New("sim: -admin wants ADMIN:PASSWORD, and -sites the site ids of the users it creates")
	}
	ac, err := client.New(f.url, client.Options{UserAgent: "fieldsync-sim"})
	if err != nil {
		return nil, err
	}
	if _, err := ac.Login(ctx, client.Credentials{Username: name, Password: pass, DeviceID: "sim-admin", Tenant: f.tenant}); err != nil {
		return nil, fmt.Errorf("sim: admin login: %w", err)
	}
	password := f.password
	if password == "" {
		password = "sim-password-1"
	}
	sites := strings.Split(f.sites, ",")
	for _, g := range []struct {
		prefix, role string
		n            int
	}{{"sim-guard-", "guard", f.guards}, {"sim-tech-", "technician", f.technicians}, {"sim-cs-", "cs_agent", f.cs}} {
		for i := 1; i <= g.n; i++ {
			u := client.NewUser{Username: fmt.Sprintf("%s%d", g.prefix, i), Password: password,
				Name: fmt.Sprintf("Sim %s %d", g.role, i), Role: g.role, SiteIDs: sites}
			if g.role == "technician" {
				u.Department = "engineering"
			}
			_, err := ac.CreateUser(ctx, u)
			var p *client.Problem
			if err != nil && !(errors.As(err, &p) && p.Status == http.StatusConflict) {
				return nil, fmt.Errorf("sim: create %s: %w", u.Username, err)
			}
			out = append(out, sim.Account{Username: u.Username, Password: password})
		}
	}
	return out, nil
}

// progressBar redraws one line on a terminal, or prints a line every 5 s elsewhere.
func progressBar(w io.Writer) func(sim.Snapshot) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	var last time.Time
	done := false
	return func(s sim.Snapshot) {
		if done {
			return
		}
		done = s.Done >= 1
		const width = 30
		n := int(s.Done * width)
		line := fmt.Sprintf("[%s%s] %3.0f%% %5.1fs  pushed %d  dup %d  conflicts %d  rejected %d  pulled %d  errors %d  offline %d",
			strings.Repeat("=", n), strings.Repeat(" ", width-n), s.Done*100, s.Elapsed.Seconds(),
			s.Pushed, s.Duplicates, s.Conflicts, s.Rejected, s.Pulled, s.Errors, s.Offline)
		switch {
		case tty:
			fmt.Fprint(w, "\r"+line+"\x1b[K")
			if done {
				fmt.Fprintln(w)
			}
		case done || time.Since(last) >= 5*time.Second:
			last = time.Now()
			fmt.Fprintln(w, line)
		}
	}
}

func printSimReport(w io.Writer, r *sim.Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "devices\t%d\n", r.Devices)
	fmt.Fprintf(tw, "elapsed\t%s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(tw, "collections written\t%s\n", strings.Join(r.Collections, ", "))
	fmt.Fprintf(tw, "push requests\t%d\n", r.Pushes)
	fmt.Fprintf(tw, "mutations pushed\t%d\n", r.Pushed)
	fmt.Fprintf(tw, "  applied\t%d\n", r.Applied)
	fmt.Fprintf(tw, "  duplicates suppressed\t%d\t(%d push answers dropped on purpose)\n", r.Duplicates, r.LostAnswers)
	fmt.Fprintf(tw, "  photos stored\t%d\t(resumable upload; %d failed)\n", r.Photos, r.PhotoErrors)
	fmt.Fprintf(tw, "  conflicts\t%d\n", r.Conflicts)
	fmt.Fprintf(tw, "  rejected\t%d\t%s\n", sum(r.Rejected), byCode(r.Rejected))
	fmt.Fprintf(tw, "pull pages\t%d\n", r.Pulls)
	fmt.Fprintf(tw, "records pulled\t%d\n", r.Pulled)
	fmt.Fprintf(tw, "errors (HTTP attempts)\t%d\t%s\n", sum(r.Errors), byCode(r.Errors))
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency\tcount\tp50\tp95\tp99\t")
	ops := make([]string, 0, len(r.Latency))
	for op := range r.Latency {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		p := r.Latency[op]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t\n", op, p.Count, ms(p.P50), ms(p.P95), ms(p.P99))
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.Diverged == 0 {
		fmt.Fprintf(w, "convergence: all %d devices equal a fresh bootstrap of their scope\n", r.Converged)
		return
	}
	fmt.Fprintf(w, "convergence: %d of %d devices DIVERGED\n", r.Diverged, r.Devices)
	for i, d := range r.Divergences {
		if i == 10 {
			fmt.Fprintf(w, "  … %d more\n", len(r.Divergences)-i)
			break
		}
		fmt.Fprintln(w, "  "+d)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func byCode(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// simWatch logs in as one user and prints every change their phone receives:
// it pulls at once on every sync event (and every 5 s should events be unavailable).
func simWatch(ctx context.Context, f *simFlags, out io.Writer) error {
	name, pass, ok := strings.Cut(f.watch, ":")
	if !ok {
		return errors.New("sim: -watch wants USER:PASSWORD")
	}
	c, err := client.New(f.url, client.Options{UserAgent: "fieldsync-sim-watch"})
	if err != nil {
		return err
	}
	s, err := c.Login(ctx, client.Credentials{Username: name, Password: pass, DeviceID: "sim-watch-" + name, Tenant: f.tenant})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "watching as %s (%s, sites %s); Ctrl-C to stop\n", s.User.Name, s.User.Role, strings.Join(s.User.SiteIDs, ","))
	kick := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			_ = c.Events(ctx, func(client.Event) error {
				select {
				case kick <- struct{}{}:
				default:
				}
				return nil
			})
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}()
	cursor, first := "", true
	for {
		cur, _, err := c.PullAll(ctx, cursor, 0, func(ch client.Change) error {
			if !first {
				printChange(out, ch)
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintln(out, "pull:", err)
		} else {
			if first {
				fmt.Fprintf(out, "%s  bootstrapped; live changes follow\n", time.Now().Format("15:04:05"))
			}
			cursor, first = cur, false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-time.After(5 * time.Second):
		}
	}
}

func printChange(w io.Writer, ch client.Change) {
	summary := ""
	if ch.Op == client.ChangeUpsert {
		summary = docSummary(ch.Doc)
	}
	fmt.Fprintf(w, "%s  %-12s %-6s %s v%d %s\n", time.Now().Format("15:04:05"), ch.Collection, ch.Op, shortID(ch.ID), ch.Version, summary)
}

func shortID(id string) string {
	if len(id) > 13 {
		return id[len(id)-12:]
	}
	return id
}

// docSummary picks the fields a desk person scans for: status, severity, category, title.
func docSummary(raw []byte) string {
	var doc map[string]any
	if json.Unmarshal(raw, &doc) != nil {
		return ""
	}
	var parts []string
	for _, k := range []string{"status", "stage", "severity", "priority", "category", "title", "description"} {
		if v, ok := doc[k].(string); ok && v != "" {
			if len(v) > 40 {
				v = v[:40] + "…"
			}
			parts = append(parts, k+"="+v)
		}
		if len(parts) == 3 {
			break
		}
	}
	return strings.Join(parts, " ")
}
