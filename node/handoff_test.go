package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
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
			if tn.node.alive("n4") || tn.node.alive("n5") {
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
