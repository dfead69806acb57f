package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Anti-entropy scenarios (issue 5): S7 repairs a replica that missed
// writes with nothing but anti-entropy; S10a deletes across an isolated
// replica and must resurrect nothing; S10b is S10a with tombstones reaped
// without confirmation, the must-fail control that proves the
// no-resurrection checker can fail.

// s7 is anti-entropy alone: no reads (so no read repair, which is off
// anyway) and no hints, so the only way the restarted node can get the
// writes it missed is an exchange of Merkle trees.
func s7() Scenario {
	return Scenario{
		Name: "S7", Title: "anti-entropy only",
		Injects: "blind writes only (no context, no reads) to 256 keys at W=2 (sloppy=false), read repair and hinted handoff off, anti-entropy every 1 s; " +
			"SIGKILL one node 5 s in, restart it on its data dir 1 s before the writes stop (down 30 s; 15 s in the smoke set)",
		Asserts: "with no read at all, within 60 s every replica of every key (the restarted node's included) stores the same versions and every partition's Merkle roots agree; " +
			"anti-entropy reports keys repaired > 0; no acknowledged write lost (durable)",
		Cluster: func(c *ClusterConfig) {
			c.ReadRepair = "off"
			c.AgentArgs = []string{"--hinted-handoff=false", "--aae-interval=1s"}
		},
		// Blind writes never supersede each other, so every acked value
		// must survive as a sibling: 256 keys keep that well under the
		// node's 100-sibling cap (about 25 per key in 36 s).
		// sloppy=false says again what --hinted-handoff=false means: the
		// writes go to the primaries only, never to a fallback.
		Workloads: []WorkloadSpec{{Kind: BlindWrite, Clients: 5, Keys: 256, Params: Params{W: 2, Strict: true}, Think: defaultThink}},
		// The restart comes just before the writes stop, because writes
		// that reach the restarted node also bring its keys up to date and
		// must not do anti-entropy's job. Measured with --aae=false: a 1 s
		// tail leaves about 100 keys divergent, a 5 s tail only about 20.
		Nemesis:  CrashOnce{Start: 5 * time.Second, Tail: time.Second},
		Checkers: []string{CheckP0, CheckDurable, CheckConvergence},
		// Reads would not repair (read repair is off), but the wait must
		// not even look like they could.
		PassiveConvergence: true,
		ConvergeWithin:     60 * time.Second,
		RequireRepairs:     true,
		Duration:           36 * time.Second, Smoke: 21 * time.Second, MinOK: 300,
	}
}

// CrashOnce SIGKILLs one node, drawn from the seed, at Start and restarts
// it on its data dir Tail before the workload ends: one long outage with
// the workload running around it. A workload not longer than Start+Tail
// gets no fault.
type CrashOnce struct {
	Start, Tail time.Duration
}

func (c CrashOnce) String() string {
	return fmt.Sprintf("crash one node (drawn once) at %s, restart it %s before the end", c.Start, c.Tail)
}

// Plan implements Generator.
func (c CrashOnce) Plan(rng *rand.Rand, nodes []string, length time.Duration) []Event {
	if length <= c.Start+c.Tail {
		return nil
	}
	n := nodes[rng.IntN(len(nodes))]
	return []Event{
		{At: c.Start, Fault: FaultCrash, Phase: "start", Nodes: []string{n}},
		{At: length - c.Tail, Fault: FaultCrash, Phase: "stop", Nodes: []string{n}},
	}
}

