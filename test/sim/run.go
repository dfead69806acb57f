package sim

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node/memnet"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/test/jepsen/checker"
	"github.com/dynago/dynago/test/jepsen/history"
)

// Options configure one run.
type Options struct {
	Schedule Schedule
	// Wrap wraps a node's disk when it is laid out (the control's
	// anomaly); nil leaves every disk honest.
	Wrap func(name string, disk storage.Store) storage.Store
	// W, if not 0, is the nodes' default write quorum (the cluster's
	// default is 2 of N=3).
	W int
	// Strict fails a run on a finding a known bug explains (known.go).
	Strict bool
	// ConvergeWithin bounds the wait for convergence after heal (0: 90
	// virtual seconds). The control shortens it: its replicas never
	// converge.
	ConvergeWithin time.Duration
	// Logger receives the nodes' logs; nil discards them.
	Logger *slog.Logger
	// Logf receives the run's progress, stamped with virtual time; nil
	// discards it.
	Logf func(format string, args ...any)
}

// Phase bounds, in virtual time.
const (
	bootWithin     = 60 * time.Second // the cluster settles after boot
	opWithin       = 2 * time.Minute  // a crash, restart, join or leave call returns
	settleWithin   = 90 * time.Second // after heal: leavers gone, every node sees every member alive and valid
	convergeWithin = 90 * time.Second // after that: hints drained, replicas equal
	quiet          = 3 * time.Second  // after heal, before convergence is polled
	pollEvery      = 500 * time.Millisecond
	straggle       = time.Minute // after the last node stopped, for memberlist's timers
)

// Claim is one checker run over a scope of the history.
type Claim struct {
	Result checker.Result
	// Scope is the workloads it judged (empty: all).
	Scope []string
	// Known, for an invalid claim, names the known bug that explains
	// every violation (known.go); such a claim fails the run only with
	// Options.Strict.
	Known string
}

// Result is what a run found.
type Result struct {
	Schedule Schedule
	Claims   []Claim
	// Strict is Options.Strict.
	Strict bool
	// Problems are failures of the run itself that are findings too: a
	// node that did not stop, a cluster that did not settle or converge
	// after heal, a fault that could not be applied.
	Problems []string
	// Ops counts the clients' completed ops by type (ok, fail, info).
	Ops map[history.Type]int
	// Virtual is the run's length in virtual time.
	Virtual time.Duration
	Stats   memnet.Stats
	// Counters sum some of the nodes' metrics (scraped at the end, so
	// what a process counted before it crashed is missing): what the run
	// exercised.
	Counters map[string]float64
	// History is the recorded history (nemesis ops included).
	History []history.Op
	// Replicas are the final replica states.
	Replicas []history.Replica
}

// Failed reports whether a claim is invalid or the run had a problem.
func (r *Result) Failed() bool {
	if len(r.Problems) > 0 {
		return true
	}
	for _, c := range r.Claims {
		if !c.Result.Valid && (c.Known == "" || r.Strict) {
			return true
		}
	}
	return false
}

// Known lists the known bugs that explain invalid claims.
func (r *Result) Known() []string {
	var out []string
	for _, c := range r.Claims {
		if !c.Result.Valid && c.Known != "" && !slices.Contains(out, c.Known) {
			out = append(out, c.Known)
		}
	}
	return out
}

// Report describes the failures: each problem, and each invalid claim
// with its examples.
func (r *Result) Report() string {
	var b strings.Builder
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "problem: %s\n", p)
	}
	for _, c := range r.Claims {
		if c.Result.Valid {
			continue
		}
		scope := "all workloads"
		if len(c.Scope) > 0 {
			scope = strings.Join(c.Scope, ",")
		}
		fmt.Fprintf(&b, "checker %q (%s) is invalid: %v\n", c.Result.Name, scope, c.Result.Counts)
		if c.Known != "" {
			fmt.Fprintf(&b, "  explained by known bug %s\n", c.Known)
		}
		for _, ex := range c.Result.Examples {
			fmt.Fprintf(&b, "  %s %s: %s (ops %v)\n", ex.Kind, ex.Key, ex.Detail, ex.Ops)
		}
	}
	return b.String()
}

