package antientropy

import (
	"bytes"
	"cmp"
	"flag"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
)

var seedFlag = flag.Uint64("seed", 0, "run the randomized tests with this seed only, instead of the fixed list")

// fixedSeeds make the randomized tests deterministic; -seed=N replaces them.
var fixedSeeds = []uint64{1, 2, 3, 20261122, 0xdeadbeef}

// forSeeds runs f as one subtest per seed, logging the seed.
func forSeeds(t *testing.T, f func(t *testing.T, rng *rand.Rand)) {
	seeds := fixedSeeds
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	for _, seed := range seeds {
		t.Run("seed="+strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
			f(t, rand.New(rand.NewPCG(seed, 0)))
		})
	}
}

// item is one entry of a replica's base data, with its key hash.
type item struct {
	key    string
	kh, eh uint64
}

// makeBase returns n distinct entries "k<i>", sorted by key hash.
func makeBase(n int, rng *rand.Rand) []item {
	base := make([]item, n)
	var st [8]byte
	for i := range base {
		k := "k" + strconv.Itoa(i)
		for j := range st {
			st[j] = byte(rng.Uint32())
		}
		base[i] = item{key: k, kh: KeyHash([]byte(k)), eh: EntryHash([]byte(k), st[:])}
	}
	sortBase(base)
	return base
}

// sortBase sorts base by key hash, as replica.entries needs.
func sortBase(base []item) {
	slices.SortFunc(base, func(a, b item) int { return cmp.Compare(a.kh, b.kh) })
}

// replica is an in-memory replica of a partition for Diff tests: a base
// shared with other replicas (read-only) plus its own overlay, where a
// hash of 0 deletes a base key. Its tree is kept with Update.
type replica struct {
	base []item
	over map[string]uint64
	tree *Tree

	// Remote call log.
	childCalls  []int // level of each Children call
	entryCalls  []int // level of each Entries call
	childIdx    int   // indices asked for, over all Children calls
	entryBucket int   // buckets asked for, over all Entries calls
}

// newReplica returns a replica of base whose tree has the given depth.
// baseTree, if not nil, is a tree of that depth over base, to clone.
func newReplica(base []item, depth int, baseTree *Tree) *replica {
	r := &replica{base: base, over: map[string]uint64{}}
	if baseTree != nil && baseTree.Depth() == depth {
		r.tree = baseTree.Clone()
	} else {
		r.tree = buildTree(base, depth)
	}
	return r
}

func buildTree(base []item, depth int) *Tree {
	t := NewTree(depth)
	for _, it := range base {
		t.Update(it.kh, 0, it.eh)
	}
	return t
}

// get returns the replica's entry hash for key (0 = absent), given the
// key's entry hash in the base (0 if it is not a base key).
func (r *replica) get(key string, baseEh uint64) uint64 {
	if h, ok := r.over[key]; ok {
		return h
	}
	return baseEh
}

// set writes key's entry hash (0 deletes), updating the tree. baseEh is
// as for get.
func (r *replica) set(key string, baseEh, h uint64) {
	r.tree.Update(KeyHash([]byte(key)), r.get(key, baseEh), h)
	r.over[key] = h
}

// all returns every present entry of the replica, by brute force: the
// reference that Diff is checked against.
func (r *replica) all() map[string]uint64 {
	m := make(map[string]uint64, len(r.base)+len(r.over))
	for _, it := range r.base {
		m[it.key] = it.eh
	}
	for k, h := range r.over {
		if h == 0 {
			delete(m, k)
		} else {
			m[k] = h
		}
	}
	return m
}

