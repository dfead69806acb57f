package jepsen

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A churn key walks read, create, read, update, read, update, (rest),
// read, delete, (rest) and over again: the rests pause the key (a due
// time up to ChurnRest away) without costing an op.
func TestHarnessChurnCycle(t *testing.T) {
	var ops []string
	for i := 0; i < 2*len(churnSteps); i++ {
		if s := churnSteps[i%len(churnSteps)]; s != "rest" {
			ops = append(ops, s)
		}
	}
	want := "read write read write read write read delete read write read write read write read delete"
	if got := strings.Join(ops, " "); got != want {
		t.Fatalf("two cycles do %q, want %q", got, want)
	}
	if churnSteps[0] == "rest" || churnSteps[len(churnSteps)-1] != "rest" {
		t.Fatalf("a cycle must start with an op and end with a rest after its delete: %v", churnSteps)
	}
}

// Each churn client owns its own keys, all of them between the clients;
// replayers own none and share one pool with the churn clients.
func TestHarnessChurnWorkload(t *testing.T) {
	sc, _ := Lookup("S16")
	spec := sc.Workloads[0]
	if spec.Keys < spec.Clients || spec.Replayers < 1 || spec.ReplayAfter <= spec.ChurnRest {
		t.Fatalf("S16's churn spec %+v: want a key per client at least, a replayer, and replays later than a rest", spec)
	}
	nodes := make([]*Node, len(five))
	for i, n := range five {
		nodes[i] = &Node{Name: n, HTTP: "127.0.0.1:1"}
	}
	w := NewWorkload(sc.Workloads, nodes, nil, 1)
	if len(w.clients) != spec.Clients+spec.Replayers {
		t.Fatalf("%d clients, want %d", len(w.clients), spec.Clients+spec.Replayers)
	}
	var owned []string
	coordinators := map[string]bool{}
	for i, c := range w.clients {
		if c.replay == nil || c.replay != w.clients[0].replay {
			t.Fatalf("client %d does not share the replay pool", i)
		}
		if i >= spec.Clients {
			if c.churn != nil {
				t.Fatalf("replayer %d owns keys %v", i, c.keys)
			}
			continue
		}
		coordinators[c.kv.Node] = true
		owned = append(owned, c.keys...)
	}
	slices.Sort(owned)
	all := spec.KeyNames()
	slices.Sort(all)
	if !slices.Equal(owned, all) {
		t.Fatalf("owned keys %v, want each of %v once", owned, all)
	}
	if len(coordinators) != len(five) {
		t.Fatalf("churn clients go through %v, want every node", coordinators)
	}
}

// The replay pool hands out the oldest context once it is old enough.
func TestHarnessReplayPool(t *testing.T) {
	var p replayPool
	t0 := time.Unix(100, 0)
	p.put("a", cached{ctx: "ca"}, t0)
	p.put("b", cached{ctx: "cb"}, t0.Add(time.Second))
	if _, ok := p.take(t0.Add(-time.Millisecond)); ok {
		t.Fatal("took a context captured after the cutoff")
	}
	if e, ok := p.take(t0.Add(5 * time.Second)); !ok || e.key != "a" {
		t.Fatalf("took %+v, want a", e)
	}
	if e, ok := p.take(t0.Add(5 * time.Second)); !ok || e.key != "b" || e.cc.ctx != "cb" {
		t.Fatalf("took %+v, want b", e)
	}
	if _, ok := p.take(t0.Add(time.Hour)); ok {
		t.Fatal("took from an empty pool")
	}
}

// S20's writes go through the dropping node and its reads never do.
func TestHarnessWriteVia(t *testing.T) {
	sc, _ := Lookup("S20")
	nodes := make([]*Node, len(five))
	for i, n := range five {
		nodes[i] = &Node{Name: n, HTTP: "127.0.0.1:1"}
	}
	w := NewWorkload(sc.Workloads, nodes, nil, 1)
	for _, c := range w.clients {
		if c.wkv == nil || c.wkv.Node != s20Dropper || c.kv.Node == s20Dropper {
			t.Fatalf("client %d reads via %s, writes via %v", c.id, c.kv.Node, c.wkv)
		}
	}
	if s20Dropper == five[0] {
		t.Fatal("the dropping node must not be the first node (the claimant)")
	}
	if !slices.Contains(sc.Checkers, CheckP1) || slices.Contains(sc.ReportOnly, CheckP1) {
		t.Fatal("S20 must judge P1")
	}
}

// S12 judges P1 on its strict register and only reports it on its sloppy
// set.
func TestHarnessS12Claims(t *testing.T) {
	sc, _ := Lookup("S12")
	if slices.Contains(sc.ReportOnly, CheckP1) || !slices.Equal(sc.Claims[CheckP1], []string{StrictRegister}) {
		t.Fatalf("P1: claims %v, report only %v", sc.Claims[CheckP1], sc.ReportOnly)
	}
	if !slices.Contains(sc.ReportOnly, CheckP1Sloppy) || !slices.Equal(sc.Claims[CheckP1Sloppy], []string{SetWorkload}) {
		t.Fatalf("P1-sloppy: claims %v, report only %v", sc.Claims[CheckP1Sloppy], sc.ReportOnly)
	}
}