// Fingerprints digest the run's history, to tell whether two runs of a
// seed did the same: whole covers every op in recorded order with its
// virtual time; clients covers what each client did and saw, in its own
// order, without times (two runs can agree on it while their ops
// interleave differently).
func (r *Result) Fingerprints() (whole, clients string) {
	hw, hc := sha256.New(), sha256.New()
	per := map[int][]string{}
	var procs []int
	for _, op := range r.History {
		line := fmt.Sprintf("%d %s %s %s %s %v %v %s", op.Process, op.Type, op.F, op.Key, op.Value, op.Covered, op.Siblings, op.Error)
		fmt.Fprintf(hw, "%d %s\n", op.Time, line)
		if _, ok := per[op.Process]; !ok {
			procs = append(procs, op.Process)
		}
		per[op.Process] = append(per[op.Process], line)
	}
	slices.Sort(procs)
	for _, p := range procs {
		for _, l := range per[p] {
			fmt.Fprintln(hc, l)
		}
	}
	return hex.EncodeToString(hw.Sum(nil))[:12], hex.EncodeToString(hc.Sum(nil))[:12]
}

// Summary is one line of counts.
func (r *Result) Summary() string {
	return fmt.Sprintf("%d events, ops ok=%d fail=%d info=%d, %.0fs virtual, %d packets (%d dropped), %d streams",
		len(r.Schedule.Events), r.Ops[history.OK], r.Ops[history.Fail], r.Ops[history.Info], r.Virtual.Seconds(),
		r.Stats.PacketsSent, r.Stats.PacketsDropped(), r.Stats.StreamsOpened)
}

// run is one run in progress.
type run struct {
	opts  Options
	c     *Cluster
	rec   *history.Recorder
	start time.Time
	res   *Result
}

// Run runs a schedule: boot the cluster, run the workload while the
// schedule's faults come and go, heal everything, wait for the cluster to
// settle and converge, read every key at R=N through every node, collect
// every replica's state, stop the cluster and run the checkers. It must be
// called inside a synctest bubble (synctest.Test), which it leaves with no
// goroutine of its own running.
func Run(opts Options) *Result {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	s := opts.Schedule
	nw := memnet.New(int64(s.Seed))
	// Every path has a little delay and jitter, so messages race.
	nw.SetDefaultLink(memnet.Link{Latency: 200 * time.Microsecond, Jitter: time.Millisecond})
	rec, _ := history.NewRecorder("") // in memory: no error
	r := &run{
		opts:  opts,
		c:     NewCluster(nw, ClusterConfig{N: 3, R: 2, W: cmp.Or(opts.W, 2), ReadRepair: s.ReadRepair, ReadFanout: s.ReadFanout, Reap: s.Reap, Logger: opts.Logger, Wrap: opts.Wrap}),
		rec:   rec,
		start: time.Now(),
		res:   &Result{Schedule: s, Strict: opts.Strict, Ops: map[history.Type]int{}},
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), opWithin)
		defer cancel()
		if err := r.c.Close(ctx); err != nil {
			r.problem("close: %v", err)
		}
		r.res.Virtual = time.Since(r.start)
		r.res.Stats = nw.Stats()
		// memberlist's Shutdown does not wait for its probes in flight:
		// let their timers run out, so the bubble ends empty.
		time.Sleep(straggle)
	}()
	if !r.execute() {
		return r.res
	}
	r.check()
	return r.res
}

