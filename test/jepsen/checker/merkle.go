package checker

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/dynago/dynago/test/jepsen/history"
)

// RootDisagreement is one partition whose replicas report different Merkle
// roots.
type RootDisagreement struct {
	Partition int      `json:"partition"`
	Preflist  []string `json:"preflist"`
	// Roots maps each replica of the preference list that holds a tree for
	// the partition to its root.
	Roots map[string]string `json:"roots"`
}

// String is e.g. "partition 17 [n1 n2 n3]: n1=00aa.. n2=00aa.. n3=ff01..
// (no tree: n4)".
func (d RootDisagreement) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "partition %d [%s]:", d.Partition, strings.Join(d.Preflist, " "))
	var missing []string
	for _, n := range d.Preflist {
		if r, ok := d.Roots[n]; ok {
			fmt.Fprintf(&b, " %s=%s", n, r)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(&b, " (no tree: %s)", strings.Join(missing, ","))
	}
	return b.String()
}

// CompareRoots returns, in partition order, the partitions for which the
// nodes of the preference list that hold a tree (Held) report more than
// one root. Trees of nodes outside a partition's preference list, trees not
// held and unreadable nodes (Tree.Error) are ignored here; MerkleRoots
// reports the last.
func CompareRoots(trees []history.Tree, preflists map[int][]string) []RootDisagreement {
	held := map[int]map[string]string{}
	for _, t := range trees {
		if t.Error != "" || !t.Held {
			continue
		}
		if held[t.Partition] == nil {
			held[t.Partition] = map[string]string{}
		}
		held[t.Partition][t.Node] = t.Root
	}
	var out []RootDisagreement
	for _, p := range slices.Sorted(maps.Keys(preflists)) {
		pl := preflists[p]
		roots := map[string]string{}
		distinct := map[string]bool{}
		for _, n := range pl {
			if r, ok := held[p][n]; ok {
				roots[n] = r
				distinct[r] = true
			}
		}
		if len(distinct) > 1 {
			out = append(out, RootDisagreement{Partition: p, Preflist: slices.Clone(pl), Roots: roots})
		}
	}
	return out
}

// MerkleRoots checks the Merkle half of convergence: for every partition,
// the replicas of its preference list that hold a tree for it report the
// same root, and every node's trees could be read. A node that cannot show
// its trees (no GET /debug/merkle, an error) is a violation, not a pass:
// agreement that nobody looked at is not agreement.
//
// Counts: merkle_partitions (partitions whose preference list holds at
// least two trees, so a root was compared), merkle_uncompared (fewer than
// two), merkle_divergent, merkle_unreadable (nodes) and merkle_off_preflist
// (trees of nodes outside the partition's preference list, ignored).
func MerkleRoots(trees []history.Tree, preflists map[int][]string) Result {
	res := newResult("merkle roots")
	for _, c := range []string{"merkle_partitions", "merkle_uncompared", "merkle_divergent", "merkle_unreadable", "merkle_off_preflist"} {
		res.Counts[c] = 0
	}
	heldBy := map[int][]string{}
	for _, t := range trees {
		switch {
		case t.Error != "":
			res.Counts["merkle_unreadable"]++
			res.flag(Violation{Kind: "merkle_unreadable", Detail: fmt.Sprintf("the Merkle trees of %s could not be read: %s", t.Node, t.Error)})
		case !t.Held:
		case len(preflists) > 0 && !slices.Contains(preflists[t.Partition], t.Node):
			res.Counts["merkle_off_preflist"]++
		default:
			heldBy[t.Partition] = append(heldBy[t.Partition], t.Node)
		}
	}
	if len(preflists) == 0 && len(heldBy) > 0 {
		res.flag(Violation{Kind: "no_preflists", Detail: "the partitions' preference lists are unknown, so no Merkle root was compared"})
	}
	for _, p := range slices.Sorted(maps.Keys(preflists)) {
		if len(heldBy[p]) >= 2 {
			res.Counts["merkle_partitions"]++
		} else {
			res.Counts["merkle_uncompared"]++
		}
	}
	for _, d := range CompareRoots(trees, preflists) {
		res.Counts["merkle_divergent"]++
		res.flag(Violation{Kind: "merkle_divergent", Key: fmt.Sprintf("partition %d", d.Partition),
			Detail: "Merkle roots differ: " + d.String()})
	}
	return res
}

// Combine joins results into one called name: valid when every one is,
// counts summed by name, examples in argument order up to MaxExamples.
// Convergence uses it to add MerkleRoots to the per-key verdict.
func Combine(name string, rs ...Result) Result {
	out := newResult(name)
	for _, r := range rs {
		out.Valid = out.Valid && r.Valid
		for k, v := range r.Counts {
			out.Counts[k] += v
		}
		for _, e := range r.Examples {
			if len(out.Examples) < MaxExamples {
				out.Examples = append(out.Examples, e)
			}
		}
	}
	return out
}
