package jepsen

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Delete and membership-fault scenarios: the ways a deleted value can come
// back, or an acknowledged write can hide, once tombstones are reaped fast
// and a node holds an old copy or an old view.
//
//	S16  delete/re-create churn with fast reaping, stale contexts replayed
//	S17  a fallback killed with its hints past the hint window, restarted
//	S18  deletes coordinated under hours of clock skew, then corrected
//	S19  a leave stalled by an isolated new owner; its last push after reaps
//	S20  a node that drops the claimant's table during a join coordinates
//	     strict writes by the old placement

// fastReap are the agent flags of the scenarios that reap tombstones within
// seconds: 5 s of grace and hint window, requests of at most 2 s, an
// anti-entropy exchange (which confirms tombstones) every second.
var fastReap = []string{"--tombstone-grace=5s", "--hint-max-age=5s", "--max-timeout=2s", "--aae-interval=1s"}

// hintWindow is --hint-max-age in fastReap.
const hintWindow = 5 * time.Second

// ChurnW is the tag of S16's churn workload.
const ChurnW = "churn"

func s16() Scenario {
	return Scenario{
		Name: "S16", Title: "delete/re-create churn with fast reaping",
		Injects: "agents with " + strings.Join(fastReap, " ") + "; 5 churn clients, one per node, each owning 3 of 15 keys and walking each through " +
			"read, create, read, update with context, read, update, (rest), read, delete with context, (rest) over and over, a rest being up to 12 s, " +
			"so that some keys are re-created before their tombstone is reaped and some after; a sixth client writes, 15 s or more later, with the context read before each delete",
		Asserts: "no acknowledged write lost (durable: a value a replayed old context silently supersedes is lost), " +
			"convergence with no dot naming two values across every replica dump (and every tombstone reaped within 60 s), no resurrection, no phantom, antichain",
		Cluster: func(c *ClusterConfig) { c.AgentArgs = slices.Clone(fastReap) },
		Workloads: []WorkloadSpec{{Kind: Churn, Name: ChurnW, Clients: 5, Keys: 15, Replayers: 1,
			ReplayAfter: 15 * time.Second, ChurnRest: 12 * time.Second, Think: defaultThink}},
		Checkers:        []string{CheckP0, CheckP0a, CheckDurable, CheckConvergence, CheckNoResurrection},
		DrainTombstones: true,
		Duration:        2 * time.Minute, Smoke: 35 * time.Second, MinOK: 300,
	}
}

// scriptClient is a client of the script workload bound to n.
func (r *Run) scriptClient(id int, n *Node, p Params) *client {
	if p.TimeoutMS == 0 {
		p.TimeoutMS = DefaultServerTimeoutMS
	}
	return &client{id: id, spec: WorkloadSpec{Kind: Register, Name: "script", Params: p}, kv: NewKV(n.Name, n.HTTP, ClientTimeout), rec: r.Rec, cache: map[string]cached{}}
}

// scriptKeys are n keys named prefix-0, prefix-1, ...
func scriptKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return keys
}

// preflists returns every key's primaries and how many keys each node is
// a primary of.
func preflists(ctx context.Context, r *Run, keys []string) (map[string][]string, map[string]int, error) {
	pls, count := map[string][]string{}, map[string]int{}
	for _, k := range keys {
		pl, err := r.C.Preflist(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		pls[k] = pl
		for _, n := range pl {
			count[n]++
		}
	}
	return pls, count, nil
}

// most returns the name with the highest count (ties: the smallest name),
// "" if none is above zero.
func most(count map[string]int) string {
	best := ""
	for _, n := range slices.Sorted(maps.Keys(count)) {
		if count[n] > 0 && (best == "" || count[n] > count[best]) {
			best = n
		}
	}
	return best
}

// others returns the cluster's nodes but the named ones.
func (r *Run) others(names ...string) []*Node {
	var out []*Node
	for _, n := range r.C.Nodes {
		if !slices.Contains(names, n.Name) {
			out = append(out, n)
		}
	}
	return out
}

// isolate cuts victim off from every other node and waits until the others
// see it dead (down nodes among them excepted).
func (r *Run) isolate(ctx context.Context, victim string, down ...string) error {
	order := []string{victim}
	for _, n := range r.C.Nodes {
		if n.Name != victim {
			order = append(order, n.Name)
		}
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "start", Shape: IsolateOne, Grudge: Shape(IsolateOne, order), Nodes: order}); err != nil {
		return err
	}
	gone := append([]string{victim}, down...)
	if err := r.C.WaitView(ctx, r.others(gone...), func(n string) bool { return !slices.Contains(gone, n) }, 30*time.Second); err != nil {
		return fmt.Errorf("the others did not see %s dead: %w", victim, err)
	}
	return nil
}