func (r *run) logf(format string, args ...any) {
	r.opts.Logf("[%8.3fs] %s", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *run) problem(format string, args ...any) {
	p := fmt.Sprintf(format, args...)
	r.logf("problem: %s", p)
	r.res.Problems = append(r.res.Problems, p)
}

// execute runs every phase up to the final states; false if the run
// could not get that far (a problem says why).
func (r *run) execute() bool {
	s := r.opts.Schedule
	ctx, cancel := context.WithTimeout(context.Background(), bootWithin)
	err := r.c.Boot(ctx, s.Nodes)
	cancel()
	if err != nil {
		r.problem("boot: %v", err)
		return false
	}
	if err := r.settle(bootWithin); err != nil {
		r.problem("boot: %v", err)
		return false
	}
	r.logf("%d nodes up and settled", s.Nodes)

	wl := NewWorkload(s.Workloads, r.c, r.rec, s.Seed, s.Think)
	wstart := time.Now()
	wl.Start()
	for _, e := range s.Events {
		if d := time.Until(wstart.Add(e.At)); d > 0 {
			time.Sleep(d)
		}
		r.apply(e)
	}
	if d := time.Until(wstart.Add(s.Duration)); d > 0 {
		time.Sleep(d)
	}
	wl.Stop()
	r.logf("workload stopped: %d history ops", r.rec.Len())

	r.healAll()
	time.Sleep(quiet)
	if err := r.settle(settleWithin); err != nil {
		r.problem("after heal: %v", err)
	}
	keys := Keys(s.Workloads)
	r.converge(keys)
	r.finalReads(keys)
	r.res.Replicas = r.replicas(keys)
	r.scrape()
	return true
}

// counters are the metrics scrape sums up; those in bugCounters must stay
// zero.
var (
	counters = []string{
		"dynago_hints_delivered_total", "dynago_read_repairs_total",
		"dynago_aae_keys_repaired_total", "dynago_tombstones_reaped_total", "dynago_transfer_keys_total",
		"dynago_stale_keys_pushed_total", "dynago_rpc_table_mismatches_total",
	}
	bugCounters = []string{"dynago_dot_conflicts_total", "dynago_panics_total", "dynago_aae_tree_rebuilds_changed_total"}
)

// scrape sums the counters of every running node's GET /metrics, and
// reports a problem for a bug counter above zero.
func (r *run) scrape() {
	r.res.Counters = map[string]float64{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := r.c.adminHTTP()
	for _, n := range r.c.Running() {
		req, _ := http.NewRequestWithContext(ctx, "GET", r.c.URL(n)+"/metrics", nil)
		resp, err := hc.Do(req)
		if err != nil {
			r.problem("%s: metrics: %v", n, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for line := range strings.Lines(string(body)) {
			name := line[:max(0, strings.IndexAny(line, "{ "))]
			if !slices.Contains(counters, name) && !slices.Contains(bugCounters, name) {
				continue
			}
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				continue
			}
			r.res.Counters[name] += v
			if v > 0 && slices.Contains(bugCounters, name) {
				r.problem("%s: %s", n, strings.TrimSpace(line))
			}
		}
	}
}

// nemesis records a fault as a nemesis op around do.
func (r *run) nemesis(fault, phase string, nodes []string, desc string, do func() error) {
	inv := r.rec.Append(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: history.Nemesis,
		Fault: fault, Phase: phase, Nodes: nodes, Value: desc})
	err := do()
	comp := inv.Completion(history.Info)
	if err != nil {
		comp.Error = err.Error()
		r.problem("%s: %v", desc, err)
	}
	r.rec.Append(comp)
}

// apply performs one event.
func (r *run) apply(e Event) {
	r.logf("%s", e)
	ctx, cancel := context.WithTimeout(context.Background(), opWithin)
	defer cancel()
	nw := r.c.Network()
	ips := func(names ...string) []string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = NodeIP(nodeIndex(n))
		}
		return out
	}
	switch e.Fault {
	case FaultPartition:
		if e.Shape == ShapeOffKey {
			pl, err := r.preflist(ctx, e.Key)
			if err != nil {
				r.problem("%s: %v", e, err)
				return
			}
			var off []string
			for _, n := range r.c.Members() {
				if !slices.Contains(pl, n) {
					off = append(off, n)
				}
			}
			e.Shape, e.Groups, e.Nodes = ShapeHalves, [][]string{off, pl}, sorted(append(slices.Clone(off), pl...))
		}
		r.nemesis(FaultPartition, "start", e.Nodes, e.String(), func() error {
			for _, c := range e.cuts() {
				nw.Cut(ips(c[0])[0], ips(c[1])[0])
			}
			return nil
		})
	case FaultLinks:
		r.nemesis(FaultLinks, "start", e.Nodes, e.String(), func() error {
			for _, l := range e.Links {
				nw.SetLink(ips(l.From)[0], ips(l.To)[0], l.Link)
			}
			return nil
		})
	case FaultHeal:
		r.nemesis(FaultPartition, "stop", nil, e.String(), func() error {
			nw.Heal()
			nw.ClearLinks()
			return nil
		})
	case FaultCrash:
		r.nemesis(FaultCrash, "start", e.Nodes, e.String(), func() error { return r.c.Crash(ctx, e.Nodes[0]) })
	case FaultRestart:
		r.nemesis(FaultCrash, "stop", e.Nodes, e.String(), func() error { return r.c.Restart(ctx, e.Nodes[0]) })
	case FaultPause:
		r.nemesis(FaultPause, "start", e.Nodes, e.String(), func() error { r.c.Pause(e.Nodes[0]); return nil })
	case FaultResume:
		r.nemesis(FaultPause, "stop", e.Nodes, e.String(), func() error { r.c.Resume(e.Nodes[0]); return nil })
	case FaultJoin:
		r.nemesis(FaultJoin, "start", e.Nodes, e.String(), func() error { return r.c.Join(ctx, nodeIndex(e.Nodes[0])) })
	case FaultLeave:
		r.nemesis(FaultLeave, "start", e.Nodes, e.String(), func() error { return r.c.Leave(ctx, e.Nodes[0]) })
	default:
		panic("sim: unknown fault " + e.Fault)
	}
}

