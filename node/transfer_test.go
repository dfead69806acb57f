package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
)

type transfersJSON struct {
	Status  string `json:"status"`
	Pending int    `json:"partitions_pending"`
	Totals  struct {
		Keys         int64 `json:"keys"`
		Partitions   int64 `json:"partitions"`
		StaleDropped int64 `json:"stale_keys_dropped"`
		StalePushed  int64 `json:"stale_keys_pushed"`
	} `json:"totals"`
}

func (tn *testNode) transfers() transfersJSON {
	tn.t.Helper()
	r := tn.do("GET", "/debug/transfers", nil, nil)
	if r.status != 200 {
		tn.t.Fatalf("transfers: %d %s", r.status, r.body)
	}
	var out transfersJSON
	if err := json.Unmarshal(r.body, &out); err != nil {
		tn.t.Fatal(err)
	}
	return out
}

// TestJoinTransfersPartitions joins a 4th node to a loaded 3-node cluster
// while a writer (W=2) and readers (R=2 and R=1, through every node) run:
// the new node is joining until it has pulled its partitions, no read of an
// existing key returns 404 meanwhile (R=2 through any node, R=1 through the
// new one), every acknowledged write is readable
// afterwards, and the new node holds keys no client read (so they came by
// transfer, not read repair).
func TestJoinTransfersPartitions(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	const preload = 400
	for i := range preload {
		if r := nodes[i%3].put(fmt.Sprintf("pre%03d", i), fmt.Sprintf("v%d", i), "", "w=3"); r.status != 204 {
			t.Fatalf("preload: %d %s", r.status, r.body)
		}
	}
	// cold keys are never read by a client during the test.
	for i := range 200 {
		if r := nodes[0].put(fmt.Sprintf("cold%03d", i), "c", "", "w=3"); r.status != 204 {
			t.Fatalf("preload: %d %s", r.status, r.body)
		}
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]string{}
	var missing []string
	var reads atomic.Int64
	all := slices.Clone(nodes)
	var allMu sync.Mutex
	old := slices.Clone(nodes)
	wg.Go(func() { // writer
		for i := 0; !stop.Load(); i++ {
			k := fmt.Sprintf("w%04d", i)
			if r := old[i%3].put(k, "x"+k, "", "w=2"); r.status == 204 {
				mu.Lock()
				acked[k] = "x" + k
				mu.Unlock()
			}
		}
	})
	// Readers of existing keys: at R=2 through every node, and at R=1
	// through the new node, whose own replica must not count until its
	// transfer is done. (R=1 through an old node can legitimately miss
	// during the join: until gossip says n4 is alive there, a fallback
	// stands in for it and answers from its empty hint store.)
	var n4 *testNode
	n4set := make(chan struct{}) // closed once n4 is set
	for _, rq := range []string{"r=2", "r=1"} {
		wg.Go(func() {
			if rq == "r=1" {
				select {
				case <-n4set:
				case <-t.Context().Done():
					return
				}
			}
			for i := 0; !stop.Load(); i++ {
				allMu.Lock()
				tn := all[i%len(all)]
				if rq == "r=1" {
					tn = n4
				}
				allMu.Unlock()
				k := fmt.Sprintf("pre%03d", i%preload)
				r := tn.get(k, rq)
				reads.Add(1)
				if r.status == 404 {
					mu.Lock()
					missing = append(missing, fmt.Sprintf("%s via %s at %s", k, tn.cfg.Name, rq))
					mu.Unlock()
				}
			}
		})
	}

	cfg := testConfig(t, "n4", false)
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	cfg.TransferRate = 64 << 10 // slow enough that the transfer overlaps the load
	joined := startNode(t, cfg)
	allMu.Lock()
	n4 = joined
	all = append(all, n4)
	allMu.Unlock()
	close(n4set)
	if st := n4.transfers(); st.Status != "joining" {
		t.Fatalf("a node joining a loaded cluster reports status %q, want joining", st.Status)
	}
	nodes = append(nodes, n4)
	waitMembers(t, nodes, 4)
	// A little load after the join.
	mu.Lock()
	reads0, acked0 := reads.Load(), len(acked)
	mu.Unlock()
	waitFor(t, "reads and writes after the join", 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		r, w := reads.Load()-reads0, len(acked)-acked0
		return r >= 40 && w >= 10, fmt.Sprintf("%d reads and %d acked writes since", r, w)
	})
	stop.Store(true)
	wg.Wait()

	if len(missing) > 0 {
		t.Fatalf("%d of %d reads of existing keys returned 404 during the join, e.g. %v", len(missing), reads.Load(), missing[:min(5, len(missing))])
	}
	for k, v := range acked {
		_, kv := nodes[3].getJSON(k, "r=2")
		if !slices.Contains(siblingValues(kv), v) {
			t.Fatalf("acked write %s=%s not readable after the join: %v", k, v, siblingValues(kv))
		}
	}
	st := n4.transfers()
	if st.Pending != 0 || st.Totals.Keys == 0 || st.Totals.Partitions == 0 {
		t.Fatalf("n4 transfers after the join: %+v", st)
	}
	held := 0
	for i := range 200 {
		k := fmt.Sprintf("cold%03d", i)
		if !slices.Contains(n4.node.Ring().Primaries(n4.node.Ring().Partition([]byte(k))), "n4") {
			continue
		}
		held++
		if vs := n4.replica(k).values(); !slices.Equal(vs, []string{"c"}) {
			t.Fatalf("n4 is a primary of %s but holds %v after its transfer", k, vs)
		}
	}
	if held == 0 {
		t.Fatal("n4 is a primary of none of the cold keys; the test proves nothing")
	}
	t.Logf("join: %d reads, %d acked writes, n4 pulled %d keys in %d partitions, holds %d cold keys", reads.Load(), len(acked), st.Totals.Keys, st.Totals.Partitions, held)
}

