package jepsen

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/test/jepsen/checker"
	"github.com/dynago/dynago/test/jepsen/history"
)

// Checker names, as scenarios and results use them.
const (
	CheckP0  = "P0"
	CheckP0a = "P0'"
	CheckP1  = "P1"
	// CheckP1Sloppy is P1 over a sloppy-quorum workload, reported next to
	// a P1 judged over a strict one (S12): one checker, two claims.
	CheckP1Sloppy       = "P1-sloppy"
	CheckDurable        = "durable"
	CheckP2             = "P2"
	CheckP3             = "P3"
	CheckSet            = "set"
	CheckConvergence    = "convergence"
	CheckNoResurrection = "no-resurrection"
	CheckPaused         = "paused-info"
	CheckLinearizable   = "linearizable"
)

// LinearizabilityTimeout bounds porcupine per key.
const LinearizabilityTimeout = 60 * time.Second

// CheckerFuncs maps checker names to the pure checkers.
var CheckerFuncs = map[string]func([]history.Operation, []history.Replica) checker.Result{
	CheckP0:             func(o []history.Operation, _ []history.Replica) checker.Result { return checker.NoPhantom(o) },
	CheckP0a:            func(o []history.Operation, _ []history.Replica) checker.Result { return checker.Antichain(o) },
	CheckP1:             func(o []history.Operation, _ []history.Replica) checker.Result { return checker.Visibility(o) },
	CheckP1Sloppy:       func(o []history.Operation, _ []history.Replica) checker.Result { return checker.Visibility(o) },
	CheckDurable:        func(o []history.Operation, _ []history.Replica) checker.Result { return checker.Durable(o) },
	CheckP2:             func(o []history.Operation, _ []history.Replica) checker.Result { return checker.NoRevert(o) },
	CheckP3:             func(o []history.Operation, _ []history.Replica) checker.Result { return checker.MonotonicReads(o) },
	CheckSet:            func(o []history.Operation, _ []history.Replica) checker.Result { return checker.Set(o) },
	CheckConvergence:    checker.Convergence,
	CheckNoResurrection: checker.NoResurrection,
	CheckPaused:         func(o []history.Operation, _ []history.Replica) checker.Result { return checker.PausedInfo(o) },
	CheckLinearizable: func(o []history.Operation, _ []history.Replica) checker.Result {
		return checker.Linearizable(o, LinearizabilityTimeout)
	},
}

// AllCheckers lists every checker in report order.
var AllCheckers = []string{CheckP0, CheckP0a, CheckP1, CheckDurable, CheckP2, CheckP3, CheckSet, CheckConvergence, CheckNoResurrection, CheckPaused, CheckLinearizable}

// Scenario kinds.
const (
	KindCluster   = ""          // real agents, workload, nemesis, checkers
	KindSynthetic = "synthetic" // S15: checkers against seeded synthetic histories, no cluster
	KindDropRule  = "droprule"  // the proof that a DROP rule cuts gossip and RPC
)