// nodeIndex is i of the node named n<i>.
func nodeIndex(name string) int {
	var i int
	if _, err := fmt.Sscanf(name, "n%d", &i); err != nil {
		panic("sim: bad node name " + name)
	}
	return i
}

// healAll ends every fault: the network heals, paused nodes resume,
// crashed nodes restart.
func (r *run) healAll() {
	ctx, cancel := context.WithTimeout(context.Background(), opWithin)
	defer cancel()
	r.nemesis(FaultHeal, "start", nil, "heal everything", func() error {
		nw := r.c.Network()
		nw.Heal()
		nw.ClearLinks()
		var errs []string
		r.c.mu.Lock()
		var down []string
		for _, m := range r.c.members {
			if m.paused {
				nw.Resume(m.ip)
				m.paused = false
			}
			if m.proc == nil && m.starts > 0 && !m.leaving {
				down = append(down, m.name)
			}
		}
		r.c.mu.Unlock()
		for _, n := range down {
			if err := r.c.Restart(ctx, n); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%s", strings.Join(errs, "; "))
		}
		return nil
	})
}

// settle waits until every node asked to leave has stopped, and every
// running node lists exactly the members, all alive and valid, with no
// partition transfer pending.
func (r *run) settle(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		msg := r.settled()
		if msg == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %v: %s", within, msg)
		}
		time.Sleep(pollEvery)
	}
}

// settled returns "" once settled, else what is still missing.
func (r *run) settled() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.c.reap()
	want := r.c.Members()
	running := r.c.Running()
	for _, n := range running {
		if !slices.Contains(want, n) {
			return fmt.Sprintf("%s was asked to leave and still runs", n)
		}
	}
	if !slices.Equal(running, want) {
		return fmt.Sprintf("running %v, want %v (%s)", running, want, strings.Join(r.c.Exits(), "; "))
	}
	for _, n := range want {
		cl := r.c.Admin(n)
		ms, _, err := cl.Members(ctx)
		if err != nil {
			return fmt.Sprintf("%s: members: %v", n, err)
		}
		var names []string
		for _, m := range ms {
			if !m.Alive || m.State != "valid" {
				return fmt.Sprintf("%s sees %s alive=%v %s", n, m.Name, m.Alive, m.State)
			}
			names = append(names, m.Name)
		}
		if !slices.Equal(sorted(names), sorted(want)) {
			return fmt.Sprintf("%s sees members %v, want %v", n, sorted(names), sorted(want))
		}
		tr, _, err := cl.Transfers(ctx)
		if err != nil {
			return fmt.Sprintf("%s: transfers: %v", n, err)
		}
		if tr.PartitionsPending != 0 {
			return fmt.Sprintf("%s has %d partitions to pull", n, tr.PartitionsPending)
		}
	}
	return ""
}

