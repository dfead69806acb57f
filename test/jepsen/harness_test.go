package jepsen

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
	"github.com/dynago/dynago/vclock"
)

var five = []string{"n1", "n2", "n3", "n4", "n5"}

// reach returns, for each node, the nodes it can still talk to under g.
func reach(g Grudge, nodes []string) map[string][]string {
	out := map[string][]string{}
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b && !slices.Contains(g[a], b) {
				out[a] = append(out[a], b)
			}
		}
	}
	return out
}

func TestHarnessShapes(t *testing.T) {
	cases := []struct {
		name  string
		shape string
		want  map[string][]string // reachable peers per node
	}{
		{"halves", Halves, map[string][]string{"n1": {"n2"}, "n2": {"n1"}, "n3": {"n4", "n5"}, "n4": {"n3", "n5"}, "n5": {"n3", "n4"}}},
		{"isolate one", IsolateOne, map[string][]string{"n2": {"n3", "n4", "n5"}, "n3": {"n2", "n4", "n5"}, "n4": {"n2", "n3", "n5"}, "n5": {"n2", "n3", "n4"}}},
		{"bridge", Bridge, map[string][]string{"n1": {"n2", "n3"}, "n2": {"n1", "n3"}, "n3": {"n1", "n2", "n4", "n5"}, "n4": {"n3", "n5"}, "n5": {"n3", "n4"}}},
		{"majorities ring", MajoritiesRing, map[string][]string{"n1": {"n2", "n5"}, "n2": {"n1", "n3"}, "n3": {"n2", "n4"}, "n4": {"n3", "n5"}, "n5": {"n1", "n4"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := Shape(tc.shape, five)
			if got := reach(g, five); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("reachable peers:\n got %v\nwant %v", got, tc.want)
			}
			for a, bs := range g { // symmetric: a rule per direction
				for _, b := range bs {
					if !slices.Contains(g[b], a) {
						t.Fatalf("%s drops %s but not the other way", a, b)
					}
				}
			}
			if n := len(g.Pairs()); n%2 != 0 {
				t.Fatalf("%d DROP rules: not one per direction", n)
			}
		})
	}
}

func TestHarnessComponents(t *testing.T) {
	cases := []struct {
		name string
		g    Grudge
		want string
	}{
		{"none", Grudge{}, "n1,n2,n3,n4,n5"},
		{"halves", Shape(Halves, five), "n1,n2 | n3,n4,n5"},
		{"isolate", Shape(IsolateOne, []string{"n3", "n1", "n2", "n4", "n5"}), "n1,n2,n4,n5 | n3"},
		{"bridge is not a clean split", Shape(Bridge, five), "cuts n1-x-n4,n5 n2-x-n4,n5 n4-x-n1,n2 n5-x-n1,n2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Components(tc.g, five); got != tc.want {
				t.Fatalf("Components = %q, want %q", got, tc.want)
			}
		})
	}
}

// The same seed plans the same schedule; another seed another one.
func TestHarnessPlanDeterministic(t *testing.T) {
	g := Compose{
		PartitionCycle{Shapes: []string{Halves, IsolateOne, Bridge, MajoritiesRing}, Start: 5 * time.Second, On: 10 * time.Second, Off: 10 * time.Second},
		Periodic{Fault: FaultCrash, Start: 3 * time.Second, Every: 15 * time.Second, Down: 5 * time.Second},
		Periodic{Fault: FaultSkew, Start: time.Second, Every: 7 * time.Second, Down: 3 * time.Second, MaxSkew: time.Minute},
	}
	a := Plan(g, 42, five, 2*time.Minute)
	b := Plan(g, 42, five, 2*time.Minute)
	c := Plan(g, 43, five, 2*time.Minute)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed planned two schedules")
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("seeds 42 and 43 planned the same schedule")
	}
	if !slices.IsSortedFunc(a, func(x, y Event) int { return int(x.At - y.At) }) {
		t.Fatal("events out of time order")
	}
	starts := map[string]int{}
	for _, e := range a {
		if e.At > 2*time.Minute {
			t.Fatalf("event after the workload: %+v", e)
		}
		if e.Phase == "start" {
			starts[e.Fault]++
		} else {
			starts[e.Fault]--
		}
		if e.Fault == FaultSkew && e.Phase == "start" && (e.Offset < -time.Minute || e.Offset > time.Minute) {
			t.Fatalf("skew beyond its bound: %v", e.Offset)
		}
	}
	for f, n := range starts {
		if n != 0 {
			t.Fatalf("%s: %d more starts than stops", f, n)
		}
	}
}

