package node

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

// ownership is a node's view of the placement: the table version and each
// partition's owner.
func (tn *testNode) ownership() (uint64, []ring.NodeID) {
	c := tn.node.members.clusterSnapshot()
	v := uint64(0)
	if c.Table != nil {
		v = c.Table.Version
	}
	return v, tn.node.Ring().Owners()
}

// sameOwnership waits until every node has adopted the same table.
func sameOwnership(t *testing.T, nodes []*testNode) (uint64, []ring.NodeID) {
	t.Helper()
	var v uint64
	var owners []ring.NodeID
	waitFor(t, "one ownership everywhere", 20*time.Second, func() (bool, string) {
		v, owners = nodes[0].ownership()
		for _, tn := range nodes[1:] {
			if tv, to := tn.ownership(); tv != v || !slices.Equal(to, owners) {
				return false, fmt.Sprintf("%s has table %d, %s has %d", nodes[0].cfg.Name, v, tn.cfg.Name, tv)
			}
		}
		return true, ""
	})
	return v, owners
}

// claimers are the nodes' claim loops, as loops to wait on.
func claimers(nodes []*testNode) []loop {
	var out []loop
	for _, tn := range nodes {
		out = append(out, loop{tn.cfg.Name + " claim", func() uint64 { return uint64(testutil.ToFloat64(tn.node.metrics.claimRounds)) }})
	}
	return out
}

// leavePolls is tn's leave loop, counting its checks that found a
// partition not yet handed off, as a loop to wait on. Once tn has handed
// off every partition, or left, the count stops: it fails the test with
// msg instead.
func leavePolls(t *testing.T, tn *testNode, msg string) loop {
	return loop{tn.cfg.Name + " leave", func() uint64 {
		t.Helper()
		select {
		case <-tn.done:
			tn.done = nil
			t.Fatal(msg)
		default:
		}
		if held, handed := leaveProgress(tn); held != nil && len(handed) == len(held) {
			t.Fatalf("%s (%s handed off all %d partitions)", msg, tn.cfg.Name, len(held))
		}
		return tn.node.leaving.polls.Load()
	}}
}

// leaveProgress returns the partitions tn held when its leave began (nil
// before it has measured them) and those of them it has handed off.
func leaveProgress(tn *testNode) (held []uint32, handed []uint32) {
	l := tn.node.leaving
	l.mu.Lock()
	defer l.mu.Unlock()
	for p := range l.Parts {
		held = append(held, p)
		if l.HandedOff[p] {
			handed = append(handed, p)
		}
	}
	if l.Parts == nil {
		return nil, nil
	}
	return held, handed
}

