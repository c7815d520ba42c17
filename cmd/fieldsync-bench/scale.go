package main

// The scale bench (issue 17, target 5): how the desk's actions and the field
// staff's bootstraps cost as a tenant's history grows on the embedded store.
//
//	fieldsync-bench scale -bin PATH [-scenarios 1000:1000,...] [-reps 5] [-out F.json] [-md F.md]
//
// Each scenario runs on fresh storage: a `fieldsync devstack` process, the demo
// tenant (`fieldsync seed demo`), the filled history, then a `fieldsync serve`
// process that every measured operation reaches through the public API.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scaleFlags configure one scale run.
type scaleFlags struct {
	bin, workDir, out, md string
	scenarios             []scenario
	reps, sites, days     int
	keep                  bool
}

// scenario is one tenant size: work orders and inspections in the tenant
// (complaints are a quarter of the work orders).
type scenario struct {
	Orders      int `json:"work_orders"`
	Inspections int `json:"inspections"`
}

func (s scenario) String() string {
	return fmt.Sprintf("%s WO / %s inspections", kilo(s.Orders), kilo(s.Inspections))
}

// ScaleResult is one scenario's measurements.
type ScaleResult struct {
	Scenario scenario `json:"scenario"`
	Sites    int      `json:"sites"`
	Days     int      `json:"days"`
	// FillSeconds is how long writing the history took (through the engine, see fillTenant).
	FillSeconds float64 `json:"fill_seconds"`
	// Ops holds each measured operation's latencies (milliseconds) and p50.
	Ops []OpResult `json:"ops"`
	// Scope sizes: records each bootstrap returned.
	TechRecords  int `json:"technician_bootstrap_records"`
	GuardRecords int `json:"guard_bootstrap_records"`
}

// OpResult is one operation measured reps times.
type OpResult struct {
	Name  string    `json:"name"`
	MS    []float64 `json:"ms"`
	P50ms float64   `json:"p50_ms"`
}

// The measured operations, in the order of the table.
const (
	opAssign     = "desk assigns one order (one push)"
	opComplaint  = "complaint action: clarify (one push)"
	opCreate     = "desk creates an order (one push)"
	opIncPull    = "desk's incremental pull after a change"
	opTechBoot   = "technician's bootstrap (paged pull)"
	opGuardBoot  = "guard's bootstrap (paged pull)"
	scaleTimeout = 3 * time.Hour
)

var opOrder = []string{opAssign, opComplaint, opCreate, opIncPull, opTechBoot, opGuardBoot}

func parseScenarios(s string) ([]scenario, error) {
	var out []scenario
	for _, part := range strings.Split(s, ",") {
		wo, in, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("scenario %q: want ORDERS:INSPECTIONS", part)
		}
		a, err1 := parseCount(wo)
		b, err2 := parseCount(in)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("scenario %q: %w", part, err)
		}
		out = append(out, scenario{Orders: a, Inspections: b})
	}
	return out, nil
}

// parseCount reads 1000, 10k or 100k.
func parseCount(s string) (int, error) {
	mul := 1
	if v, ok := strings.CutSuffix(strings.ToLower(s), "k"); ok {
		s, mul = v, 1000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad count %q", s)
	}
	return n * mul, nil
}