func TestHarnessPeriodicSameNode(t *testing.T) {
	ev := Plan(Periodic{Fault: FaultAmnesia, Start: time.Second, Every: 10 * time.Second, Down: 2 * time.Second, SameNode: true}, 7, five, time.Minute)
	if len(ev) != 12 {
		t.Fatalf("%d events, want 12", len(ev))
	}
	for _, e := range ev {
		if e.Nodes[0] != ev[0].Nodes[0] {
			t.Fatalf("SameNode hit %s and %s", ev[0].Nodes[0], e.Nodes[0])
		}
	}
}

func TestHarnessWriteOutcome(t *testing.T) {
	cases := []struct {
		name   string
		status int
		code   string
		want   history.Type
	}{
		{"refused up front", 503, "unavailable", history.Fail},
		{"missed W acks", 503, "write_indeterminate", history.Info},
		{"coordinator storage failed", 503, "write_failed", history.Info},
		{"too many siblings", 409, "too_many_siblings", history.Fail},
		{"bad context", 400, "bad_context", history.Fail},
		{"unknown server error", 500, "storage", history.Info},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := WriteOutcome(tc.status, tc.code); got != tc.want {
				t.Fatalf("WriteOutcome(%d, %s) = %s, want %s", tc.status, tc.code, got, tc.want)
			}
		})
	}
}

func TestHarnessContextGrew(t *testing.T) {
	empty := vclock.EncodeContext(vclock.VV{})
	one := vclock.EncodeContext(vclock.NewVV(vclock.Dot{Actor: vclock.Actor{Node: "n1", Epoch: 1}, Counter: 1}))
	cases := []struct {
		name           string
		sent, returned string
		want           bool
	}{
		{"blind write answered with the empty context", "", empty, false},
		{"same context back", one, one, false},
		{"covers the new write", "", one, true},
		{"garbage", "", "!!", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ContextGrew(tc.sent, tc.returned); got != tc.want {
				t.Fatalf("ContextGrew(%q, %q) = %v, want %v", tc.sent, tc.returned, got, tc.want)
			}
		})
	}
}

func TestHarnessKeysUsed(t *testing.T) {
	sc := Scenario{Workloads: []WorkloadSpec{{Kind: SetWorkload, Keys: 2}, {Kind: Register, Name: StrictRegister, Keys: 1}}}
	ops := []history.Op{
		{Type: history.Invoke, Process: 1, F: history.Read, Key: "set-1-3", Workload: SetWorkload},
		{Type: history.Invoke, Process: history.ConvergeProcess, F: history.Read, Key: "other", Workload: "x"},
	}
	got := keysUsed(sc, ops)
	want := [][2]string{{"set-0-0", SetWorkload}, {"set-1-0", SetWorkload}, {"strict-register-0", StrictRegister}, {"set-1-3", SetWorkload}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("keysUsed = %v, want %v", got, want)
	}
}

// Every scenario is well formed: known checkers, claims and expectations
// name checkers it runs, and claims name workloads it has.
func TestHarnessScenarios(t *testing.T) {
	seen := map[string]bool{}
	for _, sc := range Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			if seen[sc.Name] {
				t.Fatal("duplicate scenario name")
			}
			seen[sc.Name] = true
			if sc.Title == "" || sc.Injects == "" || sc.Asserts == "" {
				t.Fatal("missing title, injects or asserts")
			}
			tags := map[string]bool{}
			for _, w := range sc.Workloads {
				if tags[w.Tag()] {
					t.Fatalf("two workloads tagged %s", w.Tag())
				}
				tags[w.Tag()] = true
			}
			for _, c := range sc.Checkers {
				if _, ok := CheckerFuncs[c]; !ok {
					t.Fatalf("unknown checker %q", c)
				}
			}
			for c, wls := range sc.Claims {
				if !slices.Contains(sc.Checkers, c) {
					t.Fatalf("claim for %s, which the scenario does not run", c)
				}
				for _, wl := range wls {
					if !tags[wl] {
						t.Fatalf("claim names workload %s, which the scenario lacks", wl)
					}
				}
			}
			for c := range sc.Expect {
				if !slices.Contains(sc.Checkers, c) {
					t.Fatalf("expectation for %s, which the scenario does not run", c)
				}
			}
		})
	}
	for _, name := range []string{"droprule", "S1", "S2", "S4", "S7", "S12", "S13", "S14", "S15"} {
		if !slices.Contains(SmokeSet(), name) {
			t.Errorf("smoke set lacks %s", name)
		}
	}
}

// S15's logic, for a few seeds: the clean synthetic history passes every
// checker and each anomaly is flagged exactly.
func TestHarnessSynthetic(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		res, err := RunSynthetic(seed, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Problems {
			t.Errorf("seed %d: %s", seed, p)
		}
		if len(res.Verdicts) != len(AllCheckers)+len(Anomalies()) {
			t.Fatalf("seed %d: %d verdicts", seed, len(res.Verdicts))
		}
	}
}