// TestClaimMovesWhatThePlanSays grows a loaded 4-node cluster to 5 through
// the HTTP API and then removes its claimant (n1, killed):
//   - every node adopts the same owner table, one version per change;
//   - the join moves only the new node's share of ownership (floor(Q/5)),
//     where the history-free placement would move more;
//   - GET /cluster/plan predicted exactly the partitions the new node got;
//   - with n1 dead, n2 takes over as claimant and places n1's partitions,
//     moving only those.
func TestClaimMovesWhatThePlanSays(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, inMemory: true})
	cold := loadCold(t, nodes[0], 200)
	v0, before := sameOwnership(t, nodes)
	q := len(before)

	r := nodes[2].do("GET", "/cluster/plan?join=n5", nil, nil)
	if r.status != 200 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	var plan api.Plan
	if err := json.Unmarshal(r.body, &plan); err != nil {
		t.Fatal(err)
	}
	var predicted []int
	for _, nd := range plan.Nodes {
		if nd.Node == "n5" {
			predicted = nd.Gain
		}
	}

	cfg := testConfig(t, "n5", true)
	cfg.Join = []string{nodes[3].cfg.GossipAddr}
	nodes = append(nodes, startNode(t, cfg))
	waitMembers(t, nodes, 5)
	v1, after := sameOwnership(t, nodes)
	if v1 != v0+1 {
		t.Errorf("table version %d after one join, want %d", v1, v0+1)
	}
	moved := 0
	for p := range after {
		if after[p] != before[p] {
			moved++
			if after[p] != "n5" {
				t.Errorf("partition %d moved from %s to %s, not to the new node", p, before[p], after[p])
			}
		}
	}
	if moved != q/5 {
		t.Errorf("the join moved %d partitions, want n5's share %d", moved, q/5)
	}
	got := nodes[0].node.Ring().PartitionsOf("n5")
	if !slices.Equal(got, predicted) {
		t.Errorf("n5 is a primary of %d partitions, the plan said %d:\n got  %v\n plan %v", len(got), len(predicted), got, predicted)
	}
	// The history-free placement of the same members, for comparison.
	var ms4, ms5 []ring.Member
	for i := range 5 {
		m := ring.Member{ID: ring.NodeID(fmt.Sprintf("n%d", i+1))}
		ms5 = append(ms5, m)
		if i < 4 {
			ms4 = append(ms4, m)
		}
	}
	free4, _ := ring.New(nodes[0].node.Ring().Config(), ms4)
	free5, _ := ring.New(nodes[0].node.Ring().Config(), ms5)
	freeMoved := 0
	for p := range q {
		if free4.Owner(p) != free5.Owner(p) {
			freeMoved++
		}
	}
	t.Logf("join of a 5th node: claimed ownership moved %d of %d partitions (history-free placement: %d)", moved, q, freeMoved)

	// Kill the claimant and remove it: n2 claims.
	nodes[0].stop()
	rest := nodes[1:]
	waitFor(t, "n1 down", 20*time.Second, func() (bool, string) {
		for _, m := range rest[0].members() {
			if m.Name == "n1" && !m.Alive {
				return true, ""
			}
		}
		return false, "n1 still alive"
	})
	if r := rest[0].do("POST", "/cluster/remove", []byte(`{"node":"n1"}`), nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	waitMembers(t, rest, 4)
	v2, final := sameOwnership(t, rest)
	c := rest[0].node.members.clusterSnapshot()
	if v2 != v1+1 || c.Table.Claimant != "n2" {
		t.Errorf("after the remove: table %d by %s, want %d by n2", v2, c.Table.Claimant, v1+1)
	}
	for p := range final {
		if after[p] != "n1" && final[p] != after[p] {
			t.Errorf("partition %d moved from %s to %s though its owner stayed", p, after[p], final[p])
		}
		if final[p] == "n1" {
			t.Errorf("partition %d still owned by the removed n1", p)
		}
	}
	// Every never-read key is on all its primaries of the final ring.
	checkCold(t, rest, cold)
}

