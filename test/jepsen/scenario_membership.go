package jepsen

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// S12 (issue 6): membership changes under a set workload. A sixth node
// joins and pulls its partitions, one node is isolated for a while, then
// a node dies and is removed, and its partitions are rebuilt on their new
// owners from the surviving replicas. Nothing acknowledged may be lost and
// the replicas must converge on the final ring.

// s12Isolation is how long S12 holds its single-node isolation.
const s12Isolation = 10 * time.Second

func s12() Scenario {
	sr := registerW(3, 6, strict)
	sr.Name = StrictRegister
	return Scenario{
		Name: "S12", Title: "membership changes",
		Injects: "5 nodes; 5 s in, start n6 (127.0.0.16, empty data dir) with --join and wait until every node lists it valid with no transfer pending; " +
			"isolate one random node for 10 s and heal; SIGKILL one random node of n1..n5, wait until the others see it dead, POST /cluster/remove it through a live node " +
			"and wait until every node lists the five others valid with no transfer pending; the workload runs throughout and after (a gap of a twelfth of the run between steps). " +
			"Set workload on the default sloppy quorum, plus a strict-quorum register",
		Asserts: "set lost = 0 and unexpected = 0, no acknowledged write lost (durable), replicas, hints and Merkle roots converge on the final ring (n6 in, the removed node out); " +
			"P1 judged on the strict register (R+W>N on the primaries, whatever the ring changes); P1 on the sloppy set reported, not judged; transfer figures in transfers.json",
		Workloads: []WorkloadSpec{sr, setW(4, 3, Params{})},
		Script:    s12Script,
		Checkers:  []string{CheckP0, CheckDurable, CheckSet, CheckConvergence, CheckP1, CheckP1Sloppy},
		// A strict read (R=2, PR=2) that begins after a strict write was
		// acked must see it, membership changes or not: a new owner's
		// replica counts only once it is ready. The set is on the sloppy
		// quorum, which does not promise P1: reported, not judged.
		Claims:     map[string][]string{CheckP1: {StrictRegister}, CheckP1Sloppy: {SetWorkload}},
		ReportOnly: []string{CheckP1Sloppy},
		Duration:   2 * time.Minute, Smoke: 60 * time.Second, MinOK: 100,
	}
}

// s12Choose draws the node S12 isolates (any member, the new one included)
// and the one it kills and removes (never the new one, so the run covers
// a join and a remove of an original node).
func s12Choose(rng *rand.Rand, members []string, added string) (isolate, kill string) {
	isolate = members[rng.IntN(len(members))]
	var old []string
	for _, m := range members {
		if m != added {
			old = append(old, m)
		}
	}
	return isolate, old[rng.IntN(len(old))]
}

// s12Gap is the pause between S12's steps for a workload of length d: a
// twelfth of it, within 3..30 s.
func s12Gap(d time.Duration) time.Duration {
	return min(max(d/12, 3*time.Second), 30*time.Second)
}

// MembershipStep is one membership change of a run, in transfers.json:
// how long it took to settle and what each node pulled for it.
type MembershipStep struct {
	Action  string                    `json:"action"` // join or remove
	Node    string                    `json:"node"`
	Seconds float64                   `json:"seconds"` // from the change to every node settled
	Pulled  map[string]TransferTotals `json:"pulled"`
	Sum     TransferTotals            `json:"sum"`
}

func newStep(action, node string, d time.Duration, before, after map[string]TransferTotals) MembershipStep {
	st := MembershipStep{Action: action, Node: node, Seconds: d.Seconds(), Pulled: map[string]TransferTotals{}}
	for n, t := range after {
		p := t.sub(before[n])
		st.Pulled[n] = p
		st.Sum.add(p)
	}
	return st
}

func (s MembershipStep) String() string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(s.Pulled)) {
		if p := s.Pulled[n]; p.Partitions > 0 || p.Keys > 0 {
			parts = append(parts, fmt.Sprintf("%s %d partitions/%d keys/%d B", n, p.Partitions, p.Keys, p.Bytes))
		}
	}
	return fmt.Sprintf("%s %s settled in %.1fs; pulled %d partitions, %d keys, %d bytes (%s)",
		s.Action, s.Node, s.Seconds, s.Sum.Partitions, s.Sum.Keys, s.Sum.Bytes, strings.Join(parts, ", "))
}

