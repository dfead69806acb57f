package antientropy

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// diffCost builds two replicas of n keys at depth DepthFor(n) that differ
// in d keys, runs Diff, checks its result and returns the stats.
func diffCost(t *testing.T, n, d int, seed uint64) (DiffStats, int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	base := makeBase(n, rng)
	depth := DepthFor(n)
	a := newReplica(base, depth, nil)
	b := newReplica(base, depth, a.tree)
	want := diverge(rng, a, b, d, "c")
	got, st, truncated := checkDiff(t, a, b, 0)
	if truncated || len(got) != len(want) {
		t.Fatalf("n=%d: %d differences (truncated %v), want %d", n, len(got), truncated, len(want))
	}
	for _, g := range got {
		eh, ok := want[string(g.Key)]
		if !ok || g.Local != a.get(string(g.Key), eh) || g.Remote != b.get(string(g.Key), eh) {
			t.Fatalf("n=%d: unexpected difference %s", n, fmtDiffs([]Difference{g}))
		}
	}
	return st, depth
}

// Dynamo §4.7: the Merkle tree exchange costs in proportion to the
// differences, not the keys. With d differences in n keys, what Diff
// receives grows with d·log16(n): Fanout hashes per differing node on each
// level, plus the other keys sharing a differing leaf (about KeysPerLeaf
// or fewer, by DepthFor).
func TestDiffCost(t *testing.T) {
	const d = 10
	const seed = 20261122
	cost := func(st DiffStats) int { return st.HashesReceived + st.EntriesReceived }
	perDiff := map[int]float64{}
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		st, depth := diffCost(t, n, d, seed)
		c := cost(st)
		perDiff[n] = float64(c) / d
		t.Logf("n=%-9d depth=%d  d=%d: hashes %4d + entries %3d = %4d received (%.1f per difference, %.3f%% of n), %d local entries, %d buckets, %d rounds",
			n, depth, d, st.HashesReceived, st.EntriesReceived, c, perDiff[n], 100*float64(c)/float64(n), st.EntriesLocal, st.Buckets, st.Rounds)
		if st.Rounds != depth+1 {
			t.Errorf("n=%d: %d rounds, want depth+1 = %d", n, st.Rounds, depth+1)
		}
		if n == 100_000 {
			if bound := d * (Fanout*depth + 4*KeysPerLeaf); c > bound {
				t.Errorf("n=%d: received %d, more than d·(Fanout·depth + 4·KeysPerLeaf) = %d", n, c, bound)
			}
			if c > n/100 {
				t.Errorf("n=%d: received %d, more than n/100 = %d", n, c, n/100)
			}
		}
	}
	// 100x the keys is 2 more levels (log16 100 ≈ 1.7): the cost per
	// difference may grow with the depth, no faster.
	if r := perDiff[1_000_000] / perDiff[10_000]; r > 2.5 {
		t.Errorf("cost per difference grew %.2fx from 10k to 1M keys, want <= 2.5x (logarithmic)", r)
	} else {
		t.Logf("cost per difference: 1M/10k = %.2fx, 1M/100k = %.2fx", r, perDiff[1_000_000]/perDiff[100_000])
	}
}

// All keys of a ring partition share the top log2(Q) bits of their
// xxhash64, and KeyHash's top bits choose the path in the tree. This logs
// what that does to an exchange within one partition of a Q=256 ring,
// compared with keys spread over the whole hash space (TestDiffCost).
func TestDiffCostWithinRingPartition(t *testing.T) {
	const n, d, q = 20_000, 10, 256
	rng := rand.New(rand.NewPCG(5, 0))
	base := make([]item, 0, n)
	buf := []byte("p")
	for i := 0; len(base) < n; i++ {
		buf = strconv.AppendInt(buf[:1], int64(i), 10)
		if xxhash.Sum64(buf)>>56 == 42 { // the ring's partition 42 of 256
			base = append(base, item{key: string(buf), kh: KeyHash(buf), eh: rng.Uint64() | 1})
		}
	}
	sortBase(base)
	depth := DepthFor(n)
	a := newReplica(base, depth, nil)
	b := newReplica(base, depth, a.tree)
	diverge(rng, a, b, d, "c")
	got, st, _ := checkDiff(t, a, b, 0)
	sameDiffs(t, got, referenceDiff(a, b))
	used := 0
	for _, h := range a.tree.levels[depth] {
		if h != 0 {
			used++
		}
	}
	t.Logf("one partition of Q=%d, n=%d depth=%d d=%d: hashes %d + entries %d = %d received (%.1f per difference); %d of %d leaves hold keys",
		q, n, depth, d, st.HashesReceived, st.EntriesReceived, st.HashesReceived+st.EntriesReceived,
		float64(st.HashesReceived+st.EntriesReceived)/d, used, len(a.tree.levels[depth]))
	if used < len(a.tree.levels[depth])/2 {
		t.Fatalf("a ring partition's keys use %d of %d leaves: KeyHash shares bits with the ring's partition hash", used, len(a.tree.levels[depth]))
	}
	if cost := st.HashesReceived + st.EntriesReceived; cost > d*(Fanout*depth+4*KeysPerLeaf) {
		t.Fatalf("exchange inside one ring partition received %d units for %d differences", cost, d)
	}
}