// Scenario is one fault test, as data: the cluster, the workloads, the
// nemesis (a composition of generators), the checkers and what they must
// say. Later issues add scenarios to Scenarios.
type Scenario struct {
	Name  string
	Title string
	// Injects and Asserts are one-line summaries for the report and README.
	Injects, Asserts string
	Kind             string
	// Cluster adjusts DefaultClusterConfig.
	Cluster   func(*ClusterConfig)
	Workloads []WorkloadSpec
	Nemesis   Generator
	// Script, if set, runs alongside the workload and the nemesis (a
	// deterministic driver, e.g. S13's partition-write-read).
	Script func(ctx context.Context, r *Run) error
	// ScriptKeys are the keys the script writes (checked like workload keys).
	ScriptKeys []string
	// Duration is the workload length of a full run; Smoke the length in
	// the CI smoke set (0: not in the smoke set). A scenario with a Script
	// and no workloads reads its length as Run.Spec.Duration (S10: how
	// long the partition is held); with Smoke 0 its length is its own.
	Duration, Smoke time.Duration
	// Quiet is the pause after heal before convergence is measured.
	Quiet time.Duration
	// ConvergeWithin bounds the wait for every key's replicas to agree.
	ConvergeWithin time.Duration
	// PassiveConvergence makes the convergence wait only watch replicas;
	// otherwise it reads each divergent key at R=N to trigger read repair
	// (the only repair mechanism before anti-entropy).
	PassiveConvergence bool
	// DrainTombstones makes the convergence wait also require that no node
	// stores a tombstone (GET /debug/aae totals.tombstones): with a short
	// --tombstone-grace every tombstone becomes reapable once each replica
	// has confirmed it, and a reap after the wait would race the replica
	// snapshot the checkers judge.
	DrainTombstones bool
	// RequireRepairs fails the run unless anti-entropy repaired at least
	// one key (the sum over the nodes of GET /debug/aae
	// totals.keys_repaired): a scenario where a replica missed writes that
	// only anti-entropy can bring back (S7).
	RequireRepairs bool
	// FinalReadRs are the read quorums of the final reads, each through
	// every node in this order (default: N only).
	FinalReadRs []int
	Checkers    []string
	// Claims restricts a checker to the ops and replicas of some workloads
	// (by Tag): e.g. P1 holds for strict-quorum workloads only once nodes
	// fail, since a sloppy write acked by fallbacks may be invisible to a
	// read served by other nodes until its hints are delivered. A checker
	// not listed sees everything.
	Claims map[string][]string
	// Expect gives a checker's required verdict when it is not "valid"
	// (the must-fail controls).
	Expect map[string]bool
	// ReportOnly lists checkers whose violations are reported (counts and
	// examples in the report) but do not fail the run: the scenario's
	// configuration does not promise them (e.g. P1 under sloppy quorum).
	ReportOnly []string
	// MinOK is the least number of OK client ops for the run to count.
	MinOK int
	// OnlyByName keeps the scenario out of the smoke set and out of
	// -scenarios=all: it runs only when named (the 10-minute soak).
	OnlyByName bool
}

// Expected is the verdict a checker must give.
func (s Scenario) Expected(checkerName string) bool {
	if v, ok := s.Expect[checkerName]; ok {
		return v
	}
	return true
}

// Config returns the cluster configuration of the scenario.
func (s Scenario) Config() ClusterConfig {
	cfg := DefaultClusterConfig()
	if s.Cluster != nil {
		s.Cluster(&cfg)
	}
	return cfg
}

// Keys returns every key of the scenario's workloads with its workload.
func (s Scenario) Keys() [][2]string {
	var out [][2]string
	for _, w := range s.Workloads {
		for _, k := range w.KeyNames() {
			out = append(out, [2]string{k, w.Tag()})
		}
	}
	for _, k := range s.ScriptKeys {
		out = append(out, [2]string{k, "script"})
	}
	return out
}

// strict is a strict-quorum request: R+W > N and PR+PW > N on the key's
// primaries, no fallbacks.
var strict = Params{R: 2, W: 2, PR: 2, PW: 2, Strict: true}

// StrictRegister is the tag of the strict-quorum register workload in
// scenarios that mix strict and sloppy workloads.
const StrictRegister = "strict-register"

// defaultThink paces each client to a few dozen ops a second: about 300
// ops/s for a scenario, enough concurrency for siblings and races while
// five fsyncing agents share two cores.
const defaultThink = 40 * time.Millisecond

func registerW(clients, keys int, p Params) WorkloadSpec {
	return WorkloadSpec{Kind: Register, Clients: clients, Keys: keys, Params: p, BlindPct: 10, Think: defaultThink}
}

func setW(clients, keys int, p Params) WorkloadSpec {
	return WorkloadSpec{Kind: SetWorkload, Clients: clients, Keys: keys, Params: p, Think: defaultThink}
}

func deleteW(clients, keys int, p Params) WorkloadSpec {
	return WorkloadSpec{Kind: DeleteWorkload, Clients: clients, Keys: keys, Params: p, Think: defaultThink}
}

// mixed is the workload of the node-fault scenarios: a strict-quorum
// register (for P1 and P2), and a register, a set and a delete workload on
// the node's default sloppy quorum (never lose an acked write, converge
// once hints are handed off).
func mixed() []WorkloadSpec {
	sr := registerW(3, 6, strict)
	sr.Name = StrictRegister
	return []WorkloadSpec{sr, registerW(2, 4, Params{}), setW(3, 3, Params{}), deleteW(2, 4, Params{})}
}

// strictOnly claims P1 and P2 for the strict workload only: with sloppy
// quorum a write acked by fallbacks may be invisible to a read served by
// other nodes until its hints are delivered (README, guarantees table).
var strictOnly = map[string][]string{CheckP1: {StrictRegister}, CheckP2: {StrictRegister}}

