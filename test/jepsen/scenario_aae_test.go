package jepsen

import (
	"testing"
	"time"
)

// CrashOnce keeps one node down from Start until Tail before the end, the
// same node for the same seed, and plans nothing for a workload too short.
func TestHarnessCrashOnce(t *testing.T) {
	g := CrashOnce{Start: 5 * time.Second, Tail: 5 * time.Second}
	cases := []struct {
		name   string
		length time.Duration
		down   time.Duration // 0: no fault
	}{
		{"full", 40 * time.Second, 30 * time.Second},
		{"smoke", 25 * time.Second, 15 * time.Second},
		{"too short", 10 * time.Second, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := Plan(g, 42, five, tc.length)
			if tc.down == 0 {
				if len(ev) != 0 {
					t.Fatalf("planned %+v for a %s workload", ev, tc.length)
				}
				return
			}
			if len(ev) != 2 || ev[0].Phase != "start" || ev[1].Phase != "stop" || ev[0].Fault != FaultCrash {
				t.Fatalf("events %+v, want one crash start and stop", ev)
			}
			if ev[0].Nodes[0] != ev[1].Nodes[0] {
				t.Fatalf("kills %s, restarts %s", ev[0].Nodes[0], ev[1].Nodes[0])
			}
			if got := ev[1].At - ev[0].At; got != tc.down {
				t.Fatalf("down %s, want %s", got, tc.down)
			}
			if again := Plan(g, 42, five, tc.length); again[0].Nodes[0] != ev[0].Nodes[0] {
				t.Fatal("the same seed chose another node")
			}
		})
	}
}

// S10a and S10b differ only in the tombstone flags (a control changes
// one thing), and S10b must require the no-resurrection checker to fail.
func TestHarnessS10Control(t *testing.T) {
	a, b := Scenarios[0], Scenarios[0]
	for _, sc := range Scenarios {
		switch sc.Name {
		case "S10a":
			a = sc
		case "S10b":
			b = sc
		}
	}
	ca, cb := a.Config(), b.Config()
	if ca.ReadRepair != cb.ReadRepair || len(ca.AgentArgs) != len(cb.AgentArgs)-1 {
		t.Fatalf("S10a %v / %s, S10b %v / %s", ca.AgentArgs, ca.ReadRepair, cb.AgentArgs, cb.ReadRepair)
	}
	for i := range 2 {
		if ca.AgentArgs[i] != cb.AgentArgs[i] {
			t.Fatalf("S10a and S10b differ beyond the tombstone flags: %v vs %v", ca.AgentArgs, cb.AgentArgs)
		}
	}
	if b.Expected(CheckNoResurrection) || !a.Expected(CheckNoResurrection) {
		t.Fatal("S10b must expect no-resurrection to fail and S10a to hold")
	}
}
