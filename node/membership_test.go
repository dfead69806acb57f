package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
)

// Five nodes, N=3: every node takes every request; writes sent to a node
// that is not a replica are forwarded to one.
func TestFiveNodesForwarding(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 5})
	rg := nodes[0].node.Ring()
	forwarded := 0
	for i := range 40 {
		key := fmt.Sprintf("key-%d", i)
		via := nodes[i%5]
		isReplica := false
		for _, id := range rg.Primaries(rg.Partition([]byte(key))) {
			isReplica = isReplica || string(id) == via.cfg.Name
		}
		resp := via.put(key, "v"+key, "", "w=3")
		if resp.status != 204 {
			t.Fatalf("put %s via %s: %d %s", key, via.cfg.Name, resp.status, resp.body)
		}
		coord := strings.TrimPrefix(resp.header.Get(headerReport)[strings.Index(resp.header.Get(headerReport), "coordinator="):], "coordinator=")
		if !isReplica {
			forwarded++
			if coord == via.cfg.Name {
				t.Fatalf("%s is no replica of %s but coordinated it", via.cfg.Name, key)
			}
		}
		if got := nodes[(i+2)%5].get(key, "r=3"); got.status != 200 || string(got.body) != "v"+key {
			t.Fatalf("get %s: %d %q", key, got.status, got.body)
		}
		// Exactly the N primaries store it.
		holders := 0
		for _, tn := range nodes {
			if len(tn.replica(key).values()) > 0 {
				holders++
			}
		}
		if holders != 3 {
			t.Fatalf("%s stored on %d nodes, want 3", key, holders)
		}
	}
	if forwarded == 0 {
		t.Fatal("no write was forwarded; the test proves nothing")
	}
}

// A node started alone and then joined enters the ring and takes its share;
// reads of existing keys stay correct while it is empty (read repair).
func TestJoinThenLeave(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	for i := range 30 {
		nodes[0].put(fmt.Sprintf("pre-%d", i), "v", "", "w=3")
	}
	solo := startNode(t, testConfig(t, "n4", false))
	if ms := solo.members(); len(ms) != 1 {
		t.Fatalf("a node started alone is a cluster of one, got %v", ms)
	}
	resp := solo.do("POST", "/cluster/join", []byte(fmt.Sprintf(`{"seeds":["%s"]}`, nodes[1].cfg.GossipAddr)), nil)
	if resp.status != 200 {
		t.Fatalf("join: %d %s", resp.status, resp.body)
	}
	all := append(nodes[:3:3], solo)
	waitMembers(t, all, 4)
	waitFor(t, "n4 owns partitions everywhere", 10*time.Second, func() (bool, string) {
		for _, tn := range all {
			if n := len(tn.node.Ring().PartitionsOf("n4")); n == 0 {
				return false, tn.cfg.Name + " gives n4 no partitions"
			}
		}
		return true, ""
	})
	for i := range 30 {
		key := fmt.Sprintf("pre-%d", i)
		if r := solo.get(key, "r=2"); r.status != 200 {
			t.Fatalf("existing key %s after join: %d", key, r.status)
		}
	}

	// Leave: the node leaves the ring and stops.
	if r := solo.do("POST", "/cluster/leave", nil, nil); r.status != 202 {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	select {
	case err := <-solo.done:
		if err != nil {
			t.Fatalf("left node's Run: %v", err)
		}
		solo.done = nil
	case <-time.After(15 * time.Second):
		t.Fatal("the node did not exit after leaving")
	}
	waitMembers(t, nodes, 3)
	for _, tn := range nodes {
		if n := len(tn.node.Ring().PartitionsOf("n4")); n != 0 {
			t.Fatalf("%s still gives the left node %d partitions", tn.cfg.Name, n)
		}
	}
	for i := range 30 {
		if r := nodes[i%3].get(fmt.Sprintf("pre-%d", i), "r=2"); r.status != 200 {
			t.Fatalf("after leave: %d", r.status)
		}
	}
}

// A node with a different partition count or N is refused at join with a
// clear error.
func TestJoinRefusesMismatchedRing(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 2})
	odd := testConfig(t, "odd", true)
	odd.Ring.Partitions = 64
	solo := startNode(t, odd)
	resp := solo.do("POST", "/cluster/join", []byte(fmt.Sprintf(`{"seeds":["%s"]}`, nodes[0].cfg.GossipAddr)), nil)
	if resp.status != 409 || resp.json(t)["code"] != "cluster_mismatch" || !strings.Contains(string(resp.body), "partitions") {
		t.Fatalf("want 409 cluster_mismatch naming partitions, got %d %s", resp.status, resp.body)
	}
	// And at start with --join.
	odd2 := testConfig(t, "odd2", true)
	odd2.Ring.N = 2
	odd2.Join = []string{nodes[0].cfg.GossipAddr}
	n, err := New(odd2, openTestStore(t, odd2), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "n=2") {
		t.Fatalf("start with mismatched n: %v", err)
	}
	if ms := nodes[0].members(); len(ms) != 2 {
		t.Fatalf("mismatched nodes got in: %v", ms)
	}
}

