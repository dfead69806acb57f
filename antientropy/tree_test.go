package antientropy

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// randomState returns a random state of 0..40 bytes.
func randomState(rng *rand.Rand) []byte {
	b := make([]byte, rng.IntN(41))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// equalTrees reports the first node where a and b differ.
func equalTrees(t *testing.T, got, want *Tree) {
	t.Helper()
	if got.Depth() != want.Depth() {
		t.Fatalf("depth %d, want %d", got.Depth(), want.Depth())
	}
	for l := 0; l <= want.Depth(); l++ {
		for i := range want.levels[l] {
			if g, w := got.Hash(l, uint32(i)), want.Hash(l, uint32(i)); g != w {
				t.Fatalf("node (%d, %d) = %016x, want %016x", l, i, g, w)
			}
		}
	}
	if got.Keys() != want.Keys() {
		t.Fatalf("Keys() = %d, want %d", got.Keys(), want.Keys())
	}
}

// The tree is a function of the final set of entries, not of the writes
// that led to it: a tree kept with Update equals one built from the final
// set, inserted in another order.
func TestIncrementalEqualsRebuild(t *testing.T) {
	forSeeds(t, func(t *testing.T, rng *rand.Rand) {
		for depth := 1; depth <= 4; depth++ {
			universe := 200 << depth // keys drawn from here, so there are many repeats
			inc := NewTree(depth)
			cur := map[string]uint64{} // key -> entry hash, the final set
			ops := map[string]int{}
			for range 4 * universe {
				k := "key-" + strconv.Itoa(rng.IntN(universe))
				old := cur[k]
				var h uint64
				switch r := rng.IntN(10); {
				case r < 2: // delete (of an absent key: a no-op)
					h = 0
					ops["delete"]++
				case r < 3: // rewrite the same state: a no-op
					h = old
					ops["same"]++
				default: // insert or update
					h = EntryHash([]byte(k), randomState(rng))
					ops["put"]++
				}
				inc.Update(KeyHash([]byte(k)), old, h)
				if h == 0 {
					delete(cur, k)
				} else {
					cur[k] = h
				}
			}
			keys := make([]string, 0, len(cur))
			for k := range cur {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			re := NewTree(depth)
			var xor uint64
			for _, k := range keys {
				re.Update(KeyHash([]byte(k)), 0, cur[k])
				xor ^= cur[k]
			}
			t.Logf("depth %d: %d keys after %v", depth, len(cur), ops)
			equalTrees(t, inc, re)
			if re.Keys() != len(cur) {
				t.Fatalf("Keys() = %d, want %d", re.Keys(), len(cur))
			}
			if inc.Root() != xor {
				t.Fatalf("root %016x, want the XOR of all entry hashes %016x", inc.Root(), xor)
			}
		}
	})
}

// A parent equals the XOR of its children at every level, and a node's hash
// does not depend on the depth of the tree it is in.
func TestParentIsXORChildren(t *testing.T) {
	forSeeds(t, func(t *testing.T, rng *rand.Rand) {
		n := 1000 + rng.IntN(4000)
		trees := make([]*Tree, MaxDepth+1)
		for d := 1; d <= MaxDepth; d++ {
			trees[d] = NewTree(d)
		}
		for i := range n {
			k := []byte(fmt.Sprintf("k%d-%d", i, rng.Uint64()))
			h := EntryHash(k, randomState(rng))
			for d := 1; d <= MaxDepth; d++ {
				trees[d].Update(KeyHash(k), 0, h)
			}
		}
		// Deletes and updates too, so the property is not only about inserts.
		for d := 1; d <= 3; d++ {
			trees[d].Update(KeyHash([]byte("x")), 0, 77)
			trees[d].Update(KeyHash([]byte("x")), 77, 78)
		}
		for d := 4; d <= MaxDepth; d++ {
			trees[d].Update(KeyHash([]byte("x")), 0, 78)
		}
		for d := 1; d <= MaxDepth; d++ {
			tr := trees[d]
			for l := 0; l < d; l++ {
				for i := range tr.levels[l] {
					var x uint64
					for _, c := range tr.Children(l, uint32(i)) {
						x ^= c
					}
					if p := tr.Hash(l, uint32(i)); p != x {
						t.Fatalf("depth %d: node (%d, %d) = %016x, XOR of its children = %016x", d, l, i, p, x)
					}
				}
			}
			for l := 0; l <= min(d, 3); l++ { // levels shared with the depth-3 tree
				if !slices.Equal(tr.levels[l], trees[3].levels[l]) {
					t.Fatalf("level %d differs between depth %d and depth 3", l, d)
				}
			}
		}
	})
}

func TestTreeBasics(t *testing.T) {
	tr := NewTree(2)
	if tr.Depth() != 2 || tr.Keys() != 0 || tr.Root() != 0 {
		t.Fatalf("new tree: depth %d keys %d root %x", tr.Depth(), tr.Keys(), tr.Root())
	}
	if n := len(tr.Children(1, 15)); n != Fanout {
		t.Fatalf("Children returned %d hashes", n)
	}
	kh := KeyHash([]byte("a"))
	tr.Update(kh, 0, 5) // insert
	tr.Update(kh, 5, 5) // no-op
	if tr.Keys() != 1 || tr.Root() != 5 || tr.Hash(2, Bucket(kh, 2)) != 5 || tr.Hash(1, Bucket(kh, 1)) != 5 {
		t.Fatalf("after insert: keys %d root %x", tr.Keys(), tr.Root())
	}
	c := tr.Clone()
	tr.Update(kh, 5, 9) // update
	if tr.Keys() != 1 || tr.Root() != 9 {
		t.Fatalf("after update: keys %d root %x", tr.Keys(), tr.Root())
	}
	if c.Keys() != 1 || c.Root() != 5 || c.Hash(2, Bucket(kh, 2)) != 5 {
		t.Fatalf("the clone saw a later update: root %x", c.Root())
	}
	ch := tr.Children(1, Bucket(kh, 1))
	ch[Bucket(kh, 2)%Fanout] = 0 // Children returns a copy
	if tr.Hash(2, Bucket(kh, 2)) != 9 {
		t.Fatal("writing to the slice Children returned changed the tree")
	}
	tr.Update(kh, 9, 0) // delete
	if tr.Keys() != 0 || tr.Root() != 0 {
		t.Fatalf("after delete: keys %d root %x", tr.Keys(), tr.Root())
	}
	for _, l := range []int{0, 1, 2} {
		for i := range tr.levels[l] {
			if tr.levels[l][i] != 0 {
				t.Fatalf("node (%d, %d) = %x after deleting the only key", l, i, tr.levels[l][i])
			}
		}
	}
}

func TestNeedsResize(t *testing.T) {
	tr := NewTree(1)
	for i := range KeysPerLeaf * Fanout {
		tr.Update(uint64(i)<<40, 0, uint64(i)+1)
	}
	if tr.NeedsResize() {
		t.Fatalf("%d keys in a depth-1 tree: NeedsResize", tr.Keys())
	}
	tr.Update(1, 0, 1)
	if !tr.NeedsResize() {
		t.Fatalf("%d keys in a depth-1 tree: !NeedsResize", tr.Keys())
	}
	if d := DepthFor(tr.Keys()); d != 2 {
		t.Fatalf("DepthFor(%d) = %d, want 2", tr.Keys(), d)
	}
	big := NewTree(MaxDepth)
	big.keys = 1 << 30
	if big.NeedsResize() {
		t.Fatal("a MaxDepth tree asks to grow")
	}
}

func TestTreePanics(t *testing.T) {
	tr := NewTree(2)
	for name, f := range map[string]func(){
		"NewTree(0)":            func() { NewTree(0) },
		"NewTree(MaxDepth+1)":   func() { NewTree(MaxDepth + 1) },
		"Hash(3, 0)":            func() { tr.Hash(3, 0) },
		"Hash(-1, 0)":           func() { tr.Hash(-1, 0) },
		"Hash(1, 16)":           func() { tr.Hash(1, 16) },
		"Children(2, 0)":        func() { tr.Children(2, 0) },
		"Children(1, 16)":       func() { tr.Children(1, 16) },
		"Bucket(x, MaxDepth+1)": func() { Bucket(1, MaxDepth+1) },
		"Bucket(x, -1)":         func() { Bucket(1, -1) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		})
	}
}

func TestDepthFor(t *testing.T) {
	for _, tc := range []struct{ keys, want int }{
		{-1, 1}, {0, 1}, {1, 1}, {128, 1}, {129, 2}, {2048, 2}, {2049, 3},
		{32768, 3}, {32769, 4}, {100_000, 4}, {524288, 4}, {524289, 5},
		{8 << 20, 5}, {1 << 40, 5},
	} {
		if got := DepthFor(tc.keys); got != tc.want {
			t.Errorf("DepthFor(%d) = %d, want %d", tc.keys, got, tc.want)
		}
	}
}

func TestBucket(t *testing.T) {
	const h = 0xfedc_ba98_7654_3210
	for _, tc := range []struct {
		level int
		want  uint32
	}{{0, 0}, {1, 0xf}, {2, 0xfe}, {3, 0xfed}, {4, 0xfedc}, {5, 0xfedcb}} {
		if got := Bucket(h, tc.level); got != tc.want {
			t.Errorf("Bucket(%x, %d) = %x, want %x", uint64(h), tc.level, got, tc.want)
		}
		if tc.level > 0 && Bucket(h, tc.level)/Fanout != Bucket(h, tc.level-1) {
			t.Errorf("level %d bucket is not a child of level %d's", tc.level, tc.level-1)
		}
	}
}

func TestKeyHash(t *testing.T) {
	for _, k := range []string{"", "a", "some key"} {
		if got, want := KeyHash([]byte(k)), bits.RotateLeft64(xxhash.Sum64String(k), 16); got != want {
			t.Errorf("KeyHash(%q) = %x, want xxhash64 rotated left by 16 %x", k, got, want)
		}
	}
}

func TestEntryHash(t *testing.T) {
	ref := func(key, state string) uint64 {
		b := binary.AppendUvarint(nil, uint64(len(key)))
		return xxhash.Sum64(append(append(b, key...), state...))
	}
	for _, tc := range []struct{ key, state string }{
		{"", ""}, {"a", ""}, {"", "a"}, {"key", "state"}, {string(make([]byte, 300)), "x"},
	} {
		got := EntryHash([]byte(tc.key), []byte(tc.state))
		if want := ref(tc.key, tc.state); got != want || got == 0 {
			t.Errorf("EntryHash(%q, %q) = %x, want %x", tc.key, tc.state, got, want)
		}
	}
	// The key's length is framed, so moving bytes between key and state
	// changes the hash.
	if EntryHash([]byte("ab"), []byte("c")) == EntryHash([]byte("a"), []byte("bc")) {
		t.Error(`EntryHash("ab", "c") == EntryHash("a", "bc")`)
	}
	if EntryHash([]byte("k"), []byte("s1")) == EntryHash([]byte("k"), []byte("s2")) {
		t.Error("EntryHash ignores the state")
	}
	if nonzero(0) != 1 || nonzero(42) != 42 {
		t.Error("nonzero does not map 0 to 1 and keep the rest")
	}
}
