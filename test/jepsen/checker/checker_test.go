package checker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Helpers that build completed operations; times are in arbitrary units.

func w(key, val string, inv, comp int64, covered ...string) history.Operation {
	return history.Operation{F: history.Write, Key: key, Workload: "register", Value: val, Covered: covered,
		Type: history.OK, Invoke: inv, Complete: comp, Returned: comp, Node: "n1"}
}

func del(key string, inv, comp int64, covered ...string) history.Operation {
	return history.Operation{F: history.Delete, Key: key, Workload: "delete", Covered: covered,
		Type: history.OK, Invoke: inv, Complete: comp, Returned: comp, Node: "n1"}
}

func rd(key string, inv, comp int64, sibs ...string) history.Operation {
	return history.Operation{F: history.Read, Key: key, Workload: "register", Siblings: sibs,
		Type: history.OK, Invoke: inv, Complete: comp, Returned: comp, Node: "n2"}
}

func final(op history.Operation) history.Operation { op.Final = true; return op }

func add(key string, elem int64, val string, inv, comp int64, covered ...string) history.Operation {
	return history.Operation{F: history.Add, Key: key, Workload: "set", Value: val, Element: elem, Covered: covered,
		Type: history.OK, Invoke: inv, Complete: comp, Returned: comp, Node: "n1"}
}

func info(op history.Operation) history.Operation {
	op.Type, op.Complete, op.Returned = history.Info, history.Forever, op.Complete
	return op
}

func fail(op history.Operation) history.Operation { op.Type = history.Fail; return op }

func workload(op history.Operation, wl string) history.Operation { op.Workload = wl; return op }

// index numbers the ops as a history would.
func index(ops ...history.Operation) []history.Operation {
	for i := range ops {
		ops[i].InvokeIndex, ops[i].CompleteIndex, ops[i].Process = i, i, i
	}
	return ops
}

type checkCase struct {
	name  string
	ops   []history.Operation
	valid bool
	kind  string // the violation kind expected when !valid
	count int    // expected violations when !valid (0: any)
}

func runCases(t *testing.T, check func([]history.Operation) Result, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := check(tc.ops)
			if res.Valid != tc.valid {
				t.Fatalf("%s: valid = %v, want %v; counts %v, examples %+v", res.Name, res.Valid, tc.valid, res.Counts, res.Examples)
			}
			if tc.valid {
				if len(res.Examples) != 0 || res.Counts["violations"] != 0 {
					t.Fatalf("valid result lists violations: %+v", res)
				}
				return
			}
			if len(res.Examples) == 0 || res.Examples[0].Kind != tc.kind {
				t.Fatalf("examples %+v, want kind %q", res.Examples, tc.kind)
			}
			if tc.count > 0 && res.Counts["violations"] != tc.count {
				t.Fatalf("%d violations, want %d: %+v", res.Counts["violations"], tc.count, res.Examples)
			}
		})
	}
}

func TestNoPhantom(t *testing.T) {
	runCases(t, NoPhantom, []checkCase{
		{"empty", nil, true, "", 0},
		{"read of a written value", index(w("k", "a", 1, 2), rd("k", 3, 4, "a")), true, "", 0},
		{"read overlapping its write", index(w("k", "a", 1, 10), rd("k", 3, 4, "a")), true, "", 0},
		{"info write visible", index(info(w("k", "a", 1, 2)), rd("k", 3, 4, "a")), true, "", 0},
		{"never written", index(w("k", "a", 1, 2), rd("k", 3, 4, "a", "zz")), false, "never_written", 1},
		{"written after the read ended", index(rd("k", 1, 2, "a"), w("k", "a", 3, 4)), false, "written_later", 1},
		{"failed write visible", index(fail(w("k", "a", 1, 2)), rd("k", 3, 4, "a")), false, "failed_write_visible", 1},
		{"value of another key", index(w("j", "a", 1, 2), rd("k", 3, 4, "a")), false, "wrong_key", 1},
		{"one value twice", index(w("k", "a", 1, 2), rd("k", 3, 4, "a", "a")), false, "duplicated", 1},
	})
}

