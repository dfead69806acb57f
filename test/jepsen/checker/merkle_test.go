package checker

import (
	"strings"
	"testing"

	"github.com/dynago/dynago/test/jepsen/history"
)

func tree(node string, p int, root string) history.Tree {
	return history.Tree{Node: node, Partition: p, Held: true, Root: root}
}

func TestMerkleRoots(t *testing.T) {
	pls := map[int][]string{0: {"n1", "n2", "n3"}, 1: {"n2", "n3", "n4"}}
	cases := []struct {
		name       string
		trees      []history.Tree
		preflists  map[int][]string
		valid      bool
		kind       string // first violation's kind when !valid
		divergent  []int  // partitions CompareRoots must name
		compared   int
		uncompared int
	}{
		{name: "nothing held", preflists: pls, valid: true, uncompared: 2},
		{name: "every replica agrees", preflists: pls, valid: true, compared: 2, trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n2", 0, "aa"), tree("n3", 0, "aa"),
			tree("n2", 1, "bb"), tree("n3", 1, "bb"), tree("n4", 1, "bb")}},
		{name: "a replica without a tree is not compared", preflists: pls, valid: true, compared: 1, uncompared: 1, trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n2", 0, "aa"), {Node: "n3", Partition: 0, Root: "0000000000000000"},
			tree("n2", 1, "bb")}},
		{name: "a fallback's tree is ignored", preflists: pls, valid: true, compared: 1, uncompared: 1, trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n2", 0, "aa"), tree("n5", 0, "ff")}},
		{name: "one replica differs", preflists: pls, valid: false, kind: "merkle_divergent", divergent: []int{1}, compared: 2, trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n2", 0, "aa"), tree("n3", 0, "aa"),
			tree("n2", 1, "bb"), tree("n3", 1, "bb"), tree("n4", 1, "cc")}},
		{name: "two replicas, two roots", preflists: pls, valid: false, kind: "merkle_divergent", divergent: []int{0}, compared: 1, uncompared: 1, trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n3", 0, "ab")}},
		{name: "a node without the endpoint fails", preflists: pls, valid: false, kind: "merkle_unreadable", compared: 1, uncompared: 1, trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n2", 0, "aa"), {Node: "n3", Error: "GET http://127.0.0.13:8080/debug/merkle: 404 no route"}}},
		{name: "unknown preference lists fail", valid: false, kind: "no_preflists", trees: []history.Tree{
			tree("n1", 0, "aa"), tree("n2", 0, "aa")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := MerkleRoots(tc.trees, tc.preflists)
			if res.Valid != tc.valid {
				t.Fatalf("valid = %v, want %v; counts %v, examples %+v", res.Valid, tc.valid, res.Counts, res.Examples)
			}
			if !tc.valid && (len(res.Examples) == 0 || res.Examples[0].Kind != tc.kind) {
				t.Fatalf("examples %+v, want kind %q first", res.Examples, tc.kind)
			}
			if res.Counts["merkle_partitions"] != tc.compared || res.Counts["merkle_uncompared"] != tc.uncompared {
				t.Fatalf("compared %d, uncompared %d; want %d, %d", res.Counts["merkle_partitions"], res.Counts["merkle_uncompared"], tc.compared, tc.uncompared)
			}
			var got []int
			for _, d := range CompareRoots(tc.trees, tc.preflists) {
				got = append(got, d.Partition)
			}
			if len(got) != len(tc.divergent) || (len(got) > 0 && got[0] != tc.divergent[0]) {
				t.Fatalf("CompareRoots names partitions %v, want %v", got, tc.divergent)
			}
			if res.Counts["merkle_divergent"] != len(tc.divergent) {
				t.Fatalf("merkle_divergent = %d, want %d", res.Counts["merkle_divergent"], len(tc.divergent))
			}
		})
	}
}

// The report names the disagreeing replicas, their roots and the replica
// that holds no tree.
func TestRootDisagreementString(t *testing.T) {
	d := CompareRoots([]history.Tree{tree("n1", 7, "aa"), tree("n3", 7, "bb")}, map[int][]string{7: {"n1", "n2", "n3"}})
	if len(d) != 1 {
		t.Fatalf("%d disagreements, want 1", len(d))
	}
	want := "partition 7 [n1 n2 n3]: n1=aa n3=bb (no tree: n2)"
	if got := d[0].String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}

// Convergence with a Merkle disagreement is invalid even when every key's
// replicas agree, and the combined verdict lists the partition.
func TestCombineConvergenceAndMerkle(t *testing.T) {
	reps := []history.Replica{
		{Key: "k", Node: "n1", Versions: []history.Version{{Dot: "n1:1", Value: "a"}}},
		{Key: "k", Node: "n2", Versions: []history.Version{{Dot: "n1:1", Value: "a"}}},
	}
	conv := Convergence(nil, reps)
	if !conv.Valid {
		t.Fatalf("per-key convergence invalid: %+v", conv)
	}
	m := MerkleRoots([]history.Tree{tree("n1", 3, "aa"), tree("n2", 3, "ab")}, map[int][]string{3: {"n1", "n2"}})
	res := Combine("convergence", conv, m)
	if res.Valid || res.Name != "convergence" {
		t.Fatalf("combined = %+v, want an invalid convergence verdict", res)
	}
	if res.Counts["converged"] != 1 || res.Counts["merkle_divergent"] != 1 || res.Counts["violations"] != 1 {
		t.Fatalf("counts %v", res.Counts)
	}
	if len(res.Examples) != 1 || !strings.Contains(res.Examples[0].Detail, "partition 3") {
		t.Fatalf("examples %+v do not name partition 3", res.Examples)
	}
	if ok := Combine("x", conv, conv); !ok.Valid || ok.Counts["keys"] != 2 {
		t.Fatalf("Combine of two valid results = %+v", ok)
	}
}
