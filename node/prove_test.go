package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/storage"
)

// dataKeys counts the data keys in tn's store (any partition).
func dataKeys(t *testing.T, tn *testNode) int {
	t.Helper()
	n := 0
	err := tn.node.store.Scan(context.Background(), []byte{storage.PrefixData}, []byte{storage.PrefixData + 1}, func(k, v []byte) error {
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUnprovedGossipMemberRefused: with internode mutual TLS, an agent
// that reaches a member's gossip port without a node certificate of the
// cluster CA (x1: no internode TLS at all; x2: a certificate of its own
// CA, naming itself) is not a member: its record is never merged, no
// table places it, it gets no data, and each failed proof is counted. A
// node with the cluster's certificate (n4) joins the same way and is
// proved. Without prove.go, x1 and x2 became members from gossip alone
// (issue 13: an agent without the cluster's certificate cannot join).
func TestUnprovedGossipMemberRefused(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	nodes := startCluster(t, clusterOpts{n: 3, inMemory: true, mutate: func(_ int, c *Config) { pki.secure(c) }})
	for i := range 20 {
		if r := nodes[0].put(fmt.Sprintf("k%d", i), "v", ""); r.status >= 300 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	n1 := nodes[0].node
	proofs := func() uint64 { return n1.members.proofs.ended.Load() }
	before := proofs()

	plain := testConfig(t, "x1", true)
	plain.Join = []string{nodes[0].cfg.GossipAddr}
	rogue := newTestPKI(t, "rogue")
	foreign := testConfig(t, "x2", true)
	foreign.Join = []string{nodes[0].cfg.GossipAddr}
	rogue.secure(&foreign)
	xs := []*testNode{startNode(t, plain), startNode(t, foreign)}

	// Each stranger's name was tried, and tried again after proveRetry
	// (gossip brings its record again): at least 4 proofs ended on n1.
	waitFor(t, "4 proofs ended on n1", 30*time.Second, func() (bool, string) {
		return proofs()-before >= 4, fmt.Sprintf("%d proofs ended", proofs()-before)
	})
	if got := testutil.ToFloat64(n1.metrics.membersUnproved); got < 2 {
		t.Errorf("dynago_members_unproved_total = %v, want at least one per stranger", got)
	}
	for _, tn := range nodes {
		var names []string
		for _, m := range tn.members() {
			names = append(names, m.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"n1", "n2", "n3"}) {
			t.Errorf("%s lists members %v, want n1..n3 only", tn.cfg.Name, names)
		}
		c := tn.node.members.clusterSnapshot()
		for _, x := range []string{"x1", "x2"} {
			if _, ok := c.Members[x]; ok {
				t.Errorf("%s holds a record of %s", tn.cfg.Name, x)
			}
			if c.Table != nil && slices.ContainsFunc(c.Table.Members, func(m membership.TableMember) bool { return m.Name == x }) {
				t.Errorf("%s's table places %s", tn.cfg.Name, x)
			}
		}
	}
	for _, x := range xs {
		if n := dataKeys(t, x); n != 0 {
			t.Errorf("%s holds %d data keys, want none", x.cfg.Name, n)
		}
	}

	// The positive control: a node with the cluster's certificate joins by
	// the same gossip and is proved, placed and given its partitions.
	good := testConfig(t, "n4", true)
	good.Join = []string{nodes[0].cfg.GossipAddr}
	pki.secure(&good)
	// The table before n4 joins: n1 claims a newer one placing n4 as soon
	// as it proves n4, which may be before n4's own startNode returns.
	before4 := n1.members.clusterSnapshot().Table.Version
	n4 := startNode(t, good)
	// Ready only once it proved a node it joined by: it starts with the
	// cluster's membership and table, as a node without TLS does.
	c4 := n4.node.members.clusterSnapshot()
	for _, name := range []string{"n1", "n2", "n3"} {
		if _, ok := c4.Members[name]; !ok {
			t.Errorf("n4 was ready without a record of %s", name)
		}
	}
	if c4.Table == nil || c4.Table.Version < before4 {
		t.Errorf("n4 was ready with table %+v, want version %d (n1's when n4 started) or newer", c4.Table, before4)
	}
	nodes = append(nodes, n4)
	waitMembers(t, nodes, 4)
	if n := dataKeys(t, nodes[3]); n == 0 {
		t.Error("n4 was placed but holds no data keys")
	}
}

// TestGossipTableNotTrusted: with internode mutual TLS, a newer ownership
// table or staging hold that gossip brings is not adopted from gossip (a
// process that reaches the gossip port could forge one): the node pulls
// the membership from a member over mutual TLS instead, and keeps what
// the members say. Without the TLS rule the forged table wins at once.
func TestGossipTableNotTrusted(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	nodes := startCluster(t, clusterOpts{n: 2, inMemory: true, mutate: func(_ int, c *Config) { pki.secure(c) }})
	n1 := nodes[0].node
	real := n1.members.clusterSnapshot()
	forged := *real.Table
	forged.Version += 1000 // would win every merge from now on
	forged.Claimant = "n2"
	hold := &membership.Hold{Version: 1000, On: true}
	before := n1.members.proofs.ended.Load()
	n1.members.mergeGossip(membership.State{Table: &forged, Hold: hold})
	// The pull it asked for ended (n2 answered with the real membership).
	waitFor(t, "n1's pull from n2", 10*time.Second, func() (bool, string) {
		return n1.members.proofs.ended.Load() > before, "no proof or pull ended"
	})
	after := n1.members.clusterSnapshot()
	if after.Table.Version != real.Table.Version {
		t.Errorf("n1 adopted a table from gossip: version %d, want %d", after.Table.Version, real.Table.Version)
	}
	if after.Staged() {
		t.Error("n1 adopted a staging hold from gossip")
	}
}