func TestAntichain(t *testing.T) {
	runCases(t, Antichain, []checkCase{
		{"empty", nil, true, "", 0},
		{"concurrent siblings", index(w("k", "a", 1, 2), w("k", "b", 1, 2), rd("k", 3, 4, "a", "b")), true, "", 0},
		{"value with its parent", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), rd("k", 5, 6, "a", "b")), false, "ancestor_sibling", 1},
		{"value with its grandparent", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), w("k", "c", 5, 6, "b"), rd("k", 7, 8, "c", "a")), false, "ancestor_sibling", 1},
	})
}

func TestVisibility(t *testing.T) {
	runCases(t, Visibility, []checkCase{
		{"empty", nil, true, "", 0},
		{"read sees the acked write", index(w("k", "a", 1, 2), rd("k", 3, 4, "a")), true, "", 0},
		{"read sees a successor", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), rd("k", 5, 6, "b")), true, "", 0},
		{"successor via a chain", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), w("k", "c", 5, 6, "b"), rd("k", 7, 8, "c")), true, "", 0},
		{"read concurrent with the write may miss it", index(w("k", "a", 1, 5), rd("k", 3, 6)), true, "", 0},
		{"info write need not be visible", index(info(w("k", "a", 1, 2)), rd("k", 3, 4)), true, "", 0},
		{"deleted before the read ended", index(w("k", "a", 1, 2), del("k", 3, 20, "a"), rd("k", 5, 6)), true, "", 0},
		{"stale read after ack", index(w("k", "a", 1, 2), rd("k", 3, 4)), false, "stale_read", 1},
		{"stale read returns the old value", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), rd("k", 5, 6, "a")), false, "stale_read", 1},
		{"concurrent sibling is not a successor", index(w("k", "a", 1, 2), w("k", "b", 3, 4), rd("k", 5, 6, "b")), false, "stale_read", 1},
		{"failed delete does not excuse", index(w("k", "a", 1, 2), fail(del("k", 3, 4, "a")), rd("k", 5, 6)), false, "stale_read", 1},
		{"delete invoked after the read ended does not excuse", index(w("k", "a", 1, 2), rd("k", 5, 6), del("k", 7, 8, "a")), false, "stale_read", 1},
	})
}

func TestDurable(t *testing.T) {
	runCases(t, Durable, []checkCase{
		{"empty", nil, true, "", 0},
		{"final read has it", index(w("k", "a", 1, 2), final(rd("k", 3, 4, "a"))), true, "", 0},
		{"final read has a successor", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), final(rd("k", 5, 6, "b"))), true, "", 0},
		{"stale non-final read is not its business", index(w("k", "a", 1, 2), rd("k", 3, 4), final(rd("k", 5, 6, "a"))), true, "", 0},
		{"deleted", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), final(rd("k", 5, 6))), true, "", 0},
		{"lost", index(w("k", "a", 1, 2), w("k", "b", 3, 4), final(rd("k", 5, 6, "b"))), false, "lost_write", 1},
		{"lost in every final read", index(w("k", "a", 1, 2), final(rd("k", 5, 6)), final(rd("k", 7, 8))), false, "lost_write", 2},
	})
}

func TestNoRevert(t *testing.T) {
	runCases(t, NoRevert, []checkCase{
		{"empty", nil, true, "", 0},
		{"successor read", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), rd("k", 5, 6, "b")), true, "", 0},
		{"old value read during the overwrite", index(w("k", "a", 1, 2), w("k", "b", 3, 6, "a"), rd("k", 4, 7, "a")), true, "", 0},
		{"info overwrite does not bind", index(w("k", "a", 1, 2), info(w("k", "b", 3, 4, "a")), rd("k", 5, 6, "a")), true, "", 0},
		{"old value after the overwrite was acked", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), rd("k", 5, 6, "b", "a")), false, "reverted", 1},
		{"grandparent after the overwrite", index(w("k", "a", 1, 2), w("k", "b", 3, 4, "a"), w("k", "c", 5, 6, "b"), rd("k", 7, 8, "a")), false, "reverted", 1},
		{"deleted value read after the delete was acked", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), rd("k", 5, 6, "a")), false, "reverted", 1},
	})
}