// TestStaleCopiesDropped joins a 5th node to a loaded 4-node cluster: the
// nodes that lost partitions to it delete their copies once it is ready,
// so every key ends up on its primaries only, and nothing a primary lacks
// is dropped. A value planted on a node that is not its key's primary (a
// write only that node got) is pushed to the primaries, then dropped:
// every node that holds a copy confirms each tombstone before it is
// reaped (holders.go), so such a value can't be a delete the primaries
// forgot.
func TestStaleCopiesDropped(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, inMemory: true})
	cold := loadCold(t, nodes[0], 300)
	ctx := context.Background()

	// Plant "orphan" on a node that is not a primary of it, before and
	// after the join.
	nonPrimary := func(r *ring.Ring, key string) *testNode {
		prims := r.Primaries(r.Partition([]byte(key)))
		for _, tn := range nodes {
			if !slices.Contains(prims, ring.NodeID(tn.cfg.Name)) {
				return tn
			}
		}
		return nil
	}
	var src vclock.State
	for _, tn := range nodes {
		st, err := tn.node.rep.readLocal(ctx, []byte(cold[0]))
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsZero() {
			src = st
		}
	}
	orphan := ""
	var holder *testNode
	for i := 0; orphan == ""; i++ {
		k := fmt.Sprintf("orphan%d", i)
		r := nodes[0].node.Ring()
		if tn := nonPrimary(r, k); tn != nil {
			orphan, holder = k, tn
		}
	}
	if _, err := holder.node.rep.applyLocal(ctx, []byte(orphan), src); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(t, "n5", true)
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	nodes = append(nodes, startNode(t, cfg))
	waitMembers(t, nodes, 5)
	rg := nodes[0].node.Ring()
	byName := map[string]*testNode{}
	for _, tn := range nodes {
		byName[tn.cfg.Name] = tn
	}
	waitFor(t, "stale copies deleted", 40*time.Second, func() (bool, string) {
		for _, k := range cold {
			prims := rg.Primaries(rg.Partition([]byte(k)))
			for _, tn := range nodes {
				vs := tn.replica(k).values()
				switch primary := slices.Contains(prims, ring.NodeID(tn.cfg.Name)); {
				case primary && !slices.Equal(vs, []string{"c"}):
					t.Fatalf("%s, a primary of %s, holds %v", tn.cfg.Name, k, vs)
				case !primary && len(vs) > 0:
					return false, fmt.Sprintf("%s still holds %s, which it is no primary of", tn.cfg.Name, k)
				}
			}
		}
		return true, ""
	})
	var dropped, pushed int64
	for _, tn := range nodes {
		tr := tn.transfers()
		dropped += tr.Totals.StaleDropped
		pushed += tr.Totals.StalePushed
	}
	if dropped == 0 {
		t.Error("no node reports deleted stale keys")
	}
	// The orphan, a write only a non-primary holds, reaches every primary
	// and leaves the node that held it (unless the join made it a primary).
	prims := rg.Primaries(rg.Partition([]byte(orphan)))
	waitFor(t, orphan+" pushed to its primaries", 40*time.Second, func() (bool, string) {
		for _, id := range prims {
			if vs := byName[string(id)].replica(orphan).values(); !slices.Equal(vs, []string{"c"}) {
				return false, fmt.Sprintf("%s, a primary of %s, holds %v", id, orphan, vs)
			}
		}
		if !slices.Contains(prims, ring.NodeID(holder.cfg.Name)) {
			if vs := holder.replica(orphan).values(); len(vs) != 0 {
				return false, fmt.Sprintf("%s still holds %s", holder.cfg.Name, orphan)
			}
		}
		return true, ""
	})
	if !slices.Contains(prims, ring.NodeID(holder.cfg.Name)) && holder.transfers().Totals.StalePushed == 0 && pushed == 0 {
		t.Errorf("%s's push of %s was not counted", holder.cfg.Name, orphan)
	}
}

