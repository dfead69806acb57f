package quorum

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: pick one from the clock and print it)")

func testSeed(t *testing.T) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	return seed
}

func TestOutcomeString(t *testing.T) {
	for o, want := range map[Outcome]string{Pending: "pending", Succeeded: "succeeded", Failed: "failed", 7: "Outcome(7)"} {
		if o.String() != want {
			t.Errorf("Outcome(%d).String() = %q, want %q", o, o.String(), want)
		}
	}
}

func TestDecide(t *testing.T) {
	type c = struct {
		name                                    string
		need, needPri, ok, okPri, fail, failPri int
		total, totalPri                         int
		want                                    Outcome
	}
	cases := []c{
		// Plain quorums, all targets primaries (N=3).
		{"W=2 no replies", 2, 0, 0, 0, 0, 0, 3, 3, Pending},
		{"W=2 one ack", 2, 0, 1, 1, 0, 0, 3, 3, Pending},
		{"W=2 two acks", 2, 0, 2, 2, 0, 0, 3, 3, Succeeded},
		{"W=2 three acks", 2, 0, 3, 3, 0, 0, 3, 3, Succeeded},
		{"W=2 one failure", 2, 0, 0, 0, 1, 1, 3, 3, Pending},
		{"W=2 two failures", 2, 0, 0, 0, 2, 2, 3, 3, Failed},
		{"W=2 ack and failure", 2, 0, 1, 1, 1, 1, 3, 3, Pending},
		{"W=2 ack then two failures", 2, 0, 1, 1, 2, 2, 3, 3, Failed},
		{"W=2 two acks one failure", 2, 0, 2, 2, 1, 1, 3, 3, Succeeded},
		{"W=1 first ack", 1, 0, 1, 1, 0, 0, 3, 3, Succeeded},
		{"W=1 two failures", 1, 0, 0, 0, 2, 2, 3, 3, Pending},
		{"W=1 all failed", 1, 0, 0, 0, 3, 3, 3, 3, Failed},
		{"W=all one failure", 3, 0, 2, 2, 1, 1, 3, 3, Failed},
		{"W=all all acked", 3, 0, 3, 3, 0, 0, 3, 3, Succeeded},
		{"need 0 succeeds with no replies", 0, 0, 0, 0, 0, 0, 3, 3, Succeeded},
		{"need above targets fails at once", 3, 0, 0, 0, 0, 0, 2, 2, Failed},
		{"no targets, need 1", 1, 0, 0, 0, 0, 0, 0, 0, Failed},
		{"no targets, need 0", 0, 0, 0, 0, 0, 0, 0, 0, Succeeded},
		// Sloppy quorum: two primaries and one fallback.
		{"fallback ack counts for W", 2, 0, 2, 1, 0, 0, 3, 2, Succeeded},
		{"two fallback acks count for W", 2, 0, 2, 0, 0, 0, 4, 2, Succeeded},
		// PW/PR: primaries required.
		{"PW=1 met by a primary", 2, 1, 2, 1, 0, 0, 3, 2, Succeeded},
		{"PW=1 only fallbacks acked so far", 2, 1, 2, 0, 0, 0, 4, 2, Pending},
		{"PW=1 primaries all failed", 2, 1, 2, 0, 2, 2, 4, 2, Failed},
		{"PW=2 one primary failed, one left", 2, 2, 1, 1, 1, 1, 4, 2, Failed},
		{"PW=2 both primaries acked", 2, 2, 2, 2, 0, 0, 3, 2, Succeeded},
		{"PW=2 W met, primaries not", 2, 2, 2, 1, 0, 0, 3, 2, Pending},
		{"PW=2 but only one primary target", 2, 2, 0, 0, 0, 0, 3, 1, Failed},
		{"PW=3 fallback acks do not help", 3, 3, 3, 2, 0, 0, 4, 3, Pending},
		{"PR above R waits for primaries", 1, 3, 2, 2, 0, 0, 3, 3, Pending},
		{"PR above R met", 1, 3, 3, 3, 0, 0, 3, 3, Succeeded},
		{"fallback failure does not hurt PW", 2, 2, 1, 1, 1, 0, 3, 2, Pending},
		{"PW met but W impossible", 3, 1, 1, 1, 2, 0, 3, 1, Failed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Decide(tc.need, tc.needPri, tc.ok, tc.okPri, tc.fail, tc.failPri, tc.total, tc.totalPri)
			if got != tc.want {
				t.Fatalf("Decide = %v, want %v", got, tc.want)
			}
			if ref := bruteDecide(tc.need, tc.needPri, targetsFromCounts(tc.ok, tc.okPri, tc.fail, tc.failPri, tc.total, tc.totalPri)); ref != tc.want {
				t.Fatalf("table says %v but brute force says %v", tc.want, ref)
			}
		})
	}
}