var safety = []string{CheckP0, CheckP0a, CheckP1, CheckDurable, CheckP2, CheckSet, CheckConvergence, CheckNoResurrection}

// Scenarios lists every scenario in run order.
var Scenarios = []Scenario{
	{
		Name: "droprule", Title: "a DROP rule cuts gossip and RPC between exactly the nodes it names",
		Kind:    KindDropRule,
		Injects: "DROP n1<->n2, then n2<->every other node",
		Asserts: "writes n1->n2 and n2->n1 go indeterminate (RPC cut) while n3->n2 works; isolated n2 is declared dead by every peer (gossip cut) yet still answers the client on 127.0.0.1",
		Smoke:   time.Second, Duration: time.Second,
	},
	{
		Name: "S1", Title: "baseline, no faults",
		Injects: "nothing; N3 R2 W2, blocking read repair",
		Asserts: "every checker valid, including P3 (blocking read repair) and linearizability of the R=W=N register",
		Cluster: func(c *ClusterConfig) { c.ReadRepair = "blocking" },
		Workloads: []WorkloadSpec{
			registerW(3, 6, Params{}),
			setW(3, 3, Params{}),
			deleteW(2, 4, Params{}),
			{Kind: LinReg, Clients: 3, Keys: 2, Params: Params{R: 3, W: 3}, BlindPct: 10, Think: defaultThink},
		},
		Checkers: append(slices.Clone(safety), CheckP3, CheckLinearizable),
		Duration: 2 * time.Minute, Smoke: 30 * time.Second, MinOK: 200,
	},
	{
		Name: "S2", Title: "partitions",
		Injects: "random halves or one node isolated, 10 s on / 10 s off; strict quorum (r=w=pr=pw=2, sloppy=false)",
		Asserts: "set lost = 0 and unexpected = 0, P1 and P2 hold, replicas converge after heal",
		Workloads: []WorkloadSpec{
			setW(4, 3, strict),
			registerW(4, 6, strict),
		},
		Nemesis:  PartitionCycle{Shapes: []string{Halves, IsolateOne}, Start: 5 * time.Second, On: 10 * time.Second, Off: 10 * time.Second},
		Checkers: []string{CheckP0, CheckP0a, CheckP1, CheckDurable, CheckP2, CheckSet, CheckConvergence},
		Duration: 2*time.Minute + 30*time.Second, Smoke: 45 * time.Second, MinOK: 100,
	},
	{
		Name: "S4", Title: "crashes",
		Injects:   "SIGKILL one random node every 15 s, restart it on the same data dir 5 s later; security on (internode mutual TLS and an encrypted gossip, credentials made per run)",
		Cluster:   func(c *ClusterConfig) { c.Secure = true },
		Asserts:   "every checker valid: no acknowledged write lost (P1 and P2 claimed for the strict-quorum register)",
		Workloads: mixed(),
		Nemesis:   Periodic{Fault: FaultCrash, Start: 5 * time.Second, Every: 15 * time.Second, Down: 5 * time.Second},
		Checkers:  slices.Clone(safety),
		Claims:    strictOnly,
		Duration:  2*time.Minute + 30*time.Second, Smoke: 35 * time.Second, MinOK: 100,
	},
	{
		Name: "S5", Title: "pauses",
		Injects:   "SIGSTOP one random node for 8 s (longer than the failure detector's suspicion), then SIGCONT, every 20 s",
		Asserts:   "every checker valid; the paused node's in-flight ops end info",
		Workloads: mixed(),
		Nemesis:   Periodic{Fault: FaultPause, Start: 5 * time.Second, Every: 20 * time.Second, Down: 8 * time.Second},
		Checkers:  append(slices.Clone(safety), CheckPaused),
		Claims:    strictOnly,
		Duration:  2*time.Minute + 30*time.Second, Smoke: 45 * time.Second, MinOK: 100,
	},
	{
		Name: "S11", Title: "amnesia (kv679)",
		Injects:   "SIGKILL one node (drawn once) every 30 s, wipe its data dir, restart it empty under the same name 3 s later, while writes continue",
		Asserts:   "set lost = 0, no acknowledged write lost (durable), no dot names two values: nothing silently superseded by a reused counter",
		Workloads: mixed(),
		// One node only: wiping a second replica of a key before reads
		// repaired it would lose data legitimately (W=2 survives one disk).
		// P1 and P2 are not claimed: while a replica has lost its disk, a
		// read of it and of a replica the write had not reached yet can miss
		// the write (until read repair); durable checks it was not lost.
		Nemesis:  Periodic{Fault: FaultAmnesia, Start: 10 * time.Second, Every: 30 * time.Second, Down: 3 * time.Second, SameNode: true},
		Checkers: []string{CheckP0, CheckP0a, CheckDurable, CheckSet, CheckConvergence, CheckNoResurrection},
		Duration: 2*time.Minute + 30*time.Second, Smoke: 45 * time.Second, MinOK: 100,
	},
	s12(),
	{
		Name: "S13", Title: "must fail: W=1 R=1 under a partition",
		Injects:    "N3 R1 W1; isolate a replica of each key, write through it (acked by itself), read through another replica",
		Asserts:    "P1 flags the stale reads (the control passes only if it does)",
		Cluster:    func(c *ClusterConfig) { c.R, c.W = 1, 1 },
		Script:     s13Script,
		ScriptKeys: []string{"s13-0", "s13-1", "s13-2"},
		Checkers:   []string{CheckP0, CheckP1, CheckP2, CheckConvergence},
		Expect:     map[string]bool{CheckP1: false},
		Duration:   time.Second, Smoke: time.Second,
	},
	{
		Name: "S14", Title: "must fail: last-write-wins client",
		Injects: "set clients that keep one sibling instead of merging, six of them on one key, no faults",
		Asserts: "the set checker finds lost acknowledged adds (the control passes only if it does)",
		Workloads: []WorkloadSpec{
			{Kind: SetWorkload, Clients: 6, Keys: 1, LWW: true, Think: 10 * time.Millisecond},
		},
		Checkers: []string{CheckP0, CheckSet, CheckConvergence},
		Expect:   map[string]bool{CheckSet: false},
		Duration: time.Minute, Smoke: 20 * time.Second, MinOK: 50,
	},
	{
		Name: "S15", Title: "must fail: seeded anomalies",
		Kind:    KindSynthetic,
		Injects: "one anomaly per checker into a synthetic history of a correct store",
		Asserts: "every checker passes the clean history and flags exactly its seeded anomaly",
		Smoke:   time.Second, Duration: time.Second,
	},
	{
		Name: "S3", Title: "sloppy quorum under partial partitions",
		Injects:    "majorities-ring and bridge partitions alternating, 10 s on / 10 s off; set and register workloads on sloppy quorum (the default): writes go to the first N nodes each coordinator sees alive, fallbacks keep hints",
		Asserts:    "set lost = 0 and unexpected = 0, no acknowledged write lost (durable), hints drained and replicas converged after heal; P1 and P2 violations are reported as stale counts, not failures (sloppy quorum does not promise them during partitions)",
		Workloads:  []WorkloadSpec{setW(4, 3, Params{}), registerW(4, 6, Params{})},
		Nemesis:    PartitionCycle{Shapes: []string{MajoritiesRing, Bridge}, Start: 5 * time.Second, On: 10 * time.Second, Off: 10 * time.Second},
		Checkers:   []string{CheckP0, CheckP0a, CheckDurable, CheckSet, CheckConvergence, CheckNoResurrection, CheckP1, CheckP2},
		ReportOnly: []string{CheckP1, CheckP2},
		Duration:   2 * time.Minute, Smoke: 40 * time.Second, MinOK: 100,
	},
	{
		Name: "S6", Title: "hint durability",
		Injects:    "isolate one replica (the owner) of a set of keys and write them through sloppy quorum, so fallbacks keep hints for it; SIGKILL the fallback holding the most hints, restart it on its data dir, then heal",
		Asserts:    "the restarted fallback still holds its hints; set lost = 0, no acknowledged write lost (durable); every hint drained and replicas converged after heal",
		Script:     s6Script,
		ScriptKeys: s6Keys(),
		Checkers:   []string{CheckP0, CheckDurable, CheckSet, CheckConvergence},
		// The convergence wait must show the hints were delivered, not
		// repaired by reads.
		PassiveConvergence: true,
		Duration:           time.Minute, MinOK: 20,
	},
	s7(),
	s10("S10a"),
	s10("S10b"),
	s16(),
	s17(),
	s18(),
	s19(),
	s20(),
	soak(),
	{
		Name: "bridge", Title: "partial partitions (extra)",
		Injects:   "bridge or majorities-ring partitions, 10 s on / 10 s off (memberlist's indirect probes keep most nodes alive in most views, so requests across a cut time out)",
		Asserts:   "every safety checker valid (P1 and P2 claimed for the strict-quorum register)",
		Workloads: mixed(),
		Nemesis:   PartitionCycle{Shapes: []string{Bridge, MajoritiesRing}, Start: 5 * time.Second, On: 10 * time.Second, Off: 10 * time.Second},
		Checkers:  slices.Clone(safety),
		Claims:    strictOnly,
		Duration:  2 * time.Minute, MinOK: 100,
	},
	{
		Name: "clock", Title: "clock skew (extra)",
		Injects:   "skew one random node's clock by up to ±60 s for 10 s, every 12 s, plus crashes every 30 s",
		Asserts:   "every safety checker valid (dynago decides nothing by wall-clock time)",
		Workloads: mixed(),
		Nemesis: Compose{
			Periodic{Fault: FaultSkew, Start: 3 * time.Second, Every: 12 * time.Second, Down: 10 * time.Second, MaxSkew: time.Minute},
			Periodic{Fault: FaultCrash, Start: 20 * time.Second, Every: 30 * time.Second, Down: 5 * time.Second},
		},
		Checkers: slices.Clone(safety),
		Claims:   strictOnly,
		Duration: 2 * time.Minute, MinOK: 100,
	},
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Scenario{}, false
}

