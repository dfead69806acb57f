package node

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
)

// movedAddrs gives cfg new addresses on another loopback IP (127.0.0.2),
// as a pod that restarts with a new IP.
func movedAddrs(t *testing.T, cfg *Config) {
	for _, a := range []*string{&cfg.HTTPAddr, &cfg.RPCAddr, &cfg.GossipAddr} {
		_, p, _ := net.SplitHostPort(freeAddr(t))
		*a = "127.0.0.2:" + p
	}
}

// mtlsCluster starts three nodes with internode mutual TLS (node
// certificates of one cluster CA) and their data on disk.
func mtlsCluster(t *testing.T) ([]*testNode, *testPKI) {
	pki := newTestPKI(t, "cluster")
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) {
		c.TLS.Internode, _ = pki.node(c.Name)
	}})
	waitMembers(t, nodes, 3)
	if r := nodes[0].put("k", "v", "", "w=3"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	return nodes, pki
}

// n3At reports the addresses tn's membership has for n3.
func n3At(tn *testNode) string {
	r := tn.node.members.clusterView().Members["n3"]
	return r.Gossip + " " + r.RPC + " " + r.HTTP
}

// With internode mutual TLS, a node that restarts at other addresses (a
// pod's new IP) with its data dir and certificate rejoins under its name:
// its certificate proves the name (rebind.go), every member moves n3 to
// the new addresses, and it serves its replicas. Fails without the
// rebind: its Run ends with ErrNameTaken.
func TestMovedNodeRejoinsWithCertificate(t *testing.T) {
	nodes, _ := mtlsCluster(t)
	cfg := nodes[2].cfg
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n3"), "" })

	movedAddrs(t, &cfg)
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	nodes[2] = startNode(t, cfg)
	want := nodes[2].cfg.GossipAddr + " " + nodes[2].cfg.RPCAddr + " " + nodes[2].cfg.HTTPAddr
	waitFor(t, "every member has n3 alive at its new addresses", 40*time.Second, func() (bool, string) {
		for _, tn := range nodes {
			if got := n3At(tn); got != want {
				return false, tn.cfg.Name + " has n3 at " + got
			}
			if tn != nodes[2] && !tn.node.peers.Alive("n3") {
				return false, tn.cfg.Name + " does not see n3 alive"
			}
		}
		return true, ""
	})
	if r := nodes[2].get("k", "r=3"); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("get via the moved n3: %d %s", r.status, r.body)
	}
	if r := nodes[0].put("k2", "v2", "", "w=3"); r.status != 204 {
		t.Fatalf("put at w=3 after the move: %d %s", r.status, r.body)
	}
}

// An impostor can't use the rebind: one without internode TLS (no
// certificate) is refused as before (its Run ends with ErrNameTaken), and
// one with a certificate for n3 from another CA proves nothing: members
// refuse it round after round and keep n3 at its old addresses, down.
func TestMovedImpostorRefused(t *testing.T) {
	nodes, _ := mtlsCluster(t)
	old := n3At(nodes[0])
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n3"), "" })
	unchanged := func(when string) {
		t.Helper()
		for _, tn := range nodes[:2] {
			if got := n3At(tn); got != old {
				t.Fatalf("%s: %s has n3 at %s, want %s", when, tn.cfg.Name, got, old)
			}
			if tn.node.peers.Alive("n3") {
				t.Fatalf("%s: %s sees n3 alive", when, tn.cfg.Name)
			}
		}
	}

	t.Run("no certificate", func(t *testing.T) {
		cfg := testConfig(t, "n3", false)
		movedAddrs(t, &cfg)
		cfg.Join = []string{nodes[0].cfg.GossipAddr}
		imp, err := New(cfg, openTestStore(t, cfg), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := imp.Run(ctx); !errors.Is(err, membership.ErrNameTaken) {
			t.Fatalf("the impostor's Run ended with %v, want ErrNameTaken", err)
		}
		unchanged("after the impostor without a certificate")
	})

	t.Run("another CA's certificate", func(t *testing.T) {
		cfg := testConfig(t, "n3", false)
		movedAddrs(t, &cfg)
		cfg.Join = []string{nodes[0].cfg.GossipAddr}
		cfg.TLS.Internode, _ = newTestPKI(t, "rogue").node("n3")
		before := nodes[0].node.gossip.NameRefusals() + nodes[1].node.gossip.NameRefusals()
		imp := startNode(t, cfg)
		// Refused at its join and again at later gossip or push/pull
		// rounds: wait for two refusals rather than for time.
		waitFor(t, "members to refuse the impostor twice", 40*time.Second, func() (bool, string) {
			return nodes[0].node.gossip.NameRefusals()+nodes[1].node.gossip.NameRefusals() >= before+2, ""
		})
		unchanged("while the impostor runs")
		if got := n3At(imp); got == old {
			t.Fatalf("the impostor adopted the cluster's n3 record %s", got)
		}
		imp.stop()
	})
}