// converge waits until no node holds hints and every key's replicas store
// the same versions, reading divergent keys at R=N (recorded, as the
// fault suite's converge reads) to drive read repair. With short
// tombstone windows it also waits until every tombstone is reaped (the
// fault suite's DrainTombstones): until then a reaper may still change
// a replica after it was compared.
func (r *run) converge(keys [][2]string) {
	within := cmp.Or(r.opts.ConvergeWithin, convergeWithin)
	deadline := time.Now().Add(within)
	pending := keys
	for round := 0; ; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		hints, tombs := 0, int64(0)
		var errs []string
		for _, n := range r.c.Members() {
			cl := r.c.Admin(n)
			h, _, err := cl.Hints(ctx)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", n, err))
				hints++
			} else {
				hints += h.Total
			}
			if r.opts.Schedule.Reap {
				a, _, err := cl.AAE(ctx)
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: %v", n, err))
					tombs++
				} else {
					tombs += a.Totals.Tombstones
				}
			}
		}
		var still [][2]string
		for _, k := range pending {
			pl, err := r.preflist(ctx, k[0])
			if err != nil {
				still = append(still, k)
				continue
			}
			sigs, live := map[string]bool{}, map[string]bool{}
			for _, n := range pl {
				rep := r.replica(ctx, n, k[0], k[1])
				sigs[signature(rep)] = true
				live[signature(withoutTombstones(rep))] = true
			}
			if len(sigs) == 1 {
				continue
			}
			still = append(still, k)
			// Every divergent key is read, tombstones included: read
			// repair must not copy a tombstone back to a replica that
			// reaped it (what was known bug read-repair-tombstones), or
			// the drain below never ends.
			if hints == 0 {
				r.read(history.ConvergeProcess, pl[round%len(pl)], k, len(pl), false)
			}
		}
		cancel()
		if len(still) == 0 && hints == 0 && tombs == 0 {
			r.logf("converged")
			return
		}
		if time.Now().After(deadline) {
			r.problem("no convergence %v after settling: %d hints queued, %d tombstones stored, keys divergent: %v %v%s", within, hints, tombs, still, errs, r.tombstoneReport())
			return
		}
		if len(still) == 0 {
			pending = keys // a reaper may still change what was equal
		} else {
			pending = still
		}
		time.Sleep(pollEvery)
	}
}

// tombstoneReport describes, for every partition where a node still
// stores tombstones, its exchanges with each peer: why they were not
// reaped.
func (r *run) tombstoneReport() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	for _, n := range r.c.Members() {
		cl := r.c.Admin(n)
		a, _, err := cl.AAE(ctx)
		if err != nil {
			continue
		}
		for _, p := range a.Partitions {
			if p.Tombstones == 0 {
				continue
			}
			fmt.Fprintf(&b, "\n  %s partition %d: %d tombstones; exchanges:", n, p.Partition, p.Tombstones)
			for _, pe := range p.Peers {
				fmt.Fprintf(&b, " %s@%s=%s%s", pe.Peer, pe.LastExchange, pe.Result, pe.Error)
			}
		}
	}
	return b.String()
}

// read records one strict read of k at R=rn through node via.
func (r *run) read(process int, via string, k [2]string, rn int, final bool) {
	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout)
	defer cancel()
	cl := r.c.Admin(via)
	q := fmt.Sprintf("r=%d&sloppy=false&timeout=%d", rn, serverTimeout.Milliseconds())
	inv := r.rec.Append(history.Op{Type: history.Invoke, Process: process, F: history.Read, Key: k[0], Workload: k[1], Node: via, Params: q, Final: final})
	res, err := cl.Get(ctx, k[0], &client.ReadOptions{R: client.Replicas(rn), Timeout: serverTimeout})
	comp, _, _ := readCompletion(inv, res, err)
	if comp.Type == history.Info {
		comp.Type = history.Fail // a read has no effect
	}
	r.rec.Append(comp)
}

