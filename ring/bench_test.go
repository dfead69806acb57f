package ring

import (
	"fmt"
	"testing"
)

func benchRing(b *testing.B, q, k int) *Ring {
	b.Helper()
	ms := make([]Member, k)
	for i := range ms {
		ms[i] = Member{ID: NodeID(fmt.Sprintf("node-%04d", i))}
	}
	r, err := New(Config{Partitions: q, N: 3}, ms)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchKeys() [][]byte {
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "user:%08d", i)
	}
	return keys
}

// BenchmarkPartition is key -> partition: one xxhash64 of a 13-byte key.
func BenchmarkPartition(b *testing.B) {
	r := benchRing(b, 256, 8)
	keys := benchKeys()
	i := 0
	for b.Loop() {
		r.Partition(keys[i&1023])
		i++
	}
}

// BenchmarkPrimaries is key -> preference list, the lookup on every request.
func BenchmarkPrimaries(b *testing.B) {
	for _, c := range []struct{ q, k int }{{256, 64}, {4096, 1000}} {
		b.Run(fmt.Sprintf("Q=%d/members=%d", c.q, c.k), func(b *testing.B) {
			r := benchRing(b, c.q, c.k)
			keys := benchKeys()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				r.Primaries(r.Partition(keys[i&1023]))
				i++
			}
		})
	}
}

// BenchmarkTargets is key -> targets with all primaries up, and with the
// owner down (one fallback, found by walking the ring).
func BenchmarkTargets(b *testing.B) {
	r := benchRing(b, 256, 64)
	keys := benchKeys()
	allUp := func(NodeID) bool { return true }
	b.Run("all up", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r.Targets(r.Partition(keys[i&1023]), allUp)
			i++
		}
	})
	b.Run("owner down", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			p := r.Partition(keys[i&1023])
			owner := r.Owner(p)
			r.Targets(p, func(id NodeID) bool { return id != owner })
			i++
		}
	})
}

// BenchmarkNew is the full placement a node computes on every membership
// change.
func BenchmarkNew(b *testing.B) {
	for _, c := range []struct{ q, k int }{{256, 64}, {4096, 1000}} {
		b.Run(fmt.Sprintf("Q=%d/members=%d", c.q, c.k), func(b *testing.B) {
			ms := make([]Member, c.k)
			for i := range ms {
				ms[i] = Member{ID: NodeID(fmt.Sprintf("node-%04d", i))}
			}
			cfg := Config{Partitions: c.q, N: 3}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := New(cfg, ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClaim is the claimant's work for one join: Claim from a ring of
// k members to k+1, against New of the same k+1 members (the history-free
// placement). Q=4096 with 1000 members is DESIGN §2's simulation size.
func BenchmarkClaim(b *testing.B) {
	for _, tc := range []struct{ q, k int }{{256, 8}, {256, 64}, {4096, 1000}} {
		r := benchRing(b, tc.q, tc.k)
		joiner := Member{ID: "node-new"}
		ms := append(r.Members(), joiner)
		b.Run(fmt.Sprintf("Q=%d/k=%d/Claim", tc.q, tc.k), func(b *testing.B) {
			for b.Loop() {
				if _, err := r.Claim(ms); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Q=%d/k=%d/New", tc.q, tc.k), func(b *testing.B) {
			for b.Loop() {
				if _, err := New(r.Config(), ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