// entries lists the present entries in buckets at level: the base by
// binary search on key hash (its entries are sorted by key hash, so a
// bucket's keys are contiguous), the overlay by filtering.
func (r *replica) entries(level int, buckets []uint32) []Entry {
	var out []Entry
	for _, b := range buckets {
		lo, _ := slices.BinarySearchFunc(r.base, b, func(it item, b uint32) int { return cmp.Compare(Bucket(it.kh, level), b) })
		for i := lo; i < len(r.base) && Bucket(r.base[i].kh, level) == b; i++ {
			if _, ok := r.over[r.base[i].key]; !ok {
				out = append(out, Entry{Key: []byte(r.base[i].key), Hash: r.base[i].eh})
			}
		}
	}
	for k, h := range r.over {
		if h == 0 {
			continue
		}
		if _, ok := slices.BinarySearch(buckets, Bucket(KeyHash([]byte(k)), level)); ok {
			out = append(out, Entry{Key: []byte(k), Hash: h})
		}
	}
	return out
}

// Children implements Remote.
func (r *replica) Children(level int, indices []uint32) ([][]uint64, error) {
	r.childCalls = append(r.childCalls, level)
	r.childIdx += len(indices)
	out := make([][]uint64, len(indices))
	for i, idx := range indices {
		out[i] = r.tree.Children(level, idx)
	}
	return out, nil
}

// Entries implements Remote.
func (r *replica) Entries(level int, buckets []uint32) ([]Entry, error) {
	r.entryCalls = append(r.entryCalls, level)
	r.entryBucket += len(buckets)
	return r.entries(level, buckets), nil
}

// local returns r as a Local.
func (r *replica) local() Local {
	return func(level int, buckets []uint32) ([]Entry, error) { return r.entries(level, buckets), nil }
}

// remoteCalls is the number of Remote calls r answered.
func (r *replica) remoteCalls() int { return len(r.childCalls) + len(r.entryCalls) }

// diverge makes d differences between a and b (which share a base), of
// every kind: a key only on a (new on a, or deleted on b), only on b,
// changed on b, changed on both to different states. It also makes
// non-differences (the same change on both sides, or the same delete) that
// Diff must not report. It returns the keys that now differ, each with its
// base entry hash (0 for a new key).
func diverge(rng *rand.Rand, a, b *replica, d int, tag string) map[string]uint64 {
	want := map[string]uint64{}
	fresh := func() uint64 { return rng.Uint64() | 1 }
	baseKey := func() (string, uint64) {
		for {
			it := a.base[rng.IntN(len(a.base))]
			_, inA := a.over[it.key]
			_, inB := b.over[it.key]
			if !inA && !inB {
				return it.key, it.eh
			}
		}
	}
	for i := 0; len(want) < d; i++ {
		k, eh := "new-"+tag+"-"+strconv.Itoa(i), uint64(0)
		switch rng.IntN(6) {
		case 0: // only on a: new
			a.set(k, 0, fresh())
		case 1: // only on b: new
			b.set(k, 0, fresh())
		case 2: // only on a: deleted on b
			k, eh = baseKey()
			b.set(k, eh, 0)
		case 3: // changed on b
			k, eh = baseKey()
			b.set(k, eh, fresh())
		case 4: // changed on both, differently
			k, eh = baseKey()
			a.set(k, eh, fresh())
			b.set(k, eh, fresh())
		case 5: // the same change on both, or the same delete: no difference
			k, eh = baseKey()
			h := fresh()
			if rng.IntN(2) == 0 {
				h = 0
			}
			a.set(k, eh, h)
			b.set(k, eh, h)
			continue
		}
		want[k] = eh
	}
	return want
}

// referenceDiff compares two replicas by brute force: every entry of each.
func referenceDiff(a, b *replica) []Difference {
	ma, mb := a.all(), b.all()
	var out []Difference
	for k, h := range ma {
		if mb[k] != h {
			out = append(out, Difference{Key: []byte(k), Local: h, Remote: mb[k]})
		}
	}
	for k, h := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, Difference{Key: []byte(k), Remote: h})
		}
	}
	slices.SortFunc(out, func(x, y Difference) int { return bytes.Compare(x.Key, y.Key) })
	return out
}
