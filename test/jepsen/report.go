package jepsen

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/test/jepsen/checker"
	"github.com/dynago/dynago/test/jepsen/history"
)

// Results is a run's results.json.
type Results struct {
	Scenario string `json:"scenario"`
	Title    string `json:"title"`
	Injects  string `json:"injects"`
	Asserts  string `json:"asserts"`
	Seed     int64  `json:"seed"`
	RunDir   string `json:"run_dir"`
	Started  string `json:"started"`
	// WorkloadSeconds is the configured workload length.
	WorkloadSeconds float64 `json:"workload_seconds"`
	TotalSeconds    float64 `json:"total_seconds"`
	// WorkloadStart and WorkloadEnd are history times (ns).
	WorkloadStart int64 `json:"workload_start_ns"`
	WorkloadEnd   int64 `json:"workload_end_ns"`

	Config    ConfigSummary  `json:"config"`
	Workloads []WorkloadSpec `json:"workloads,omitempty"`
	Nemesis   string         `json:"nemesis,omitempty"`
	Schedule  []Event        `json:"schedule,omitempty"`
	Timeline  []TimelineItem `json:"timeline,omitempty"`

	// Ops counts client ops by function and outcome, e.g. ops["write"]["ok"].
	Ops map[string]map[string]int `json:"ops"`
	// OKOps is the number of OK client ops; Throughput is OKOps per
	// workload second.
	OKOps      int     `json:"ok_ops"`
	Throughput float64 `json:"throughput_ok_per_s"`
	// Availability is the share of client ops that were OK: overall, and
	// for ops invoked while a fault was active / while none was.
	Availability        float64 `json:"availability"`
	AvailabilityFaulted float64 `json:"availability_during_faults"`
	AvailabilityCalm    float64 `json:"availability_without_faults"`

	Converged       bool     `json:"converged"`
	HintsLeft       int      `json:"hints_left"`
	ConvergeSeconds float64  `json:"converge_seconds"`
	NemesisErrors   []string `json:"nemesis_errors,omitempty"`
	// MerklePartitions is how many partitions had their replicas' Merkle
	// roots compared at the end, and MerkleDivergent the ones whose roots
	// differed (merkle.json has every tree).
	MerklePartitions int                        `json:"merkle_partitions"`
	MerkleDivergent  []checker.RootDisagreement `json:"merkle_divergent,omitempty"`
	// AAE is every node's anti-entropy totals after convergence.
	AAE *AAEReport `json:"aae,omitempty"`
	// Soak is the soak's load, memory and exit figures (soak.go).
	Soak *SoakReport `json:"soak,omitempty"`

	Checkers []checker.Result `json:"checkers"`
	Verdicts []Verdict        `json:"verdicts"`
	// Problems lists everything that makes the run fail; Pass is true when
	// there are none.
	Problems []string `json:"problems,omitempty"`
	Pass     bool     `json:"pass"`
}

// ConfigSummary is the cluster configuration in results.json.
type ConfigSummary struct {
	Nodes, N, R, W, PR, PW, Partitions int
	ReadRepair                         string
	Timeout                            string
	AgentArgs                          []string `json:",omitempty"`
	// Secure: internode mutual TLS and an encrypted gossip (ClusterConfig.Secure).
	Secure bool `json:",omitempty"`
}

// Verdict compares a checker's result with what the scenario requires.
type Verdict struct {
	Checker string `json:"checker"`
	// Scope lists the workloads the checker was applied to (empty: all).
	Scope    []string `json:"scope,omitempty"`
	Valid    bool     `json:"valid"`
	Expected bool     `json:"expected_valid"`
	// ReportOnly marks a checker whose verdict is reported, not judged:
	// the scenario's configuration does not promise its property.
	ReportOnly bool `json:"report_only,omitempty"`
	OK         bool `json:"ok"`
}

// TimelineItem is one nemesis action as it happened.
type TimelineItem struct {
	At    float64 `json:"at_s"` // seconds from the workload start
	What  string  `json:"what"`
	Error string  `json:"error,omitempty"`
}