// loadCold writes keys no client reads during a test, at W=3.
func loadCold(t *testing.T, tn *testNode, count int) []string {
	t.Helper()
	var keys []string
	for i := range count {
		k := fmt.Sprintf("cold%03d", i)
		if r := tn.put(k, "c", "", "w=3"); r.status != 204 {
			t.Fatalf("put %s: %d %s", k, r.status, r.body)
		}
		keys = append(keys, k)
	}
	return keys
}

// checkCold checks that every key is held by each of its primaries in the
// first node's ring, all of which must be among nodes.
func checkCold(t *testing.T, nodes []*testNode, keys []string) {
	t.Helper()
	rg := nodes[0].node.Ring()
	for _, k := range keys {
		for _, id := range rg.Primaries(rg.Partition([]byte(k))) {
			i := slices.IndexFunc(nodes, func(x *testNode) bool { return x.cfg.Name == string(id) })
			if i < 0 {
				t.Fatalf("%s, a primary of %s, is not among the nodes checked", id, k)
			}
			if vs := nodes[i].replica(k).values(); !slices.Equal(vs, []string{"c"}) {
				t.Fatalf("%s, a primary of %s, holds %v", id, k, vs)
			}
		}
	}
}

// TestLeaveHandsOffPartitions makes the 4th node of a loaded cluster leave
// under a writer and a reader: it exits only after the new owners pulled its
// partitions, no read of an existing key returns 404 meanwhile, and every
// acknowledged write and every (never read) preloaded key is on all three
// remaining replicas.
func TestLeaveHandsOffPartitions(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4})
	cold := loadCold(t, nodes[0], 200)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string]string{}
	var missing []string
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			k := fmt.Sprintf("w%04d", i)
			if r := nodes[i%3].put(k, "x"+k, "", "w=2"); r.status == 204 {
				mu.Lock()
				acked[k] = "x" + k
				mu.Unlock()
			}
		}
	})
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			mu.Lock()
			k := fmt.Sprintf("w%04d", i%max(1, len(acked)))
			_, known := acked[k]
			mu.Unlock()
			if !known {
				continue
			}
			if r := nodes[i%3].get(k, "r=2"); r.status == 404 {
				mu.Lock()
				missing = append(missing, k)
				mu.Unlock()
			}
		}
	})
	// Keys for the reader before the leave.
	waitFor(t, "acked writes before the leave", 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 20, fmt.Sprintf("%d acked", len(acked))
	})
	if r := nodes[3].do("POST", "/cluster/leave", nil, nil); r.status != 202 {
		t.Fatalf("leave: %d %s", r.status, r.body)
	}
	select {
	case err := <-nodes[3].done:
		if err != nil {
			t.Fatalf("the leaving node stopped with %v", err)
		}
		nodes[3].done = nil
	case <-time.After(60 * time.Second):
		t.Fatal("the leaving node did not finish its leave")
	}
	stop.Store(true)
	wg.Wait()
	rest := nodes[:3]
	waitMembers(t, rest, 3)
	if len(missing) > 0 {
		t.Fatalf("%d reads of acked keys returned 404 during the leave, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
	for k, v := range acked {
		_, kv := rest[0].getJSON(k, "r=2")
		if !slices.Contains(siblingValues(kv), v) {
			t.Fatalf("acked write %s=%s not readable after the leave: %v", k, v, siblingValues(kv))
		}
	}
	checkCold(t, rest, cold)
}

// TestRemoveRebuildsFromSurvivors kills a node of a loaded 4-node cluster
// and removes it: the partitions it held are rebuilt on their new owners
// from the surviving replicas.
func TestRemoveRebuildsFromSurvivors(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4})
	cold := loadCold(t, nodes[0], 200)
	nodes[3].stop()
	waitFor(t, "n4 down", 20*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n4"), "alive" })
	if r := nodes[0].do("POST", "/cluster/remove", []byte(`{"node":"n4"}`), nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	rest := nodes[:3]
	waitMembers(t, rest, 3)
	checkCold(t, rest, cold)
	var pulled int64
	for _, tn := range rest {
		pulled += tn.transfers().Totals.Keys
	}
	if pulled == 0 {
		t.Fatal("no keys were transferred after the remove")
	}
}

// TestConcurrentJoinAndLeave joins n5 while n4 leaves: both changes finish
// and every node ends with the same ring and every key on its replicas.
func TestConcurrentJoinAndLeave(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4})
	cold := loadCold(t, nodes[0], 150)
	cfg := testConfig(t, "n5", false)
	cfg.Join = []string{nodes[1].cfg.GossipAddr}
	var n5 *testNode
	var wg sync.WaitGroup
	wg.Go(func() {
		if r := nodes[3].do("POST", "/cluster/leave", nil, nil); r.status != 202 {
			t.Errorf("leave: %d %s", r.status, r.body)
		}
	})
	n5 = startNode(t, cfg)
	wg.Wait()
	select {
	case <-nodes[3].done:
		nodes[3].done = nil
	case <-time.After(60 * time.Second):
		t.Fatal("n4 did not finish leaving")
	}
	rest := []*testNode{nodes[0], nodes[1], nodes[2], n5}
	waitMembers(t, rest, 4)
	want := string(rest[0].do("GET", "/cluster/ring", nil, nil).body)
	for _, tn := range rest[1:] {
		if got := string(tn.do("GET", "/cluster/ring", nil, nil).body); got != want {
			t.Fatalf("%s has another ring than %s", tn.cfg.Name, rest[0].cfg.Name)
		}
	}
	checkCold(t, rest, cold)
}

