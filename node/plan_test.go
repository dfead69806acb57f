package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/dynago/dynago/node/internal/membership"
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

func TestParsePlanQuery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		want  planChange
		bad   string // substring of the error; "" = accepted
	}{
		{name: "join", query: "join=n4", want: planChange{Op: "join", Node: "n4"}},
		{name: "join with zone", query: "join=n4&zone=b", want: planChange{Op: "join", Node: "n4", Zone: "b"}},
		{name: "leave", query: "leave=n2", want: planChange{Op: "leave", Node: "n2"}},
		{name: "remove", query: "remove=n3", want: planChange{Op: "remove", Node: "n3"}},
		{name: "nothing: the pending changes", query: "", want: planChange{Op: "pending"}},
		{name: "zone alone", query: "zone=b", bad: "zone goes with join"},
		{name: "two ops", query: "join=n4&leave=n2", bad: "both join and leave"},
		{name: "op twice", query: "leave=n2&leave=n3", bad: "needs one node name"},
		{name: "empty name", query: "remove=", bad: "needs one node name"},
		{name: "zone without join", query: "leave=n2&zone=a", bad: "zone goes with join"},
		{name: "zone twice", query: "join=n4&zone=a&zone=b", bad: "zone given 2 times"},
		{name: "unknown parameter", query: "jion=n4", bad: `unknown parameter "jion"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, aerr := parsePlanQuery(q)
			switch {
			case tc.bad == "" && aerr != nil:
				t.Fatalf("refused: %v", aerr)
			case tc.bad == "" && got != tc.want:
				t.Fatalf("got %+v, want %+v", got, tc.want)
			case tc.bad != "" && aerr == nil:
				t.Fatalf("accepted as %+v", got)
			case tc.bad != "" && (aerr.Status != http.StatusBadRequest || aerr.Code != "bad_plan" || !strings.Contains(aerr.Message, tc.bad)):
				t.Fatalf("error %d %s %q, want 400 bad_plan containing %q", aerr.Status, aerr.Code, aerr.Message, tc.bad)
			}
		})
	}
}

func TestCheckPlanChange(t *testing.T) {
	c := membership.State{Partitions: 8, N: 3, Members: map[string]membership.Record{
		"n1": {Name: "n1", Status: membership.StatusValid, Zone: "a"},
		"n2": {Name: "n2", Status: membership.StatusLeaving, Zone: "b"},
		"n3": {Name: "n3", Status: membership.StatusJoining},
		"n4": {Name: "n4", Status: membership.StatusLeft},
		"n5": {Name: "n5", Status: membership.StatusRemoved},
	}}
	for _, tc := range []struct {
		name     string
		ch       planChange
		status   int // 0: accepted
		code     string
		wantZone string
	}{
		{name: "join new", ch: planChange{Op: planJoin, Node: "n9", Zone: "z"}, wantZone: "z"},
		{name: "join one that left", ch: planChange{Op: planJoin, Node: "n4"}},
		{name: "join one that was removed", ch: planChange{Op: planJoin, Node: "n5"}},
		{name: "join valid", ch: planChange{Op: planJoin, Node: "n1"}, status: 409, code: "already_member"},
		{name: "join joining", ch: planChange{Op: planJoin, Node: "n3"}, status: 409, code: "already_member"},
		{name: "join leaving", ch: planChange{Op: planJoin, Node: "n2"}, status: 409, code: "already_member"},
		{name: "leave valid", ch: planChange{Op: planLeave, Node: "n1"}, wantZone: "a"},
		{name: "leave leaving", ch: planChange{Op: planLeave, Node: "n2"}, wantZone: "b"},
		{name: "remove joining", ch: planChange{Op: planRemove, Node: "n3"}},
		{name: "leave unknown", ch: planChange{Op: planLeave, Node: "n9"}, status: 404, code: "unknown_node"},
		{name: "remove left", ch: planChange{Op: planRemove, Node: "n4"}, status: 404, code: "unknown_node"},
		{name: "remove removed", ch: planChange{Op: planRemove, Node: "n5"}, status: 404, code: "unknown_node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, aerr := checkPlanChange(c, tc.ch)
			switch {
			case tc.status == 0 && aerr != nil:
				t.Fatalf("refused: %v", aerr)
			case tc.status == 0 && got.Zone != tc.wantZone:
				t.Fatalf("zone %q, want %q", got.Zone, tc.wantZone)
			case tc.status != 0 && aerr == nil:
				t.Fatal("accepted")
			case tc.status != 0 && (aerr.Status != tc.status || aerr.Code != tc.code):
				t.Fatalf("error %d %s, want %d %s", aerr.Status, aerr.Code, tc.status, tc.code)
			}
		})
	}
}

func TestPlanNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		q, n    int
		members []string
		ch      planChange
	}{
		{name: "join 4th", q: 64, n: 3, members: []string{"n1", "n2", "n3"}, ch: planChange{Op: planJoin, Node: "n4"}},
		{name: "join 2nd of n=3", q: 16, n: 3, members: []string{"n1"}, ch: planChange{Op: planJoin, Node: "n2"}},
		{name: "leave", q: 64, n: 3, members: []string{"n1", "n2", "n3", "n4"}, ch: planChange{Op: planLeave, Node: "n2"}},
		{name: "remove last", q: 8, n: 3, members: []string{"n1"}, ch: planChange{Op: planRemove, Node: "n1"}},
		{name: "join with zones", q: 64, n: 3, members: []string{"n1@a", "n2@b", "n3@c"}, ch: planChange{Op: planJoin, Node: "n4", Zone: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := testRing(t, tc.q, tc.n, tc.members...)
			after, err := planAfter(before, tc.ch)
			if err != nil {
				t.Fatal(err)
			}
			nodes := planNodes(before, after)
			if !slices.IsSortedFunc(nodes, func(a, b planNode) int { return strings.Compare(a.Node, b.Node) }) {
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
			if tc.ch.Op == planJoin {
				nd := nodes[slices.IndexFunc(nodes, func(nd planNode) bool { return nd.Node == tc.ch.Node })]
				if nd.PartitionsBefore != 0 || len(nd.Gain) == 0 || len(nd.Lose) != 0 || nd.Zone != tc.ch.Zone {
					t.Errorf("joining node %+v", nd)
				}
			} else {
				nd := nodes[slices.IndexFunc(nodes, func(nd planNode) bool { return nd.Node == tc.ch.Node })]
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
	after, err := planAfter(before, planChange{Op: planLeave, Node: "n4"})
	if err != nil || !after.Equal(before) {
		t.Fatalf("after %v, %v; want the placement unchanged", after, err)
	}
}

func TestPlanMovesOf(t *testing.T) {
	keys := []int64{10, 20, 30, 40}
	for _, tc := range []struct {
		name  string
		nodes []planNode
		bpk   float64
		rate  int64
		want  planMoves
	}{
		{name: "nothing moves", nodes: []planNode{{Node: "n1", Gain: []int{}}}, bpk: 100, rate: 1000, want: planMoves{}},
		{
			name:  "one node gains",
			nodes: []planNode{{Node: "n1", Gain: []int{}}, {Node: "n4", Gain: []int{0, 3}}},
			bpk:   100, rate: 1000,
			// 50 keys of 100 bytes at 1000 B/s.
			want: planMoves{Partitions: 2, Keys: 50, Bytes: 5000, Seconds: 5},
		},
		{
			name:  "time is the busiest node's",
			nodes: []planNode{{Node: "n1", Gain: []int{1}}, {Node: "n2", Gain: []int{0, 2}}, {Node: "n3", Gain: []int{3}}},
			bpk:   10, rate: 100,
			// n1 200 B, n2 400 B, n3 400 B: all at once, 4 s.
			want: planMoves{Partitions: 4, Keys: 100, Bytes: 1000, Seconds: 4},
		},
		{
			name:  "a partition to two new primaries moves twice",
			nodes: []planNode{{Node: "n1", Gain: []int{2}}, {Node: "n2", Gain: []int{2}}},
			bpk:   1.5, rate: 9,
			want: planMoves{Partitions: 2, Keys: 60, Bytes: 90, Seconds: 5},
		},
		{
			name:  "no data sampled",
			nodes: []planNode{{Node: "n4", Gain: []int{0, 1}}},
			bpk:   0, rate: 1000,
			want: planMoves{Partitions: 2, Keys: 30},
		},
		{
			name:  "no rate",
			nodes: []planNode{{Node: "n4", Gain: []int{0}}},
			bpk:   1, rate: 0,
			want: planMoves{Partitions: 1, Keys: 10, Bytes: 10},
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
		nodes     []planNode
		wantShare float64
		warns     []string // substrings, one per warning
	}{
		{
			name:  "even",
			after: testRing(t, 8, 1, "n1", "n2"),
			nodes: []planNode{{Node: "n1", PartitionsAfter: 4}, {Node: "n2", PartitionsAfter: 4}},
			// fair share 8×1/2 = 4.
			wantShare: 1,
		},
		{
			name:      "above the bound",
			after:     testRing(t, 8, 1, "n1", "n2"),
			nodes:     []planNode{{Node: "n1", PartitionsAfter: 6}, {Node: "n2", PartitionsAfter: 2}},
			wantShare: 1.5,
			warns:     []string{"n1 would hold 6 partitions, 1.50x its fair share of 4.0"},
		},
		{
			name:      "at the bound",
			after:     testRing(t, 8, 1, "n1", "n2"),
			nodes:     []planNode{{Node: "n1", PartitionsAfter: 5}, {Node: "n2", PartitionsAfter: 3}},
			wantShare: 1.25,
		},
		{
			name:  "a node going does not count",
			after: testRing(t, 8, 1, "n1", "n2"),
			nodes: []planNode{{Node: "n1", PartitionsAfter: 4}, {Node: "n2", PartitionsAfter: 4}, {Node: "n3", PartitionsAfter: 0}},
			// n3 is not in after: the fair share is over 2 members.
			wantShare: 1,
		},
		{
			name:  "fewer members than n",
			after: testRing(t, 8, 3, "n1", "n2"),
			// Each holds every partition: lists are 2 long, fair share 8.
			nodes:     []planNode{{Node: "n1", PartitionsAfter: 8}, {Node: "n2", PartitionsAfter: 8}},
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
	c := membership.State{Partitions: 8, N: 3, Members: map[string]membership.Record{
		"n1": {Name: "n1", Status: membership.StatusValid},
		"n2": {Name: "n2", Status: membership.StatusValid},
		"n3": {Name: "n3", Status: membership.StatusLeaving},
		"n4": {Name: "n4", Status: membership.StatusLeft},
	}}
	for _, tc := range []struct {
		name  string
		ch    planChange
		down  []string
		warns []string
	}{
		{name: "all up", ch: planChange{Op: planJoin, Node: "n5"}},
		{name: "a member down", ch: planChange{Op: planJoin, Node: "n5"}, down: []string{"n2"},
			warns: []string{"n2 (valid) is down: transfers from and to it wait"}},
		{name: "a node that left is not a member", ch: planChange{Op: planJoin, Node: "n5"}, down: []string{"n4"}},
		{name: "removing a dead node", ch: planChange{Op: planRemove, Node: "n2"}, down: []string{"n2"}},
		{name: "removing a live node", ch: planChange{Op: planRemove, Node: "n2"}, warns: []string{"n2 is alive: remove is for dead nodes"}},
		{name: "removing itself", ch: planChange{Op: planRemove, Node: "n1"}, warns: []string{"n1 can't remove itself"}},
		{name: "leaving a leaving node", ch: planChange{Op: planLeave, Node: "n3"}, down: []string{"n3"},
			warns: []string{"n3 is already leaving", "n3 (leaving) is down"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alive := func(name string) bool { return !slices.Contains(tc.down, name) }
			checkWarnings(t, memberWarnings(c, tc.ch, "n1", alive), tc.warns)
		})
	}
}

func TestPlanMergeMaxKeys(t *testing.T) {
	keys := make([]int64, 3)
	for _, counts := range [][]int{{1, 5, 0}, {4, 2, 0}, {0, 0, 7}} {
		mergeMaxKeys(keys, counts)
	}
	if want := []int64{4, 5, 7}; !slices.Equal(keys, want) {
		t.Fatalf("got %v, want %v", keys, want)
	}
}

func TestMakePlanJSON(t *testing.T) {
	before := testRing(t, 16, 3, "n1", "n2", "n3")
	ch := planChange{Op: planJoin, Node: "n4"}
	after, err := planAfter(before, ch)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]int64, 16)
	for p := range keys {
		keys[p] = 100
	}
	p := makePlan(ch, before, after, keys, 50, 1000)
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

// TestPlanHTTP asks a loaded 3-node cluster for plans through the API: a
// join of n4 gains n4 partitions and moves keys; a remove of n3 loses all
// of n3's (and warns that n3 is alive); bad requests are refused.
func TestPlanHTTP(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, inMemory: true})
	for i := range 300 {
		if r := nodes[i%3].put(fmt.Sprintf("k%03d", i), "value-of-some-length", "", "w=3"); r.status != 204 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	plan := func(tn *testNode, query string) planJSON {
		t.Helper()
		r := tn.do("GET", "/cluster/plan?"+query, nil, nil)
		if r.status != 200 {
			t.Fatalf("plan %s: %d %s", query, r.status, r.body)
		}
		var p planJSON
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	byName := func(p planJSON) map[string]planNode {
		out := map[string]planNode{}
		for _, nd := range p.Nodes {
			out[nd.Node] = nd
		}
		return out
	}

	p := plan(nodes[1], "join=n4&zone=")
	n4, ok := byName(p)["n4"]
	if p.Change != (planChange{Op: "join", Node: "n4"}) || p.Partitions != 256 || p.N != 3 || !ok {
		t.Fatalf("plan %+v", p)
	}
	if n4.PartitionsBefore != 0 || n4.PartitionsAfter == 0 || len(n4.Gain) != n4.PartitionsAfter {
		t.Errorf("n4 %+v", n4)
	}
	// 300 keys on 3 nodes with N=3: every node holds every key, and n4
	// takes about a quarter of the replicas.
	if p.Moves.Partitions < len(n4.Gain) || p.Moves.Keys <= 0 || p.Moves.Keys > 300*3 || p.Moves.Bytes <= p.Moves.Keys || p.Moves.Seconds <= 0 {
		t.Errorf("moves %+v", p.Moves)
	}
	if p.Balance.Bound != 1.25 || p.Balance.MaxShare < 1 {
		t.Errorf("balance %+v", p.Balance)
	}
	if len(p.Warnings) != 0 {
		t.Errorf("warnings %q", p.Warnings)
	}

	p = plan(nodes[0], "remove=n3")
	n3 := byName(p)["n3"]
	if p.Change != (planChange{Op: "remove", Node: "n3"}) || n3.PartitionsBefore != 256 || n3.PartitionsAfter != 0 || len(n3.Lose) != 256 {
		t.Errorf("plan %+v, n3 %+v", p.Change, n3)
	}
	// Two members for N=3: nothing moves (n1 and n2 hold everything
	// already), and the lists get short.
	if p.Moves.Partitions != 0 || p.Moves.Keys != 0 {
		t.Errorf("moves %+v", p.Moves)
	}
	checkWarnings(t, p.Warnings, []string{"n3 is alive", "n=3 but only 2 members"})

	for _, tc := range []struct {
		query  string
		status int
		code   string
	}{
		{"zone=a", 400, "bad_plan"},
		{"join=n4&leave=n2", 400, "bad_plan"},
		{"leave=n1&zone=a", 400, "bad_plan"},
		{"join=n1", 409, "already_member"},
		{"leave=n9", 404, "unknown_node"},
		{"remove=n9", 404, "unknown_node"},
	} {
		r := nodes[2].do("GET", "/cluster/plan?"+tc.query, nil, nil)
		body := r.json(t)
		if r.status != tc.status || body["code"] != tc.code || body["error"] == "" {
			t.Errorf("plan ?%s: %d %s, want %d code %s", tc.query, r.status, r.body, tc.status, tc.code)
		}
	}
}
