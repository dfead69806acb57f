package antientropy

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

// checkDiff runs Diff of a against b (as the remote) and checks the result
// against the brute-force reference, the calls b saw and the stats.
func checkDiff(t *testing.T, a, b *replica, maxBuckets int) ([]Difference, DiffStats, bool) {
	t.Helper()
	b.childCalls, b.entryCalls, b.childIdx, b.entryBucket = nil, nil, 0, 0
	got, st, truncated, err := Diff(a.tree, b.tree.Root(), b.tree.Depth(), b, a.local(), maxBuckets)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	if st.Rounds != b.remoteCalls() {
		t.Errorf("st.Rounds = %d, remote saw %d calls", st.Rounds, b.remoteCalls())
	}
	if st.HashesReceived != Fanout*b.childIdx {
		t.Errorf("st.HashesReceived = %d, remote sent %d", st.HashesReceived, Fanout*b.childIdx)
	}
	if st.Buckets != b.entryBucket {
		t.Errorf("st.Buckets = %d, remote was asked for %d", st.Buckets, b.entryBucket)
	}
	return got, st, truncated
}

// bucketsOf returns the buckets at level of the keys of ds, ascending.
func bucketsOf(ds []Difference, level int) []uint32 {
	var bs []uint32
	for _, d := range ds {
		bs = append(bs, Bucket(KeyHash(d.Key), level))
	}
	slices.Sort(bs)
	return slices.Compact(bs)
}

func sameDiffs(t *testing.T, got, want []Difference) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Diff found %d differences, want %d\ngot  %s\nwant %s", len(got), len(want), fmtDiffs(got), fmtDiffs(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].Key, want[i].Key) || got[i].Local != want[i].Local || got[i].Remote != want[i].Remote {
			t.Fatalf("difference %d = %s, want %s", i, fmtDiffs(got[i:i+1]), fmtDiffs(want[i:i+1]))
		}
	}
}

func fmtDiffs(ds []Difference) string {
	var b bytes.Buffer
	for i, d := range ds {
		if i == 20 {
			fmt.Fprintf(&b, "... (%d more)", len(ds)-i)
			break
		}
		fmt.Fprintf(&b, "%q:%x/%x ", d.Key, d.Local, d.Remote)
	}
	return b.String()
}

// Diff reports exactly the keys whose entries differ (or exist on one side
// only), for trees of equal and of different depths, descending one level
// per Remote.Children call.
func TestDiffFindsDifferences(t *testing.T) {
	forSeeds(t, func(t *testing.T, rng *rand.Rand) {
		for _, depths := range [][2]int{{1, 1}, {2, 2}, {3, 3}, {2, 3}, {3, 2}, {1, 4}, {4, 2}} {
			n := 500 + rng.IntN(15000)
			d := 1 + rng.IntN(60)
			base := makeBase(n, rng)
			a := newReplica(base, depths[0], nil)
			b := newReplica(base, depths[1], nil)
			diverge(rng, a, b, d, "x")
			want := referenceDiff(a, b)
			if len(want) != d {
				t.Fatalf("diverge made %d differences, want %d", len(want), d)
			}
			got, st, truncated := checkDiff(t, a, b, 0)
			t.Logf("depths %v, %d keys, %d differences: %+v", depths, n, d, st)
			sameDiffs(t, got, want)
			if truncated {
				t.Error("truncated without maxBuckets")
			}
			level := min(depths[0], depths[1])
			wantChild := make([]int, level)
			for l := range wantChild {
				wantChild[l] = l
			}
			if !slices.Equal(b.childCalls, wantChild) || !slices.Equal(b.entryCalls, []int{level}) {
				t.Errorf("remote calls: Children at levels %v, Entries at %v; want %v and [%d]", b.childCalls, b.entryCalls, wantChild, level)
			}
			// Only the buckets holding a difference were asked for.
			if nb := len(bucketsOf(want, level)); st.Buckets != nb {
				t.Errorf("compared %d buckets; the differences are in %d", st.Buckets, nb)
			}

			// The other way round: the same keys, sides swapped.
			back, _, _ := checkDiff(t, b, a, 0)
			for i := range want {
				want[i].Local, want[i].Remote = want[i].Remote, want[i].Local
			}
			sameDiffs(t, back, want)
		}
	})
}