func newResults(sc Scenario, spec RunSpec, cfg ClusterConfig) *Results {
	res := &Results{Scenario: sc.Name, Title: sc.Title, Injects: sc.Injects, Asserts: sc.Asserts, Seed: spec.Seed,
		RunDir: spec.Dir, Started: time.Now().Format(time.RFC3339), WorkloadSeconds: spec.Duration.Seconds(),
		Workloads: sc.Workloads}
	if sc.Nemesis != nil {
		res.Nemesis = sc.Nemesis.String()
	}
	res.Config = ConfigSummary{Nodes: cfg.Nodes, N: cfg.N, R: cfg.R, W: cfg.W, PR: cfg.PR, PW: cfg.PW,
		Partitions: cfg.Partitions, ReadRepair: cfg.ReadRepair, Timeout: cfg.Timeout.String(), AgentArgs: cfg.AgentArgs, Secure: cfg.Secure}
	return res
}

// check runs the scenario's checkers and compares them with its
// expectations. merkle, when set, is the Merkle half of convergence: it is
// joined into the convergence checker's verdict.
func (res *Results) check(ops []history.Operation, reps []history.Replica, merkle *checker.Result, logf func(string, ...any)) {
	sc, _ := Lookup(res.Scenario)
	for _, name := range sc.Checkers {
		t0 := time.Now()
		cops, creps := ops, reps
		if wls, ok := sc.Claims[name]; ok {
			cops, creps = FilterWorkloads(ops, reps, wls)
		}
		cr := RunChecker(name, cops, creps)
		if name == CheckConvergence && merkle != nil {
			cr = checker.Combine(name, cr, *merkle)
		}
		cr.Name = name
		res.Checkers = append(res.Checkers, cr)
		want := sc.Expected(name)
		reportOnly := slices.Contains(sc.ReportOnly, name)
		v := Verdict{Checker: name, Scope: sc.Claims[name], Valid: cr.Valid, Expected: want, ReportOnly: reportOnly, OK: cr.Valid == want || reportOnly}
		res.Verdicts = append(res.Verdicts, v)
		logf("checker %-16s valid=%-5v expected=%-5v %s (%s)", name, cr.Valid, want, countsLine(cr.Counts), time.Since(t0).Round(time.Millisecond))
		switch {
		case !v.OK && want:
			p := fmt.Sprintf("%s is invalid: %d violations", name, cr.Counts["violations"])
			if len(cr.Examples) > 0 {
				p += "; first: " + cr.Examples[0].Detail
			}
			res.Problems = append(res.Problems, p)
		case !v.OK:
			res.Problems = append(res.Problems, fmt.Sprintf("must-fail control: %s did not flag the anomaly the scenario injects", name))
		}
	}
}

// FilterWorkloads keeps the ops and replicas of the given workloads (and
// every nemesis op).
func FilterWorkloads(ops []history.Operation, reps []history.Replica, workloads []string) ([]history.Operation, []history.Replica) {
	var fo []history.Operation
	for _, op := range ops {
		if op.F == history.Nemesis || slices.Contains(workloads, op.Workload) {
			fo = append(fo, op)
		}
	}
	var fr []history.Replica
	for _, r := range reps {
		if slices.Contains(workloads, r.Workload) {
			fr = append(fr, r)
		}
	}
	return fo, fr
}