// heal ends the partition and waits until every running node but the down
// ones sees exactly the others alive.
func (r *Run) heal(ctx context.Context, down ...string) error {
	if err := r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "stop", Shape: IsolateOne}); err != nil {
		return err
	}
	return r.C.WaitView(ctx, r.others(down...), func(n string) bool { return !slices.Contains(down, n) }, healWithin)
}

// pause waits d (or until ctx ends).
func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-time.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// deleteAll reads each key through via(key) at R=3 and deletes what the
// read returned with its context at W=3 on the primaries (sloppy=false):
// every replica stores the tombstone before the delete is acked. It
// returns how many deletes were acked.
func (r *Run) deleteAll(ctx context.Context, id int, keys []string, via func(string) *Node) int {
	acked := 0
	all := Params{R: 3, W: 3, Strict: true}
	for _, k := range keys {
		c := r.scriptClient(id, via(k), all)
		res, ok := c.read(ctx, k)
		for try := 1; !ok && try < 3 && ctx.Err() == nil; try++ { // a read has no effect: retry it
			pause(ctx, 500*time.Millisecond)
			res, ok = c.read(ctx, k)
		}
		if ok && res.Found {
			if _, out := c.put(ctx, history.Delete, k, "", 0, cached{ctx: res.Context, siblings: res.Siblings, found: true}); out.Type == history.OK {
				acked++
			}
		} else {
			r.Logf("the read of %s via %s before its delete found nothing to delete (ok=%v)", k, c.kv.Node, ok)
		}
		c.kv.Close()
	}
	return acked
}

// waitReaped waits, at most within, until no replica in pls of any key
// stores a version of it (the tombstones were reaped everywhere), and
// returns the "node:key" pairs that still store one.
func (r *Run) waitReaped(ctx context.Context, keys []string, pls map[string][]string, within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		var left []string
		for _, k := range keys {
			for _, name := range pls[k] {
				if nd := r.C.Node(name); nd != nil && nd.Running() {
					if rep := r.C.Replica(ctx, nd, k, "script"); rep.Error != "" || len(rep.Versions) > 0 {
						left = append(left, name+":"+k)
					}
				}
			}
		}
		if len(left) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return left
		}
		pause(ctx, 250*time.Millisecond) // polling interval
	}
}

// logAAE logs every running node's tombstone totals (GET /debug/aae).
func (r *Run) logAAE(ctx context.Context, when string) {
	var parts []string
	for _, n := range r.C.Nodes {
		if !n.Running() {
			continue
		}
		if t, err := r.C.AAE(ctx, n); err == nil {
			parts = append(parts, fmt.Sprintf("%s %d stored/%d reaped", n.Name, t.Tombstones, t.TombstonesReaped))
		}
	}
	r.Logf("%s: tombstones %s", when, strings.Join(parts, ", "))
}

// watch reads every key at R=1 through each node in order, round after
// round, for d: the healed state, judged by no-resurrection against the
// deletes acked before each read (history.WatchProcess). It returns how
// many reads found a value.
func (r *Run) watch(ctx context.Context, keys []string, order []*Node, d time.Duration) (reads, found int) {
	kvs := map[string]*KV{}
	for _, n := range order {
		kvs[n.Name] = NewKV(n.Name, n.HTTP, ClientTimeout)
		defer kvs[n.Name].Close()
	}
	p := Params{R: 1, TimeoutMS: DefaultServerTimeoutMS}
	c := &client{id: history.WatchProcess, spec: WorkloadSpec{Kind: Register, Name: "script", Params: p}, rec: r.Rec, cache: map[string]cached{}}
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil && r.Rec.Len() < MaxHistory {
		for _, n := range order {
			c.kv = kvs[n.Name]
			for _, k := range keys {
				reads++
				if res, ok := c.read(ctx, k); ok && len(res.Siblings) > 0 {
					found++
				}
			}
		}
		pause(ctx, 100*time.Millisecond) // a few rounds a second
	}
	return reads, found
}

