package membership

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/ring"
)

// testRing builds a ring of q partitions, n replicas and the given members
// ("name" or "name@zone").
func testRing(t *testing.T, q, n int, members ...string) *ring.Ring {
	t.Helper()
	var ms []ring.Member
	for _, s := range members {
		id, zone, _ := strings.Cut(s, "@")
		ms = append(ms, ring.Member{ID: ring.NodeID(id), Zone: zone, State: ring.MemberValid})
	}
	r, err := ring.New(ring.Config{Partitions: q, N: n}, ms)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPlanNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		q, n    int
		members []string
		ch      api.PlanChange
	}{
		{name: "join 4th", q: 64, n: 3, members: []string{"n1", "n2", "n3"}, ch: api.PlanChange{Op: api.PlanJoin, Node: "n4"}},
		{name: "join 2nd of n=3", q: 16, n: 3, members: []string{"n1"}, ch: api.PlanChange{Op: api.PlanJoin, Node: "n2"}},
		{name: "leave", q: 64, n: 3, members: []string{"n1", "n2", "n3", "n4"}, ch: api.PlanChange{Op: api.PlanLeave, Node: "n2"}},
		{name: "remove last", q: 8, n: 3, members: []string{"n1"}, ch: api.PlanChange{Op: api.PlanRemove, Node: "n1"}},
		{name: "join with zones", q: 64, n: 3, members: []string{"n1@a", "n2@b", "n3@c"}, ch: api.PlanChange{Op: api.PlanJoin, Node: "n4", Zone: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testRing(t, tc.q, tc.n, tc.members...)
			after, err := PlanAfter(before, tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			nodes := planNodes(before, after)
			if !slices.IsSortedFunc(nodes, func(a, b api.PlanNode) int { return strings.Compare(a.Node, b.Node) }) {
				t.Errorf("nodes not sorted by name: %+v", nodes)
			}
			// Each node's partitions after are those before, plus gains,
			// minus losses, and they match the rings'.
			was, will := replicaSets(before), replicaSets(after)
			sumBefore, sumAfter := 0, 0
			for _, nd := range nodes {
				id := ring.NodeID(nd.Node)
				if nd.PartitionsBefore != len(was[id]) || nd.PartitionsAfter != len(will[id]) {
					t.Errorf("%s: %d -> %d, rings say %d -> %d", nd.Node, nd.PartitionsBefore, nd.PartitionsAfter, len(was[id]), len(will[id]))
				}
				if nd.PartitionsBefore+len(nd.Gain)-len(nd.Lose) != nd.PartitionsAfter {
					t.Errorf("%s: %d + %d gained - %d lost != %d", nd.Node, nd.PartitionsBefore, len(nd.Gain), len(nd.Lose), nd.PartitionsAfter)
				}
				for _, p := range nd.Gain {
					if slices.Contains(before.Primaries(p), id) || !slices.Contains(after.Primaries(p), id) {
						t.Errorf("%s gains %d: before %v after %v", nd.Node, p, before.Primaries(p), after.Primaries(p))
					}
				}
				for _, p := range nd.Lose {
					if !slices.Contains(before.Primaries(p), id) || slices.Contains(after.Primaries(p), id) {
						t.Errorf("%s loses %d: before %v after %v", nd.Node, p, before.Primaries(p), after.Primaries(p))
					}
				}
				sumBefore += nd.PartitionsBefore
				sumAfter += nd.PartitionsAfter
			}
			if want := tc.q * min(tc.n, before.Len()); sumBefore != want {
				t.Errorf("replicas before %d, want %d", sumBefore, want)
			}
			if want := tc.q * min(tc.n, after.Len()); sumAfter != want {
				t.Errorf("replicas after %d, want %d", sumAfter, want)
			}
			if tc.ch.Op == api.PlanJoin {
				nd := nodes[slices.IndexFunc(nodes, func(nd api.PlanNode) bool { return nd.Node == tc.ch.Node })]
				if nd.PartitionsBefore != 0 || len(nd.Gain) == 0 || len(nd.Lose) != 0 || nd.Zone != tc.ch.Zone {
					t.Errorf("joining node %+v", nd)
				}
			} else {
				nd := nodes[slices.IndexFunc(nodes, func(nd api.PlanNode) bool { return nd.Node == tc.ch.Node })]
				if nd.PartitionsAfter != 0 || len(nd.Lose) != nd.PartitionsBefore || len(nd.Gain) != 0 {
					t.Errorf("going node %+v", nd)
				}
			}
		})
	}
}

