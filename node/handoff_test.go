package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage/badger"
)

type hintsJSON struct {
	Total   int        `json:"total"`
	Targets []hintJSON `json:"targets"`
}

func (tn *testNode) hints() hintsJSON {
	tn.t.Helper()
	r := tn.do("GET", "/debug/hints", nil, nil)
	if r.status != 200 {
		tn.t.Fatalf("hints: %d %s", r.status, r.body)
	}
	var h hintsJSON
	if err := json.Unmarshal(r.body, &h); err != nil {
		tn.t.Fatal(err)
	}
	return h
}

// Dynamo §4.6: with two of a key's three primaries down, W=2 writes succeed
// through fallbacks that keep hints; pw=2 writes fail; when the primaries
// return the hints drain and the primaries hold every acknowledged value,
// with no fallback copy left behind.
func TestSloppyQuorumAndHandoff(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 5, mutate: func(i int, c *Config) { c.HandoffInterval = 200 * time.Millisecond }})
	byName := map[string]*testNode{}
	for _, tn := range nodes {
		byName[tn.cfg.Name] = tn
	}
	rg := nodes[0].node.Ring()
	down := []string{"n4", "n5"}
	// Keys whose primaries include both n4 and n5.
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		k := fmt.Sprintf("k%d", i)
		prims := rg.Primaries(rg.Partition([]byte(k)))
		if slices.Contains(prims, ring.NodeID("n4")) && slices.Contains(prims, ring.NodeID("n5")) {
			keys = append(keys, k)
		}
	}
	for _, name := range down {
		byName[name].stop()
	}
	waitFor(t, "n4 and n5 down", 10*time.Second, func() (bool, string) {
		for _, tn := range nodes[:3] {
			if tn.node.peers.Alive("n4") || tn.node.peers.Alive("n5") {
				return false, tn.cfg.Name
			}
		}
		return true, ""
	})
	fallbacksSeen := false
	for i, k := range keys {
		resp := nodes[i%3].put(k, "v-"+k, "", "w=2")
		if resp.status != 204 {
			t.Fatalf("w=2 with two primaries down: %d %s", resp.status, resp.body)
		}
		fallbacksSeen = fallbacksSeen || !strings.Contains(resp.header.Get(headerReport), "fallbacks=0")
		if r := nodes[i%3].put(k, "strict", "", "w=2", "pw=2"); r.status != 503 {
			t.Fatalf("pw=2 with two primaries down: %d %s", r.status, r.body)
		}
		if r := nodes[i%3].put(k, "strict", "", "w=2", "sloppy=false"); r.status != 503 {
			t.Fatalf("sloppy=false with two primaries down: %d %s", r.status, r.body)
		}
		// Sloppy reads see it through the fallbacks' hints.
		if r := nodes[(i+1)%3].get(k, "r=3"); r.status != 200 || string(r.body) != "v-"+k {
			t.Fatalf("sloppy read: %d %q", r.status, r.body)
		}
	}
	if !fallbacksSeen {
		t.Fatal("no write reported a fallback ack")
	}
	queued := 0
	for _, tn := range nodes[:3] {
		queued += tn.hints().Total
		for _, k := range keys {
			if got := tn.replica(k).values(); len(got) > 0 && !slices.Contains(rg.Primaries(rg.Partition([]byte(k))), ring.NodeID(tn.cfg.Name)) {
				t.Fatalf("fallback %s stored %s as its own data: %v", tn.cfg.Name, k, got)
			}
		}
	}
	if queued < len(keys) {
		t.Fatalf("only %d hints queued for %d keys", queued, len(keys))
	}

	n4, n5 := byName["n4"].restart(), byName["n5"].restart()
	all := []*testNode{nodes[0], nodes[1], nodes[2], n4, n5}
	waitMembers(t, all, 5)
	waitFor(t, "hints drained", 20*time.Second, func() (bool, string) {
		for _, tn := range all {
			if h := tn.hints(); h.Total != 0 {
				return false, fmt.Sprintf("%s holds %d hints", tn.cfg.Name, h.Total)
			}
		}
		return true, ""
	})
	for _, k := range keys {
		for _, p := range []*testNode{n4, n5} {
			if got := p.replica(k).values(); !slices.Equal(got, []string{"v-" + k}) {
				t.Fatalf("primary %s holds %v for %s after handoff", p.cfg.Name, got, k)
			}
		}
	}
	resp := nodes[0].do("GET", "/metrics", nil, nil)
	if !strings.Contains(string(resp.body), "dynago_hints_delivered_total") {
		t.Fatal("no handoff metrics")
	}
}