// s10 builds S10a (safe deletes) or S10b (its must-fail control). Both
// turn hinted handoff off: with hints, the deletes acked while the replica
// is isolated would reach it as hints after heal, so S10a would test hand-
// off rather than anti-entropy, and S10b's stale replica would receive its
// tombstones from the hints and resurrect nothing (the control could not
// fail); and with hints on the agent requires --tombstone-grace to be at
// least --hint-max-age. Only the reaping flags differ between the two.
func s10(name string) Scenario {
	sc := Scenario{
		Name: name,
		Injects: "write 30 keys at W=3 (on all three replicas); isolate the node that is a replica of most of them; through the other nodes read each key (R=2) and delete it with the read's context (W=2, sloppy=false); " +
			"hold the partition 40 s after the deletes (20 s at its smoke length); heal. Read repair and hinted handoff off, anti-entropy every 1 s",
		Script:     s10Script,
		ScriptKeys: s10Keys(),
		// Anti-entropy alone must carry the tombstones to the stale replica.
		PassiveConvergence: true,
		ConvergeWithin:     60 * time.Second,
		// After convergence, reads at R=3 and at R=1 through every node,
		// the formerly isolated one included: R=1 answers with the first
		// replica to reply, so a stale replica cannot hide behind a merge.
		FinalReadRs: []int{3, 1},
		Duration:    40 * time.Second, Smoke: 20 * time.Second,
		MinOK: 60,
	}
	args := []string{"--hinted-handoff=false", "--aae-interval=1s"}
	switch name {
	case "S10a":
		sc.Title = "deletes across an isolated replica"
		sc.Asserts = "0 resurrections: no deleted value in any final read (R=3 and R=1 through every node) nor live on any replica; " +
			"replicas and Merkle roots converge and every tombstone is reaped (grace passed, every replica confirmed it) within 60 s; tombstones reaped are reported"
		sc.Cluster = func(c *ClusterConfig) {
			c.ReadRepair = "off"
			c.AgentArgs = slices.Concat(args, []string{"--tombstone-grace=5s"})
		}
		sc.Checkers = []string{CheckP0, CheckDurable, CheckConvergence, CheckNoResurrection}
		// Every tombstone is reapable long before heal + 60 s; a reap
		// after the wait would race the replica snapshot.
		sc.DrainTombstones = true
	case "S10b":
		sc.Title = "must fail: tombstones reaped without confirmation"
		sc.Injects = "as S10a, but the agents reap tombstones 1 s after the delete without confirming every replica holds them (--tombstone-grace=1s --tombstone-reap-unconfirmed)"
		sc.Asserts = "the no-resurrection checker flags the deleted values the stale replica brings back (the control passes only if it does)"
		sc.Cluster = func(c *ClusterConfig) {
			c.ReadRepair = "off"
			c.AgentArgs = slices.Concat(args, []string{"--tombstone-grace=1s", "--tombstone-reap-unconfirmed"})
		}
		sc.Checkers = []string{CheckP0, CheckNoResurrection, CheckConvergence}
		sc.Expect = map[string]bool{CheckNoResurrection: false}
		// The control is about the checker; whether replicas converge
		// under an unsafe test-only flag is reported, not judged.
		sc.ReportOnly = []string{CheckConvergence}
	default:
		panic("jepsen: no S10 variant " + name)
	}
	return sc
}

// s10Keys are the keys S10 writes and deletes.
func s10Keys() []string {
	keys := make([]string, 30)
	for i := range keys {
		keys[i] = fmt.Sprintf("s10-%d", i)
	}
	return keys
}