// summarize fills in op counts, throughput, availability and the timeline.
func (res *Results) summarize(ops []history.Operation, sc Scenario) {
	res.Ops = map[string]map[string]int{}
	var windows [][2]int64
	open := map[string]int64{}
	for _, op := range ops {
		if op.F != history.Nemesis {
			continue
		}
		item := TimelineItem{At: float64(op.Invoke-res.WorkloadStart) / 1e9, What: op.Value, Error: op.Error}
		res.Timeline = append(res.Timeline, item)
		id := op.Fault + "/" + strings.Join(op.Nodes, ",")
		if op.Fault == FaultPartition {
			id = op.Fault
		}
		switch op.Phase {
		case "start":
			if op.Fault != FaultHeal {
				open[id] = op.Invoke
			}
		case "stop":
			if t, ok := open[id]; ok {
				windows = append(windows, [2]int64{t, op.Returned})
				delete(open, id)
			}
		}
	}
	for _, t := range open {
		windows = append(windows, [2]int64{t, res.WorkloadEnd})
	}
	faulted := func(t int64) bool {
		for _, w := range windows {
			if t >= w[0] && t <= w[1] {
				return true
			}
		}
		return false
	}
	var all, ok, fAll, fOK int
	for _, op := range ops {
		if op.Process < 0 || op.F == history.Nemesis {
			continue
		}
		m := res.Ops[string(op.F)]
		if m == nil {
			m = map[string]int{"ok": 0, "fail": 0, "info": 0}
			res.Ops[string(op.F)] = m
		}
		m[string(op.Type)]++
		all++
		isOK := op.Type == history.OK
		if isOK {
			ok++
		}
		if faulted(op.Invoke) {
			fAll++
			if isOK {
				fOK++
			}
		}
	}
	res.OKOps = ok
	if res.WorkloadSeconds > 0 {
		res.Throughput = float64(ok) / (float64(res.WorkloadEnd-res.WorkloadStart) / 1e9)
	}
	res.Availability = ratio(ok, all)
	res.AvailabilityFaulted = ratio(fOK, fAll)
	res.AvailabilityCalm = ratio(ok-fOK, all-fAll)
	if ok < sc.MinOK {
		res.Problems = append(res.Problems, fmt.Sprintf("only %d OK client ops (the scenario needs %d to mean anything)", ok, sc.MinOK))
	}
	res.Pass = len(res.Problems) == 0
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func countsLine(c map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, c[k]))
	}
	return strings.Join(parts, " ")
}

// write stores results.json and report.md in dir.
func (res *Results) write(dir string) error {
	if err := writeJSON(filepath.Join(dir, "results.json"), res); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "report.md"), []byte(res.Markdown()), 0o644)
}

