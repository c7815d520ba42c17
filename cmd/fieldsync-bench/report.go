package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Report is the aggregate of several runs: every run, the per-system medians and the goal ratios.
type Report struct {
	Generated time.Time                     `json:"generated"`
	Machine   map[string]string             `json:"machine"`
	Medians   map[string]map[string]float64 `json:"medians"`
	Ratios    []Ratio                       `json:"ratios"`
	Runs      []Result                      `json:"runs"`
}

// Ratio is one goal (issue 17's targets) with where this run stands.
type Ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Goal   string  `json:"goal"`
	Met    bool    `json:"met"`
	Detail string  `json:"detail,omitempty"`
}

// metric is one row of the table.
type metric struct {
	key, label string
	get        func(r *Result) float64
}

func phaseMetrics(key, label string, ph func(r *Result) *Phase, perReq string) []metric {
	get := func(f func(p *Phase) float64) func(r *Result) float64 {
		return func(r *Result) float64 {
			if p := ph(r); p != nil {
				return f(p)
			}
			return 0
		}
	}
	ms := []metric{{key + ".records_per_s", label + " records/s", get(func(p *Phase) float64 { return p.RecordsPerS })}}
	if perReq != "" {
		ms = append(ms,
			metric{key + ".p50_ms", label + " " + perReq + " p50 ms", get(func(p *Phase) float64 { return p.P50ms })},
			metric{key + ".p95_ms", label + " " + perReq + " p95 ms", get(func(p *Phase) float64 { return p.P95ms })},
			metric{key + ".p99_ms", label + " " + perReq + " p99 ms", get(func(p *Phase) float64 { return p.P99ms })},
		)
	} else {
		perReq = "request"
	}
	return append(ms, []metric{
		{key + ".server_cpu_s_per_10k", label + " server CPU-s / 10k records", get(func(p *Phase) float64 { return p.ServerCPUPer10k })},
		{key + ".stores_cpu_s_per_10k", label + " database process CPU-s / 10k records", get(func(p *Phase) float64 { return p.StoresCPUPer10k })},
		{key + ".db_commands_per_request", label + " database round trips / " + perReq, get(func(p *Phase) float64 { return p.DBCommandsPerRequest })},
	}...)
}

var metrics = func() []metric {
	var m []metric
	m = append(m, phaseMetrics("push", "push", func(r *Result) *Phase { return &r.Push }, "batch")...)
	m = append(m, phaseMetrics("pull", "paged pull", func(r *Result) *Phase { return &r.Pull }, "page")...)
	m = append(m, phaseMetrics("stream", "bootstrap stream", func(r *Result) *Phase { return r.Stream }, "")...)
	m = append(m, phaseMetrics("incremental_push", "+1k push", func(r *Result) *Phase { return &r.IncPush }, "batch")...)
	m = append(m, phaseMetrics("incremental_pull", "+1k incremental pull", func(r *Result) *Phase { return &r.IncPull }, "page")...)
	m = append(m,
		metric{"server_peak_rss_mib", "server peak RSS MiB (VmHWM)", func(r *Result) float64 { return r.PeakRSSMiB }},
		metric{"stores_peak_rss_mib", "database process peak RSS MiB", func(r *Result) float64 { return r.StoresPeakRSSMiB }},
	)
	return m
}()

var systemOrder = []string{"fieldsync", "pouchdb", "raw"}

var systemTitle = map[string]string{
	"fieldsync": "fieldsync API",
	"pouchdb":   "pouchdb-server 4.2.0",
	"raw":       "raw driver (insertMany / find)",
}

func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	jsonOut := fs.String("json", "", "write the aggregate JSON here")
	mdOut := fs.String("md", "", "replace the generated section of this markdown file (docs/BENCHMARKS.md)")
	note := fs.String("note", "", "extra line for the machine description (versions of node, pouchdb-server)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("report: no result files")
	}
	rep := &Report{Generated: time.Now().UTC(), Machine: machine(*note), Medians: map[string]map[string]float64{}}
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("report: %s: %w", p, err)
		}
		rep.Runs = append(rep.Runs, r)
	}
	runs := map[string][]*Result{}
	for i := range rep.Runs {
		r := &rep.Runs[i]
		runs[r.System] = append(runs[r.System], r)
	}
	for sys, rs := range runs {
		med := map[string]float64{"runs": float64(len(rs))}
		for _, m := range metrics {
			xs := make([]float64, len(rs))
			for i, r := range rs {
				xs[i] = m.get(r)
			}
			med[m.key] = median(xs)
		}
		rep.Medians[sys] = med
	}
	rep.Ratios = ratios(rep.Medians)
	table := markdown(rep)
	fmt.Fprint(stdout, table)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *mdOut != "" {
		return replaceSection(*mdOut, table)
	}
	return nil
}

