package hintedhandoff

import (
	"context"
	"fmt"
	"testing"

	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/vclock"
)

// benchValue is a typical small value.
var benchValue = make([]byte, 100)

// BenchmarkAdd measures Add into badger in memory (no fsync): "new" adds a
// hint for a fresh key each time; "merge" merges a successor write into one
// of 1000 existing hints (decode, DVV merge, encode). Both include making
// the written state with vclock.Write (about 0.6 µs).
func BenchmarkAdd(b *testing.B) {
	ctx := context.Background()
	actor := vclock.Actor{Node: "coordinator", Epoch: 1}
	b.Run("new", func(b *testing.B) {
		hs := open(b, openBadger(b, badger.Options{InMemory: true}), Config{MaxBytesPerTarget: 1 << 40})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			st, _, _ := vclock.State{}.Write(actor, vclock.VV{}, benchValue, false)
			if err := hs.Add(ctx, "n1", uint32(i%256), fmt.Appendf(nil, "key-%d", i), st, t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("merge", func(b *testing.B) {
		hs := open(b, openBadger(b, badger.Options{InMemory: true}), Config{MaxBytesPerTarget: 1 << 40})
		const keys = 1000
		states := make([]vclock.State, keys)
		names := make([][]byte, keys)
		for i := range keys {
			names[i] = fmt.Appendf(nil, "key-%d", i)
			states[i], _, _ = vclock.State{}.Write(actor, vclock.VV{}, benchValue, false)
			if err := hs.Add(ctx, "n1", 0, names[i], states[i], t0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := i % keys
			states[k], _, _ = states[k].Write(actor, states[k].Context, benchValue, false)
			if err := hs.Add(ctx, "n1", 0, names[k], states[k], t0); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkBatch measures reading one default batch (256 hints of ~150
// bytes) from a queue of 10 000 hints in badger in memory.
func BenchmarkBatch(b *testing.B) {
	ctx := context.Background()
	hs := open(b, openBadger(b, badger.Options{InMemory: true}), Config{})
	actor := vclock.Actor{Node: "coordinator", Epoch: 1}
	const n = 10_000
	for i := range n {
		st, _, _ := vclock.State{}.Write(actor, vclock.VV{}, benchValue, false)
		if err := hs.Add(ctx, "n1", uint32(i%256), fmt.Appendf(nil, "key-%d", i), st, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var cursor []byte
	keys, bytes := 0, 0
	for b.Loop() {
		hints, next, err := hs.Batch(ctx, "n1", cursor)
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range hints {
			bytes += h.Size
		}
		keys += len(hints)
		cursor = next // wraps to the start at the end of the queue
	}
	b.ReportMetric(float64(keys)/b.Elapsed().Seconds(), "keys/s")
	b.ReportMetric(float64(bytes)/b.Elapsed().Seconds()/(1<<20), "MB/s")
}