// keysOn returns n keys whose primaries include every named node.
func keysOn(rg *ring.Ring, n int, names ...string) []string {
	var keys []string
	for i := 0; len(keys) < n; i++ {
		k := fmt.Sprintf("key-%d", i)
		prims := rg.Primaries(rg.Partition([]byte(k)))
		all := true
		for _, name := range names {
			all = all && slices.Contains(prims, ring.NodeID(name))
		}
		if all {
			keys = append(keys, k)
		}
	}
	return keys
}

func waitDown(t testing.TB, observers []*testNode, names ...string) {
	t.Helper()
	waitFor(t, fmt.Sprint(names, " down"), 10*time.Second, func() (bool, string) {
		for _, tn := range observers {
			for _, name := range names {
				if tn.node.peers.Alive(name) {
					return false, tn.cfg.Name + " sees " + name
				}
			}
		}
		return true, ""
	})
}

// A fallback that restarts keeps its hints and delivers them later.
func TestRestartedFallbackKeepsHints(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, mutate: func(i int, c *Config) { c.HandoffInterval = 200 * time.Millisecond }})
	keys := keysOn(nodes[0].node.Ring(), 10, "n4")
	nodes[3].stop()
	waitDown(t, nodes[:3], "n4")
	for _, k := range keys {
		if r := nodes[0].put(k, "v-"+k, "", "w=3"); r.status != 204 {
			t.Fatalf("w=3 through a fallback: %d %s", r.status, r.body)
		}
	}
	// Restart every node that holds hints.
	var restarted []*testNode
	for _, tn := range nodes[:3] {
		if tn.hints().Total > 0 {
			restarted = append(restarted, tn.restart())
		} else {
			restarted = append(restarted, tn)
		}
	}
	total := 0
	for _, tn := range restarted {
		total += tn.hints().Total
	}
	if total != len(keys) {
		t.Fatalf("%d hints after the fallbacks restarted, want %d", total, len(keys))
	}
	n4 := nodes[3].restart()
	all := append(restarted, n4)
	waitMembers(t, all, 4)
	waitFor(t, "hints drained", 20*time.Second, func() (bool, string) {
		for _, tn := range all {
			if h := tn.hints(); h.Total != 0 {
				return false, fmt.Sprintf("%s holds %d", tn.cfg.Name, h.Total)
			}
		}
		return true, ""
	})
	for _, k := range keys {
		if got := n4.replica(k).values(); !slices.Equal(got, []string{"v-" + k}) {
			t.Fatalf("n4 holds %v for %s", got, k)
		}
	}
}

// A fallback whose queue for a target is full refuses the hint: the write
// counts only the replicas that stored it, and the refusal is visible.
func TestHintLimitRefuses(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 4, mutate: func(i int, c *Config) { c.Hints.MaxBytesPerTarget = 1 }})
	keys := keysOn(nodes[0].node.Ring(), 3, "n4")
	nodes[3].stop()
	waitDown(t, nodes[:3], "n4")
	for _, k := range keys {
		r := nodes[0].put(k, "v", "", "w=3")
		if r.status != 503 || r.json(t)["indeterminate"] != true {
			t.Fatalf("w=3 with the fallback refusing: %d %s", r.status, r.body)
		}
		if r := nodes[0].put(k, "v2", "", "w=2"); r.status != 204 {
			t.Fatalf("w=2: %d %s", r.status, r.body)
		}
	}
	refused := uint64(0)
	for _, tn := range nodes[:3] {
		for _, h := range tn.hints().Targets {
			refused += h.Refused
		}
		if h := tn.hints(); h.Total != 0 {
			t.Fatalf("%s queued %d hints past a 1-byte limit", tn.cfg.Name, h.Total)
		}
	}
	if refused == 0 {
		t.Fatal("no refusal counted")
	}
}