func TestDecidePanicsOnInconsistentCounts(t *testing.T) {
	cases := []struct {
		name string
		args [8]int
	}{
		{"negative need", [8]int{-1, 0, 0, 0, 0, 0, 3, 3}},
		{"more replies than targets", [8]int{2, 0, 2, 2, 2, 2, 3, 3}},
		{"okPrimary above ok", [8]int{2, 0, 1, 2, 0, 0, 3, 3}},
		{"failedPrimary above failed", [8]int{2, 0, 0, 0, 1, 2, 3, 3}},
		{"more primaries than targets", [8]int{2, 0, 0, 0, 0, 0, 3, 4}},
		{"more primary replies than primaries", [8]int{2, 0, 2, 2, 0, 0, 3, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("Decide%v did not panic", tc.args)
				}
			}()
			a := tc.args
			Decide(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7])
		})
	}
}

// simTarget is one target in the brute-force model.
type simTarget struct {
	primary bool
	state   replyState
}

func targetsFromCounts(ok, okPri, fail, failPri, total, totalPri int) []simTarget {
	var ts []simTarget
	add := func(n int, primary bool, s replyState) {
		for range n {
			ts = append(ts, simTarget{primary, s})
		}
	}
	add(okPri, true, acked)
	add(ok-okPri, false, acked)
	add(failPri, true, failed)
	add(fail-failPri, false, failed)
	add(totalPri-okPri-failPri, true, awaiting)
	add(total-totalPri-(ok-okPri)-(fail-failPri), false, awaiting)
	return ts
}

// bruteDecide is the dumb alternative to Decide: it tries every way the
// outstanding targets could answer.
func bruteDecide(need, needPri int, ts []simTarget) Outcome {
	met := func(ts []simTarget) bool {
		ok, okPri := 0, 0
		for _, t := range ts {
			if t.state == acked {
				ok++
				if t.primary {
					okPri++
				}
			}
		}
		return ok >= need && okPri >= needPri
	}
	if met(ts) {
		return Succeeded
	}
	var open []int
	for i, t := range ts {
		if t.state == awaiting {
			open = append(open, i)
		}
	}
	for mask := range 1 << len(open) {
		c := slices.Clone(ts)
		for bit, i := range open {
			if mask&(1<<bit) != 0 {
				c[i].state = acked
			} else {
				c[i].state = failed
			}
		}
		if met(c) {
			return Pending
		}
	}
	return Failed
}

// TestDecideExhaustive compares Decide with the brute force on every
// consistent input with up to 6 targets.
func TestDecideExhaustive(t *testing.T) {
	checked := 0
	for total := 0; total <= 6; total++ {
		for totalPri := 0; totalPri <= total; totalPri++ {
			fallbacks := total - totalPri
			for okPri := 0; okPri <= totalPri; okPri++ {
				for failPri := 0; okPri+failPri <= totalPri; failPri++ {
					for okFb := 0; okFb <= fallbacks; okFb++ {
						for failFb := 0; okFb+failFb <= fallbacks; failFb++ {
							ok, fail := okPri+okFb, failPri+failFb
							ts := targetsFromCounts(ok, okPri, fail, failPri, total, totalPri)
							for need := 0; need <= total+1; need++ {
								for needPri := 0; needPri <= totalPri+1; needPri++ {
									got := Decide(need, needPri, ok, okPri, fail, failPri, total, totalPri)
									if want := bruteDecide(need, needPri, ts); got != want {
										t.Fatalf("Decide(need=%d needPri=%d ok=%d okPri=%d fail=%d failPri=%d total=%d totalPri=%d) = %v, brute force says %v",
											need, needPri, ok, okPri, fail, failPri, total, totalPri, got, want)
									}
									checked++
								}
							}
						}
					}
				}
			}
		}
	}
	t.Logf("checked %d inputs", checked)
}