// sloppyThrough finds, with victim isolated, the fallback that stands in
// for victim for most of keys (those victim is a primary of), as via sees
// it, and returns it with those keys.
func (r *Run) sloppyThrough(ctx context.Context, victim string, keys []string, pls map[string][]string) (string, []string, error) {
	via := r.others(victim)[0]
	fb := map[string]string{}
	count := map[string]int{}
	for _, k := range keys {
		if !slices.Contains(pls[k], victim) {
			continue
		}
		pl, err := r.C.PlacementVia(ctx, via, k)
		if err != nil {
			return "", nil, err
		}
		if f := pl.Fallbacks[victim]; f != "" {
			fb[k] = f
			count[f]++
		}
	}
	f := most(count)
	var mine []string
	for _, k := range keys {
		if f != "" && fb[k] == f {
			mine = append(mine, k)
		}
	}
	return f, mine, nil
}

// writeHinted writes value k+"-v1" to each key at W=3 on the sloppy quorum
// through coord(k), with the key's primary victim isolated, so the
// fallback stores a hint for it; then checks that fallback holds a hint
// for victim for every key.
func (r *Run) writeHinted(ctx context.Context, id int, keys []string, coord func(string) *Node, victim, fallback string) error {
	for _, k := range keys {
		c := r.scriptClient(id, coord(k), Params{W: 3})
		_, out := c.put(ctx, history.Write, k, k+"-v1", 0, cached{})
		c.kv.Close()
		if out.Type != history.OK {
			return fmt.Errorf("the W=3 sloppy write of %s via %s was not acked: %s", k, c.kv.Node, out.Error())
		}
	}
	ts, err := r.C.HintTargets(ctx, r.C.Node(fallback))
	if err != nil {
		return err
	}
	if ts[victim] < len(keys) {
		return fmt.Errorf("%s holds %d hints for %s after %d sloppy writes that needed it", fallback, ts[victim], victim, len(keys))
	}
	r.Logf("%s holds %d hints for %s", fallback, ts[victim], victim)
	return nil
}

// s17 kills a fallback that holds hints and keeps it down past the hint
// window while the keys are deleted and their tombstones reaped.
func s17() Scenario {
	return Scenario{
		Name: "S17", Title: "a fallback killed past the hint window",
		Injects: "agents with " + strings.Join(fastReap, " ") + "; isolate P, the primary of most of 30 keys; write the keys P is a primary of and fallback F stands in for at W=3 (sloppy), so F stores a hint for P of each; " +
			"SIGKILL F; heal P; read each key at R=3 and delete it with the read's context at W=3 on the primaries (sloppy=false); wait (at most 60 s) until no replica stores a version of any key (tombstones reaped; hints never expire, so F's hints hold the tombstones until F is back and the wait is logged as not reaped); " +
			"keep F down at least 3 hint windows (15 s) in all; restart F on its data dir and read every key at R=1 through F and through every node, round after round, for F's first minute (20 s at the smoke length)",
		Asserts: "no resurrection: no deleted value in any read after the restart (judged against the deletes acked before it), in the final reads at R=3 and R=1 through every node, or live on any replica; " +
			"replicas, hints and Merkle roots converge and every tombstone is reaped within 60 s",
		Cluster:            func(c *ClusterConfig) { c.AgentArgs = slices.Clone(fastReap) },
		Script:             s17Script,
		ScriptKeys:         scriptKeys("s17", 30),
		Checkers:           []string{CheckP0, CheckDurable, CheckConvergence, CheckNoResurrection},
		PassiveConvergence: true,
		DrainTombstones:    true,
		FinalReadRs:        []int{3, 1},
		Duration:           time.Minute, Smoke: 20 * time.Second, MinOK: 9,
	}
}