// Equal roots end the exchange at once: no Remote call.
func TestDiffEqualRootsNoCalls(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 0))
	base := makeBase(3000, rng)
	for _, depths := range [][2]int{{2, 2}, {1, 3}, {3, 1}} {
		a := newReplica(base, depths[0], nil)
		b := newReplica(base, depths[1], nil)
		// Changes that leave both replicas with the same entries.
		diverge(rng, a, b, 0, "same")
		for i := range 50 {
			k, eh := base[i].key, base[i].eh
			a.set(k, eh, 99)
			b.set(k, eh, 99)
			b.set(k, eh, 100) // b changes it back and forth
			b.set(k, eh, 99)
		}
		b.set("gone", 0, 5)
		b.set("gone", 0, 0)
		if a.tree.Root() != b.tree.Root() {
			t.Fatalf("depths %v: roots %x and %x over equal entries", depths, a.tree.Root(), b.tree.Root())
		}
		local := func(int, []uint32) ([]Entry, error) {
			t.Fatal("Local called although the roots are equal")
			return nil, nil
		}
		got, st, truncated, err := Diff(a.tree, b.tree.Root(), depths[1], b, local, 0)
		if err != nil || got != nil || truncated || st != (DiffStats{}) || b.remoteCalls() != 0 {
			t.Fatalf("depths %v: Diff = %v, %+v, %v, %v with %d remote calls; want nothing and no calls", depths, got, st, truncated, err, b.remoteCalls())
		}
	}
}

// maxBuckets caps the differing buckets compared, lowest-numbered first,
// and truncated says that more remained.
func TestDiffMaxBuckets(t *testing.T) {
	forSeeds(t, func(t *testing.T, rng *rand.Rand) {
		base := makeBase(5000, rng)
		a := newReplica(base, 3, nil)
		b := newReplica(base, 2, nil)
		diverge(rng, a, b, 120, "t")
		all := referenceDiff(a, b)
		const level = 2
		buckets := bucketsOf(all, level)
		t.Logf("%d differences in %d buckets", len(all), len(buckets))
		for _, max := range []int{1, 2, 5, 17, len(buckets) - 1, len(buckets), len(buckets) + 3, 0, -1} {
			keep := buckets
			if max > 0 && max < len(buckets) {
				keep = buckets[:max]
			}
			var want []Difference
			for _, d := range all {
				if _, ok := slices.BinarySearch(keep, Bucket(KeyHash(d.Key), level)); ok {
					want = append(want, d)
				}
			}
			got, st, truncated := checkDiff(t, a, b, max)
			sameDiffs(t, got, want)
			if wantTrunc := max > 0 && max < len(buckets); truncated != wantTrunc {
				t.Errorf("maxBuckets %d of %d: truncated = %v", max, len(buckets), truncated)
			}
			if st.Buckets != len(keep) {
				t.Errorf("maxBuckets %d: compared %d buckets, want %d", max, st.Buckets, len(keep))
			}
			if max > 0 && st.HashesReceived > Fanout*(1+max*(level-1)) {
				t.Errorf("maxBuckets %d: received %d hashes", max, st.HashesReceived)
			}
		}
	})
}

// faulty wraps a replica and lets a test corrupt its replies.
type faulty struct {
	*replica
	children func(level int, indices []uint32, out [][]uint64) ([][]uint64, error)
	entries  func(level int, buckets []uint32, out []Entry) ([]Entry, error)
}

func (f faulty) Children(level int, indices []uint32) ([][]uint64, error) {
	out, _ := f.replica.Children(level, indices)
	if f.children != nil {
		return f.children(level, indices, out)
	}
	return out, nil
}

func (f faulty) Entries(level int, buckets []uint32) ([]Entry, error) {
	out, _ := f.replica.Entries(level, buckets)
	if f.entries != nil {
		return f.entries(level, buckets, out)
	}
	return out, nil
}

// strayKey returns a key outside buckets at level.
func strayKey(level int, buckets []uint32) []byte {
	for i := 0; ; i++ {
		k := []byte("stray-" + strconv.Itoa(i))
		if _, ok := slices.BinarySearch(buckets, Bucket(KeyHash(k), level)); !ok {
			return k
		}
	}
}

