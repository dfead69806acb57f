package node

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// aaeCluster starts a 3-node cluster whose only repair mechanism is
// anti-entropy: no read repair, no hints, fast exchanges.
func aaeCluster(t *testing.T, mutate func(*Config)) []*testNode {
	t.Helper()
	return startCluster(t, clusterOpts{n: 3, mutate: func(_ int, c *Config) {
		c.ReadRepair = ReadRepairOff
		c.NoHintedHandoff = true
		c.AAE.Interval = 200 * time.Millisecond
		c.AAE.KeysPerSec = 100000
		c.AAE.BytesPerSec = 64 << 20
		if mutate != nil {
			mutate(c)
		}
	}})
}

// merkleRoots returns the node's root per held partition.
func (tn *testNode) merkleRoots() map[uint32]string {
	tn.t.Helper()
	r := tn.do("GET", "/debug/merkle", nil, nil)
	if r.status != 200 {
		tn.t.Fatalf("merkle: %d %s", r.status, r.body)
	}
	var body struct {
		Partitions []merkleJSON `json:"partitions"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		tn.t.Fatal(err)
	}
	out := map[uint32]string{}
	for _, p := range body.Partitions {
		if p.Held {
			out[uint32(p.Partition)] = p.Root
		}
	}
	return out
}

type aaeTotalsJSON struct {
	Exchanges        int64 `json:"exchanges"`
	Differences      int64 `json:"differences"`
	KeysRepaired     int64 `json:"keys_repaired"`
	BytesSent        int64 `json:"bytes_sent"`
	Tombstones       int64 `json:"tombstones"`
	TombstonesReaped int64 `json:"tombstones_reaped"`
	ReapRounds       int64 `json:"reap_rounds"`
}

func (tn *testNode) aaeTotals() aaeTotalsJSON {
	tn.t.Helper()
	r := tn.do("GET", "/debug/aae", nil, nil)
	if r.status != 200 {
		tn.t.Fatalf("aae: %d %s", r.status, r.body)
	}
	var body struct {
		Totals aaeTotalsJSON `json:"totals"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		tn.t.Fatal(err)
	}
	return body.Totals
}

// replicasAgree reports whether every node stores the same versions of
// every key and has the same Merkle roots.
func replicasAgree(nodes []*testNode, keys []string) (bool, string) {
	roots := nodes[0].merkleRoots()
	for _, tn := range nodes[1:] {
		if other := tn.merkleRoots(); !maps.Equal(roots, other) {
			return false, fmt.Sprintf("merkle roots of %s and %s differ", nodes[0].cfg.Name, tn.cfg.Name)
		}
	}
	for _, k := range keys {
		want := fmt.Sprint(nodes[0].replica(k).Versions)
		for _, tn := range nodes[1:] {
			if got := fmt.Sprint(tn.replica(k).Versions); got != want {
				return false, fmt.Sprintf("%s on %s: %s, on %s: %s", k, nodes[0].cfg.Name, want, tn.cfg.Name, got)
			}
		}
	}
	return true, ""
}

