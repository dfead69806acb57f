package node

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

// TestStrictQuorumAcrossTableChange is issue 10's suspicion about strict
// quorum during a membership change: a node that missed the claimant's
// push (n4, with the drop_tables fault) coordinates strict writes on the
// old placement while the others read on the new one, after a join. Every
// strict write it acknowledges (R+W>N, sloppy=false) must be visible to a
// strict read through another node. Before, replicas applied writes of
// any placement, and acknowledged writes were missed.
func TestStrictQuorumAcrossTableChange(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, inMemory: true, mutate: func(i int, c *Config) {
		c.TestFaults = i == 3
		c.ReadRepair = ReadRepairOff // a repair would hide what the write missed
	}})
	stale := nodes[3]
	if r := stale.do("POST", "/debug/faults", []byte(`{"drop_tables": true}`), nil); r.status != 200 {
		t.Fatalf("fault: %d %s", r.status, r.body)
	}
	v0, _ := stale.ownership()
	cfg := testConfig(t, "n5", true)
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	cfg.ReadRepair = ReadRepairOff
	n5 := startNode(t, cfg)
	fresh := []*testNode{nodes[0], nodes[1], nodes[2], n5}
	waitFor(t, "a new table on every node but n4, and n5 ready", 30*time.Second, func() (bool, string) {
		for _, tn := range fresh {
			if v, _ := tn.ownership(); v == v0 {
				return false, tn.cfg.Name + " still on the old table"
			}
		}
		if st := n5.transfers(); st.Pending != 0 || st.Status != "valid" {
			return false, fmt.Sprintf("n5 %s with %d to pull", st.Status, st.Pending)
		}
		return true, ""
	})
	// n4 ignores pushes and gossip; it learns the new table only when a
	// peer refuses one of its calls for it (or never, before the fix).
	if v, _ := stale.ownership(); v != v0 {
		t.Logf("n4 already adopted table %d through a refused call", v)
	}
	acked, missed := 0, 0
	var examples []string
	for i := range 300 {
		k := fmt.Sprintf("strict%03d", i)
		r := stale.put(k, "v-"+k, "", "w=2", "sloppy=false")
		if r.status != 204 {
			continue
		}
		acked++
		got := nodes[i%3].get(k, "r=2", "sloppy=false")
		if got.status != 200 || !bytes.Equal(got.body, []byte("v-"+k)) {
			missed++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%s read %d %q", k, got.status, got.body))
			}
		}
	}
	t.Logf("%d strict writes acknowledged through n4, %d missed by strict reads", acked, missed)
	if missed > 0 {
		t.Fatalf("%d of %d acknowledged strict writes were invisible to strict reads (R+W>N), e.g. %v", missed, acked, examples)
	}
	if acked == 0 {
		t.Fatal("no strict write through n4 was acknowledged")
	}
}

// TestViewNeverGoesBack: a rebuild from an older snapshot (a goroutine
// that lost a race with a newer one) never replaces a newer table.
func TestViewNeverGoesBack(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 2, inMemory: true})
	n := nodes[0].node
	c := n.members.clusterSnapshot()
	old := c
	newer := *c.Table
	newer.Version++
	c.Table = &newer
	if _, err := n.members.publishView(c, false); err != nil {
		t.Fatal(err)
	}
	if got := n.members.currentView().id.Version; got != newer.Version {
		t.Fatalf("view %d after publishing %d", got, newer.Version)
	}
	if _, err := n.members.publishView(old, false); err != nil {
		t.Fatal(err)
	}
	if got := n.members.currentView().id.Version; got != newer.Version {
		t.Fatalf("an older snapshot replaced the view: %d, want %d", got, newer.Version)
	}
}