func TestHarnessMost(t *testing.T) {
	for _, tc := range []struct {
		count map[string]int
		want  string
	}{
		{nil, ""},
		{map[string]int{"n1": 0}, ""},
		{map[string]int{"n1": 2, "n2": 3, "n3": 3}, "n2"},
		{map[string]int{"n5": 1}, "n5"},
	} {
		if got := most(tc.count); got != tc.want {
			t.Errorf("most(%v) = %q, want %q", tc.count, got, tc.want)
		}
	}
}

func TestHarnessRingDiff(t *testing.T) {
	a := map[int][]string{0: {"n1", "n2", "n3"}, 1: {"n2", "n3", "n4"}}
	b := map[int][]string{0: {"n1", "n2", "n3"}, 1: {"n2", "n6", "n4"}}
	if d := RingDiff(a, a); d != 0 {
		t.Fatalf("RingDiff(a, a) = %d", d)
	}
	if d := RingDiff(a, b); d != 1 {
		t.Fatalf("RingDiff(a, b) = %d, want 1", d)
	}
	if d := RingDiff(a, map[int][]string{0: {"n1", "n2", "n3"}}); d != 1 {
		t.Fatalf("a partition missing from one ring: %d, want 1", d)
	}
}

// S19 draws a leaver other than the first node, the same for the same
// seed, and isolates the node gaining most of its partitions.
func TestHarnessS19Choose(t *testing.T) {
	drawn := map[string]bool{}
	for seed := range int64(100) {
		l := s19Choose(seed, five)
		if l == "n1" || !slices.Contains(five, l) || s19Choose(seed, five) != l {
			t.Fatalf("seed %d: leaver %s", seed, l)
		}
		drawn[l] = true
	}
	if len(drawn) != 4 {
		t.Fatalf("100 seeds drew only %v", drawn)
	}
	gains := map[string][]int{"n1": {1}, "n2": {5, 6}, "n3": {6, 7}, "n4": {8, 9, 10}, "n5": nil}
	if x := s19Target(gains, "n5", "n1"); x != "n2" {
		t.Fatalf("target %s, want n2 (fewest gains but some, not the first node; ties to the smaller name)", x)
	}
	if x := s19Target(gains, "n2", "n1"); x != "n3" {
		t.Fatalf("target %s, want n3 (the leaver is never the target)", x)
	}
	if x := s19Target(map[string][]int{"n1": {1}}, "n5", "n1"); x != "" {
		t.Fatalf("target %s, want none", x)
	}
}

// S19 deletes only keys of partitions the leaver had and the isolated
// node neither had nor gets.
func TestHarnessS19Eligible(t *testing.T) {
	before := map[int][]string{0: {"n2", "n3", "n4"}, 1: {"n2", "n4", "n5"}, 2: {"n3", "n4", "n5"}, 3: {"n2", "n3", "n5"}}
	after := map[int][]string{0: {"n3", "n4", "n5"}, 1: {"n4", "n5", "n3"}, 2: {"n3", "n4", "n5"}, 3: {"n3", "n5", "n1"}}
	part := map[string]int{"a": 0, "b": 1, "c": 2, "d": 3}
	got := s19Eligible([]string{"a", "b", "c", "d"}, part, before, after, "n2", "n3")
	// a: n3 had it; b: n3 gets it; c: n2 never had it; d: n3 had it.
	if len(got) != 0 {
		t.Fatalf("eligible %v, want none", got)
	}
	after[1] = []string{"n4", "n5", "n1"}
	if got := s19Eligible([]string{"a", "b", "c", "d"}, part, before, after, "n2", "n3"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("eligible %v, want [b]", got)
	}
}

func TestHarnessPartitionReady(t *testing.T) {
	if !partitionReady(Transfers{}, 3) {
		t.Fatal("nothing pending, yet not ready")
	}
	t1 := Transfers{PartitionsPending: 1}
	if partitionReady(t1, 3) {
		t.Fatal("a pending partition without a job yet: must not count as ready")
	}
	t1.Jobs = []TransferJob{{Partition: 5, State: "waiting"}}
	if !partitionReady(t1, 3) || partitionReady(t1, 5) {
		t.Fatal("the one job is for partition 5: 3 is ready, 5 is not")
	}
}

// S16–S20 each do something and judge what their issue asks.
func TestHarnessDeleteScenariosWellFormed(t *testing.T) {
	for _, name := range []string{"S16", "S17", "S18", "S19", "S20"} {
		sc, ok := Lookup(name)
		if !ok {
			t.Fatalf("no scenario %s", name)
		}
		if sc.Script == nil && len(sc.Workloads) == 0 {
			t.Fatalf("%s does nothing", name)
		}
		if !slices.Contains(sc.Checkers, CheckNoResurrection) && name != "S20" {
			t.Fatalf("%s does not judge no-resurrection", name)
		}
	}
	// S17 and S18 watch for their run length: a full one and a smoke one.
	for _, name := range []string{"S17", "S18"} {
		if sc, _ := Lookup(name); sc.Duration <= sc.Smoke || sc.Smoke == 0 {
			t.Errorf("%s: watch %s (smoke %s)", name, sc.Duration, sc.Smoke)
		}
	}
	for _, name := range []string{"S16", "S18", "S19", "S20"} {
		if !slices.Contains(SmokeSet(), name) {
			t.Errorf("smoke set lacks %s", name)
		}
	}
	if slices.Contains(SmokeSet(), "S17") {
		t.Error("S17 (a minute at least) is full-length only")
	}
}