// remove takes a dead node out of the ring everywhere.
func TestRemoveDeadNode(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4})
	nodes[3].stop()
	waitFor(t, "n4 down", 10*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n4"), "" })
	resp := nodes[0].do("POST", "/cluster/remove", []byte(`{"node":"n4"}`), nil)
	if resp.status != 200 {
		t.Fatalf("remove: %d %s", resp.status, resp.body)
	}
	waitFor(t, "n4 out of every ring", 10*time.Second, func() (bool, string) {
		for _, tn := range nodes[:3] {
			if tn.node.Ring().Len() != 3 {
				return false, tn.cfg.Name
			}
		}
		return true, ""
	})
	if resp := nodes[1].put("after-remove", "v", "", "w=3"); resp.status != 204 {
		t.Fatalf("w=3 on the 3 remaining nodes: %d %s", resp.status, resp.body)
	}
}

// A restarted node comes back with its data and its place in the ring,
// without --join, and acknowledged writes survive.
func TestRestartKeepsDataAndMembership(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) { c.test.sync = true }})
	for i := range 20 {
		if r := nodes[i%3].put(fmt.Sprintf("d%d", i), "v", "", "w=3"); r.status != 204 {
			t.Fatal(r.status)
		}
	}
	epoch := nodes[0].node.inc.Load().Epoch
	n1 := nodes[0].restart()
	waitMembers(t, []*testNode{n1, nodes[1], nodes[2]}, 3)
	if n1.node.inc.Load().Epoch != epoch {
		t.Fatalf("a clean restart kept its data, so it keeps its epoch: %v -> %v", epoch, n1.node.inc.Load().Epoch)
	}
	// An unclean stop (no clean-shutdown mark, as after SIGKILL) takes a
	// fresh epoch: a write may have been seen by others before its sync.
	epoch = n1.node.inc.Load().Epoch
	n1.stop()
	st, err := badger.Open(badger.Options{Dir: n1.cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(t.Context(), metaClean, func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	n1 = n1.restart()
	if n1.node.inc.Load().Epoch == epoch {
		t.Fatal("a node restarted after an unclean stop kept its epoch")
	}
	waitMembers(t, []*testNode{n1, nodes[1], nodes[2]}, 3)
	for i := range 20 {
		if got := n1.replica(fmt.Sprintf("d%d", i)).values(); len(got) != 1 {
			t.Fatalf("d%d lost on restart: %v", i, got)
		}
	}
}

// A node whose data dir is lost takes a fresh epoch (kv679), so a write it
// coordinates after the loss can't reuse a counter and silently replace a
// newer value elsewhere.
func TestAmnesiaTakesFreshEpoch(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	ctx := ""
	for i := range 3 {
		r := nodes[0].put("amnesia", fmt.Sprint("v", i), ctx, "w=3")
		ctx = r.header.Get(headerContext)
	}
	old := nodes[0].node.inc.Load().Epoch
	nodes[0].stop()
	cfg := nodes[0].cfg
	cfg.DataDir = t.TempDir() // the disk is gone
	cfg.Join = []string{nodes[1].cfg.GossipAddr}
	n1 := startNode(t, cfg)
	if n1.node.inc.Load().Epoch == old {
		t.Fatal("a node with a new data dir reused its epoch")
	}
	waitMembers(t, []*testNode{n1, nodes[1], nodes[2]}, 3)
	// A blind write through the amnesiac coordinator must not supersede v2.
	n1.put("amnesia", "after-loss", "", "w=1")
	_, kv := nodes[1].getJSON("amnesia", "r=3")
	vals := strings.Join(siblingValues(kv), ",")
	if !strings.Contains(vals, "v2") || !strings.Contains(vals, "after-loss") {
		t.Fatalf("want v2 and after-loss as siblings, got %s", vals)
	}
}