func kilo(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

func runScale(ctx context.Context, args []string, stdout io.Writer) error {
	var f scaleFlags
	var scen string
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.StringVar(&f.bin, "bin", "", "the fieldsync binary (built with the embedded stores)")
	fs.StringVar(&f.workDir, "dir", "", "where the scenarios' data dirs go (default a temp dir, removed)")
	fs.StringVar(&scen, "scenarios", "1k:1k,10k:10k,100k:10k,40k:100k", "comma-separated WORK_ORDERS:INSPECTIONS tenant sizes")
	fs.IntVar(&f.reps, "reps", 5, "repetitions of each operation (p50 of these)")
	fs.IntVar(&f.sites, "sites", 10, "sites the history is spread over (the demo users work at site A)")
	fs.IntVar(&f.days, "days", 365, "days the history is spread over (a guard sees the last 7)")
	fs.StringVar(&f.out, "out", "", "write the results as JSON here")
	fs.StringVar(&f.md, "md", "", "write the markdown table here")
	fs.BoolVar(&f.keep, "keep", false, "keep the data dirs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if f.scenarios, err = parseScenarios(scen); err != nil {
		return err
	}
	if f.bin == "" || f.reps <= 0 || f.sites <= 0 || f.days < 8 {
		return errors.New("scale: -bin is required; -reps and -sites must be positive, -days at least 8")
	}
	if f.workDir == "" {
		if f.workDir, err = os.MkdirTemp("", "fieldsync-scale-"); err != nil {
			return err
		}
		if !f.keep {
			defer os.RemoveAll(f.workDir)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, scaleTimeout)
	defer cancel()
	var results []ScaleResult
	for i, sc := range f.scenarios {
		fmt.Fprintf(os.Stderr, "== scale %d/%d: %s\n", i+1, len(f.scenarios), sc)
		res, err := runScenario(ctx, f, sc, fmt.Sprintf("%s/s%d", f.workDir, i))
		if err != nil {
			return fmt.Errorf("scale %s: %w", sc, err)
		}
		results = append(results, *res)
	}
	if f.out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		if err := os.WriteFile(f.out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	table := scaleTable(results, f)
	if f.md != "" {
		if err := os.WriteFile(f.md, []byte(table), 0o644); err != nil {
			return err
		}
	}
	_, err = io.WriteString(stdout, table)
	return err
}

func runScenario(ctx context.Context, f scaleFlags, sc scenario, dir string) (*ScaleResult, error) {
	procs, err := startScaleStack(ctx, f.bin, dir)
	if err != nil {
		return nil, err
	}
	defer procs.stop()
	res := &ScaleResult{Scenario: sc, Sites: f.sites, Days: f.days}
	t := time.Now()
	plan, err := fillTenant(ctx, procs, sc, f.sites, f.days, f.reps)
	if err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	res.FillSeconds = time.Since(t).Seconds()
	fmt.Fprintf(os.Stderr, "   filled in %.1fs\n", res.FillSeconds)
	// The jobs first, on the stores alone: their first run marks what the
	// history left to mark, as a serving instance's jobs would have.
	if err := measureJobs(ctx, procs, f.reps, res); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := procs.serve(ctx); err != nil {
		return nil, err
	}
	if err := measureScale(ctx, procs.base, plan, f.reps, res); err != nil {
		return nil, err
	}
	return res, nil
}

// scaleTargets are target 5's limits: the operation, the scenario it is
// judged at, and the p50 it must stay under.
var scaleTargets = []struct {
	op    string
	at    scenario
	limit time.Duration
}{
	{opAssign, scenario{100000, 0}, 100 * time.Millisecond},
	{opComplaint, scenario{100000, 0}, 100 * time.Millisecond},
	{opTechBoot, scenario{40000, 100000}, time.Second},
	{opGuardBoot, scenario{40000, 100000}, time.Second},
}

// scaleTable renders the curve (one column a scenario) and the targets.
func scaleTable(results []ScaleResult, f scaleFlags) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| p50 of %d, ms (%d sites, history over %d days) |", f.reps, f.sites, f.days)
	for _, r := range results {
		fmt.Fprintf(&b, " %s |", r.Scenario)
	}
	b.WriteString("\n|---|")
	for range results {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, name := range append(slices.Clone(opOrder), jobOps...) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, r := range results {
			fmt.Fprintf(&b, " %s |", fmtMS(r.p50(name)))
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "| records in the technician's / guard's bootstrap |")
	for _, r := range results {
		fmt.Fprintf(&b, " %d / %d |", r.TechRecords, r.GuardRecords)
	}
	b.WriteString("\n\nTarget 5 (issue 17):\n\n")
	for _, t := range scaleTargets {
		var found *ScaleResult
		for i := range results {
			r := &results[i]
			if r.Scenario.Orders == t.at.Orders && (t.at.Inspections == 0 || r.Scenario.Inspections == t.at.Inspections) {
				found = r
			}
		}
		want := fmt.Sprintf("%s ≤ %s p50 at %s WO", t.op, t.limit, kilo(t.at.Orders))
		if t.at.Inspections > 0 {
			want += " / " + kilo(t.at.Inspections) + " inspections"
		}
		switch {
		case found == nil:
			fmt.Fprintf(&b, "- %s: not measured (no such scenario)\n", want)
		case found.p50(t.op) <= float64(t.limit)/float64(time.Millisecond):
			fmt.Fprintf(&b, "- %s: **met** (%s)\n", want, fmtMS(found.p50(t.op)))
		default:
			fmt.Fprintf(&b, "- %s: **not met** (%s)\n", want, fmtMS(found.p50(t.op)))
		}
	}
	return b.String()
}

func (r *ScaleResult) p50(op string) float64 {
	for _, o := range r.Ops {
		if o.Name == op {
			return o.P50ms
		}
	}
	return -1
}

func fmtMS(ms float64) string {
	switch {
	case ms < 0:
		return "–"
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f ms", ms)
}