func s17Script(ctx context.Context, r *Run) error {
	keys := scriptKeys("s17", 30)
	pls, count, err := preflists(ctx, r, keys)
	if err != nil {
		return err
	}
	p := most(count)
	if err := r.isolate(ctx, p); err != nil {
		return fmt.Errorf("S17: %w", err)
	}
	f, mine, err := r.sloppyThrough(ctx, p, keys, pls)
	if err != nil {
		return fmt.Errorf("S17: %w", err)
	}
	if len(mine) < 3 {
		return fmt.Errorf("S17: %s stands in for %s for only %d keys: the run tests nothing", f, p, len(mine))
	}
	r.Logf("S17: %s (primary of %d keys) isolated; %s is its fallback for %d of them: %s", p, count[p], f, len(mine), strings.Join(mine, ","))
	coord := func(k string) *Node { // a live primary coordinates
		for _, n := range pls[k] {
			if n != p {
				return r.C.Node(n)
			}
		}
		return nil
	}
	if err := r.writeHinted(ctx, 400, mine, coord, p, f); err != nil {
		return fmt.Errorf("S17: %w", err)
	}

	if err := r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "start", Nodes: []string{f}}); err != nil {
		return err
	}
	killed := time.Now()
	if err := r.heal(ctx, f); err != nil {
		return fmt.Errorf("S17: after healing %s: %w", p, err)
	}
	if acked := r.deleteAll(ctx, 401, mine, coord); acked != len(mine) {
		return fmt.Errorf("S17: %d of %d deletes at W=3 acked", acked, len(mine))
	}
	left := r.waitReaped(ctx, mine, pls, 60*time.Second)
	r.logAAE(ctx, "S17 after the deletes")
	if len(left) > 0 {
		r.Logf("S17: %d replicas still store a version 60 s after the deletes (not reaped): %v", len(left), left)
	} else {
		r.Logf("S17: every tombstone reaped %.1fs after %s was killed", time.Since(killed).Seconds(), f)
	}
	if err := pause(ctx, time.Until(killed.Add(3*hintWindow))); err != nil {
		return err
	}
	r.Logf("S17: %s was down %.1fs (hint window %s); restarting it", f, time.Since(killed).Seconds(), hintWindow)
	if err := r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "stop", Nodes: []string{f}}); err != nil {
		return err
	}
	if ts, err := r.C.HintTargets(ctx, r.C.Node(f)); err == nil {
		r.Logf("S17: restarted %s holds %d hints for %s", f, ts[p], p)
	}
	order := append([]*Node{r.C.Node(f)}, r.others(f)...)
	reads, found := r.watch(ctx, mine, order, r.Spec.Duration)
	r.Logf("S17: %d reads at R=1 through %s and the others in %s after the restart; %d found a value", reads, f, r.Spec.Duration, found)
	return nil
}

// s18Skew is how far S18 sets the deleting coordinator's clock back.
const s18Skew = -4 * time.Hour

// s18HintWindow is S18's --hint-max-age: long enough that the fallback's
// hints are young when it restarts, and that no tombstone is old enough
// to reap before the run ends unless its age is misjudged.
const s18HintWindow = 5 * time.Minute

func s18() Scenario {
	args := []string{"--tombstone-grace=5s", fmt.Sprintf("--hint-max-age=%s", s18HintWindow), "--max-timeout=2s", "--aae-interval=1s"}
	return Scenario{
		Name: "S18", Title: "deletes under hours of clock skew",
		Injects: "agents with " + strings.Join(args, " ") + " --test-clock; isolate P, the primary of most of 48 keys; write the keys whose fallback for P is F and that D is also a primary of at W=3 (sloppy) through D, " +
			"so F stores a hint for P of each; SIGKILL F; heal P; set D's clock back 4 h (POST /debug/clock offset -14400000 ms); through D read each key at R=3 and delete it with the context at W=3 (sloppy=false); " +
			"wait up to 20 s; correct D's clock (offset 0); wait up to 20 s for reaps; restart F (its hints are seconds old, well inside the 5 min window, so it delivers them) and read every key at R=1 through every node for 30 s (10 s at the smoke length)",
		Asserts:            "no resurrection: no deleted value in any read after F's restart, in the final reads at R=3 and R=1 through every node, or live on any replica; replicas, hints and Merkle roots converge",
		Cluster:            func(c *ClusterConfig) { c.AgentArgs = args },
		Script:             s18Script,
		ScriptKeys:         scriptKeys("s18", 48),
		Checkers:           []string{CheckP0, CheckDurable, CheckConvergence, CheckNoResurrection},
		PassiveConvergence: true,
		FinalReadRs:        []int{3, 1},
		Duration:           30 * time.Second, Smoke: 10 * time.Second, MinOK: 9,
	}
}