// TestAntiEntropyConvergesWithoutReads makes two replicas miss writes,
// overwrites and deletes (W=1 while they are down, no hints, no read
// repair) and checks that anti-entropy alone makes every replica identical,
// with no client read.
func TestAntiEntropyConvergesWithoutReads(t *testing.T) {
	nodes := aaeCluster(t, nil)
	keys, ctxs := putAll(t, nodes[0], "k%03d", 60, "v1-")
	nodes[1].stop()
	nodes[2].stop()
	waitFor(t, "n1 to see n2 and n3 down", 20*time.Second, func() (bool, string) {
		return !nodes[0].node.peers.Alive("n2") && !nodes[0].node.peers.Alive("n3"), "still alive"
	})
	for i, k := range keys {
		var r response
		switch i % 3 {
		case 0: // overwrite
			r = nodes[0].put(k, "v2-"+k, ctxs[k], "w=1")
		case 1: // delete
			r = nodes[0].del(k, ctxs[k], "w=1")
		default: // untouched
			continue
		}
		if r.status != 204 {
			t.Fatalf("write %s: %d %s", k, r.status, r.body)
		}
	}
	for i := range 60 { // new keys
		k := fmt.Sprintf("new%03d", i)
		keys = append(keys, k)
		if r := nodes[0].put(k, "v-"+k, "", "w=1"); r.status != 204 {
			t.Fatalf("put %s: %d %s", k, r.status, r.body)
		}
	}
	nodes[1] = nodes[1].restart()
	nodes[2] = nodes[2].restart()
	waitMembers(t, nodes, 3)
	waitFor(t, "replicas and Merkle roots to agree", 30*time.Second, func() (bool, string) {
		return replicasAgree(nodes, keys)
	})
	var repaired int64
	for _, tn := range nodes {
		repaired += tn.aaeTotals().KeysRepaired
		if rr := testutil.ToFloat64(tn.node.metrics.readRepairs); rr != 0 {
			t.Fatalf("%s did %v read repairs; this test makes no reads", tn.cfg.Name, rr)
		}
	}
	t.Logf("anti-entropy repaired %d keys", repaired)
	// 40 overwritten or deleted keys and 60 new ones, each repaired on two
	// replicas (one exchange can repair both sides of a pair).
	if repaired < 100 {
		t.Fatalf("anti-entropy repaired %d keys, want at least 100", repaired)
	}
	// Trees built from storage at startup equal the trees kept up to date
	// write by write.
	before := nodes[0].merkleRoots()
	nodes[0] = nodes[0].restart()
	if after := nodes[0].merkleRoots(); !maps.Equal(before, after) {
		t.Fatalf("roots after restart differ from the incrementally kept ones")
	}
	for i, k := range keys[:60] {
		rep := nodes[2].replica(k)
		switch i % 3 {
		case 0:
			if vs := rep.values(); !slices.Equal(vs, []string{"v2-" + k}) {
				t.Fatalf("%s on n3 holds %v, want the overwrite", k, vs)
			}
		case 1:
			if vs := rep.values(); len(vs) != 0 || len(rep.Versions) == 0 {
				t.Fatalf("%s on n3 holds %v, want a tombstone", k, rep.Versions)
			}
		}
	}
}

// TestTombstonesReapedOnlyWhenConfirmed deletes keys while one replica is
// down and holds their old values: the others must keep their tombstones
// (unconfirmed) however old, until the replica is back and anti-entropy
// gave it the tombstones; then every replica reaps and nothing comes back.
func TestTombstonesReapedOnlyWhenConfirmed(t *testing.T) {
	const grace = 300 * time.Millisecond
	nodes := aaeCluster(t, func(c *Config) { c.AAE.TombstoneGrace = grace })
	keys := writeThenDeleteWithOneDown(t, nodes)

	// Past the grace on n1's and n2's own clocks, and then rounds of
	// their reapers (with exchanges every 200 ms between them): n3 has
	// not confirmed, so nothing may be reaped.
	waitFor(t, "the tombstones on n1 and n2 to pass the grace", 20*time.Second, func() (bool, string) {
		for _, tn := range nodes[:2] {
			if ok, msg := tombstonesOlder(tn, keys, grace); !ok {
				return false, msg
			}
		}
		return true, ""
	})
	waitRounds(t, 3, reapers(nodes[:2])...)
	for _, tn := range nodes[:2] {
		if got := tn.aaeTotals().TombstonesReaped; got != 0 {
			t.Fatalf("%s reaped %d tombstones while n3, holding the old values, was down", tn.cfg.Name, got)
		}
		if rep := tn.replica(keys[0]); len(rep.Versions) == 0 {
			t.Fatalf("%s holds no tombstone for %s while n3 is down", tn.cfg.Name, keys[0])
		}
	}

	nodes[2] = nodes[2].restart()
	waitMembers(t, nodes, 3)
	// A liveness wait (exchanges must confirm, then reaper rounds run):
	// generous, since CI shares two cores with other test binaries.
	waitFor(t, "every replica to reap every tombstone", 60*time.Second, func() (bool, string) {
		for _, tn := range nodes {
			for _, k := range keys {
				if rep := tn.replica(k); len(rep.Versions) != 0 {
					return false, fmt.Sprintf("%s still holds %s: %v", tn.cfg.Name, k, rep.Versions)
				}
			}
		}
		return replicasAgree(nodes, keys)
	})
	for _, tn := range nodes {
		for _, k := range keys {
			if r := tn.get(k, "r=1"); r.status != 404 {
				t.Fatalf("deleted %s came back on %s: %d %s", k, tn.cfg.Name, r.status, r.body)
			}
		}
	}
}

