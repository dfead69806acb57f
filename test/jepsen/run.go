package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dynago/dynago/test/jepsen/checker"
	"github.com/dynago/dynago/test/jepsen/history"
)

// RunSpec is what the test process hands the process it starts inside the
// namespace: one scenario run.
type RunSpec struct {
	Scenario  string        `json:"scenario"`
	Seed      int64         `json:"seed"`
	Duration  time.Duration `json:"duration"` // workload length
	Dir       string        `json:"dir"`      // run directory
	Binary    string        `json:"binary"`   // dynago
	Namespace string        `json:"namespace"`
	// OutsideNS identifies the test process's own network namespace, where
	// the runner must never be (CurrentNetNS).
	OutsideNS string `json:"outside_netns"`
	// AgentLogLevel overrides the agents' log level (e.g. debug).
	AgentLogLevel string `json:"agent_log_level,omitempty"`
}

// Run is one scenario run in progress.
type Run struct {
	Spec RunSpec
	Sc   Scenario
	C    *Cluster
	Rec  *history.Recorder
	Nem  *Nemesis
	Logf func(format string, args ...any)
	// Soak, set by the soak's script (soak.go), is copied into the
	// results with its problems.
	Soak *SoakReport

	started time.Time
	stop    <-chan struct{} // closed when the workload's time is up
}

// Stopping is closed when the workload's time is up: a script that runs
// for the whole workload (the soak's load) ends then.
func (r *Run) Stopping() <-chan struct{} { return r.stop }

// Phase timings and bounds.
const (
	healWithin      = 60 * time.Second // every node alive in every view after heal
	defaultQuiet    = 3 * time.Second
	defaultConverge = 60 * time.Second
)