func s18Script(ctx context.Context, r *Run) error {
	keys := scriptKeys("s18", 48)
	pls, count, err := preflists(ctx, r, keys)
	if err != nil {
		return err
	}
	p := most(count)
	if err := r.isolate(ctx, p); err != nil {
		return fmt.Errorf("S18: %w", err)
	}
	f, cands, err := r.sloppyThrough(ctx, p, keys, pls)
	if err != nil {
		return fmt.Errorf("S18: %w", err)
	}
	// D coordinates the deletes, so it must be a primary of each key (a
	// non-primary forwards writes to one).
	dc := map[string]int{}
	for _, k := range cands {
		for _, n := range pls[k] {
			if n != p {
				dc[n]++
			}
		}
	}
	d := most(dc)
	var mine []string
	for _, k := range cands {
		if slices.Contains(pls[k], d) {
			mine = append(mine, k)
		}
	}
	if len(mine) < 3 {
		return fmt.Errorf("S18: only %d keys have %s as primary, %s as fallback for it and %s as primary: the run tests nothing", len(mine), p, f, d)
	}
	r.Logf("S18: %s isolated; %s is its fallback and %s a primary of %d keys: %s", p, f, d, len(mine), strings.Join(mine, ","))
	dn := r.C.Node(d)
	via := func(string) *Node { return dn }
	if err := r.writeHinted(ctx, 410, mine, via, p, f); err != nil {
		return fmt.Errorf("S18: %w", err)
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "start", Nodes: []string{f}}); err != nil {
		return err
	}
	if err := r.heal(ctx, f); err != nil {
		return fmt.Errorf("S18: after healing %s: %w", p, err)
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultSkew, Phase: "start", Nodes: []string{d}, Offset: s18Skew}); err != nil {
		return err
	}
	deleted := time.Now()
	if acked := r.deleteAll(ctx, 411, mine, via); acked != len(mine) {
		return fmt.Errorf("S18: %d of %d deletes at W=3 through %s acked", acked, len(mine), d)
	}
	left := r.waitReaped(ctx, mine, pls, 20*time.Second)
	r.logAAE(ctx, "S18 with "+d+"'s clock 4 h back")
	r.Logf("S18: with %s's clock 4 h back, %d replica copies still stored after 20 s", d, len(left))
	if err := r.Nem.Apply(ctx, Event{Fault: FaultSkew, Phase: "stop", Nodes: []string{d}}); err != nil {
		return err
	}
	left = r.waitReaped(ctx, mine, pls, 20*time.Second)
	r.logAAE(ctx, "S18 after the clock correction")
	r.Logf("S18: after the correction, %d replica copies still stored (the deletes are %.0fs old; the least age to reap is %s)", len(left), time.Since(deleted).Seconds(), s18HintWindow)
	if err := r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "stop", Nodes: []string{f}}); err != nil {
		return err
	}
	reads, found := r.watch(ctx, mine, append([]*Node{r.C.Node(f)}, r.others(f)...), r.Spec.Duration)
	r.Logf("S18: %d reads at R=1 after %s's restart; %d found a value", reads, f, found)
	return nil
}

func s19() Scenario {
	return Scenario{
		Name: "S19", Title: "a leave stalled by an isolated new owner",
		Injects: "agents with " + strings.Join(fastReap, " ") + "; write 96 keys at W=3; L (drawn from the seed among n2..n5) is to leave: from GET /cluster/plan?leave=L take X, the node but n1 gaining the fewest (but some) of L's partitions, and isolate it; " +
			"POST /cluster/leave to L, so the handoff cannot finish; once the new owners of the partitions that neither had nor get X are ready (GET /debug/transfers), read and delete those keys at R=3/W=3 (sloppy=false) and wait until no new owner stores a version of them (reaped), " +
			"while L still holds its old copies; heal X; wait until L has finished its leave (its last push) and exited",
		Asserts: "no resurrection in the final reads at R=3 and R=1 through every remaining node or on any replica; no acknowledged write lost (the keys not deleted survive the leave); " +
			"replicas, hints and Merkle roots converge on the final ring and every tombstone is reaped within 60 s",
		Cluster:            func(c *ClusterConfig) { c.AgentArgs = slices.Clone(fastReap) },
		Script:             s19Script,
		ScriptKeys:         scriptKeys("s19", 96),
		Checkers:           []string{CheckP0, CheckDurable, CheckConvergence, CheckNoResurrection},
		PassiveConvergence: true,
		DrainTombstones:    true,
		FinalReadRs:        []int{3, 1},
		// Scripted, its length is its own (about 25 s in all): the same
		// run in the smoke set.
		Smoke: time.Second,
		MinOK: 100,
	}
}