func TestPlanAfterLeavingNode(t *testing.T) {
	// A leaving node is already out of the placement: nothing more moves.
	before := testRing(t, 16, 3, "n1", "n2", "n3")
	after, err := PlanAfter(before, api.PlanChange{Op: api.PlanLeave, Node: "n4"})
	if err != nil || !after.Equal(before) {
		t.Fatalf("after %v, %v; want the placement unchanged", after, err)
	}
}

func TestPlanMovesOf(t *testing.T) {
	keys := []int64{10, 20, 30, 40}
	for _, tc := range []struct {
		name  string
		nodes []api.PlanNode
		bpk   float64
		rate  int64
		want  api.PlanMoves
	}{
		{name: "nothing moves", nodes: []api.PlanNode{{Node: "n1", Gain: []int{}}}, bpk: 100, rate: 1000, want: api.PlanMoves{}},
		{
			name:  "one node gains",
			nodes: []api.PlanNode{{Node: "n1", Gain: []int{}}, {Node: "n4", Gain: []int{0, 3}}},
			bpk:   100, rate: 1000,
			// 50 keys of 100 bytes at 1000 B/s.
			want: api.PlanMoves{Partitions: 2, Keys: 50, Bytes: 5000, Seconds: 5},
		},
		{
			name:  "time is the busiest node's",
			nodes: []api.PlanNode{{Node: "n1", Gain: []int{1}}, {Node: "n2", Gain: []int{0, 2}}, {Node: "n3", Gain: []int{3}}},
			bpk:   10, rate: 100,
			// n1 200 B, n2 400 B, n3 400 B: all at once, 4 s.
			want: api.PlanMoves{Partitions: 4, Keys: 100, Bytes: 1000, Seconds: 4},
		},
		{
			name:  "a partition to two new primaries moves twice",
			nodes: []api.PlanNode{{Node: "n1", Gain: []int{2}}, {Node: "n2", Gain: []int{2}}},
			bpk:   1.5, rate: 9,
			want: api.PlanMoves{Partitions: 2, Keys: 60, Bytes: 90, Seconds: 5},
		},
		{
			name:  "no data sampled",
			nodes: []api.PlanNode{{Node: "n4", Gain: []int{0, 1}}},
			bpk:   0, rate: 1000,
			want: api.PlanMoves{Partitions: 2, Keys: 30},
		},
		{
			name:  "no rate",
			nodes: []api.PlanNode{{Node: "n4", Gain: []int{0}}},
			bpk:   1, rate: 0,
			want: api.PlanMoves{Partitions: 1, Keys: 10, Bytes: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planMovesOf(tc.nodes, keys, tc.bpk, tc.rate); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPlanBalanceOf(t *testing.T) {
	for _, tc := range []struct {
		name      string
		after     *ring.Ring
		nodes     []api.PlanNode
		wantShare float64
		warns     []string // substrings, one per warning
	}{
		{
			name:  "even",
			after: testRing(t, 8, 1, "n1", "n2"),
			nodes: []api.PlanNode{{Node: "n1", PartitionsAfter: 4}, {Node: "n2", PartitionsAfter: 4}},
			// fair share 8×1/2 = 4.
			wantShare: 1,
		},
		{
			name:      "above the bound",
			after:     testRing(t, 8, 1, "n1", "n2"),
			nodes:     []api.PlanNode{{Node: "n1", PartitionsAfter: 6}, {Node: "n2", PartitionsAfter: 2}},
			wantShare: 1.5,
			warns:     []string{"n1 would hold 6 partitions, 1.50x its fair share of 4.0"},
		},
		{
			name:      "at the bound",
			after:     testRing(t, 8, 1, "n1", "n2"),
			nodes:     []api.PlanNode{{Node: "n1", PartitionsAfter: 5}, {Node: "n2", PartitionsAfter: 3}},
			wantShare: 1.25,
		},
		{
			name:  "a node going does not count",
			after: testRing(t, 8, 1, "n1", "n2"),
			nodes: []api.PlanNode{{Node: "n1", PartitionsAfter: 4}, {Node: "n2", PartitionsAfter: 4}, {Node: "n3", PartitionsAfter: 0}},
			// n3 is not in after: the fair share is over 2 members.
			wantShare: 1,
		},
		{
			name:  "fewer members than n",
			after: testRing(t, 8, 3, "n1", "n2"),
			// Each holds every partition: lists are 2 long, fair share 8.
			nodes:     []api.PlanNode{{Node: "n1", PartitionsAfter: 8}, {Node: "n2", PartitionsAfter: 8}},
			wantShare: 1,
		},
		{name: "empty", after: testRing(t, 8, 3), wantShare: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, warns := planBalanceOf(tc.after, tc.nodes)
			if b.MaxShare != tc.wantShare || b.Bound != 1.25 {
				t.Errorf("balance %+v, want max share %v bound 1.25", b, tc.wantShare)
			}
			checkWarnings(t, warns, tc.warns)
		})
	}
}

// checkWarnings checks that warns holds one warning per want, in order,
// each containing it.
func checkWarnings(t *testing.T, warns, want []string) {
	t.Helper()
	if len(warns) != len(want) {
		t.Fatalf("warnings %q, want %d like %q", warns, len(want), want)
	}
	for i, w := range want {
		if !strings.Contains(warns[i], w) {
			t.Errorf("warning %d: %q, want it to contain %q", i, warns[i], w)
		}
	}
}

func TestPlanPlacementWarnings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		n       int
		members []string
		warns   []string
	}{
		{name: "fine", n: 3, members: []string{"n1", "n2", "n3", "n4"}},
		{name: "empty", n: 3, warns: []string{"no member would be left"}},
		{name: "fewer members than n", n: 3, members: []string{"n1", "n2"}, warns: []string{"n=3 but only 2 members: all 64 partitions would have 2 replicas, not 3"}},
		{name: "n zones", n: 3, members: []string{"n1@a", "n2@b", "n3@c", "n4@a", "n5@b"}},
		{name: "fewer zones than n", n: 3, members: []string{"n1@a", "n2@a", "n3@b", "n4@b"},
			warns: []string{"only 2 zones for n=3 (a, b): preference lists can't span n zones; 64 partitions would have two replicas in one zone"}},
		{name: "unzoned nodes are zones of their own", n: 3, members: []string{"n1@a", "n2@a", "n3"},
			warns: []string{"only 2 zones for n=3 (a, and 1 node without a zone, each a zone of its own)"}},
		{name: "enough zones with unzoned nodes", n: 3, members: []string{"n1@a", "n2@a", "n3", "n4"}},
		{name: "few members, few zones", n: 3, members: []string{"n1@a", "n2@b"},
			warns: []string{"only 2 members", "only 2 zones for n=3 (a, b): preference lists can't span n zones"}},
		{name: "one member, one zone", n: 2, members: []string{"n1@a"},
			warns: []string{"n=2 but only 1 member: all 64 partitions would have 1 replica, not 2", "only 1 zone for n=2 (a): preference lists can't span n zones"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkWarnings(t, placementWarnings(testRing(t, 64, tc.n, tc.members...)), tc.warns)
		})
	}
}

func TestPlanMemberWarnings(t *testing.T) {
	c := State{Partitions: 8, N: 3, Members: map[string]Record{
		"n1": {Name: "n1", Status: StatusValid},
		"n2": {Name: "n2", Status: StatusValid},
		"n3": {Name: "n3", Status: StatusLeaving},
		"n4": {Name: "n4", Status: StatusLeft},
	}}
	for _, tc := range []struct {
		name  string
		ch    api.PlanChange
		down  []string
		warns []string
	}{
		{name: "all up", ch: api.PlanChange{Op: api.PlanJoin, Node: "n5"}},
		{name: "a member down", ch: api.PlanChange{Op: api.PlanJoin, Node: "n5"}, down: []string{"n2"},
			warns: []string{"n2 (valid) is down: transfers from and to it wait"}},
		{name: "a node that left is not a member", ch: api.PlanChange{Op: api.PlanJoin, Node: "n5"}, down: []string{"n4"}},
		{name: "removing a dead node", ch: api.PlanChange{Op: api.PlanRemove, Node: "n2"}, down: []string{"n2"}},
		{name: "removing a live node", ch: api.PlanChange{Op: api.PlanRemove, Node: "n2"}, warns: []string{"n2 is alive: remove is for dead nodes"}},
		{name: "removing itself", ch: api.PlanChange{Op: api.PlanRemove, Node: "n1"}, warns: []string{"n1 can't remove itself"}},
		{name: "leaving a leaving node", ch: api.PlanChange{Op: api.PlanLeave, Node: "n3"}, down: []string{"n3"},
			warns: []string{"n3 is already leaving", "n3 (leaving) is down"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alive := func(name string) bool { return !slices.Contains(tc.down, name) }
			checkWarnings(t, MemberWarnings(c, tc.ch, "n1", alive), tc.warns)
		})
	}
}

func TestPlanMergeMaxKeys(t *testing.T) {
	keys := make([]int64, 3)
	for _, counts := range [][]int{{1, 5, 0}, {4, 2, 0}, {0, 0, 7}} {
		MergeMaxKeys(keys, counts)
	}
	if want := []int64{4, 5, 7}; !slices.Equal(keys, want) {
		t.Fatalf("got %v, want %v", keys, want)
	}
}

func TestMakePlanJSON(t *testing.T) {
	before := testRing(t, 16, 3, "n1", "n2", "n3")
	ch := api.PlanChange{Op: api.PlanJoin, Node: "n4"}
	after, err := PlanAfter(before, ch)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]int64, 16)
	for p := range keys {
		keys[p] = 100
	}
	p := MakePlan(ch, before, after, keys, 50, 1000)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"change", "partitions", "n", "transfer_rate_bytes_per_sec", "nodes", "moves", "balance", "warnings"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	if p.Partitions != 16 || p.N != 3 || p.TransferRate != 1000 || p.Change != ch || len(p.Nodes) != 4 {
		t.Errorf("plan %+v", p)
	}
	if p.Warnings == nil {
		t.Error("warnings is null, want []")
	}
	// n4 gains what the others lose; every gained partition moves 100 keys.
	n4 := p.Nodes[3]
	if n4.Node != "n4" || len(n4.Gain) == 0 || p.Moves.Partitions != len(n4.Gain) ||
		p.Moves.Keys != int64(100*len(n4.Gain)) || p.Moves.Bytes != 50*p.Moves.Keys ||
		p.Moves.Seconds != float64(p.Moves.Bytes)/1000 {
		t.Errorf("n4 %+v, moves %+v", n4, p.Moves)
	}
}