// Execute runs a cluster scenario through its phases: start the cluster;
// workload plus nemesis (and script) for the duration; heal everything;
// quiet; wait (bounded) for convergence; final reads at R=N through every
// node; every replica's local state; stop the cluster; check; report.
func Execute(ctx context.Context, spec RunSpec, logw io.Writer) (*Results, error) {
	sc, ok := Lookup(spec.Scenario)
	if !ok {
		return nil, fmt.Errorf("jepsen: unknown scenario %q", spec.Scenario)
	}
	var logMu sync.Mutex
	begin := time.Now()
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(logw, "[%7.2fs] %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
	}
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return nil, err
	}
	rec, err := history.NewRecorder(filepath.Join(spec.Dir, "history.jsonl"))
	if err != nil {
		return nil, err
	}
	defer rec.Close() // on every path: the history so far is evidence
	cfg := sc.Config()
	cfg.Binary, cfg.Dir, cfg.Namespace, cfg.OutsideNS, cfg.Logf = spec.Binary, spec.Dir, spec.Namespace, spec.OutsideNS, logf
	if spec.AgentLogLevel != "" {
		cfg.LogLevel = spec.AgentLogLevel
	}
	c, err := NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	r := &Run{Spec: spec, Sc: sc, C: c, Rec: rec, Logf: logf, started: begin}
	r.Nem = NewNemesis(c, rec, logf)
	res := newResults(sc, spec, cfg)
	defer c.Close()

	logf("%s (%s): seed %d, workload %s, run dir %s", sc.Name, sc.Title, spec.Seed, spec.Duration, spec.Dir)
	logf("starting %d nodes (N=%d R=%d W=%d, read repair %s)", cfg.Nodes, cfg.N, cfg.R, cfg.W, cfg.ReadRepair)
	if err := c.StartAll(ctx); err != nil {
		return nil, fmt.Errorf("jepsen: cluster start: %w", err)
	}
	logf("cluster up: every node sees %d live members", cfg.Nodes)

	// Workload, nemesis and script.
	events := Plan(sc.Nemesis, spec.Seed, c.Names(), spec.Duration)
	res.Schedule = events
	writeJSON(filepath.Join(spec.Dir, "schedule.json"), events)
	wl := NewWorkload(sc.Workloads, c.Nodes, rec, spec.Seed)
	wctx, abort := context.WithCancel(ctx)
	defer abort()
	wstart := time.Now()
	res.WorkloadStart = rec.Now()
	wl.Start(wctx)
	stopNem := make(chan struct{})
	r.stop = stopNem
	var bg sync.WaitGroup
	bg.Go(func() { r.Nem.Run(wctx, wstart, events, stopNem) })
	var scriptErr error
	if sc.Script != nil {
		bg.Go(func() {
			if err := sc.Script(wctx, r); err != nil {
				scriptErr = err
				logf("script: %v", err)
			}
		})
	}
	select {
	case <-time.After(spec.Duration):
	case <-ctx.Done():
	}
	logf("workload: stopping clients")
	wl.Stop()
	close(stopNem)
	bg.Wait()
	res.WorkloadEnd = rec.Now()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if scriptErr != nil {
		res.Problems = append(res.Problems, "script: "+scriptErr.Error())
	}
	if r.Soak != nil {
		res.Soak = r.Soak
		res.Problems = append(res.Problems, r.Soak.Problems...)
	}

	// Heal, quiet, converge.
	logf("heal: ending every fault")
	r.Nem.HealAll(ctx)
	if err := c.WaitAllAlive(ctx, healWithin); err != nil {
		res.Problems = append(res.Problems, "after heal: "+err.Error())
	}
	quiet := sc.Quiet
	if quiet == 0 {
		quiet = defaultQuiet
	}
	logf("quiet for %s", quiet)
	select {
	case <-time.After(quiet):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	within := sc.ConvergeWithin
	if within == 0 {
		within = defaultConverge
	}
	keys := keysUsed(sc, rec.Ops())
	t0 := time.Now()
	conv, err := r.converge(ctx, keys, within, !sc.PassiveConvergence, sc.DrainTombstones)
	if err != nil {
		return nil, err
	}
	res.HintsLeft = conv.hints
	if conv.hints > 0 && slices.Contains(sc.Checkers, CheckConvergence) {
		res.Problems = append(res.Problems, fmt.Sprintf("convergence: %d hints still queued %s after heal (%s)", conv.hints, within, r.hintsLeft(ctx)))
	}
	if sc.DrainTombstones && conv.tombstones != 0 {
		res.Problems = append(res.Problems, fmt.Sprintf("convergence: %d tombstones still stored %s after heal, although the grace has passed (they are reaped once every replica has confirmed them)", conv.tombstones, within))
	}
	res.ConvergeSeconds = time.Since(t0).Seconds()
	res.Converged = conv.ok
	logf("convergence: %v after %.1fs", conv.ok, res.ConvergeSeconds)

	// Final reads, replica states, Merkle roots and anti-entropy totals.
	rs := sc.FinalReadRs
	if len(rs) == 0 {
		rs = []int{cfg.N}
	}
	r.finalReads(ctx, keys, rs)
	replicas := r.replicas(ctx, keys)
	writeJSON(filepath.Join(spec.Dir, "replicas.json"), replicas)
	preflists, ringErr := c.Ring(ctx)
	if ringErr != nil {
		logf("merkle: %v", ringErr)
	}
	trees := c.AllMerkleTrees(ctx)
	writeJSON(filepath.Join(spec.Dir, "merkle.json"), map[string]any{"preflists": preflists, "trees": trees})
	merkle := checker.MerkleRoots(trees, preflists)
	res.MerklePartitions = merkle.Counts["merkle_partitions"]
	res.MerkleDivergent = checker.CompareRoots(trees, preflists)
	res.AAE = c.AAEReport(ctx)
	logf("merkle roots: %d partitions compared, %d disagree, %d nodes unreadable; anti-entropy totals: %d keys repaired, %d tombstones reaped, %d stored",
		res.MerklePartitions, len(res.MerkleDivergent), merkle.Counts["merkle_unreadable"], res.AAE.Sum.KeysRepaired, res.AAE.Sum.TombstonesReaped, res.AAE.Sum.Tombstones)
	if sc.RequireRepairs || sc.DrainTombstones {
		for _, e := range res.AAE.Errors {
			res.Problems = append(res.Problems, "GET /debug/aae: "+e)
		}
	}
	if sc.RequireRepairs && len(res.AAE.Errors) == 0 && res.AAE.Sum.KeysRepaired == 0 {
		res.Problems = append(res.Problems, "anti-entropy repaired no key (totals.keys_repaired is 0 on every node), yet a replica missed writes that nothing else repairs")
	}
	logf("final reads and %d replica states collected; stopping the cluster", len(replicas))
	c.Close()
	if err := rec.Close(); err != nil {
		return nil, err
	}
	res.NemesisErrors = r.Nem.Errors()
	for _, e := range res.NemesisErrors {
		if !strings.Contains(e, "is not running") { // a crash drawn on a node that is already down
			res.Problems = append(res.Problems, "nemesis: "+e)
		}
	}

	ops, err := history.Complete(rec.Ops())
	if err != nil {
		return nil, err
	}
	res.check(ops, replicas, &merkle, logf)
	if sc.Expect[CheckLinearizable] || slices.Contains(sc.Checkers, CheckLinearizable) {
		for _, cr := range res.Checkers {
			if cr.Name == CheckLinearizable && !cr.Valid {
				for i, ex := range cr.Examples {
					if i == 3 {
						break
					}
					path := filepath.Join(spec.Dir, "linearizability-"+checker.FileSafe(ex.Key)+".html")
					if err := checker.LinearizableVisualize(ops, ex.Key, path, LinearizabilityTimeout); err != nil {
						logf("visualization of %s: %v", ex.Key, err)
					} else {
						logf("linearizability failure of %s visualized in %s", ex.Key, path)
					}
				}
			}
		}
	}
	res.summarize(ops, sc)
	res.TotalSeconds = time.Since(begin).Seconds()
	if err := res.write(spec.Dir); err != nil {
		return nil, err
	}
	if res.Pass {
		// The history, logs and replica states stay; the agents' data
		// directories are kept only for a failing run.
		_ = os.RemoveAll(filepath.Join(spec.Dir, "data"))
	}
	return res, nil
}

