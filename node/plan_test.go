package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
)

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
	plan := func(tn *testNode, query string) api.Plan {
		t.Helper()
		r := tn.do("GET", "/cluster/plan?"+query, nil, nil)
		if r.status != 200 {
			t.Fatalf("plan %s: %d %s", query, r.status, r.body)
		}
		var p api.Plan
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	byName := func(p api.Plan) map[string]api.PlanNode {
		out := map[string]api.PlanNode{}
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