// s10Script writes every S10 key at W=3 and checks each replica holds it;
// isolates the node that is a replica of the most keys (the stale one);
// deletes every key through the other nodes with the context of a read;
// holds the partition for the run's duration (past the tombstone grace)
// and heals. The harness then waits (passively) for convergence and takes
// the final reads the no-resurrection checker judges.
func s10Script(ctx context.Context, r *Run) error {
	keys := s10Keys()
	pls := map[string][]string{}
	count := map[string]int{}
	for _, k := range keys {
		pl, err := r.C.Preflist(ctx, k)
		if err != nil {
			return err
		}
		pls[k] = pl
		for _, n := range pl {
			count[n]++
		}
	}
	var victim *Node
	for _, n := range r.C.Nodes {
		if victim == nil || count[n.Name] > count[victim.Name] {
			victim = n
		}
	}
	var others []*Node
	order := []string{victim.Name}
	for _, n := range r.C.Nodes {
		if n != victim {
			others = append(others, n)
			order = append(order, n.Name)
		}
	}
	r.Logf("S10: %s is a replica of %d of the %d keys; it will be isolated across the deletes", victim.Name, count[victim.Name], len(keys))

	// Write every key on all three replicas.
	spec := WorkloadSpec{Kind: Register, Name: "script", Params: Params{R: 2, W: 2, Strict: true, TimeoutMS: DefaultServerTimeoutMS}}
	all := WorkloadSpec{Kind: Register, Name: "script", Params: Params{W: 3, Strict: true, TimeoutMS: DefaultServerTimeoutMS}}
	clients := map[string]*client{}
	for i, n := range r.C.Nodes {
		clients[n.Name] = &client{id: 300 + i, spec: all, kv: NewKV(n.Name, n.HTTP, ClientTimeout), rec: r.Rec, cache: map[string]cached{}}
	}
	defer func() {
		for _, c := range clients {
			c.kv.Close()
		}
	}()
	values := map[string]string{}
	for i, k := range keys {
		c := clients[r.C.Nodes[i%len(r.C.Nodes)].Name]
		values[k] = k + "-v1"
		if _, out := c.put(ctx, history.Write, k, values[k], 0, cached{}); out.Type != history.OK {
			return fmt.Errorf("S10: the W=3 write of %s via %s was not acked: %s", k, c.kv.Node, out.Error())
		}
	}
	if err := s10WaitReplicated(ctx, r, keys, pls, values, 10*time.Second); err != nil {
		return err
	}

	// Isolate the victim; delete every key through the others.
	r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "start", Shape: IsolateOne, Grudge: Shape(IsolateOne, order), Nodes: order})
	if err := r.C.WaitView(ctx, others, func(n string) bool { return n != victim.Name }, 30*time.Second); err != nil {
		return fmt.Errorf("S10: the others did not see %s dead: %w", victim.Name, err)
	}
	acked, ackedOnVictim := 0, 0
	for i, k := range keys {
		c := clients[others[i%len(others)].Name]
		c.spec = spec
		res, ok := c.read(ctx, k)
		if !ok || !res.Found {
			r.Logf("S10: the read of %s via %s before its delete found nothing to delete (ok=%v)", k, c.kv.Node, ok)
			continue
		}
		if _, out := c.put(ctx, history.Delete, k, "", 0, cached{ctx: res.Context, siblings: res.Siblings, found: true}); out.Type == history.OK {
			acked++
			if slices.Contains(pls[k], victim.Name) {
				ackedOnVictim++
			}
		}
	}
	stale := 0
	for _, k := range keys {
		if slices.Contains(pls[k], victim.Name) && len(r.C.Replica(ctx, victim, k, "script").Live()) > 0 {
			stale++
		}
	}
	r.Logf("S10: %d of %d deletes acked, %d of them of keys %s holds; %s still holds %d live values (stale, as intended); holding the partition %s",
		acked, len(keys), ackedOnVictim, victim.Name, victim.Name, stale, r.Spec.Duration)
	if ackedOnVictim == 0 {
		return fmt.Errorf("S10: no delete of a key %s holds was acked: the run tests nothing", victim.Name)
	}

	select {
	case <-time.After(r.Spec.Duration):
	case <-ctx.Done():
		return ctx.Err()
	}
	var sum AAETotals
	for _, n := range others {
		if t, err := r.C.AAE(ctx, n); err == nil {
			sum.add(t)
		}
	}
	r.Logf("S10: before heal the other nodes store %d tombstones and have reaped %d", sum.Tombstones, sum.TombstonesReaped)
	r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "stop", Shape: IsolateOne})
	return r.C.WaitAllAlive(ctx, 60*time.Second)
}

// s10WaitReplicated waits until every replica of every key holds the value
// written to it.
func s10WaitReplicated(ctx context.Context, r *Run, keys []string, pls map[string][]string, values map[string]string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		missing := ""
	scan:
		for _, k := range keys {
			for _, name := range pls[k] {
				if !slices.Contains(r.C.Replica(ctx, r.C.Node(name), k, "script").Live(), values[k]) {
					missing = fmt.Sprintf("%s lacks %q of %s", name, values[k], k)
					break scan
				}
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("S10: writes acked at W=3 are not on all three replicas after %s: %s", within, missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // polling interval
		}
	}
}
