package antientropy

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkUpdate measures one write's tree maintenance at depth 3.
func BenchmarkUpdate(b *testing.B) {
	const n = 1 << 12
	rng := rand.New(rand.NewPCG(1, 0))
	kh := make([]uint64, n)
	eh := make([]uint64, n)
	for i := range kh {
		kh[i] = KeyHash([]byte("k" + strconv.Itoa(i)))
		eh[i] = rng.Uint64() | 1
	}
	t := NewTree(3)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := i & (n - 1)
		next := eh[j] ^ 2 // old != new, so every call does the work
		t.Update(kh[j], eh[j], next)
		eh[j] = next
		i++
	}
}

// BenchmarkDiff measures one exchange, initiator side, between in-memory
// replicas of 100k keys that differ in 10.
func BenchmarkDiff(b *testing.B) {
	const n, d = 100_000, 10
	rng := rand.New(rand.NewPCG(3, 0))
	base := makeBase(n, rng)
	a := newReplica(base, DepthFor(n), nil)
	r := newReplica(base, DepthFor(n), a.tree)
	diverge(rng, a, r, d, "b")
	local := a.local()
	b.ReportAllocs()
	for b.Loop() {
		diffs, _, _, err := Diff(a.tree, r.tree.Root(), r.tree.Depth(), r, local, 0)
		if err != nil || len(diffs) != d {
			b.Fatalf("Diff: %d differences, %v", len(diffs), err)
		}
	}
}

// BenchmarkEntryHash hashes a 100-byte state under a short key.
func BenchmarkEntryHash(b *testing.B) {
	key := []byte("user:12345678")
	state := bytes.Repeat([]byte("s"), 100)
	b.SetBytes(int64(len(key) + len(state)))
	b.ReportAllocs()
	for b.Loop() {
		EntryHash(key, state)
	}
}
