package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// med is a target's medians, each metric separately, over its rounds.
type med struct {
	n                          int
	throughput, p50, p99, p999 float64
	cpuPerOp                   float64
	hasCPU                     bool
	requests, errors           int64
}

func medians(t *target) med {
	m := med{n: len(t.rounds)}
	pick := func(f func(summary) float64) float64 {
		xs := make([]float64, len(t.rounds))
		for i, s := range t.rounds {
			xs[i] = f(s)
		}
		return median(xs)
	}
	m.throughput = pick(func(s summary) float64 { return s.Throughput })
	m.p50 = pick(func(s summary) float64 { return s.P50 })
	m.p99 = pick(func(s summary) float64 { return s.P99 })
	m.p999 = pick(func(s summary) float64 { return s.P999 })
	m.cpuPerOp = pick(func(s summary) float64 { return s.CPUPerOp })
	for _, s := range t.rounds {
		m.requests += s.Requests
		m.errors += s.Errors
		m.hasCPU = m.hasCPU || s.CPUSec > 0
	}
	return m
}

func msec(us float64) string { return fmt.Sprintf("%.2f ms", us/1000) }

// goal is one of issue 12's targets: a ratio of two targets' medians, or
// a bound on one target's CPU per op.
type goal struct {
	what    string
	of, to  string // target names; to is empty for a CPU bound
	metric  string // "throughput", "p99" or "cpu"
	bound   float64
	atLeast bool // ratio >= bound (throughput); otherwise <= bound
}

var goals = []goal{
	{what: "RESP SET+GET (50/50), sync=false vs redis no persistence", of: "dynago RESP (sync=false)", to: "redis-server (no persistence)", metric: "throughput", bound: 0.6, atLeast: true},
	{what: "RESP p99 at the bench's clients vs redis p99", of: "dynago RESP (sync=false)", to: "redis-server (no persistence)", metric: "p99", bound: 3},
	{what: "RESP SET, sync=true vs redis appendfsync always", of: "dynago RESP SET (sync=true)", to: "redis-server SET (appendfsync always)", metric: "throughput", bound: 0.6, atLeast: true},
	{what: "HTTP PUT+GET (50/50), sync=false vs bare net/http", of: "dynago HTTP (sync=false)", to: "net/http map server", metric: "throughput", bound: 0.6, atLeast: true},
	{what: "agent CPU per client op, HTTP 50/50, no fsync (3 agents)", of: "dynago HTTP (sync=false)", metric: "cpu", bound: 50},
	{what: "agent CPU per client op, RESP 50/50, no fsync (3 agents)", of: "dynago RESP (sync=false)", metric: "cpu", bound: 50},
}

// writeTable prints the medians and the goals as Markdown tables.
func writeTable(w io.Writer, c config, targets []*target) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nMedians of %d interleaved round(s) of %s per target (%s, 127.0.0.1, %d clients, %d keys, %d B values, seed %d):\n\n",
		c.rounds, c.duration, time.Now().UTC().Format("2006-01-02"), c.concurrency, c.keys, c.valueSize, c.seed)
	b.WriteString("| target | load | req/s | p50 | p99 | p99.9 | server CPU per op | preload keys/s | errors |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	byName := map[string]med{}
	for _, t := range targets {
		m := medians(t)
		byName[t.name] = m
		load := fmt.Sprintf("%.0f%% reads", c.readRatio*100)
		if t.writeOnly {
			load = "writes only"
		}
		cpu := "—"
		if m.hasCPU {
			cpu = fmt.Sprintf("%.1f µs", m.cpuPerOp)
		}
		pre := "—"
		if t.preload > 0 {
			pre = fmt.Sprintf("%.0f", t.preload)
		}
		if m.n == 0 {
			fmt.Fprintf(&b, "| %s | %s | no round ran | | | | | | |\n", t.name, load)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %d of %d |\n", t.name, load, m.throughput,
			msec(m.p50), msec(m.p99), msec(m.p999), cpu, pre, m.errors, m.requests)
	}
	b.WriteString("\nIssue 12's targets (ratios of the medians above; a target is never lowered):\n\n")
	b.WriteString("| target | measured | goal | met |\n|---|---:|---:|---|\n")
	for _, g := range goals {
		a, okA := byName[g.of]
		z, okZ := byName[g.to]
		var val float64
		switch {
		case !okA || a.n == 0 || (g.to != "" && (!okZ || z.n == 0)):
			fmt.Fprintf(&b, "| %s | not measured in this run | %s | — |\n", g.what, goalText(g))
			continue
		case g.metric == "cpu":
			if !a.hasCPU {
				fmt.Fprintf(&b, "| %s | no CPU reading | %s | — |\n", g.what, goalText(g))
				continue
			}
			val = a.cpuPerOp
		case g.metric == "p99":
			val = ratio(a.p99, z.p99)
		default:
			val = ratio(a.throughput, z.throughput)
		}
		met := "no"
		if (g.atLeast && val >= g.bound) || (!g.atLeast && val <= g.bound && val > 0) {
			met = "yes"
		}
		shown := fmt.Sprintf("%.2fx", val)
		if g.metric == "cpu" {
			shown = fmt.Sprintf("%.1f µs", val)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.what, shown, goalText(g), met)
	}
	b.WriteString("\nserver CPU per op: user+system CPU of the target's server processes (all three agents for dynago) per OK request, from /proc, median over rounds.\n")
	for _, t := range targets {
		if t.siblings > 0 {
			fmt.Fprintf(&b, "%s: %d of its errors are GET -SIBLINGS (concurrent blind SETs of a key through different nodes make siblings; RESP GET answers those with an error by contract). They are not OK requests, so not in req/s.\n", t.name, t.siblings)
		}
	}
	for _, t := range targets {
		for _, f := range t.failures {
			fmt.Fprintf(&b, "FAILED %s: %s\n", t.name, f)
		}
	}
	io.WriteString(w, b.String())
}

func goalText(g goal) string {
	switch {
	case g.metric == "cpu":
		return fmt.Sprintf("≤ %.0f µs", g.bound)
	case g.atLeast:
		return fmt.Sprintf("≥ %.1fx", g.bound)
	default:
		return fmt.Sprintf("≤ %.0fx", g.bound)
	}
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