// convergence is what the convergence wait saw last.
type convergence struct {
	ok    bool
	hints int
	// roots are the partitions whose replicas' Merkle roots differ, and
	// unreadable the nodes (or the ring) that could not be asked.
	roots      []checker.RootDisagreement
	unreadable []string
	tombstones int64 // stored, over every node (only when draining)
}

// converge waits until no node holds hints, every key's replicas store the
// same versions, the replicas of every partition report the same Merkle
// root (GET /debug/merkle) and, with drain set, no node stores a tombstone.
// With drive set it reads each divergent key at R=N (strict, recorded in
// the history) to trigger read repair.
func (r *Run) converge(ctx context.Context, keys [][2]string, within time.Duration, drive, drain bool) (convergence, error) {
	deadline := time.Now().Add(within)
	pending := slices.Clone(keys)
	kv := map[string]*KV{}
	for _, n := range r.C.Nodes {
		kv[n.Name] = NewKV(n.Name, n.HTTP, ClientTimeout)
	}
	defer func() {
		for _, c := range kv {
			c.Close()
		}
	}()
	var st convergence
	for round := 0; ; round++ {
		hints := 0
		for _, n := range r.C.Nodes {
			h, err := r.C.Hints(ctx, n)
			if err != nil {
				h = 1
			}
			hints += h
		}
		var still [][2]string
		for _, k := range pending {
			pl, err := r.C.Preflist(ctx, k[0])
			if err != nil {
				still = append(still, k)
				continue
			}
			sigs := map[string]bool{}
			for _, name := range pl {
				rep := r.C.ReplicaOf(ctx, name, k[0], k[1])
				if rep.Error != "" {
					sigs["error:"+name] = true
					continue
				}
				sigs[signatureOf(rep)] = true
			}
			if len(sigs) == 1 {
				continue
			}
			still = append(still, k)
			if node := r.C.Node(pl[round%len(pl)]); drive && hints == 0 && node != nil {
				c := &client{id: history.ConvergeProcess, spec: WorkloadSpec{Kind: Register, Name: k[1], Params: Params{R: len(pl), Strict: true, TimeoutMS: DefaultServerTimeoutMS}}, kv: kv[node.Name], rec: r.Rec, cache: map[string]cached{}}
				c.read(ctx, k[0])
			}
		}
		pending = still
		st = convergence{hints: hints}
		if len(pending) == 0 && hints == 0 {
			// Per-key states agree: the Merkle roots must too (a tree
			// update may trail its write by a moment, hence in the loop).
			st.ok = true
			preflists, err := r.C.Ring(ctx)
			if err != nil {
				st.ok, st.unreadable = false, append(st.unreadable, err.Error())
			}
			trees := r.C.AllMerkleTrees(ctx)
			for _, t := range trees {
				if t.Error != "" {
					st.ok, st.unreadable = false, append(st.unreadable, t.Node+": "+t.Error)
				}
			}
			if st.roots = checker.CompareRoots(trees, preflists); len(st.roots) > 0 {
				st.ok = false
			}
			if drain {
				aae := r.C.AAEReport(ctx)
				st.tombstones = aae.Sum.Tombstones
				if len(aae.Errors) > 0 || st.tombstones != 0 {
					st.ok = false
					st.unreadable = append(st.unreadable, aae.Errors...)
				}
			}
			if st.ok {
				return st, nil
			}
		}
		if time.Now().After(deadline) {
			r.Logf("convergence: after %s, %d hints still queued and %d keys divergent: %v", within, hints, len(pending), pending)
			if len(pending) == 0 && hints == 0 {
				r.Logf("convergence: %d partitions with different Merkle roots, %d tombstones stored, unreadable: %v", len(st.roots), st.tombstones, st.unreadable)
				for _, d := range st.roots {
					r.Logf("  %s", d)
				}
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(500 * time.Millisecond): // let hand-off and async repair land
		}
	}
}

// hintsLeft describes who holds hints for whom: "n2: 1 for n1; n3: ...".
func (r *Run) hintsLeft(ctx context.Context) string {
	var parts []string
	for _, n := range r.C.Nodes {
		ts, err := r.C.HintTargets(ctx, n)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		for _, t := range slices.Sorted(maps.Keys(ts)) {
			if ts[t] > 0 {
				parts = append(parts, fmt.Sprintf("%s: %d for %s", n.Name, ts[t], t))
			}
		}
	}
	return strings.Join(parts, "; ")
}

// keysUsed is every key of the scenario and every key the history touched
// (set generations), with its workload.
func keysUsed(sc Scenario, ops []history.Op) [][2]string {
	out := sc.Keys()
	seen := map[string]bool{}
	for _, k := range out {
		seen[k[0]] = true
	}
	for _, op := range ops {
		if op.Key != "" && !seen[op.Key] && op.Process >= 0 {
			seen[op.Key] = true
			out = append(out, [2]string{op.Key, op.Workload})
		}
	}
	return out
}

func signatureOf(r history.Replica) string {
	vs := make([]string, len(r.Versions))
	for i, v := range r.Versions {
		vs[i] = fmt.Sprintf("%s=%q/%v", v.Dot, v.Value, v.Deleted)
	}
	slices.Sort(vs)
	return strings.Join(vs, " ")
}

// finalReadRetries bounds the re-reads of a final read refused as
// unavailable (finalReadsAt): a flapping view gets this many heals.
const finalReadRetries = 3

// finalReads reads every key through every node, once at each R in rs.
func (r *Run) finalReads(ctx context.Context, keys [][2]string, rs []int) {
	for _, n := range rs {
		r.finalReadsAt(ctx, keys, n)
	}
}

// finalReadsAt reads every key at R=n through every node.
func (r *Run) finalReadsAt(ctx context.Context, keys [][2]string, n int) {
	for _, nd := range r.C.Nodes {
		c := &client{id: history.FinalReadProcess, kv: NewKV(nd.Name, nd.HTTP, ClientTimeout), rec: r.Rec, cache: map[string]cached{}}
		for _, k := range keys {
			c.spec = WorkloadSpec{Kind: Register, Name: k[1], Params: Params{R: n, Strict: true, TimeoutMS: DefaultServerTimeoutMS}}
			op := c.invoke(history.Read, k[0])
			op.Final = true
			op.Params = c.spec.Params.read().Encode()
			inv := r.Rec.Append(op)
			res, out := c.kv.Get(ctx, k[0], c.spec.Params)
			// A definite 503 unavailable says this node's gossip sees too
			// few replicas alive: a suspicion raised during a partition
			// whose refutation was lost can still time out after the heal
			// (memberlist marks the peer dead, then it refutes and is
			// back). Final reads judge the replicas' values, not that
			// transient: wait until every node sees every node alive and
			// read again (bounded), so only a lasting refusal counts.
			for try := 0; try < finalReadRetries && out.Status == http.StatusServiceUnavailable && out.Code == "unavailable"; try++ {
				if err := r.C.WaitAllAlive(ctx, healWithin); err != nil {
					break
				}
				res, out = c.kv.Get(ctx, k[0], c.spec.Params)
			}
			comp := inv.Completion(out.Type)
			comp.Report, comp.Error = out.Report, out.Error()
			if out.Type == history.OK {
				comp.Siblings, comp.Context = res.Siblings, res.Context
			} else if out.Type == history.Info {
				comp.Type = history.Fail // a read has no effect; a final read that did not answer failed
			}
			r.Rec.Append(comp)
		}
		c.kv.Close()
	}
}

// replicas collects every replica's own state of every key.
func (r *Run) replicas(ctx context.Context, keys [][2]string) []history.Replica {
	var out []history.Replica
	for _, k := range keys {
		pl, err := r.C.Preflist(ctx, k[0])
		if err != nil {
			out = append(out, history.Replica{Key: k[0], Workload: k[1], Error: err.Error()})
			continue
		}
		for _, name := range pl {
			out = append(out, r.C.ReplicaOf(ctx, name, k[0], k[1]))
		}
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
