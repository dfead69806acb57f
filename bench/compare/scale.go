package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Scale run (--scale): issue 12's memory and cost-growth targets.
//
// It starts two 3-agent clusters (N3 R2 W2, --sync=false, RESP), preloads
// the small one with c.scaleKeys[0] keys and the large one in stages to
// c.scaleKeys[1] and then c.scaleKeys[2] keys (each stage writes only the
// keys it adds, with `dynago bench --preload-from`), reads every agent's
// RSS from /proc after each stage, and then interleaves c.rounds rounds of
// the mixed load (keys drawn uniformly over each cluster's whole key
// space) on the two clusters. With N=3 on 3 nodes every node holds every
// key, so "keys per node" is the cluster's key count.

// settleBeforeRSS (1 s under --smoke) is how long the scale run lets a cluster idle after a
// preload before it reads RSS: the preload's in-flight buffers and
// memtables settle and Go's scavenger returns freed pages (a reading
// taken at once overstates what the node keeps).
const settleBeforeRSS = 15 * time.Second

// stage is one preload of the scale run.
type stage struct {
	cluster   string
	keys      int
	rate      float64 // keys/s
	elapsed   time.Duration
	rssMB     []float64 // per agent, after settleBeforeRSS
	diskBytes int64     // the cluster's data dirs, after the stage
	errors    int64     // failed preload writes
	kinds     map[string]int64
}

// maxPreloadErrors is the fraction of a stage's writes that may fail
// before the run stops: 1%, far above the few timeouts a loaded machine
// causes, far below a broken cluster.
const maxPreloadErrors = 0.01

func runScale(ctx context.Context, c config, out io.Writer) (err error) {
	if len(c.scaleKeys) != 3 || c.scaleKeys[0] >= c.scaleKeys[1] || c.scaleKeys[1] >= c.scaleKeys[2] {
		return fmt.Errorf("--scale-keys wants three growing sizes, got %v", c.scaleKeys)
	}
	w, err := newWorkspace("dynago-scale-")
	if err != nil {
		return err
	}
	defer w.done(c, out, &err)
	dir, ps := w.dir, w.ps
	bin, err := buildDynago(ctx, c, dir)
	if err != nil {
		return err
	}
	small, err := startCluster(ctx, ps, dir, bin, "small", false, true)
	if err != nil {
		return err
	}
	large, err := startCluster(ctx, ps, dir, bin, "large", false, true)
	if err != nil {
		return err
	}
	settle := settleBeforeRSS
	if c.smoke {
		settle = time.Second
	}
	if err := sleepCtx(ctx, settle); err != nil {
		return err
	}
	idle, err := rssMB(large.pids)
	if err != nil {
		return err
	}
	logf("idle RSS of the large cluster's agents: %v MB", idle)

	var stages []stage
	load := func(name string, cl *cluster, from, to int) error {
		logf("preloading %s: keys %d..%d", name, from, to-1)
		args := []string{"bench", "--json", "--quiet", "--protocol", "resp",
			"--addr", strings.Join(cl.resp, ","), "--rounds", "1", "--duration", "1s",
			"--concurrency", strconv.Itoa(c.concurrency), "--keys", strconv.Itoa(to),
			"--value-size", strconv.Itoa(c.valueSize), "--read-ratio", "0",
			"--preload", "--preload-from", strconv.Itoa(from), "--seed", strconv.FormatUint(c.seed, 10)}
		rep, err := runBench(ctx, bin, args)
		if rep == nil {
			return err
		}
		p, ok := rep.Preload["dynago"]
		if !ok || p.Rate <= 0 {
			return fmt.Errorf("preload of %s to %d keys: no preload in the report (%v)", name, to, err)
		}
		// A few failed writes (timeouts on a loaded machine) leave a few
		// keys unwritten, which reads then find missing (an OK answer for
		// a write never acknowledged): the stage still measures its key
		// space. More than maxPreloadErrors is a broken run.
		if float64(p.Errors) > maxPreloadErrors*float64(to-from) {
			return fmt.Errorf("preload of %s to %d keys: %d errors: %v (%v)", name, to, p.Errors, p.Kinds, p.Samples)
		}
		st := stage{cluster: name, keys: to, rate: p.Rate, errors: p.Errors, kinds: p.Kinds,
			elapsed: time.Duration(float64(to-from) / p.Rate * float64(time.Second))}
		if err := sleepCtx(ctx, settle); err != nil {
			return err
		}
		if st.rssMB, err = rssMB(cl.pids); err != nil {
			return err
		}
		st.diskBytes = dirBytes(dir, name)
		logf("%s at %d keys: preload %.0f keys/s (%d failed writes %v), RSS %v MB, disk %.0f MB", name, to, st.rate, st.errors, st.kinds, st.rssMB, float64(st.diskBytes)/1e6)
		stages = append(stages, st)
		return nil
	}
	if err := load("small", small, 0, c.scaleKeys[0]); err != nil {
		return err
	}
	if err := load("large", large, 0, c.scaleKeys[1]); err != nil {
		return err
	}
	if err := load("large", large, c.scaleKeys[1], c.scaleKeys[2]); err != nil {
		return err
	}

	targets := []*target{
		{name: fmt.Sprintf("dynago RESP, %d keys", c.scaleKeys[0]), protocol: "resp", addrs: small.resp, pids: small.pids, keys: c.scaleKeys[0], preloaded: true},
		{name: fmt.Sprintf("dynago RESP, %d keys", c.scaleKeys[2]), protocol: "resp", addrs: large.resp, pids: large.pids, keys: c.scaleKeys[2], preloaded: true},
	}
	var failed []string
	for i := range c.rounds {
		for _, t := range targets {
			s, err := measure(ctx, bin, c, t, i)
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s round %d: %v", t.name, i+1, err))
				continue
			}
			logf("round %d %-28s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  cpu %.1f µs/op", i+1, t.name, s.Throughput, s.P50/1000, s.P99/1000, s.CPUPerOp)
		}
	}
	writeScaleTable(out, c, idle, stages, targets)
	if len(failed) > 0 {
		return fmt.Errorf("%d measurement(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// rssMB reads each process's resident set (VmRSS) from /proc, in MB.
func rssMB(pids []int) ([]float64, error) {
	var out []float64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return nil, err
		}
		kb, err := vmRSS(string(b))
		if err != nil {
			return nil, fmt.Errorf("pid %d: %w", pid, err)
		}
		out = append(out, float64(kb)/1024)
	}
	return out, nil
}