func TestMonotonicReads(t *testing.T) {
	runCases(t, MonotonicReads, []checkCase{
		{"empty", nil, true, "", 0},
		{"same value twice", index(w("k", "a", 1, 2), rd("k", 3, 4, "a"), rd("k", 5, 6, "a")), true, "", 0},
		{"successor later", index(w("k", "a", 1, 2), rd("k", 3, 4, "a"), w("k", "b", 5, 6, "a"), rd("k", 7, 8, "b")), true, "", 0},
		{"overlapping reads may differ", index(w("k", "a", 1, 10), rd("k", 3, 6, "a"), rd("k", 5, 7)), true, "", 0},
		{"deleted in between", index(w("k", "a", 1, 2), rd("k", 3, 4, "a"), del("k", 5, 6, "a"), rd("k", 7, 8)), true, "", 0},
		{"in-flight value seen then lost", index(info(w("k", "a", 1, 2)), rd("k", 3, 4, "a"), rd("k", 5, 6)), false, "non_monotonic", 1},
		{"sibling dropped", index(w("k", "a", 1, 2), w("k", "b", 1, 2), rd("k", 3, 4, "a", "b"), rd("k", 5, 6, "a")), false, "non_monotonic", 1},
	})
}

func TestSet(t *testing.T) {
	v0 := history.SetValue("c0-1", []int64{1})
	v1 := history.SetValue("c1-1", []int64{1, 2})
	v2 := history.SetValue("c2-1", []int64{1, 3})
	runCases(t, Set, []checkCase{
		{"empty", nil, true, "", 0},
		{"all present", index(add("s", 1, v0, 1, 2), add("s", 2, v1, 3, 4, v0), final(rd("s", 5, 6, v1))), true, "", 0},
		{"siblings are unioned", index(add("s", 1, v0, 1, 2), add("s", 2, v1, 3, 4, v0), add("s", 3, v2, 3, 4, v0), final(rd("s", 5, 6, v1, v2))), true, "", 0},
		{"info add missing is fine", index(add("s", 1, v0, 1, 2), info(add("s", 2, v1, 3, 4, v0)), final(rd("s", 5, 6, v0))), true, "", 0},
		{"info add present is recovered", index(add("s", 1, v0, 1, 2), info(add("s", 2, v1, 3, 4, v0)), final(rd("s", 5, 6, v1))), true, "", 0},
		{"acked add lost", index(add("s", 1, v0, 1, 2), add("s", 2, v1, 3, 4, v0), add("s", 3, v2, 3, 4, v0), final(rd("s", 5, 6, v2))), false, "lost", 1},
		{"never added", index(add("s", 1, v0, 1, 2), final(rd("s", 5, 6, history.SetValue("zz", []int64{1, 99})))), false, "unexpected", 1},
		{"definitely failed add present", index(add("s", 1, v0, 1, 2), fail(add("s", 2, v1, 3, 4, v0)), final(rd("s", 5, 6, v1))), false, "failed_present", 1},
		{"no final read", index(add("s", 1, v0, 1, 2), rd("s", 3, 4, v0)), false, "no_final_read", 1},
	})
	t.Run("counts", func(t *testing.T) {
		res := Set(index(add("s", 1, v0, 1, 2), info(add("s", 2, v1, 3, 4, v0)), add("s", 3, v2, 3, 4, v0), final(rd("s", 5, 6, v1))))
		want := map[string]int{"attempted": 3, "acked": 2, "ok": 1, "lost": 1, "recovered": 1, "unexpected": 0}
		for k, v := range want {
			if res.Counts[k] != v {
				t.Errorf("%s = %d, want %d (all: %v)", k, res.Counts[k], v, res.Counts)
			}
		}
	})
}

func replica(key, node string, vs ...history.Version) history.Replica {
	return history.Replica{Key: key, Node: node, Versions: vs}
}

func ver(dot, val string) history.Version { return history.Version{Dot: dot, Value: val} }

func tomb(dot, val string) history.Version {
	return history.Version{Dot: dot, Value: val, Deleted: true}
}