func TestCheckChange(t *testing.T) {
	c := State{Partitions: 8, N: 3, Members: map[string]Record{
		"n1": {Name: "n1", Status: StatusValid, Zone: "a"},
		"n4": {Name: "n4", Status: StatusLeft},
	}}
	for _, tc := range []struct {
		name string
		ch   api.PlanChange
		err  error  // nil: accepted
		msg  string // the refusal's text
	}{
		{name: "join new", ch: api.PlanChange{Op: api.PlanJoin, Node: "n9"}},
		{name: "leave valid", ch: api.PlanChange{Op: api.PlanLeave, Node: "n1"}},
		{name: "join valid", ch: api.PlanChange{Op: api.PlanJoin, Node: "n1"}, err: ErrAlreadyMember, msg: "n1 is already in the ring (valid)"},
		{name: "leave unknown", ch: api.PlanChange{Op: api.PlanLeave, Node: "n9"}, err: ErrNotMember, msg: "n9 is not in the ring"},
		{name: "remove left", ch: api.PlanChange{Op: api.PlanRemove, Node: "n4"}, err: ErrNotMember, msg: "n4 is not in the ring (left)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CheckChange(c, tc.ch)
			var ce *ChangeError
			switch {
			case tc.err == nil && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != nil && (!errors.Is(err, tc.err) || !errors.As(err, &ce) || err.Error() != tc.msg):
				t.Fatalf("error %v, want %q wrapping %v", err, tc.msg, tc.err)
			}
		})
	}
}

// PendingChanges lists joins the table lacks and table members no longer
// to be placed, a removed one as a remove, by name.
func TestPendingChanges(t *testing.T) {
	c := State{Partitions: 8, N: 2, Members: map[string]Record{
		"a": {Name: "a", Status: StatusValid},
		"b": {Name: "b", Status: StatusLeaving, Zone: "zb"},
		"c": {Name: "c", Status: StatusRemoved},
		"d": {Name: "d", Status: StatusJoining, Zone: "zd"},
	}}
	if got := PendingChanges(c); got == nil || len(got) != 2 {
		t.Fatalf("before any table: %+v, want the joins of a and d", got)
	}
	c.Table = &Table{Version: 1, Members: []TableMember{{Name: "a"}, {Name: "b", Zone: "zb"}, {Name: "c"}}, Owners: make([]int, 8)}
	want := []api.PlanChange{
		{Op: api.PlanLeave, Node: "b", Zone: "zb"},
		{Op: api.PlanRemove, Node: "c"},
		{Op: api.PlanJoin, Node: "d", Zone: "zd"},
	}
	if got := PendingChanges(c); !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