// TestTransferResumesAfterRestart stops a joining node in the middle of its
// transfers and starts it again: it goes on from where it stopped (ready
// partitions and per-source cursors are persisted), so the keys pulled by
// both runs add up to at most what one uninterrupted transfer pulls.
func TestTransferResumesAfterRestart(t *testing.T) {
	// 4 partitions of ~750 keys: each takes two batches, so a stop can fall
	// inside one and only its cursor avoids pulling the first batch again.
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(_ int, c *Config) { c.Ring.Partitions = 4 }})
	for i := range 3000 {
		if r := nodes[i%3].put(fmt.Sprintf("k%04d", i), "value-value-value", "", "w=3"); r.status != 204 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	cfg := testConfig(t, "n4", false)
	cfg.Ring.Partitions = 4
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	cfg.TransferRate = 48 << 10 // a few seconds for its share
	n4 := startNode(t, cfg)
	var first int64
	waitFor(t, "n4 to pull part of its partitions", 30*time.Second, func() (bool, string) {
		st := n4.transfers()
		first = st.Totals.Keys
		return first > 300 && st.Pending > 0, fmt.Sprintf("%+v", st)
	})
	n4.stop()
	first = n4.node.xfer.keys.Load() // everything the first run pulled
	n4 = n4.restart()
	waitMembers(t, append(nodes, n4), 4)
	second := n4.transfers().Totals.Keys
	r := n4.node.Ring()
	var want int64
	for i := range 3000 {
		k := []byte(fmt.Sprintf("k%04d", i))
		if slices.Contains(r.Primaries(r.Partition(k)), ring.NodeID("n4")) {
			want++
		}
	}
	t.Logf("n4 owns %d keys; pulled %d before the restart and %d after", want, first, second)
	if first+second > want {
		t.Fatalf("pulled %d+%d keys for %d owned: the transfer started over after the restart", first, second, want)
	}
	if second >= want {
		t.Fatalf("pulled %d keys after the restart for %d owned: nothing was resumed", second, want)
	}
}