// TestBackToBackChangesKeepSources is issue 10's suspicion about
// back-to-back changes: a table names only the one before it (Prev), so a
// change claimed while the previous one's pulls are unfinished dropped the
// older owners from the sources. Here the only copy of a write (a W=1
// write that reached one node, planted) is on an old owner that is down
// while n5 joins and then n6 joins before n5 finished pulling; n5 must not
// call the partition complete without that owner's copy.
func TestBackToBackChangesKeepSources(t *testing.T) {
	mutate := func(c *Config) {
		c.ReadRepair = ReadRepairOff
		c.AAE.Disabled = true
		// The reclaimer would push the old owner's copy after 3 request
		// timeouts; keep it out of the way.
		c.RequestTimeout, c.MaxRequestTimeout = 20*time.Second, 20*time.Second
	}
	nodes := startCluster(t, clusterOpts{n: 4, mutate: func(_ int, c *Config) { mutate(c) }})
	loadCold(t, nodes[0], 50)
	before := nodes[0].node.Ring()
	// The node (not the claimant) that loses most partitions to n5, and a
	// write that only it holds in each of them.
	var old *testNode
	var lost []int
	for name, l := range planLoses(t, nodes[0], "n5") {
		if name != "n1" && name != "n5" && (len(l) > len(lost) || len(l) == len(lost) && old != nil && name < old.cfg.Name) {
			old, lost = nodes[int(name[1]-'1')], l
		}
	}
	var planted []string
	for i := 0; len(planted) < 40 && i < 100000; i++ {
		k := fmt.Sprintf("only%d", i)
		if !slices.Contains(lost, before.Partition([]byte(k))) {
			continue
		}
		st, _, err := vclock.State{}.Write(vclock.Actor{Node: "w1", Epoch: 1}, vclock.VV{}, []byte("only-here"), false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.node.rep.applyLocal(t.Context(), []byte(k), st); err != nil {
			t.Fatal(err)
		}
		planted = append(planted, k)
	}
	old.stop()
	waitFor(t, old.cfg.Name+" seen down", 20*time.Second, func() (bool, string) {
		for _, tn := range nodes {
			if tn != old && tn.node.peers.Alive(old.cfg.Name) {
				return false, tn.cfg.Name
			}
		}
		return true, ""
	})
	join := func(name string) *testNode {
		cfg := testConfig(t, name, true)
		cfg.Join = []string{nodes[0].cfg.GossipAddr}
		mutate(&cfg)
		return startNode(t, cfg)
	}
	n5 := join("n5")
	var v1 *ring.Ring
	waitFor(t, "n5 placed", 20*time.Second, func() (bool, string) {
		v1 = nodes[0].node.Ring()
		_, in := v1.Member("n5")
		return in, ""
	})
	join("n6")
	waitFor(t, "n6 placed, on n5 too", 20*time.Second, func() (bool, string) {
		_, in := nodes[0].node.Ring().Member("n6")
		_, in5 := n5.node.Ring().Member("n6")
		return in && in5, ""
	})
	// A planted key whose partition n5 got in the first change and kept
	// in the second, and that the old owner is in neither.
	rg := nodes[0].node.Ring()
	key, p := "", -1
	for _, k := range planted {
		q := rg.Partition([]byte(k))
		if slices.Contains(v1.Primaries(q), "n5") && slices.Contains(rg.Primaries(q), "n5") &&
			!slices.Contains(v1.Primaries(q), ring.NodeID(old.cfg.Name)) && !slices.Contains(rg.Primaries(q), ring.NodeID(old.cfg.Name)) {
			key, p = k, q
			break
		}
	}
	if key == "" {
		t.Fatalf("no planted key kept by n5 through both changes; planted %d", len(planted))
	}
	// n5 may not be ready for p without the old owner's copy. Wait until
	// its pull of p is either done or waiting only for the down node.
	waitFor(t, "n5's pull of the partition to finish or wait for the old owner", 30*time.Second, func() (bool, string) {
		if n5.node.rep.partReady(p) {
			return true, ""
		}
		n5.node.xfer.mu.Lock()
		defer n5.node.xfer.mu.Unlock()
		job := n5.node.xfer.jobs[uint32(p)]
		if job == nil || job.State != "waiting" {
			return false, fmt.Sprint(job)
		}
		for _, src := range job.Sources {
			if src != old.cfg.Name && !slices.Contains(job.Done, src) {
				return false, fmt.Sprint(job)
			}
		}
		return true, ""
	})
	if n5.node.rep.partReady(p) {
		if vs := n5.replica(key).values(); !slices.Equal(vs, []string{"only-here"}) {
			t.Fatalf("n5 is ready for partition %d without the only copy of %s, held by %s (down): holds %v", p, key, old.cfg.Name, vs)
		}
	}
	back := old.restart()
	waitFor(t, "n5 ready with the old owner's copy", 30*time.Second, func() (bool, string) {
		n5.node.xfer.mu.Lock()
		job := fmt.Sprint(n5.node.xfer.jobs[uint32(p)])
		n5.node.xfer.mu.Unlock()
		return n5.node.rep.partReady(p) && slices.Equal(n5.replica(key).values(), []string{"only-here"}),
			fmt.Sprintf("n5 holds %v, job %s, ready %v, %s has table %d, n5 has %d sources %v prims %v", n5.replica(key).values(), job, n5.node.rep.partReady(p), back.cfg.Name, back.node.members.currentView().id.Version,
				n5.node.members.currentView().id.Version, n5.node.members.clusterSnapshot().Table.Sources[p], n5.node.Ring().Primaries(p))
	})
}

// TestLosingTableWritesNotStranded is issue 10's suspicion about two
// claimants on two sides of a partition: n1, cut off, holds table A (all
// four members); the others, thinking n1 gone, adopt table B without it
// (same version, fewer members) and acknowledge strict writes under B. On
// heal A wins (more members). Every write acknowledged under B must reach
// its primaries under A: the B owners that are not A owners hold it as a
// stale copy and push it (holders.go), never strand it.
func TestLosingTableWritesNotStranded(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, mutate: func(_ int, c *Config) {
		c.TestFaults = true
		c.AAE.Disabled = true // only the reclaimer's push may move the writes
		c.ReadRepair = ReadRepairOff
	}})
	for _, tn := range nodes[1:] {
		tn.do("POST", "/debug/faults", []byte(`{"drop_tables": true}`), nil)
	}
	c := nodes[0].node.members.clusterSnapshot()
	cur, err := c.Table.Ring(c.RingConfig(), c.Members)
	if err != nil {
		t.Fatal(err)
	}
	tableA := membership.TableOf(cur, c.Table.Version+1, "n1", c.Table, nil)
	var rest []ring.Member
	for _, m := range cur.Members() {
		if m.ID != "n1" {
			rest = append(rest, m)
		}
	}
	without, err := cur.Claim(rest)
	if err != nil {
		t.Fatal(err)
	}
	tableB := membership.TableOf(without, c.Table.Version+1, "n2", c.Table, nil)
	if !tableA.Newer(tableB) {
		t.Fatal("setup: table A must win")
	}
	nodes[0].node.members.mergeState(membership.State{Table: tableA})
	nodes[0].stop()
	side := nodes[1:]
	for _, tn := range side {
		waitFor(t, tn.cfg.Name+" to see n1 down", 20*time.Second, func() (bool, string) { return !tn.node.peers.Alive("n1"), "" })
		tn.node.members.mergeState(membership.State{Table: tableB})
	}
	// Strict writes under B, for keys whose partition B moved off n1.
	acked := map[string]bool{}
	for i := 0; len(acked) < 30 && i < 5000; i++ {
		k := fmt.Sprintf("b%d", i)
		p := without.Partition([]byte(k))
		if !slices.Contains(cur.Primaries(p), "n1") {
			continue
		}
		if r := side[i%3].put(k, "under-b", "", "w=2", "sloppy=false"); r.status == 204 {
			acked[k] = true
		}
	}
	if len(acked) == 0 {
		t.Fatal("no write acknowledged under table B")
	}
	for _, tn := range side {
		tn.do("POST", "/debug/faults", []byte(`{"drop_tables": false}`), nil)
	}
	back := nodes[0].restart()
	all := append([]*testNode{back}, side...)
	// The tables converge (A wins over B; B's claimant may already have
	// claimed again with n1 back in, which then wins over A).
	waitFor(t, "one table everywhere", 30*time.Second, func() (bool, string) {
		for _, tn := range all[1:] {
			if a, b := all[0].node.members.currentView().id, tn.node.members.currentView().id; a != b {
				return false, fmt.Sprintf("%s has table %d, %s has %d", all[0].cfg.Name, a.Version, tn.cfg.Name, b.Version)
			}
		}
		return true, ""
	})
	final := all[0].node.Ring()
	byName := map[string]*testNode{}
	for _, tn := range all {
		byName[tn.cfg.Name] = tn
	}
	moved := 0
	for k := range acked {
		if !slices.Equal(final.Primaries(final.Partition([]byte(k))), without.Primaries(without.Partition([]byte(k)))) {
			moved++
		}
	}
	waitFor(t, "every write acknowledged under B on its final primaries", 60*time.Second, func() (bool, string) {
		for k := range acked {
			for _, id := range final.Primaries(final.Partition([]byte(k))) {
				if vs := byName[string(id)].replica(k).values(); !slices.Equal(vs, []string{"under-b"}) {
					return false, fmt.Sprintf("%s, a final primary of %s, holds %v", id, k, vs)
				}
			}
		}
		return true, ""
	})
	t.Logf("%d writes acknowledged under the losing table (%d of them on other primaries now) reached their final primaries", len(acked), moved)
}
