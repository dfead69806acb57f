package hintedhandoff

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/storage/memory"
	"github.com/dynago/dynago/vclock"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: from the clock)")

func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	return seed
}

// t0 is the tests' epoch; every time is an offset from it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// backends are the storage.Store implementations every store test runs on.
var backends = []struct {
	name string
	open func(t testing.TB) storage.Store
}{
	{"memory", func(t testing.TB) storage.Store {
		st := memory.New()
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"badger", func(t testing.TB) storage.Store { return openBadger(t, badger.Options{InMemory: true}) }},
}

func openBadger(t testing.TB, opts badger.Options) *badger.Store {
	t.Helper()
	st, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("badger.Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// forEachBackend runs f as a subtest on every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, st storage.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.open(t)) })
	}
}

func open(t testing.TB, st storage.Store, cfg Config) *Store {
	t.Helper()
	hs, err := Open(context.Background(), st, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return hs
}

// write returns base after actor node writes value with base's context
// (so it supersedes everything in base).
func write(base vclock.State, node, value string) vclock.State {
	s, _, _ := base.Write(vclock.Actor{Node: node, Epoch: 1}, base.Context, []byte(value), false)
	return s
}

// fresh returns the state of one write by actor node with an empty context.
// Use a distinct node per call: two fresh writes by one node would reuse a
// dot.
func fresh(node, value string) vclock.State { return write(vclock.State{}, node, value) }

func mustAdd(t testing.TB, hs *Store, owner ring.NodeID, p uint32, key string, st vclock.State, now time.Time) {
	t.Helper()
	if err := hs.Add(context.Background(), owner, p, []byte(key), st, now); err != nil {
		t.Fatalf("Add(%s, %d, %q): %v", owner, p, key, err)
	}
}

func mustGet(t testing.TB, hs *Store, owner ring.NodeID, p uint32, key string) (vclock.State, bool) {
	t.Helper()
	st, ok, err := hs.Get(context.Background(), owner, p, []byte(key))
	if err != nil {
		t.Fatalf("Get(%s, %d, %q): %v", owner, p, key, err)
	}
	return st, ok
}

// all returns every hint queued for owner, reading with a fresh cursor.
func all(t testing.TB, hs *Store, owner ring.NodeID) []Hint {
	t.Helper()
	var out []Hint
	var cursor []byte
	for {
		hints, next, err := hs.Batch(context.Background(), owner, cursor)
		if err != nil {
			t.Fatalf("Batch(%s): %v", owner, err)
		}
		out = append(out, hints...)
		if next == nil {
			return out
		}
		cursor = next
	}
}

// hintSize is the stored size of a hint for key holding st.
func hintSize(owner ring.NodeID, p uint32, key string, st vclock.State) int {
	enc, err := st.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return len(storage.HintKey(string(owner), p, []byte(key))) + recordHeaderLen + len(enc)
}

// checkStatsMatchStore fails unless hs's statistics equal what Open
// rebuilds from the same store (ignoring the event counters).
func checkStatsMatchStore(t testing.TB, hs *Store) {
	t.Helper()
	fresh := open(t, hs.st, hs.cfg)
	got, want := hs.Stats(), fresh.Stats()
	for id, w := range want {
		g := got[id]
		if g.Count != w.Count || g.Bytes != w.Bytes || !g.Oldest.Equal(w.Oldest) {
			t.Errorf("stats for %s = count %d bytes %d oldest %v; the store holds count %d bytes %d oldest %v",
				id, g.Count, g.Bytes, g.Oldest, w.Count, w.Bytes, w.Oldest)
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok && (g.Count != 0 || g.Bytes != 0) {
			t.Errorf("stats for %s = count %d bytes %d; the store holds none", id, g.Count, g.Bytes)
		}
	}
}

func randKey(r *rand.Rand, n int) string { return fmt.Sprintf("k%03d", r.IntN(n)) }

func vclockMergeForFuzz() vclock.State {
	return vclock.Merge(write(fresh("a", "one"), "b", "two"), fresh("c", ""))
}