// A node that leaves hands its hints on before it exits.
func TestLeaveHandsHintsOn(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 5, mutate: func(i int, c *Config) { c.HandoffInterval = 200 * time.Millisecond }})
	keys := keysOn(nodes[0].node.Ring(), 10, "n5")
	nodes[4].stop()
	waitDown(t, nodes[:4], "n5")
	for _, k := range keys {
		if r := nodes[0].put(k, "v-"+k, "", "w=3"); r.status != 204 {
			t.Fatal(r.status)
		}
	}
	// The node with the most hints leaves; n5 comes back meanwhile.
	var holder *testNode
	for _, tn := range nodes[:4] {
		if holder == nil || tn.hints().Total > holder.hints().Total {
			holder = tn
		}
	}
	if holder.hints().Total == 0 {
		t.Fatal("no hints to hand on")
	}
	n5 := nodes[4].restart()
	// Leave at once, before the ordinary delivery loop can be relied on.
	if r := holder.do("POST", "/cluster/leave", nil, nil); r.status != 202 {
		t.Fatal(r.status)
	}
	select {
	case <-holder.done:
		holder.done = nil
	case <-time.After(45 * time.Second):
		t.Fatal("the leaving node did not exit")
	}
	// Its store holds no hint any more: it delivered them before exiting.
	st, err := badger.Open(badger.Options{Dir: holder.cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := hintedhandoff.Open(t.Context(), st, hintedhandoff.Config{})
	if err != nil {
		t.Fatal(err)
	}
	left := len(hs.Targets())
	st.Close()
	if left != 0 {
		t.Fatalf("the node left with hints for %d targets", left)
	}
	waitFor(t, "n5 has every key", 20*time.Second, func() (bool, string) {
		for _, k := range keys {
			if got := n5.replica(k).values(); !slices.Equal(got, []string{"v-" + k}) {
				return false, fmt.Sprintf("n5 holds %v for %s", got, k)
			}
		}
		return true, ""
	})
}

// TestHintsOfRemovedNodeGoToNewPrimaries: fallbacks hold hints for a dead
// node that is then removed; the hints go to the keys' new primaries
// instead of waiting to expire, and every write is on its primaries.
func TestHintsOfRemovedNodeGoToNewPrimaries(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 5, mutate: func(i int, c *Config) { c.HandoffInterval = 200 * time.Millisecond }})
	rg := nodes[0].node.Ring()
	var keys []string
	for i := 0; len(keys) < 20; i++ {
		k := fmt.Sprintf("k%d", i)
		if slices.Contains(rg.Primaries(rg.Partition([]byte(k))), ring.NodeID("n5")) {
			keys = append(keys, k)
		}
	}
	nodes[4].stop()
	waitDown(t, nodes[:4], "n5")
	for i, k := range keys {
		if r := nodes[i%4].put(k, "v-"+k, "", "w=3"); r.status != 204 {
			t.Fatalf("put %s: %d %s", k, r.status, r.body)
		}
	}
	held := 0
	for _, tn := range nodes[:4] {
		held += tn.hints().Total
	}
	if held == 0 {
		t.Fatal("no fallback holds hints for n5; the test proves nothing")
	}
	if r := nodes[0].do("POST", "/cluster/remove", []byte(`{"node":"n5"}`), nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	rest := nodes[:4]
	waitMembers(t, rest, 4)
	waitFor(t, "the hints for n5 to be handed to the new primaries", 20*time.Second, func() (bool, string) {
		for _, tn := range rest {
			if h := tn.hints(); h.Total != 0 {
				return false, fmt.Sprintf("%s holds %d hints", tn.cfg.Name, h.Total)
			}
		}
		return true, ""
	})
	byName := map[string]*testNode{}
	for _, tn := range rest {
		byName[tn.cfg.Name] = tn
	}
	rg = nodes[0].node.Ring()
	for _, k := range keys {
		for _, id := range rg.Primaries(rg.Partition([]byte(k))) {
			if vs := byName[string(id)].replica(k).values(); !slices.Equal(vs, []string{"v-" + k}) {
				t.Fatalf("%s, a primary of %s after the remove, holds %v", id, k, vs)
			}
		}
	}
}
