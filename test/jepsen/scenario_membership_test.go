package jepsen

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// ringSettled accepts exactly the views of a settled ring: every member
// lists exactly the members, alive and valid, with nothing pending.
func TestHarnessRingSettled(t *testing.T) {
	want := []string{"n1", "n2", "n6"}
	valid := func(names ...string) []Member {
		var ms []Member
		for _, n := range names {
			ms = append(ms, Member{Name: n, State: "valid", Alive: true})
		}
		return ms
	}
	all := func(ms []Member) map[string][]Member {
		return map[string][]Member{"n1": ms, "n2": ms, "n6": ms}
	}
	idle := map[string]int{"n1": 0, "n2": 0, "n6": 0}
	joining := valid("n1", "n2", "n6")
	joining[2].State = "joining"
	dead := valid("n1", "n2", "n6")
	dead[0].Alive = false
	cases := []struct {
		name    string
		views   map[string][]Member
		pending map[string]int
		why     string // "" settled, else a substring of the reason
	}{
		{"settled", all(valid("n1", "n2", "n6")), idle, ""},
		{"joining", all(joining), idle, "n1 sees n6 joining"},
		{"dead member", all(dead), idle, "n1 sees n1 dead"},
		{"removed node still listed", all(valid("n1", "n2", "n3", "n6")), idle, "n1 still lists n3"},
		{"new node not yet known", all(valid("n1", "n2")), idle, "n1 does not list n6"},
		{"pending", all(valid("n1", "n2", "n6")), map[string]int{"n1": 0, "n2": 3, "n6": 0}, "n2 has 3 partitions pending"},
		{"members unanswered", map[string][]Member{"n1": valid("n1", "n2", "n6"), "n2": valid("n1", "n2", "n6")}, idle, "n6 did not answer GET /cluster/members"},
		{"transfers unanswered", all(valid("n1", "n2", "n6")), map[string]int{"n1": 0, "n2": 0}, "n6 did not answer GET /debug/transfers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ringSettled(want, tc.views, tc.pending)
			if (tc.why == "") != (got == "") || !strings.Contains(got, tc.why) {
				t.Fatalf("ringSettled = %q, want %q", got, tc.why)
			}
		})
	}
}

// S12 isolates any member but kills an original node, the same ones for
// the same seed.
func TestHarnessS12Choose(t *testing.T) {
	six := append(slices.Clone(five), "n6")
	isolated := map[string]bool{}
	for seed := range uint64(200) {
		iso, kill := s12Choose(rand.New(rand.NewPCG(seed, 1)), six, "n6")
		if kill == "n6" || !slices.Contains(five, kill) || !slices.Contains(six, iso) {
			t.Fatalf("seed %d: isolate %s, kill %s", seed, iso, kill)
		}
		iso2, kill2 := s12Choose(rand.New(rand.NewPCG(seed, 1)), six, "n6")
		if iso2 != iso || kill2 != kill {
			t.Fatalf("seed %d: %s/%s then %s/%s", seed, iso, kill, iso2, kill2)
		}
		isolated[iso] = true
	}
	if !isolated["n6"] || len(isolated) != 6 {
		t.Fatalf("200 seeds isolated only %v", isolated)
	}
}

func TestHarnessS12Gap(t *testing.T) {
	for _, tc := range []struct{ d, want time.Duration }{
		{10 * time.Second, 3 * time.Second},
		{time.Minute, 5 * time.Second},
		{2 * time.Minute, 10 * time.Second},
		{time.Hour, 30 * time.Second},
	} {
		if got := s12Gap(tc.d); got != tc.want {
			t.Errorf("s12Gap(%s) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

// A step's figures are what each node pulled between the snapshots; a node
// that joined in between counts from zero.
func TestHarnessMembershipStep(t *testing.T) {
	before := map[string]TransferTotals{"n1": {Keys: 5, Bytes: 50, Partitions: 1}}
	after := map[string]TransferTotals{"n1": {Keys: 7, Bytes: 80, Partitions: 2}, "n6": {Keys: 10, Bytes: 100, Partitions: 20}}
	st := newStep("join", "n6", 1500*time.Millisecond, before, after)
	if st.Pulled["n1"] != (TransferTotals{Keys: 2, Bytes: 30, Partitions: 1}) || st.Sum != (TransferTotals{Keys: 12, Bytes: 130, Partitions: 21}) {
		t.Fatalf("step %+v", st)
	}
	if s := st.String(); !strings.Contains(s, "join n6 settled in 1.5s; pulled 21 partitions, 12 keys, 130 bytes") {
		t.Fatalf("String() = %q", s)
	}
}

// The cluster's members follow the ring: an added node is laid out at its
// address and known to Nodes, Node and the firewall; a forgotten one is
// gone from all but the firewall.
func TestHarnessAddForget(t *testing.T) {
	cfg := DefaultClusterConfig()
	cfg.Dir = t.TempDir()
	c, err := NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n6, err := c.AddNode(6)
	if err != nil {
		t.Fatal(err)
	}
	if n6.Name != "n6" || n6.HTTP != "127.0.0.16:8080" || c.Node("n6") != n6 || len(c.Nodes) != 6 || c.FW.ips["n6"] != "127.0.0.16" {
		t.Fatalf("after AddNode(6): %+v, nodes %v, firewall %v", n6, c.Names(), c.FW.ips)
	}
	if _, err := c.AddNode(6); err == nil {
		t.Fatal("AddNode(6) twice succeeded")
	}
	if _, err := c.AddNode(10); err == nil {
		t.Fatal("AddNode(10) succeeded: there is no 127.0.0.20 node")
	}
	if err := c.Forget(c.Node("n3")); err != nil {
		t.Fatal(err)
	}
	if got := c.Names(); !slices.Equal(got, []string{"n1", "n2", "n4", "n5", "n6"}) || c.Node("n3") != nil {
		t.Fatalf("after Forget(n3): %v", got)
	}
	if r := c.ReplicaOf(t.Context(), "n3", "k", "set"); r.Error == "" || r.Node != "n3" {
		t.Fatalf("ReplicaOf a removed node: %+v", r)
	}
}

func TestHarnessDescribeMembership(t *testing.T) {
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{Event{Fault: FaultJoin, Phase: "start", Nodes: []string{"n6"}}, "join n6"},
		{Event{Fault: FaultJoin, Phase: "stop", Nodes: []string{"n6"}}, "n6 is valid on every node"},
		{Event{Fault: FaultRemove, Phase: "start", Nodes: []string{"n3"}}, "remove n3 from the ring"},
		{Event{Fault: FaultRemove, Phase: "stop", Nodes: []string{"n3"}}, "n3's partitions are rebuilt"},
	} {
		if got := tc.e.Describe(); !strings.Contains(got, tc.want) {
			t.Errorf("%s/%s: %q lacks %q", tc.e.Fault, tc.e.Phase, got, tc.want)
		}
	}
}
