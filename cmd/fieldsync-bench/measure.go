package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime/stime in /proc/<pid>/stat (USER_HZ, 100 on every Linux ABI Go runs on).
const userHZ = 100

// procCPU returns the user+system CPU seconds a process has used so far.
func procCPU(pid int) (float64, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields count from after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: short", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bench: /proc/%d/stat: bad times", pid)
	}
	return (ut + st) / userHZ, nil
}

// procPeakRSS returns a process's peak resident set (VmHWM) in MiB.
func procPeakRSS(pid int) (float64, error) {
	return procStatusMiB(pid, "VmHWM:")
}

// procStatusMiB returns the kB figure of one line of /proc/<pid>/status (key with its colon) in MiB.
func procStatusMiB(pid int, key string) (float64, error) {
	if pid <= 0 {
		return 0, nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("bench: no %s for pid %d", key, pid)
}

// latencies collects request latencies of one phase.
type latencies []time.Duration

// percentile returns the p-th percentile (0..100) in milliseconds, nearest rank.
func (l latencies) percentile(p float64) float64 {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

// Phase is the outcome of one timed part of a run.
type Phase struct {
	Records     int     `json:"records"`
	Requests    int     `json:"requests"`
	Seconds     float64 `json:"seconds"`
	RecordsPerS float64 `json:"records_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P95ms       float64 `json:"p95_ms"`
	P99ms       float64 `json:"p99_ms"`
	// CPU seconds per 10,000 records of the API process (server) and of the
	// process hosting the database (stores; the same process for pouchdb-server).
	ServerCPUPer10k float64 `json:"server_cpu_s_per_10k"`
	StoresCPUPer10k float64 `json:"stores_cpu_s_per_10k,omitempty"`
	// DBCommandsPerRequest is the database round trips per request (fieldsync only).
	DBCommandsPerRequest float64 `json:"db_commands_per_request,omitempty"`
}

func newPhase(records int, d time.Duration, lat latencies) Phase {
	p := Phase{Records: records, Requests: len(lat), Seconds: d.Seconds()}
	if d > 0 {
		p.RecordsPerS = float64(records) / d.Seconds()
	}
	p.P50ms, p.P95ms, p.P99ms = lat.percentile(50), lat.percentile(95), lat.percentile(99)
	return p
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