// s19Choose draws the node that leaves: never n1 (the first node, the
// claimant while it is up), the same one for the same seed.
func s19Choose(seed int64, names []string) string {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5331392d6c6561)) // "S19-lea"
	var cands []string
	for _, n := range names {
		if n != names[0] {
			cands = append(cands, n)
		}
	}
	return cands[rng.IntN(len(cands))]
}

// s19Target picks the node to isolate: of those gaining partitions in the
// plan (never the leaver nor the first node), the one gaining the fewest
// (ties: the smallest name). One gained partition stalls the leave; the
// fewer it touches, the more of the leaver's keys can be deleted meanwhile.
func s19Target(gains map[string][]int, leaver, first string) string {
	best := ""
	for _, n := range slices.Sorted(maps.Keys(gains)) {
		if n == leaver || n == first || len(gains[n]) == 0 {
			continue
		}
		if best == "" || len(gains[n]) < len(gains[best]) {
			best = n
		}
	}
	return best
}

// s19Eligible are the keys S19 deletes: in a partition the leaver was a
// primary of, and one the isolated node is a primary of neither before
// nor after the leave (so its new owners can be ready while it is cut off).
func s19Eligible(keys []string, part map[string]int, before, after map[int][]string, leaver, isolated string) []string {
	var out []string
	for _, k := range keys {
		p := part[k]
		if slices.Contains(before[p], leaver) && !slices.Contains(before[p], isolated) && !slices.Contains(after[p], isolated) {
			out = append(out, k)
		}
	}
	return out
}

// partitionReady reports whether t shows node ready for partition p: every
// partition it still needs has a transfer job, and p has none.
func partitionReady(t Transfers, p int) bool {
	if len(t.Jobs) != t.PartitionsPending {
		return false
	}
	for _, j := range t.Jobs {
		if j.Partition == p {
			return false
		}
	}
	return true
}