func TestConvergence(t *testing.T) {
	ok3 := []history.Replica{replica("k", "n1", ver("n1.1:1", "a")), replica("k", "n2", ver("n1.1:1", "a")), replica("k", "n3", ver("n1.1:1", "a"))}
	cases := []struct {
		name  string
		ops   []history.Operation
		reps  []history.Replica
		valid bool
		kind  string
	}{
		{"empty", nil, nil, true, ""},
		{"converged", index(w("k", "a", 1, 2), final(rd("k", 3, 4, "a"))), ok3, true, ""},
		{"converged with a tombstone", nil, []history.Replica{replica("k", "n1", tomb("n1.1:2", "")), replica("k", "n2", tomb("n1.1:2", ""))}, true, ""},
		{"divergent", nil, []history.Replica{replica("k", "n1", ver("n1.1:1", "a")), replica("k", "n2")}, false, "divergent"},
		{"tombstone on one replica only", nil, []history.Replica{replica("k", "n1", ver("n1.1:1", "a"), tomb("n2.1:1", "")), replica("k", "n2", ver("n1.1:1", "a"))}, false, "divergent"},
		{"reused dot", nil, []history.Replica{replica("k", "n1", ver("n1.1:1", "a")), replica("k", "n2", ver("n1.1:1", "b"))}, false, "dot_conflict"},
		{"unreadable replica", nil, []history.Replica{{Key: "k", Node: "n1", Error: "timeout"}}, false, "replica_unreadable"},
		{"final read disagrees", index(w("k", "a", 1, 2), final(rd("k", 3, 4))), ok3, false, "final_read_mismatch"},
		{"final read failed", index(w("k", "a", 1, 2), fail(final(rd("k", 3, 4)))), ok3, false, "final_read_failed"},
	}
	t.Run("a reused dot counts once", func(t *testing.T) {
		res := Convergence(nil, []history.Replica{replica("k", "n1", ver("n1.1:1", "a")), replica("k", "n2", ver("n1.1:1", "b")), replica("k", "n3", ver("n1.1:1", "a"))})
		if res.Counts["dot_conflicts"] != 1 {
			t.Fatalf("dot_conflicts = %d, want 1: %+v", res.Counts["dot_conflicts"], res.Examples)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := Convergence(tc.ops, tc.reps)
			if res.Valid != tc.valid || (!tc.valid && res.Examples[0].Kind != tc.kind) {
				t.Fatalf("valid=%v examples=%+v, want valid=%v kind %q", res.Valid, res.Examples, tc.valid, tc.kind)
			}
		})
	}
}

func TestNoResurrection(t *testing.T) {
	gone := []history.Replica{replica("k", "n1", tomb("n1.1:2", "")), replica("k", "n2", tomb("n1.1:2", ""))}
	back := []history.Replica{replica("k", "n1", ver("n1.1:1", "a")), replica("k", "n2", tomb("n1.1:2", ""))}
	cases := []struct {
		name  string
		ops   []history.Operation
		reps  []history.Replica
		valid bool
	}{
		{"empty", nil, nil, true},
		{"deleted stays deleted", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), final(rd("k", 5, 6))), gone, true},
		{"concurrent write survives the delete", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), w("k", "b", 3, 4), final(rd("k", 5, 6, "b"))), gone, true},
		{"info delete does not bind", index(w("k", "a", 1, 2), info(del("k", 3, 4, "a")), final(rd("k", 5, 6, "a"))), back, true},
		{"deleted value in a final read", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), final(rd("k", 5, 6, "a"))), gone, false},
		{"deleted value live on a replica", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), final(rd("k", 5, 6))), back, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := NoResurrection(tc.ops, tc.reps)
			if res.Valid != tc.valid {
				t.Fatalf("valid=%v, want %v: %+v", res.Valid, tc.valid, res)
			}
			if !tc.valid && res.Examples[0].Kind != "resurrected" {
				t.Fatalf("examples %+v", res.Examples)
			}
		})
	}
}

// A watch read (history.WatchProcess) is judged against the deletes acked
// before it began; an ordinary read is not (P2's business under sloppy
// quorum, where a read may still reach a replica the delete missed).
func TestNoResurrectionWatch(t *testing.T) {
	watch := func(ops []history.Operation, i int) []history.Operation {
		ops[i].Process = history.WatchProcess
		return ops
	}
	cases := []struct {
		name  string
		ops   []history.Operation
		valid bool
	}{
		{"watch read after the delete sees nothing", watch(index(w("k", "a", 1, 2), del("k", 3, 4, "a"), rd("k", 5, 6)), 2), true},
		{"watch read after the delete sees the value", watch(index(w("k", "a", 1, 2), del("k", 3, 4, "a"), rd("k", 5, 6, "a")), 2), false},
		{"watch read begun before the delete's ack", watch(index(w("k", "a", 1, 2), del("k", 3, 6, "a"), rd("k", 5, 7, "a")), 2), true},
		{"ordinary read after the delete is not judged", index(w("k", "a", 1, 2), del("k", 3, 4, "a"), rd("k", 5, 6, "a")), true},
		{"watch read of a value the delete did not cover", watch(index(w("k", "a", 1, 2), del("k", 3, 4, "a"), w("k", "b", 3, 4), rd("k", 5, 6, "b")), 3), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := NoResurrection(tc.ops, nil)
			if res.Valid != tc.valid {
				t.Fatalf("valid=%v, want %v: %+v", res.Valid, tc.valid, res)
			}
			if !tc.valid && (res.Examples[0].Kind != "resurrected" || !strings.Contains(res.Examples[0].Detail, "watch read")) {
				t.Fatalf("examples %+v", res.Examples)
			}
		})
	}
}