func pTarget(id string) ring.Target { return ring.Target{ID: ring.NodeID(id), Primary: true} }
func fTarget(id, forID string) ring.Target {
	return ring.Target{ID: ring.NodeID(id), For: ring.NodeID(forID)}
}

func ids(s ...string) []ring.NodeID {
	var out []ring.NodeID
	for _, x := range s {
		out = append(out, ring.NodeID(x))
	}
	return out
}

func TestTracker(t *testing.T) {
	three := []ring.Target{pTarget("p1"), pTarget("p2"), pTarget("p3")}
	sloppy := []ring.Target{pTarget("p1"), pTarget("p2"), fTarget("f1", "p3")}
	type ev struct {
		from string
		ok   bool
		want Outcome
	}
	cases := []struct {
		name                string
		need, needPri       int
		targets             []ring.Target
		initial             Outcome
		events              []ev
		acked, failed, pend []ring.NodeID
		ok, okPri, fail     int
	}{
		{
			name: "W=2 succeeds on the second ack and records later acks", need: 2, targets: three,
			events: []ev{{"p2", true, Pending}, {"p1", true, Succeeded}, {"p3", true, Succeeded}},
			acked:  ids("p1", "p2", "p3"), ok: 3, okPri: 3,
		},
		{
			name: "W=2 fails on the second failure and stays failed", need: 2, targets: three,
			events: []ev{{"p1", false, Pending}, {"p3", false, Failed}, {"p2", true, Failed}},
			acked:  ids("p2"), failed: ids("p1", "p3"), ok: 1, okPri: 1, fail: 2,
		},
		{
			name: "a success is not undone by a later failure", need: 2, targets: three,
			events: []ev{{"p1", true, Pending}, {"p2", true, Succeeded}, {"p3", false, Succeeded}},
			acked:  ids("p1", "p2"), failed: ids("p3"), ok: 2, okPri: 2, fail: 1,
		},
		{
			name: "duplicate replies count once", need: 2, targets: three,
			events: []ev{{"p1", true, Pending}, {"p1", true, Pending}, {"p1", false, Pending}},
			acked:  ids("p1"), pend: ids("p2", "p3"), ok: 1, okPri: 1,
		},
		{
			name: "replies from unknown nodes are ignored", need: 1, targets: three,
			events: []ev{{"x9", true, Pending}, {"", true, Pending}},
			pend:   ids("p1", "p2", "p3"),
		},
		{
			name: "fallback acks count for W", need: 2, targets: sloppy,
			events: []ev{{"f1", true, Pending}, {"p1", true, Succeeded}},
			acked:  ids("p1", "f1"), pend: ids("p2"), ok: 2, okPri: 1,
		},
		{
			name: "PW=2 needs both primaries despite a fallback ack", need: 2, needPri: 2, targets: sloppy,
			events: []ev{{"f1", true, Pending}, {"p1", true, Pending}, {"p2", true, Succeeded}},
			acked:  ids("p1", "p2", "f1"), ok: 3, okPri: 2,
		},
		{
			name: "PW=2 fails once a primary fails", need: 2, needPri: 2, targets: sloppy,
			events: []ev{{"p2", false, Failed}, {"f1", true, Failed}, {"p1", true, Failed}},
			acked:  ids("p1", "f1"), failed: ids("p2"), ok: 2, okPri: 1, fail: 1,
		},
		{
			name: "PR above R waits for every primary", need: 1, needPri: 3, targets: three,
			events: []ev{{"p1", true, Pending}, {"p2", true, Pending}, {"p3", true, Succeeded}},
			acked:  ids("p1", "p2", "p3"), ok: 3, okPri: 3,
		},
		{
			name: "W=all fails on the first failure", need: 3, targets: three,
			events: []ev{{"p2", false, Failed}},
			failed: ids("p2"), pend: ids("p1", "p3"), fail: 1,
		},
		{
			name: "need 0 succeeds before any reply", need: 0, targets: three, initial: Succeeded,
			events: []ev{{"p1", false, Succeeded}},
			failed: ids("p1"), pend: ids("p2", "p3"), fail: 1,
		},
		{
			name: "need above the targets fails before any reply", need: 4, targets: three, initial: Failed,
			pend: ids("p1", "p2", "p3"),
		},
		{
			name: "no targets", need: 1, initial: Failed,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(tc.need, tc.needPri, tc.targets)
			if got := tr.Outcome(); got != tc.initial {
				t.Fatalf("initial Outcome = %v, want %v", got, tc.initial)
			}
			for i, e := range tc.events {
				if got := tr.Record(ring.NodeID(e.from), e.ok); got != e.want {
					t.Fatalf("event %d Record(%s, %v) = %v, want %v", i, e.from, e.ok, got, e.want)
				}
				if got := tr.Outcome(); got != e.want {
					t.Fatalf("event %d: Outcome = %v after Record returned %v", i, got, e.want)
				}
			}
			if got := tr.Acked(); !slices.Equal(got, tc.acked) {
				t.Errorf("Acked = %v, want %v", got, tc.acked)
			}
			if got := tr.Failed(); !slices.Equal(got, tc.failed) {
				t.Errorf("Failed = %v, want %v", got, tc.failed)
			}
			if got := tr.Pending(); !slices.Equal(got, tc.pend) {
				t.Errorf("Pending = %v, want %v", got, tc.pend)
			}
			if ok, okPri, fail := tr.Counts(); ok != tc.ok || okPri != tc.okPri || fail != tc.fail {
				t.Errorf("Counts = %d, %d, %d; want %d, %d, %d", ok, okPri, fail, tc.ok, tc.okPri, tc.fail)
			}
		})
	}
}