// TestUnconfirmedReapingResurrects is the control: reaping on age alone
// (the unsafe test flag) lets the replica that missed the deletes bring the
// old values back, which the confirmation rule above prevents.
func TestUnconfirmedReapingResurrects(t *testing.T) {
	nodes := aaeCluster(t, func(c *Config) {
		c.AAE.TombstoneGrace = 100 * time.Millisecond
		c.AAE.ReapUnconfirmed = true
	})
	keys := writeThenDeleteWithOneDown(t, nodes)
	waitFor(t, "n1 and n2 to reap without confirmation", 10*time.Second, func() (bool, string) {
		for _, tn := range nodes[:2] {
			if got := tn.aaeTotals().TombstonesReaped; got < int64(len(keys)) {
				return false, fmt.Sprintf("%s reaped %d", tn.cfg.Name, got)
			}
		}
		return true, ""
	})
	nodes[2] = nodes[2].restart()
	waitMembers(t, nodes, 3)
	waitFor(t, "the old values to come back through anti-entropy", 30*time.Second, func() (bool, string) {
		rep := nodes[0].replica(keys[0])
		return slices.Equal(rep.values(), []string{"old-" + keys[0]}), fmt.Sprint(rep.Versions)
	})
}

// reapers are the nodes' tombstone reapers, as loops to wait on.
func reapers(nodes []*testNode) []loop {
	var out []loop
	for _, tn := range nodes {
		out = append(out, loop{tn.cfg.Name + " reaper", func() uint64 { return uint64(tn.node.aae.totals.reapRounds.Load()) }})
	}
	return out
}

// tombstonesOlder reports whether each tombstone of keys that tn stores
// was stored at least age ago on tn's own clock (the age the reaper
// reads). A key with no tombstone any more was reaped: the caller's
// assertions say whether it may have been.
func tombstonesOlder(tn *testNode, keys []string, age time.Duration) (bool, string) {
	rg := tn.node.Ring()
	for _, k := range keys {
		pt := tn.node.aae.parts[rg.Partition([]byte(k))]
		pt.mu.Lock()
		at, ok := pt.tombs[k]
		pt.mu.Unlock()
		if !ok {
			continue
		}
		if d := tn.node.clock.Steady().Sub(at); d < age {
			return false, fmt.Sprintf("%s's tombstone of %s is %v old", tn.cfg.Name, k, d)
		}
	}
	return true, ""
}

// waitExchanged waits until each node has finished, with each live peer,
// an exchange of every partition the two share that started after the
// call and did not fail: whatever anti-entropy would carry between them
// has been carried.
func waitExchanged(t *testing.T, nodes []*testNode) {
	t.Helper()
	since := map[string]time.Time{}
	for _, tn := range nodes {
		since[tn.cfg.Name] = tn.node.clock.Steady()
	}
	waitFor(t, "an exchange of every shared partition", 60*time.Second, func() (bool, string) {
		for _, tn := range nodes {
			for peer, parts := range tn.node.ae.sharedPartitions() {
				for _, p := range parts {
					pt := tn.node.aae.parts[p]
					pt.mu.Lock()
					rec, ok := pt.peers[peer]
					pt.mu.Unlock()
					if !ok || !rec.At.After(since[tn.cfg.Name]) || rec.Result == "error" {
						return false, fmt.Sprintf("%s has not exchanged partition %d with %s since (last: %+v)", tn.cfg.Name, p, peer, rec)
					}
				}
			}
		}
		return true, ""
	})
}