// smoke names the scenarios of the CI smoke set (at their Smoke lengths).
var smoke = []string{"droprule", "S1", "S2", "S3", "S4", "S7", "S12", "S13", "S14", "S15", "S16", "S18", "S19", "S20"}

// SmokeSet is the CI smoke set, in run order.
func SmokeSet() []string {
	var out []string
	for _, s := range Scenarios {
		if s.Smoke > 0 && slices.Contains(smoke, s.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

// s13Script: for three keys, isolate a replica, wait until both sides
// agree it is gone, write through it at W=1 (its own ack suffices), then
// read through another replica at R=1. Every read is stale: P1 must flag it.
func s13Script(ctx context.Context, r *Run) error {
	for i := range 3 {
		key := fmt.Sprintf("s13-%d", i)
		pl, err := r.C.Preflist(ctx, key)
		if err != nil {
			return err
		}
		a, b := r.C.Node(pl[0]), r.C.Node(pl[1])
		order := []string{a.Name}
		for _, n := range r.C.Names() {
			if n != a.Name {
				order = append(order, n)
			}
		}
		r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "start", Shape: IsolateOne, Grudge: Shape(IsolateOne, order), Nodes: order})
		others := []*Node{}
		for _, n := range r.C.Nodes {
			if n != a {
				others = append(others, n)
			}
		}
		if err := r.C.WaitView(ctx, others, func(n string) bool { return n != a.Name }, 30*time.Second); err != nil {
			return fmt.Errorf("S13: the majority did not see %s dead: %w", a.Name, err)
		}
		// a itself may still think the others alive (Lifeguard slows an
		// isolated node's detector): W=1 needs only its own ack anyway.
		wa := &client{id: 100 + 2*i, spec: WorkloadSpec{Kind: Register, Name: "script", Params: Params{W: 1, TimeoutMS: 1000}}, kv: NewKV(a.Name, a.HTTP, ClientTimeout), rec: r.Rec, cache: map[string]cached{}}
		rb := &client{id: 101 + 2*i, spec: WorkloadSpec{Kind: Register, Name: "script", Params: Params{R: 1, TimeoutMS: 1000}}, kv: NewKV(b.Name, b.HTTP, ClientTimeout), rec: r.Rec, cache: map[string]cached{}}
		_, out := wa.put(ctx, history.Write, key, fmt.Sprintf("s13-%d-on-%s", i, a.Name), 0, cached{})
		if out.Type != history.OK {
			return fmt.Errorf("S13: the W=1 write through isolated %s was not acked: %s", a.Name, out.Error())
		}
		if _, ok := rb.read(ctx, key); !ok {
			return fmt.Errorf("S13: the R=1 read through %s failed", b.Name)
		}
		r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "stop", Shape: IsolateOne})
		if err := r.C.WaitAllAlive(ctx, 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}