func s19Script(ctx context.Context, r *Run) error {
	keys := scriptKeys("s19", 96)
	pls, _, err := preflists(ctx, r, keys)
	if err != nil {
		return err
	}
	write := Params{W: 3, Strict: true}
	for i, k := range keys {
		c := r.scriptClient(420, r.C.Node(pls[k][i%3]), write)
		_, out := c.put(ctx, history.Write, k, k+"-v1", 0, cached{})
		c.kv.Close()
		if out.Type != history.OK {
			return fmt.Errorf("S19: the W=3 write of %s was not acked: %s", k, out.Error())
		}
	}
	values := map[string]string{}
	for _, k := range keys {
		values[k] = k + "-v1"
	}
	if err := s10WaitReplicated(ctx, r, keys, pls, values, 10*time.Second); err != nil {
		return err
	}

	first := r.C.Nodes[0]
	l := s19Choose(r.Spec.Seed, r.C.Names())
	gains, err := r.C.PlanGains(ctx, first, l)
	if err != nil {
		return fmt.Errorf("S19: %w", err)
	}
	x := s19Target(gains, l, first.Name)
	if x == "" {
		return fmt.Errorf("S19: the plan for %s's leave moves no partition to a node other than %s: %v", l, first.Name, gains)
	}
	before, err := r.C.RingOf(ctx, first)
	if err != nil {
		return err
	}
	part := map[string]int{}
	for _, k := range keys {
		pl, err := r.C.PlacementVia(ctx, first, k)
		if err != nil {
			return err
		}
		part[k] = pl.Partition
	}
	r.Logf("S19: %s will leave; the plan gives %s %d partitions; isolating %s first", l, x, len(gains[x]), x)
	if err := r.isolate(ctx, x); err != nil {
		return fmt.Errorf("S19: %w", err)
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultLeave, Phase: "start", Nodes: []string{l}}); err != nil {
		return err
	}
	// The claim: a ring without the leaver.
	var after map[int][]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		if after, err = r.C.RingOf(ctx, first); err == nil && !slices.ContainsFunc(slices.Collect(maps.Values(after)), func(ns []string) bool { return slices.Contains(ns, l) }) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("S19: %s still places partitions on %s 30 s after its leave began (err %v)", first.Name, l, err)
		}
		if err := pause(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	stalls := 0
	for p, ns := range after {
		if slices.Contains(ns, x) && !slices.Contains(before[p], x) && slices.Contains(before[p], l) {
			stalls++
		}
	}
	if stalls == 0 {
		return fmt.Errorf("S19: %s is a new owner of none of %s's partitions (the claim differs from the plan): nothing stalls the leave", x, l)
	}
	elig := s19Eligible(keys, part, before, after, l, x)
	r.Logf("S19: %s is a new owner of %d of %s's partitions; %d keys are in partitions %s had and %s neither had nor gets", x, stalls, l, len(elig), l, x)

	// Wait until the new owners of those keys are ready for them.
	var ready []string
	deadline = time.Now().Add(60 * time.Second)
	for {
		ts := map[string]Transfers{}
		for _, n := range r.others(x) {
			if t, err := r.C.Transfers(ctx, n); err == nil {
				ts[n.Name] = t
			}
		}
		ready = ready[:0]
		for _, k := range elig {
			ok := true
			for _, n := range after[part[k]] {
				if t, seen := ts[n]; !seen || !partitionReady(t, part[k]) {
					ok = false
				}
			}
			if ok {
				ready = append(ready, k)
			}
		}
		if len(ready) == len(elig) || time.Now().After(deadline) {
			break
		}
		if err := pause(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
	if len(ready) < 3 {
		return fmt.Errorf("S19: only %d keys are in partitions whose new owners are ready: the run tests nothing", len(ready))
	}
	newPls := map[string][]string{}
	for _, k := range ready {
		newPls[k] = after[part[k]]
	}
	coord := func(k string) *Node { return r.C.Node(newPls[k][0]) }
	acked := r.deleteAll(ctx, 421, ready, coord)
	if acked != len(ready) {
		return fmt.Errorf("S19: %d of %d deletes at W=3 acked", acked, len(ready))
	}
	leftOver := r.waitReaped(ctx, ready, newPls, 60*time.Second)
	r.logAAE(ctx, "S19 after the deletes")
	held := 0
	for _, k := range ready {
		if len(r.C.Replica(ctx, r.C.Node(l), k, "script").Live()) > 0 {
			held++
		}
	}
	r.Logf("S19: %d keys deleted on their new owners, %d copies still stored there (waited at most 60 s for the reaps); %s still holds %d of the keys live", len(ready), len(leftOver), l, held)
	if t, err := r.C.Transfers(ctx, r.C.Node(l)); err != nil || t.Status != "leaving" {
		return fmt.Errorf("S19: %s is no longer leaving before %s is healed (status %q, err %v): nothing stalled its leave", l, x, t.Status, err)
	}
	// Only the partition ends here: the leave's stop waits for the rest
	// (the leaver may finish and exit before a view of every node alive).
	if err := r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "stop", Shape: IsolateOne}); err != nil {
		return err
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultLeave, Phase: "stop", Nodes: []string{l}}); err != nil {
		return fmt.Errorf("S19: %s's leave did not finish: %w", l, err)
	}
	r.Logf("S19: %s left; the ring is %s", l, strings.Join(r.C.Names(), ","))
	return nil
}

// s20Dropper is the node that drops the claimant's tables in S20: not n1,
// the first node and so the claimant (a claimant adopts its own claims).
const s20Dropper = "n3"