func TestTrackerCopiesTargets(t *testing.T) {
	targets := []ring.Target{pTarget("p1"), pTarget("p2")}
	tr := NewTracker(1, 0, targets)
	targets[0] = pTarget("zz")
	if got := tr.Record("p1", true); got != Succeeded {
		t.Fatalf("Record(p1) = %v after the caller reused its slice; want succeeded", got)
	}
}

func TestNewTrackerPanics(t *testing.T) {
	cases := []struct {
		name          string
		need, needPri int
		targets       []ring.Target
	}{
		{"duplicate target", 1, 0, []ring.Target{pTarget("p1"), fTarget("p1", "p2")}},
		{"negative need", -1, 0, nil},
		{"negative primary need", 1, -1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("NewTracker did not panic")
				}
			}()
			NewTracker(tc.need, tc.needPri, tc.targets)
		})
	}
}

// TestTrackerRandom feeds random reply sequences (with duplicates and
// strangers) to Trackers and checks each step against the brute force
// over the targets' explicit states, plus monotonicity of the outcome.
func TestTrackerRandom(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0x9e0))
	for run := range 2000 {
		n := r.IntN(8)
		var targets []ring.Target
		model := make([]simTarget, n)
		for i := range n {
			id := fmt.Sprintf("n%d", i)
			if r.IntN(3) == 0 {
				targets = append(targets, fTarget(id, "x"))
			} else {
				targets = append(targets, pTarget(id))
				model[i].primary = true
			}
		}
		need, needPri := r.IntN(n+2), r.IntN(n+2)
		tr := NewTracker(need, needPri, targets)
		prev := tr.Outcome()
		for step := range 3 * n {
			i := r.IntN(n + 1) // n: a stranger
			ok := r.IntN(2) == 0
			id := ring.NodeID("stranger")
			if i < n {
				id = targets[i].ID
				if model[i].state == awaiting {
					model[i].state = failed
					if ok {
						model[i].state = acked
					}
				}
			}
			got := tr.Record(id, ok)
			if want := bruteDecide(need, needPri, model); got != want {
				t.Fatalf("run %d step %d: Record(%s, %v) = %v, brute force says %v (need=%d/%d targets=%v)",
					run, step, id, ok, got, want, need, needPri, targets)
			}
			if prev != Pending && got != prev {
				t.Fatalf("run %d step %d: outcome changed from %v to %v", run, step, prev, got)
			}
			prev = got
		}
		if a, f, p := len(tr.Acked()), len(tr.Failed()), len(tr.Pending()); a+f+p != n {
			t.Fatalf("run %d: %d acked + %d failed + %d pending != %d targets", run, a, f, p, n)
		}
	}
}