// Diff checks what Remote and Local return; a bad reply is an error, never
// a panic, and errors from either side are wrapped.
func TestDiffBadReplies(t *testing.T) {
	errBoom := errors.New("boom")
	rng := rand.New(rand.NewPCG(11, 0))
	base := makeBase(4000, rng)
	a := newReplica(base, 3, nil)
	b := newReplica(base, 3, nil)
	diverge(rng, a, b, 30, "bad")
	goodLocal := a.local()
	for _, tc := range []struct {
		name     string
		depth    int
		children func(int, []uint32, [][]uint64) ([][]uint64, error)
		entries  func(int, []uint32, []Entry) ([]Entry, error)
		local    Local
		want     error
	}{
		{name: "depth 0", depth: 0, want: ErrBadRemote},
		{name: "depth too big", depth: MaxDepth + 1, want: ErrBadRemote},
		{name: "one hash list too few", children: func(_ int, _ []uint32, out [][]uint64) ([][]uint64, error) {
			return out[:len(out)-1], nil
		}, want: ErrBadRemote},
		{name: "no hash lists", children: func(int, []uint32, [][]uint64) ([][]uint64, error) {
			return nil, nil
		}, want: ErrBadRemote},
		{name: "one hash list too many", children: func(_ int, _ []uint32, out [][]uint64) ([][]uint64, error) {
			return append(out, make([]uint64, Fanout)), nil
		}, want: ErrBadRemote},
		{name: "short hash list at level 1", children: func(l int, _ []uint32, out [][]uint64) ([][]uint64, error) {
			if l == 1 {
				out[len(out)-1] = out[len(out)-1][:Fanout-1]
			}
			return out, nil
		}, want: ErrBadRemote},
		{name: "nil hash list", children: func(_ int, _ []uint32, out [][]uint64) ([][]uint64, error) {
			out[0] = nil
			return out, nil
		}, want: ErrBadRemote},
		{name: "long hash list", children: func(_ int, _ []uint32, out [][]uint64) ([][]uint64, error) {
			out[0] = append(out[0], 1)
			return out, nil
		}, want: ErrBadRemote},
		{name: "children error", children: func(int, []uint32, [][]uint64) ([][]uint64, error) {
			return nil, errBoom
		}, want: errBoom},
		{name: "entry outside the buckets", entries: func(l int, bs []uint32, out []Entry) ([]Entry, error) {
			return append(out, Entry{Key: strayKey(l, bs), Hash: 1}), nil
		}, want: ErrBadRemote},
		{name: "entry hash 0", entries: func(_ int, _ []uint32, out []Entry) ([]Entry, error) {
			out[len(out)/2].Hash = 0
			return out, nil
		}, want: ErrBadRemote},
		{name: "duplicate key", entries: func(_ int, _ []uint32, out []Entry) ([]Entry, error) {
			return append(out, Entry{Key: out[0].Key, Hash: out[0].Hash ^ 1}), nil
		}, want: ErrBadRemote},
		{name: "entries error", entries: func(int, []uint32, []Entry) ([]Entry, error) {
			return nil, errBoom
		}, want: errBoom},
		{name: "local entry outside the buckets", local: func(l int, bs []uint32) ([]Entry, error) {
			out, _ := goodLocal(l, bs)
			return append(out, Entry{Key: strayKey(l, bs), Hash: 1}), nil
		}, want: ErrBadLocal},
		{name: "local duplicate key", local: func(l int, bs []uint32) ([]Entry, error) {
			out, _ := goodLocal(l, bs)
			return append(out, out[len(out)-1]), nil
		}, want: ErrBadLocal},
		{name: "local error", local: func(int, []uint32) ([]Entry, error) {
			return nil, errBoom
		}, want: errBoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			depth := b.tree.Depth()
			if tc.depth != 0 || tc.name == "depth 0" {
				depth = tc.depth
			}
			local := goodLocal
			if tc.local != nil {
				local = tc.local
			}
			r := faulty{replica: b, children: tc.children, entries: tc.entries}
			got, _, truncated, err := Diff(a.tree, b.tree.Root(), depth, r, local, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Diff error = %v, want %v", err, tc.want)
			}
			if got != nil || truncated {
				t.Errorf("Diff returned %d differences, truncated %v, with an error", len(got), truncated)
			}
			t.Logf("error: %v", err)
		})
	}
	// The same replicas without faults: no error, so the cases above fail
	// because of the fault.
	if _, _, _, err := Diff(a.tree, b.tree.Root(), b.tree.Depth(), faulty{replica: b}, goodLocal, 0); err != nil {
		t.Fatalf("fault-free Diff: %v", err)
	}
}
