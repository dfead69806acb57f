package storagetest

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/dynago/dynago/storage"
)

// Benchmark shape: values of benchValueSize bytes (a typical small object with
// its version vector) spread over benchKeys keys of one partition.
const (
	benchValueSize = 200
	benchKeys      = 1024
)

func benchKey(i int) []byte {
	return storage.DataKey(uint32(i%8), strconv.AppendInt([]byte("key-"), int64(i%benchKeys), 10))
}

// rmw is a read-modify-write fn: it bumps the first byte of the stored value,
// creating a benchValueSize-byte value on first use.
func rmw(old []byte, found bool) ([]byte, error) {
	if !found || len(old) != benchValueSize {
		old = make([]byte, benchValueSize)
	}
	old[0]++
	return old, nil
}

// The Bench functions leave st open: the caller opens and closes it, once per
// call of its Benchmark function (testing may call that several times).

// BenchUpdate measures sequential read-modify-write Updates of 200-byte values.
func BenchUpdate(b *testing.B, st storage.Store) {
	ctx := context.Background()
	keys := benchKeyList()
	b.ReportAllocs()
	b.SetBytes(benchValueSize)
	for i := 0; b.Loop(); i++ {
		if err := st.Update(ctx, keys[i%benchKeys], rmw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchUpdateParallel measures read-modify-write Updates of 200-byte values
// from GOMAXPROCS×4 goroutines (set with b.SetParallelism) on distinct keys,
// which shows how well a durable store groups fsyncs.
func BenchUpdateParallel(b *testing.B, st storage.Store) {
	ctx := context.Background()
	keys := benchKeyList()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetBytes(benchValueSize)
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			if err := st.Update(ctx, keys[i%benchKeys], rmw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchGet measures Gets of 200-byte values that exist.
func BenchGet(b *testing.B, st storage.Store) {
	ctx := context.Background()
	keys := benchKeyList()
	for _, k := range keys {
		if err := st.Update(ctx, k, rmw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(benchValueSize)
	for i := 0; b.Loop(); i++ {
		v, err := st.Get(ctx, keys[i%benchKeys])
		if err != nil || len(v) != benchValueSize {
			b.Fatalf("Get = %d bytes, %v", len(v), err)
		}
	}
}

func benchKeyList() [][]byte {
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	return keys
}