// s12Script runs S12's membership steps alongside the workload. Each step
// goes through the nemesis, so the history records it; a step that fails
// ends the script (the harness still heals, converges and checks).
func s12Script(ctx context.Context, r *Run) error {
	begin := time.Now()
	d := r.Spec.Duration
	gap := s12Gap(d)
	rng := rand.New(rand.NewPCG(uint64(r.Spec.Seed), 0x5331322d6d656d)) // "S12-mem"
	pause := func(t time.Duration) error {
		select {
		case <-time.After(t):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var steps []MembershipStep
	defer func() {
		if len(steps) > 0 {
			writeJSON(filepath.Join(r.Spec.Dir, "transfers.json"), steps)
		}
	}()
	if err := pause(5 * time.Second); err != nil { // the workload fills its keys first
		return err
	}

	// Join: a new node, empty, pulls the partitions it takes over.
	added, err := r.C.AddNode(len(r.C.Nodes) + 1)
	if err != nil {
		return err
	}
	before := r.C.AllTransfers(ctx)
	t0 := time.Now()
	if err := r.Nem.Apply(ctx, Event{Fault: FaultJoin, Phase: "start", Nodes: []string{added.Name}}); err != nil {
		return fmt.Errorf("S12: %s did not start: %w", added.Name, err)
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultJoin, Phase: "stop", Nodes: []string{added.Name}}); err != nil {
		return fmt.Errorf("S12: the join of %s did not settle: %w", added.Name, err)
	}
	steps = append(steps, newStep("join", added.Name, time.Since(t0), before, r.C.AllTransfers(ctx)))
	r.Logf("S12: %s", steps[len(steps)-1])
	if err := pause(gap); err != nil {
		return err
	}

	// One single-node isolation on the new ring.
	isolated, victim := s12Choose(rng, r.C.Names(), added.Name)
	r.Logf("S12: isolating %s for %s, then killing and removing %s", isolated, s12Isolation, victim)
	order := []string{isolated}
	for _, n := range r.C.Names() {
		if n != isolated {
			order = append(order, n)
		}
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "start", Shape: IsolateOne, Grudge: Shape(IsolateOne, order), Nodes: order}); err != nil {
		return err
	}
	if err := pause(s12Isolation); err != nil {
		return err
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "stop", Shape: IsolateOne}); err != nil {
		return err
	}
	if err := r.C.WaitAllAlive(ctx, healWithin); err != nil {
		return fmt.Errorf("S12: after the isolation of %s: %w", isolated, err)
	}
	if err := pause(gap); err != nil {
		return err
	}

	// Remove: a node dies; once everyone sees it dead it is removed and
	// its partitions are rebuilt from the surviving replicas.
	if err := r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "start", Nodes: []string{victim}}); err != nil {
		return err
	}
	var others []*Node
	for _, n := range r.C.Nodes {
		if n.Name != victim {
			others = append(others, n)
		}
	}
	if err := r.C.WaitView(ctx, others, func(n string) bool { return n != victim }, healWithin); err != nil {
		return fmt.Errorf("S12: the others did not see %s dead: %w", victim, err)
	}
	before = r.C.AllTransfers(ctx)
	t0 = time.Now()
	if err := r.Nem.Apply(ctx, Event{Fault: FaultRemove, Phase: "start", Nodes: []string{victim}}); err != nil {
		return fmt.Errorf("S12: the remove of %s failed: %w", victim, err)
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultRemove, Phase: "stop", Nodes: []string{victim}}); err != nil {
		return fmt.Errorf("S12: the remove of %s did not settle: %w", victim, err)
	}
	steps = append(steps, newStep("remove", victim, time.Since(t0), before, r.C.AllTransfers(ctx)))
	r.Logf("S12: %s", steps[len(steps)-1])

	if left := d - time.Since(begin); left > 0 {
		r.Logf("S12: membership steps done after %.1fs; the workload runs %.1fs more on the final ring %s",
			time.Since(begin).Seconds(), left.Seconds(), strings.Join(r.C.Names(), ","))
		return nil
	}
	return fmt.Errorf("S12: the membership steps took %.1fs, longer than the %s workload: nothing ran on the final ring (lengthen -duration)",
		time.Since(begin).Seconds(), d)
}