// Markdown renders the human-readable report.
func (res *Results) Markdown() string {
	var b strings.Builder
	verdict := "PASS"
	if !res.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "# %s: %s — %s\n\n", res.Scenario, res.Title, verdict)
	fmt.Fprintf(&b, "- seed: `%d` (rerun: `go test ./test/jepsen -run 'TestJepsen' -scenarios=%s -seed=%d -duration=%s`)\n", res.Seed, res.Scenario, res.Seed, time.Duration(res.WorkloadSeconds*float64(time.Second)))
	fmt.Fprintf(&b, "- started: %s; workload %.0fs; whole run %.0fs\n", res.Started, res.WorkloadSeconds, res.TotalSeconds)
	fmt.Fprintf(&b, "- run directory: `%s` (history.jsonl, results.json, replicas.json, schedule.json, nodes/*.log)\n", res.RunDir)
	if res.Injects != "" {
		fmt.Fprintf(&b, "- injects: %s\n- asserts: %s\n", res.Injects, res.Asserts)
	}
	c := res.Config
	if c.Nodes > 0 {
		fmt.Fprintf(&b, "\n## Configuration\n\n%d nodes at 127.0.0.11..%d, N=%d R=%d W=%d PR=%d PW=%d, %d partitions, read repair %s, request timeout %s, fsync on.",
			c.Nodes, 10+c.Nodes, c.N, c.R, c.W, c.PR, c.PW, c.Partitions, c.ReadRepair, c.Timeout)
		if len(c.AgentArgs) > 0 {
			fmt.Fprintf(&b, " Agent flags: `%s`.", strings.Join(c.AgentArgs, " "))
		}
		if c.Secure {
			b.WriteString(" Security on: internode mutual TLS (a CA and node certificates made for this run) and an encrypted gossip (a random key).")
		}
		b.WriteString("\n\n")
		if len(res.Workloads) > 0 {
			b.WriteString("| workload | kind | clients | keys | r | w | pr | pw | quorum | client mode |\n|---|---|---|---|---|---|---|---|---|---|\n")
			for _, w := range res.Workloads {
				mode := "merge siblings"
				if w.LWW {
					mode = "last write wins (keeps one sibling)"
				}
				q := "sloppy (node default)"
				if w.Params.Strict {
					q = "strict (sloppy=false)"
				}
				fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n", w.Tag(), w.Kind, w.Clients, w.Keys, dflt(w.Params.R), dflt(w.Params.W), dflt(w.Params.PR), dflt(w.Params.PW), q, mode)
			}
		}
		if res.Nemesis != "" {
			fmt.Fprintf(&b, "\nNemesis: %s.\n", res.Nemesis)
		}
	}
	if len(res.Timeline) > 0 {
		b.WriteString("\n## Fault timeline\n\n| at (s) | action | error |\n|---|---|---|\n")
		for _, t := range res.Timeline {
			fmt.Fprintf(&b, "| %.1f | %s | %s |\n", t.At, t.What, t.Error)
		}
	}
	b.WriteString("\n## Checkers\n\n| checker | applies to | valid | expected | counts | first example |\n|---|---|---|---|---|---|\n")
	for i, cr := range res.Checkers {
		ex := ""
		if len(cr.Examples) > 0 {
			ex = strings.ReplaceAll(cr.Examples[0].Detail, "|", "\\|")
		}
		want, scope := "true", "all workloads"
		if i < len(res.Verdicts) {
			want = fmt.Sprint(res.Verdicts[i].Expected)
			if res.Verdicts[i].ReportOnly {
				want = "reported, not judged"
			}
			if len(res.Verdicts[i].Scope) > 0 {
				scope = strings.Join(res.Verdicts[i].Scope, ", ")
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %v | %s | %s | %s |\n", cr.Name, scope, cr.Valid, want, countsLine(cr.Counts), ex)
	}
	if len(res.Ops) > 0 {
		b.WriteString("\n## Operations\n\n| op | ok | fail | info |\n|---|---|---|---|\n")
		for _, f := range slices.Sorted(maps.Keys(res.Ops)) {
			m := res.Ops[f]
			fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", f, m["ok"], m["fail"], m["info"])
		}
		fmt.Fprintf(&b, "\nThroughput %.1f OK ops/s. Availability %.1f%% overall, %.1f%% while a fault was active, %.1f%% otherwise. Converged after heal: %v (%.1fs; hints left %d).\n",
			res.Throughput, 100*res.Availability, 100*res.AvailabilityFaulted, 100*res.AvailabilityCalm, res.Converged, res.ConvergeSeconds, res.HintsLeft)
	}
	res.aaeMarkdown(&b)
	if res.Soak != nil {
		res.Soak.markdown(&b)
	}
	if len(res.Problems) > 0 {
		b.WriteString("\n## Problems\n\n")
		for _, p := range res.Problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

func dflt(v int) string {
	if v == 0 {
		return "default"
	}
	return fmt.Sprint(v)
}

// aaeMarkdown renders the Merkle comparison and the anti-entropy totals.
func (res *Results) aaeMarkdown(b *strings.Builder) {
	if res.AAE == nil && res.MerklePartitions == 0 && len(res.MerkleDivergent) == 0 {
		return
	}
	b.WriteString("\n## Anti-entropy\n\n")
	fmt.Fprintf(b, "Merkle roots (`GET /debug/merkle`, replicas of each partition's preference list that hold a tree): %d partitions compared, %d disagree.\n",
		res.MerklePartitions, len(res.MerkleDivergent))
	for i, d := range res.MerkleDivergent {
		if i == 50 {
			fmt.Fprintf(b, "- ... and %d more (results.json, merkle.json)\n", len(res.MerkleDivergent)-i)
			break
		}
		fmt.Fprintf(b, "- %s\n", d)
	}
	a := res.AAE
	if a == nil {
		return
	}
	b.WriteString("\nTotals of `GET /debug/aae` after convergence (a restarted node counts from its restart):\n\n")
	b.WriteString("| node | exchanges | errors | differences | keys repaired | bytes sent | tombstones | tombstones reaped |\n|---|---|---|---|---|---|---|---|\n")
	row := func(name string, t AAETotals) {
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", name, t.Exchanges, t.ExchangeErrors, t.Differences, t.KeysRepaired, t.BytesSent, t.Tombstones, t.TombstonesReaped)
	}
	for _, n := range slices.Sorted(maps.Keys(a.Nodes)) {
		row(n, a.Nodes[n])
	}
	row("**sum**", a.Sum)
	for _, e := range a.Errors {
		fmt.Fprintf(b, "\nUnreadable: %s\n", e)
	}
}