func s20() Scenario {
	// Enough keys that several fall in partitions the join moves; each
	// acked write is read back at once, through another node.
	sr := registerW(6, 16, strict)
	sr.Name, sr.WriteVia, sr.ReadAfterWrite, sr.Think = StrictRegister, s20Dropper, true, 10*time.Millisecond
	return Scenario{
		Name: "S20", Title: "a node misses the claimant's table during a join",
		Injects: "agents with --test-faults; a strict register (r=w=pr=pw=2, sloppy=false, 6 clients, 16 keys) whose writes go through " + s20Dropper + " and whose reads go through n1, n2, n4, n5, each acked write read back at once; " +
			"5 s in, " + s20Dropper + " drops every ownership table it is sent (POST /debug/faults drop_tables); n6 joins (empty data dir) and every node lists it valid with no transfer pending, " +
			"while " + s20Dropper + " keeps the old placement until a peer refuses one of its calls for another table (then it adopts the peer's; the run checks that one of the two happened); three quarters into the run the fault is cleared",
		Asserts:   "P1 judged for the strict register: a read that begins after a write was acked returns it or a successor; P2, durable, P0 and P0' hold; replicas and Merkle roots converge on the final ring",
		Cluster:   func(c *ClusterConfig) { c.AgentArgs = []string{"--test-faults"} },
		Workloads: []WorkloadSpec{sr},
		Script:    s20Script,
		Checkers:  []string{CheckP0, CheckP0a, CheckP1, CheckP2, CheckDurable, CheckConvergence},
		Duration:  2 * time.Minute, Smoke: 30 * time.Second, MinOK: 300,
	}
}

func s20Script(ctx context.Context, r *Run) error {
	begin := time.Now()
	if err := pause(ctx, 5*time.Second); err != nil {
		return err
	}
	d := r.C.Node(s20Dropper)
	if err := r.Nem.Apply(ctx, Event{Fault: FaultDropTables, Phase: "start", Nodes: []string{d.Name}}); err != nil {
		return err
	}
	added, err := r.C.AddNode(len(r.C.Nodes) + 1)
	if err != nil {
		return err
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultJoin, Phase: "start", Nodes: []string{added.Name}}); err != nil {
		return fmt.Errorf("S20: %s did not start: %w", added.Name, err)
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultJoin, Phase: "stop", Nodes: []string{added.Name}}); err != nil {
		return fmt.Errorf("S20: the join of %s did not settle: %w", added.Name, err)
	}
	first := r.C.Nodes[0]
	theirs, err1 := r.C.RingOf(ctx, first)
	mine, err2 := r.C.RingOf(ctx, d)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("S20: rings: %v %v", err1, err2)
	}
	diff := RingDiff(theirs, mine)
	if diff == 0 {
		// With the drop in force, the only way d learns the table is a
		// peer refusing one of its calls for it (node/view.go): that must
		// have happened, or the fault did not hold and the run tests
		// nothing.
		refused, err := r.C.Metric(ctx, d, "dynago_rpc_table_mismatches_total")
		if err != nil {
			return fmt.Errorf("S20: %w", err)
		}
		if refused == 0 {
			return fmt.Errorf("S20: %s places keys as %s does after the join, yet no peer refused its calls for another table: the fault did not hold, the run tests nothing", d.Name, first.Name)
		}
		r.Logf("S20: %s joined; %s, dropping every table it was sent, learned the new one from %v refused calls", added.Name, d.Name, refused)
	} else {
		r.Logf("S20: %s joined; %s's placement differs from %s's in %d of %d partitions", added.Name, d.Name, first.Name, diff, len(theirs))
	}
	if err := pause(ctx, time.Until(begin.Add(r.Spec.Duration*3/4))); err != nil {
		return err
	}
	if err := r.Nem.Apply(ctx, Event{Fault: FaultDropTables, Phase: "stop", Nodes: []string{d.Name}}); err != nil {
		return err
	}
	// The table comes back with the next push/pull (memberlist's 30 s).
	deadline := time.Now().Add(45 * time.Second)
	for {
		theirs, err1 = r.C.RingOf(ctx, first)
		mine, err2 = r.C.RingOf(ctx, d)
		if err1 == nil && err2 == nil && RingDiff(theirs, mine) == 0 {
			r.Logf("S20: %s adopted the table %.1fs after the fault was cleared", d.Name, time.Since(deadline.Add(-45*time.Second)).Seconds())
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("S20: %s still places keys differently 45 s after the fault was cleared (%v %v)", d.Name, err1, err2)
		}
		if err := pause(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}