// vmRSS finds the VmRSS line of a /proc/PID/status text, in kB.
func vmRSS(status string) (int64, error) {
	for line := range strings.Lines(status) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}

// dirBytes is the disk space (allocated blocks, not apparent sizes: badger
// preallocates its value-log files) under dir's entries named prefix-*.
func dirBytes(dir, prefix string) int64 {
	var total int64
	matches, _ := filepath.Glob(filepath.Join(dir, prefix+"-*"))
	for _, m := range matches {
		_ = filepath.WalkDir(m, func(_ string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					total += st.Blocks * 512
				}
			}
			return nil
		})
	}
	return total
}

// Issue 12's scale targets.
const (
	rssGoalMB  = 400 // per node, at 1M keys of 100 bytes
	idleGoalMB = 80  // per idle agent
	growthGoal = 0.8 // throughput at the largest key space over the smallest, at least
)

// writeScaleTable prints the scale run's stages, rounds and goals as
// Markdown tables.
func writeScaleTable(w io.Writer, c config, idle []float64, stages []stage, targets []*target) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nscale: 3 agents per cluster, N3 R2 W2, --sync=false, RESP, %d clients, %d B values, %.0f%% reads, %d round(s) x %s, seed %d\n\n",
		c.concurrency, c.valueSize, c.readRatio*100, c.rounds, c.duration, c.seed)
	fmt.Fprintln(&b, "| cluster | keys per node | preload keys/s | preload time | failed writes | RSS per agent (MB) | disk, 3 agents |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---|---:|")
	fmt.Fprintf(&b, "| large, idle | 0 | — | — | — | %s | — |\n", mbList(idle))
	for _, s := range stages {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %d | %s | %.0f MB |\n", s.cluster, s.keys, s.rate, s.elapsed.Round(time.Second), s.errors, mbList(s.rssMB), float64(s.diskBytes)/1e6)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| target | req/s | p50 | p99 | p99.9 | agent CPU per op |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|")
	var ms []med
	for _, t := range targets {
		m := medians(t)
		ms = append(ms, m)
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %.1f µs |\n", t.name, m.throughput, msec(m.p50), msec(m.p99), msec(m.p999), m.cpuPerOp)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| target | measured | goal | met |")
	fmt.Fprintln(&b, "|---|---:|---:|---|")
	if len(ms) == 2 && ms[0].throughput > 0 {
		r := ms[1].throughput / ms[0].throughput
		fmt.Fprintf(&b, "| throughput at %d keys per node vs at %d | %.2fx | ≥ %.1fx | %s |\n", targets[1].keys, targets[0].keys, r, growthGoal, yesNo(r >= growthGoal))
	}
	fmt.Fprintf(&b, "| idle agent RSS (largest) | %.0f MB | ≤ %d MB | %s |\n", slices.Max(idle), idleGoalMB, yesNo(slices.Max(idle) <= idleGoalMB))
	for _, s := range stages {
		// The RSS goal is for the large cluster's first stage (1M keys).
		if s.cluster == "large" && len(c.scaleKeys) > 1 && s.keys == c.scaleKeys[1] && len(s.rssMB) > 0 {
			mx := slices.Max(s.rssMB)
			fmt.Fprintf(&b, "| RSS per node at %d keys (largest agent) | %.0f MB | ≤ %d MB | %s |\n", s.keys, mx, rssGoalMB, yesNo(mx <= rssGoalMB))
		}
	}
	_, _ = io.WriteString(w, b.String())
}

func mbList(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return strings.Join(parts, " / ")
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}