func ratios(med map[string]map[string]float64) []Ratio {
	fs, pd, raw := med["fieldsync"], med["pouchdb"], med["raw"]
	var out []Ratio
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	// The targets of issue 17.
	if fs != nil && raw != nil {
		out = append(out,
			Ratio{Name: "push records/s vs raw insertMany (same batches, same concurrency, same database)", Value: div(fs["push.records_per_s"], raw["push.records_per_s"]), Goal: ">= 1.0"},
			Ratio{Name: "bootstrap stream records/s vs raw find cursor", Value: div(fs["stream.records_per_s"], raw["stream.records_per_s"]), Goal: ">= 0.9"},
		)
	}
	if fs != nil && pd != nil {
		out = append(out,
			Ratio{Name: "push records/s vs pouchdb-server", Value: div(fs["push.records_per_s"], pd["push.records_per_s"]), Goal: ">= 2"},
			Ratio{Name: "bootstrap stream records/s vs pouchdb-server pull", Value: div(fs["stream.records_per_s"], pd["pull.records_per_s"]), Goal: ">= 2"},
			Ratio{Name: "paged pull records/s vs pouchdb-server pull", Value: div(fs["pull.records_per_s"], pd["pull.records_per_s"]), Goal: "(info)"},
		)
		fcpu := fs["push.server_cpu_s_per_10k"] + fs["pull.server_cpu_s_per_10k"]
		pcpu := pd["push.server_cpu_s_per_10k"] + pd["pull.server_cpu_s_per_10k"]
		out = append(out, Ratio{Name: "API CPU per record (push + paged pull) vs pouchdb-server", Value: div(fcpu, pcpu), Goal: "<= 0.15",
			Detail: "pouchdb-server's figure includes its in-process LevelDB; the fieldsync API's excludes the database process"})
		fall := fcpu + fs["push.stores_cpu_s_per_10k"] + fs["pull.stores_cpu_s_per_10k"]
		out = append(out, Ratio{Name: "API + database CPU per record (push + paged pull) vs pouchdb-server", Value: div(fall, pcpu), Goal: "<= 0.5"})
	}
	if fs != nil {
		out = append(out, Ratio{Name: "API peak RSS MiB (database excluded)", Value: fs["server_peak_rss_mib"], Goal: "<= 120"})
	}
	for i := range out {
		r := &out[i]
		var want float64
		switch {
		case strings.HasPrefix(r.Goal, ">= "):
			fmt.Sscanf(r.Goal[3:], "%g", &want)
			r.Met = r.Value >= want
		case strings.HasPrefix(r.Goal, "<= "):
			fmt.Sscanf(r.Goal[3:], "%g", &want)
			r.Met = r.Value > 0 && r.Value <= want
		default:
			r.Met = true
		}
	}
	return out
}

func markdown(rep *Report) string {
	var b strings.Builder
	var systems []string
	for _, s := range systemOrder {
		if _, ok := rep.Medians[s]; ok {
			systems = append(systems, s)
		}
	}
	fmt.Fprintf(&b, "Generated %s by `scripts/bench`; medians of %s.\n\n", rep.Generated.Format(time.RFC3339), runsText(rep, systems))
	fmt.Fprintf(&b, "Machine: %s\n\n", machineText(rep.Machine))
	b.WriteString("| metric |")
	for _, s := range systems {
		b.WriteString(" " + systemTitle[s] + " |")
	}
	b.WriteString("\n|---|")
	for range systems {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, m := range metrics {
		row, any := "| "+m.label+" |", false
		for _, s := range systems {
			v := rep.Medians[s][m.key]
			if v == 0 {
				row += " – |"
				continue
			}
			any = true
			row += " " + num(v) + " |"
		}
		if any {
			b.WriteString(row + "\n")
		}
	}
	b.WriteString("\n| goal | value | target | met |\n|---|---:|---|---|\n")
	for _, r := range rep.Ratios {
		met := "met"
		if !r.Met {
			met = "**not met**"
		}
		if r.Goal == "(info)" {
			met = ""
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Name, num(r.Value), r.Goal, met)
	}
	return b.String()
}

func runsText(rep *Report, systems []string) string {
	var parts []string
	for _, s := range systems {
		parts = append(parts, fmt.Sprintf("%d %s runs", int(rep.Medians[s]["runs"]), s))
	}
	return strings.Join(parts, ", ")
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func machine(note string) map[string]string {
	m := map[string]string{"go": runtime.Version(), "cpus": fmt.Sprint(runtime.NumCPU())}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	scan := func(path, prefix string) string {
		f, err := os.Open(path)
		if err != nil {
			return ""
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				return strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(v), ":"))
			}
		}
		return ""
	}
	m["cpu"] = scan("/proc/cpuinfo", "model name")
	m["memory"] = scan("/proc/meminfo", "MemTotal:")
	if note != "" {
		m["note"] = note
	}
	return m
}

func machineText(m map[string]string) string {
	s := fmt.Sprintf("%s × %s CPUs, %s RAM, Linux %s, %s", m["cpus"], m["cpu"], m["memory"], m["kernel"], m["go"])
	if m["note"] != "" {
		s += ", " + m["note"]
	}
	return s
}

// Markers around the generated part of docs/BENCHMARKS.md; the prose around them is kept.
const (
	beginMark = "<!-- bench:begin (generated by scripts/bench; do not edit) -->"
	endMark   = "<!-- bench:end -->"
)

func replaceSection(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(b)
	section := beginMark + "\n" + table + endMark
	i, j := strings.Index(s, beginMark), strings.Index(s, endMark)
	if i >= 0 && j > i {
		s = s[:i] + section + s[j+len(endMark):]
	} else {
		s = "# Benchmarks\n\n" + section + "\n" + s
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