func nemesis(fault, phase, node string, inv, comp int64) history.Operation {
	return history.Operation{F: history.Nemesis, Fault: fault, Phase: phase, Nodes: []string{node},
		Type: history.Info, Invoke: inv, Complete: history.Forever, Returned: comp}
}

func TestPausedInfo(t *testing.T) {
	onN3 := func(op history.Operation) history.Operation { op.Node = "n3"; return op }
	runCases(t, PausedInfo, []checkCase{
		{"no pauses", index(w("k", "a", 1, 2)), true, "", 0},
		{"timed out while paused", index(nemesis("pause", "start", "n3", 10, 11), onN3(info(w("k", "a", 12, 16))), nemesis("pause", "stop", "n3", 20, 21)), true, "", 0},
		{"answered after resume", index(nemesis("pause", "start", "n3", 10, 11), onN3(w("k", "a", 12, 22)), nemesis("pause", "stop", "n3", 20, 21)), true, "", 0},
		{"other nodes answer", index(nemesis("pause", "start", "n3", 10, 11), w("k", "a", 12, 13), nemesis("pause", "stop", "n3", 20, 21)), true, "", 0},
		{"answered while stopped", index(nemesis("pause", "start", "n3", 10, 11), onN3(w("k", "a", 12, 13)), nemesis("pause", "stop", "n3", 20, 21)), false, "answered_while_paused", 1},
		{"failed while stopped", index(nemesis("pause", "start", "n3", 10, 11), onN3(fail(rd("k", 12, 13))), nemesis("pause", "stop", "n3", 20, 21)), false, "answered_while_paused", 1},
	})
}

func lin(op history.Operation) history.Operation { return workload(op, LinearizableWorkload) }

func TestLinearizable(t *testing.T) {
	check := func(ops []history.Operation) Result { return Linearizable(ops, 10*time.Second) }
	runCases(t, check, []checkCase{
		{"empty", nil, true, "", 0},
		{"sequential", index(lin(w("k", "a", 1, 2)), lin(rd("k", 3, 4, "a")), lin(w("k", "b", 5, 6, "a")), lin(rd("k", 7, 8, "b"))), true, "", 0},
		{"concurrent writes are siblings", index(lin(w("k", "a", 1, 4)), lin(w("k", "b", 2, 5)), lin(rd("k", 6, 7, "a", "b"))), true, "", 0},
		{"read during a write sees either state", index(lin(w("k", "a", 1, 2)), lin(w("k", "b", 3, 10, "a")), lin(rd("k", 4, 5, "a")), lin(rd("k", 6, 7, "b"))), true, "", 0},
		{"info write may land late", index(lin(info(w("k", "a", 1, 2))), lin(rd("k", 3, 4)), lin(rd("k", 5, 6, "a"))), true, "", 0},
		{"other workloads are ignored", index(w("k", "a", 1, 2), rd("k", 3, 4)), true, "", 0},
		{"stale read", index(lin(w("k", "a", 1, 2)), lin(rd("k", 3, 4))), false, "not_linearizable", 1},
		{"new-old inversion", index(lin(w("k", "a", 1, 10)), lin(rd("k", 2, 3, "a")), lin(rd("k", 4, 5))), false, "not_linearizable", 1},
		{"lost sibling", index(lin(w("k", "a", 1, 2)), lin(w("k", "b", 3, 4)), lin(rd("k", 5, 6, "b"))), false, "not_linearizable", 1},
	})
	t.Run("visualization", func(t *testing.T) {
		ops := index(lin(w("k/1", "a", 1, 2)), lin(rd("k/1", 3, 4)))
		path := filepath.Join(t.TempDir(), "lin-"+FileSafe("k/1")+".html")
		if err := LinearizableVisualize(ops, "k/1", path, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), "<html") {
			t.Fatalf("visualization not written: %v %.100s", err, b)
		}
	})
}