// writeThenDeleteWithOneDown writes keys to all three replicas, stops n3
// and deletes the keys at W=2 with the contexts read back.
func writeThenDeleteWithOneDown(t *testing.T, nodes []*testNode) []string {
	t.Helper()
	keys, ctxs := putAll(t, nodes[0], "d%02d", 20, "old-")
	nodes[2].stop()
	waitFor(t, "n1 and n2 to see n3 down", 20*time.Second, func() (bool, string) {
		return !nodes[0].node.peers.Alive("n3") && !nodes[1].node.peers.Alive("n3"), "still alive"
	})
	for _, k := range keys {
		if r := nodes[0].del(k, ctxs[k], "w=2"); r.status != 204 {
			t.Fatalf("delete %s: %d %s", k, r.status, r.body)
		}
	}
	return keys
}

func TestMerkleEndpoint(t *testing.T) {
	n := startNode(t, testConfig(t, "n1", true))
	for _, q := range []string{"x", "-1", "256", ""} {
		r := n.do("GET", "/debug/merkle?partition="+q, nil, nil)
		if r.status != 400 || r.json(t)["code"] != "bad_partition" {
			t.Fatalf("partition=%q: %d %s, want 400 bad_partition", q, r.status, r.body)
		}
	}
	empty := n.do("GET", "/debug/merkle?partition=5", nil, nil).json(t)
	if r := n.put("k", "v", "", "w=1"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	p := n.node.Ring().Partition([]byte("k"))
	got := n.do("GET", fmt.Sprintf("/debug/merkle?partition=%d", p), nil, nil).json(t)
	if got["node"] != "n1" || got["held"] != true || got["keys"] != 1.0 || got["root"] == empty["root"] {
		t.Fatalf("merkle of the written partition: %v (an empty one: %v)", got, empty)
	}
}

// TestTreeDriftIsRebuilt corrupts one node's tree in memory (as a bug or a
// bit flip would): the next exchange finds roots that differ with no key
// that differs, rebuilds the tree from storage, and the roots agree again.
func TestTreeDriftIsRebuilt(t *testing.T) {
	nodes := aaeCluster(t, nil)
	for i := range 20 {
		if r := nodes[0].put(fmt.Sprintf("k%d", i), "v", "", "w=3"); r.status != 204 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	p := nodes[1].node.Ring().Partition([]byte("k0"))
	pt := nodes[1].node.aae.parts[p]
	pt.mu.Lock()
	pt.tree.Update(12345, 0, 678) // an entry no key has
	pt.mu.Unlock()
	waitFor(t, "the drifted tree to be rebuilt", 20*time.Second, func() (bool, string) {
		drift := testutil.ToFloat64(nodes[1].node.metrics.aaeTreeDrift)
		if drift < 1 {
			return false, "no rebuild yet"
		}
		return replicasAgree(nodes, nil)
	})
}

// TestBackoffOnForegroundLatency sets a p99 target no request can meet: the
// node's anti-entropy rate factor must fall below 1 under client load.
func TestBackoffOnForegroundLatency(t *testing.T) {
	nodes := aaeCluster(t, func(c *Config) { c.AAE.P99Target = time.Nanosecond })
	waitFor(t, "the rate factor to drop under load", 20*time.Second, func() (bool, string) {
		for i := range 20 {
			nodes[0].put(fmt.Sprintf("k%d", i), "v", "")
		}
		r := nodes[0].do("GET", "/debug/aae", nil, nil).json(t)
		f, _ := r["rate_factor"].(float64)
		return f < 1, fmt.Sprintf("rate_factor %v", r["rate_factor"])
	})
}

// putAll writes count keys named by format through tn at W=3, each with
// valuePrefix+key, and returns the keys and the contexts the writes returned.
func putAll(t *testing.T, tn *testNode, format string, count int, valuePrefix string) ([]string, map[string]string) {
	t.Helper()
	var keys []string
	ctxs := map[string]string{}
	for i := range count {
		k := fmt.Sprintf(format, i)
		r := tn.put(k, valuePrefix+k, "", "w=3")
		if r.status != 204 {
			t.Fatalf("put %s: %d %s", k, r.status, r.body)
		}
		keys = append(keys, k)
		ctxs[k] = r.header.Get(headerContext)
	}
	return keys, ctxs
}