// finalReads reads every key at R=N through every node.
func (r *run) finalReads(keys [][2]string) {
	n := r.c.cfg.N
	for _, via := range r.c.Members() {
		for _, k := range keys {
			r.read(history.FinalReadProcess, via, k, n, true)
		}
	}
}

// preflist is the key's primaries, as the first member that answers
// sees them.
func (r *run) preflist(ctx context.Context, key string) ([]string, error) {
	var last error
	for _, n := range r.c.Members() {
		cl := r.c.Admin(n)
		pl, _, err := cl.Preflist(ctx, key)
		if err != nil {
			last = err
			continue
		}
		out := make([]string, len(pl.Preflist))
		for i, e := range pl.Preflist {
			out[i] = e.Node
		}
		return out, nil
	}
	return nil, fmt.Errorf("no node answered the preference list of %q: %v", key, last)
}

// replica reads one node's own stored versions of key.
func (r *run) replica(ctx context.Context, name, key, workload string) history.Replica {
	rep := history.Replica{Key: key, Workload: workload, Node: name, Versions: []history.Version{}}
	if r.c.member(name) == nil {
		rep.Error = name + " is not a node of the cluster"
		return rep
	}
	cl := r.c.Admin(name)
	got, _, err := cl.Replica(ctx, key)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	for _, v := range got.Versions {
		rep.Versions = append(rep.Versions, history.Version{Value: string(v.Value), Deleted: v.Deleted, Dot: v.Dot})
	}
	return rep
}

// replicas collects every replica's own state of every key.
func (r *run) replicas(keys [][2]string) []history.Replica {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []history.Replica
	for _, k := range keys {
		pl, err := r.preflist(ctx, k[0])
		if err != nil {
			out = append(out, history.Replica{Key: k[0], Workload: k[1], Error: err.Error()})
			continue
		}
		for _, n := range pl {
			out = append(out, r.replica(ctx, n, k[0], k[1]))
		}
	}
	return out
}

// withoutTombstones is rep with a state of only tombstones taken as
// nothing.
func withoutTombstones(rep history.Replica) history.Replica {
	for _, v := range rep.Versions {
		if !v.Deleted {
			return rep
		}
	}
	rep.Versions = []history.Version{}
	return rep
}

func signature(rep history.Replica) string {
	if rep.Error != "" {
		return "error: " + rep.Node
	}
	vs := make([]string, len(rep.Versions))
	for i, v := range rep.Versions {
		vs[i] = fmt.Sprintf("%s=%q/%v", v.Dot, v.Value, v.Deleted)
	}
	slices.Sort(vs)
	return strings.Join(vs, " ")
}

// check runs the checkers: the fault suite's safety set over every
// workload, P1 and P2 over the strict-quorum register only (sloppy quorum
// does not promise them during faults), and paused-info.
func (r *run) check() {
	r.res.History = r.rec.Ops()
	ops, err := history.Complete(r.res.History)
	if err != nil {
		r.problem("history: %v", err)
		return
	}
	for _, op := range ops {
		if op.Process >= 0 {
			r.res.Ops[op.Type]++
		}
	}
	reps := r.res.Replicas
	strict := filter(ops, StrictRegister)
	r.res.Claims = []Claim{
		{Result: checker.NoPhantom(ops)},
		{Result: checker.Antichain(ops)},
		{Result: checker.Durable(ops)},
		{Result: checker.Set(ops)},
		{Result: checker.Convergence(ops, reps)},
		{Result: checker.NoResurrection(ops, reps)},
		{Result: checker.PausedInfo(ops)},
		{Result: checker.Visibility(strict), Scope: []string{StrictRegister}},
		{Result: checker.NoRevert(strict), Scope: []string{StrictRegister}},
	}
	for i := range r.res.Claims {
		r.res.Claims[i].Known = r.explain(r.res.Claims[i], r.res.History)
	}
}

// filter keeps the ops of one workload, and every nemesis op.
func filter(ops []history.Operation, workload string) []history.Operation {
	var out []history.Operation
	for _, op := range ops {
		if op.F == history.Nemesis || op.Workload == workload {
			out = append(out, op)
		}
	}
	return out
}