// TestStagedChangesCommitTogether stages a leave (n4) and a join (n5) on a
// loaded cluster: nothing is placed until the commit (n5 owns nothing, n4
// keeps serving, the table does not change), GET /cluster/plan without a
// change shows both and predicts n5's partitions, and the commit places
// both in one claim, after which n4 hands off and exits.
func TestStagedChangesCommitTogether(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, inMemory: true})
	cold := loadCold(t, nodes[0], 200)
	v0, before := sameOwnership(t, nodes)

	r := nodes[1].do("POST", "/cluster/stage", nil, nil)
	var st stagingJSON
	if r.status != 200 || json.Unmarshal(r.body, &st) != nil || !st.Staged || st.Acknowledged != 3 {
		t.Fatalf("stage: %d %s", r.status, r.body)
	}
	if r := nodes[3].do("POST", "/cluster/leave", nil, nil); r.status != 202 {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	cfg := testConfig(t, "n5", true)
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	n5 := startNode(t, cfg)
	all := append(slices.Clone(nodes), n5)
	waitFor(t, "both changes made", 20*time.Second, func() (bool, string) {
		for _, tn := range all {
			if got := membership.PendingChanges(tn.node.members.clusterSnapshot()); len(got) != 2 {
				return false, fmt.Sprintf("%s sees pending %v", tn.cfg.Name, got)
			}
		}
		return true, ""
	})
	// Rounds of every node's claim loop and of n4's leave loop: a
	// claimant that ignored the hold would have claimed by now, and n4
	// would have left.
	waitRounds(t, 2, append(claimers(all), leavePolls(t, nodes[3], "n4 left before the commit"))...)
	if v, owners := nodes[0].ownership(); v != v0 || !slices.Equal(owners, before) {
		t.Fatalf("the table changed while staged: version %d, was %d", v, v0)
	}
	if got := n5.node.Ring().PartitionsOf("n5"); len(got) != 0 {
		t.Fatalf("staged n5 is a primary of %d partitions", len(got))
	}
	select {
	case <-nodes[3].done:
		t.Fatal("n4 left before the commit")
	default:
	}

	r = nodes[2].do("GET", "/cluster/plan", nil, nil)
	var plan api.Plan
	if r.status != 200 || json.Unmarshal(r.body, &plan) != nil {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	want := []planChange{{Op: "leave", Node: "n4"}, {Op: "join", Node: "n5"}}
	if !plan.Staged || plan.Change.Op != "pending" || !slices.Equal(plan.Pending, want) {
		t.Fatalf("plan: staged %v, change %+v, pending %+v", plan.Staged, plan.Change, plan.Pending)
	}
	var predicted []int
	for _, nd := range plan.Nodes {
		if nd.Node == "n5" {
			predicted = nd.Gain
		}
		if nd.Node == "n4" && nd.PartitionsAfter != 0 {
			t.Errorf("plan keeps %d partitions on n4", nd.PartitionsAfter)
		}
	}

	r = nodes[0].do("POST", "/cluster/commit", nil, nil)
	if r.status != 200 || json.Unmarshal(r.body, &st) != nil || st.Staged || !slices.Equal(st.Pending, want) {
		t.Fatalf("commit: %d %s", r.status, r.body)
	}
	select {
	case <-nodes[3].done:
		nodes[3].done = nil
	case <-time.After(60 * time.Second):
		t.Fatal("n4 did not finish leaving after the commit")
	}
	rest := []*testNode{nodes[0], nodes[1], nodes[2], n5}
	waitMembers(t, rest, 4)
	v1, _ := sameOwnership(t, rest)
	if v1 != v0+1 {
		t.Errorf("table version %d after the commit, want %d: both changes in one claim", v1, v0+1)
	}
	if got := rest[0].node.Ring().PartitionsOf("n5"); !slices.Equal(got, predicted) {
		t.Errorf("n5 holds %v, the plan said %v", got, predicted)
	}
	checkCold(t, rest, cold)
}

// A newer table with the same members but other owners (what a tie
// between concurrent claims resolves to) replaces the ring.
func TestAdoptTableWithSameMembers(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 2, inMemory: true})
	v, _ := sameOwnership(t, nodes)
	c := nodes[0].node.members.clusterSnapshot()
	next := *c.Table
	next.Version, next.Claimant, next.Prev = v+1, "n2", nil
	next.Owners = slices.Clone(c.Table.Owners)
	for p := range next.Owners {
		next.Owners[p] = 1 - next.Owners[p] // swap n1 and n2 everywhere
	}
	if !nodes[0].node.members.mergeState(membership.State{Table: &next}) {
		t.Fatal("a newer table was not merged")
	}
	got := nodes[0].node.Ring().Owners()
	for p, o := range next.Owners {
		if string(got[p]) != next.Members[o].Name {
			t.Fatalf("partition %d: ring owner %s, adopted table says %s", p, got[p], next.Members[o].Name)
		}
	}
}

// pushHeld, a leaving node's last step, brings the partition's current
// primaries up to date with the node's copy: a write only it holds (one
// that reached it after a new owner's pull passed the key) reaches them.
// The timing itself can't be arranged from outside, so the test plants the
// write and runs the step directly.
func TestPushHeldReachesPrimaries(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, inMemory: true})
	ctx := context.Background()
	if r := nodes[0].put("seed", "c", "", "w=3"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	st, err := nodes[0].node.rep.readLocal(ctx, []byte("seed"))
	if err != nil || st.IsZero() {
		t.Fatalf("read seed: %v", err)
	}
	if _, err := nodes[0].node.rep.applyLocal(ctx, []byte("late"), st); err != nil {
		t.Fatal(err)
	}
	for _, tn := range nodes[1:] {
		if vs := tn.replica("late").values(); len(vs) != 0 {
			t.Fatalf("%s holds the planted key before the push: %v", tn.cfg.Name, vs)
		}
	}
	rg := nodes[0].node.Ring()
	nodes[0].node.leaving.pushHeld(ctx, []int{rg.Partition([]byte("late"))})
	for _, tn := range nodes[1:] {
		if vs := tn.replica("late").values(); !slices.Equal(vs, []string{"c"}) {
			t.Errorf("%s holds %v after the push, want [c]", tn.cfg.Name, vs)
		}
	}
}
