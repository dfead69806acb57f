package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/vclock"
)

// BenchmarkStorageMerge measures the replica-side write path every write
// takes: decode the stored state, DVV-merge the incoming one, encode, store
// (badger on disk), with and without fsync.
func BenchmarkStorageMerge(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) {
			st, err := badger.Open(badger.Options{Dir: b.TempDir(), NoSync: !sync})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			r, err := ring.New(ring.Config{Partitions: 256, N: 3}, []ring.Member{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}})
			if err != nil {
				b.Fatal(err)
			}
			n := &Node{store: st}
			n.members.ring.Store(r)
			value := make([]byte, 100)
			actors := []vclock.Actor{{Node: "n1", Epoch: 1}, {Node: "n2", Epoch: 2}, {Node: "n3", Epoch: 3}}
			var worker atomic.Int64
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				// Each worker owns its keys and their latest states, so
				// every merge brings a new version and really writes.
				w := worker.Add(1)
				keys := make([][]byte, 100)
				for i := range keys {
					keys[i] = []byte(fmt.Sprintf("w%d-key-%d", w, i))
				}
				states := make([]vclock.State, len(keys))
				i := 0
				for pb.Next() {
					k := i % len(keys)
					next, _, _ := states[k].Write(actors[i%3], states[k].Context, value, false)
					merged, err := n.rep.applyLocal(ctx, keys[k], next)
					if err != nil {
						b.Fatal(err)
					}
					if !merged.Equal(next) {
						b.Fatal("merge lost the new version")
					}
					states[k] = next
					i++
				}
			})
		})
	}
}
