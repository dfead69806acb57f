package hintedhandoff

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/vclock"
)

// TestReopenKeepsHintsAndStats: a fallback that restarts keeps its hints
// and rebuilds its numbers (badger on disk, closed and reopened).
func TestReopenKeepsHintsAndStats(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := badger.Open(badger.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	hs := open(t, st, Config{})
	for i := range 5 {
		mustAdd(t, hs, "n1", uint32(i), fmt.Sprintf("k%d", i), fresh(fmt.Sprintf("a%d", i), "v"), t0.Add(time.Duration(i)*time.Minute))
	}
	for i := range 3 {
		mustAdd(t, hs, "n2", 0, fmt.Sprintf("k%d", i), fresh(fmt.Sprintf("b%d", i), "value"), t0.Add(time.Hour))
	}
	mustAdd(t, hs, "n1", 4, "k4", fresh("late", "v"), t0.Add(2*time.Hour)) // a merge
	for _, h := range all(t, hs, "n1")[:2] {
		if ok, err := hs.Delivered(ctx, h); !ok || err != nil {
			t.Fatalf("Delivered = %v, %v", ok, err)
		}
	}
	before := hs.Stats()
	hints := map[ring.NodeID][]Hint{"n1": all(t, hs, "n1"), "n2": all(t, hs, "n2")}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := openBadger(t, badger.Options{Dir: dir})
	hs2 := open(t, st2, Config{})
	after := hs2.Stats()
	if len(after) != 2 {
		t.Fatalf("after reopen: stats for %d targets, want 2: %v", len(after), after)
	}
	for id, b := range before {
		a := after[id]
		if a.Count != b.Count || a.Bytes != b.Bytes || !a.Oldest.Equal(b.Oldest) {
			t.Errorf("%s: stats %+v after reopen, %+v before", id, a, b)
		}
	}
	if want := t0.Add(2 * time.Minute); !after["n1"].Oldest.Equal(want) {
		t.Errorf("n1 oldest = %v, want %v (k0 and k1 were delivered)", after["n1"].Oldest, want)
	}
	for id, want := range hints {
		got := all(t, hs2, id)
		if len(got) != len(want) {
			t.Fatalf("%s: %d hints after reopen, want %d", id, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if string(g.Key) != string(w.Key) || g.Partition != w.Partition || !g.State.Equal(w.State) ||
				!g.Created.Equal(w.Created) || g.Size != w.Size {
				t.Errorf("%s: hint %d = %+v after reopen, %+v before", id, i, g, w)
			}
		}
	}
}

// owner simulates a target replica: it merges what it is sent.
type owner struct {
	mu    sync.Mutex
	state map[string]vclock.State
}

func newOwner() *owner { return &owner{state: map[string]vclock.State{}} }

func (o *owner) merge(h Hint) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := fmt.Sprintf("%d/%s", h.Partition, h.Key)
	o.state[k] = vclock.Merge(o.state[k], h.State)
}

func (o *owner) get(p uint32, key string) vclock.State {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.state[fmt.Sprintf("%d/%s", p, key)]
}

// TestCrashDuringDelivery interrupts delivery at random points (the owner
// fails before acknowledging, or the fallback crashes after the owner
// acknowledged but before every Delivered call), restarts the fallback's
// store, and resumes from a fresh cursor while writes keep arriving. In the
// end the owner must hold exactly the merge of everything added, no hint
// may be left behind, and each restart may resend at most the batch that
// was in flight.
func TestCrashDuringDelivery(t *testing.T) {
	tests := []struct {
		name string
		// open returns the store to use, given the previous one (nil at
		// the start): a crash of the fallback process keeps what the
		// store made durable.
		open func(t *testing.T, dir string, prev storage.Store) storage.Store
	}{
		{"memory", func(t *testing.T, _ string, prev storage.Store) storage.Store {
			if prev != nil {
				return prev
			}
			return backends[0].open(t)
		}},
		{"badger on disk", func(t *testing.T, dir string, prev storage.Store) storage.Store {
			if prev != nil {
				if err := prev.Close(); err != nil {
					t.Fatal(err)
				}
			}
			return openBadger(t, badger.Options{Dir: dir})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seed := testSeed(t)
			r := rand.New(rand.NewPCG(seed, 0xc4a5))
			ctx := context.Background()
			dir := t.TempDir()
			cfg := Config{BatchKeys: 1 + r.IntN(6), BatchBytes: 200 + r.IntN(800), Rate: 4096, Burst: 1024}
			t.Logf("config: %+v", cfg)
			st := tc.open(t, dir, nil)
			hs := open(t, st, cfg)
			d, err := NewDelivery("n1", cfg)
			if err != nil {
				t.Fatal(err)
			}
			now := t0
			expected := map[string]vclock.State{} // "p/key" → merge of all added
			target := newOwner()
			writes, crashes := 0, 0
			addRandom := func() {
				p, key := uint32(r.IntN(3)), randKey(r, 12)
				k := fmt.Sprintf("%d/%s", p, key)
				writes++
				actor := fmt.Sprintf("w%d", writes)
				var s vclock.State
				if r.IntN(2) == 0 {
					s = fresh(actor, fmt.Sprint("v", writes)) // concurrent with what is there
				} else {
					s = write(expected[k], actor, fmt.Sprint("v", writes)) // a successor
				}
				mustAdd(t, hs, "n1", p, key, s, now)
				expected[k] = vclock.Merge(expected[k], s)
			}
			// step tries one batch; it returns false if the fallback
			// "crashed" in the middle.
			// redundant returns the queued hints the owner already holds:
			// resending them is wasted work.
			redundant := func() map[string]bool {
				out := map[string]bool{}
				for _, h := range all(t, hs, "n1") {
					if target.get(h.Partition, string(h.Key)).Descends(h.State) {
						out[fmt.Sprintf("%d/%s", h.Partition, h.Key)] = true
					}
				}
				return out
			}
			var (
				redundantBefore map[string]bool // at the start of the last step
				inFlight        map[string]bool // the interrupted batch
			)
			step := func() bool {
				redundantBefore, inFlight = redundant(), map[string]bool{}
				now = now.Add(d.Wait(now))
				hints, next, err := hs.Batch(ctx, "n1", d.Cursor())
				if err != nil {
					t.Fatalf("Batch: %v", err)
				}
				size := 0
				for _, h := range hints {
					size += h.Size
				}
				d.Sending(len(hints), size, now)
				if r.IntN(5) == 0 {
					d.Failed(errors.New("owner unreachable"), now) // nothing merged
					return true
				}
				for _, h := range hints {
					target.merge(h)
					inFlight[fmt.Sprintf("%d/%s", h.Partition, h.Key)] = true
				}
				if r.IntN(3) == 0 {
					addRandom() // a write lands while the batch is out
				}
				cut := len(hints)
				crash := r.IntN(4) == 0
				if crash {
					cut = r.IntN(len(hints) + 1)
				}
				for _, h := range hints[:cut] {
					if _, err := hs.Delivered(ctx, h); err != nil {
						t.Fatalf("Delivered: %v", err)
					}
				}
				if crash {
					return false
				}
				d.Acked(next, now)
				return true
			}
			// restart simulates a crash of the fallback: the store keeps
			// what it made durable, the Delivery (cursor) is lost. Hints the
			// owner already holds may be left only by the interrupted batch
			// (if any): a restart resends at most one batch.
			restart := func(before, interrupted map[string]bool) {
				crashes++
				stats := hs.Stats()["n1"]
				st = tc.open(t, dir, st)
				hs = open(t, st, cfg)
				if after := hs.Stats()["n1"]; after.Count != stats.Count || after.Bytes != stats.Bytes || !after.Oldest.Equal(stats.Oldest) {
					t.Fatalf("stats %+v after restart, %+v before", after, stats)
				}
				extra := 0
				for k := range redundant() {
					if before[k] {
						continue
					}
					if !interrupted[k] {
						t.Fatalf("after restart, hint %s is already at the owner but was not in the interrupted batch", k)
					}
					extra++
				}
				if extra > cfg.BatchKeys {
					t.Fatalf("restart left %d delivered hints to resend, more than one batch (%d)", extra, cfg.BatchKeys)
				}
				d, _ = NewDelivery("n1", cfg) // the cursor is lost with the process
			}
			for range 8 {
				for range r.IntN(25) {
					addRandom()
					now = now.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
				}
				for range 1 + r.IntN(6) {
					if !step() {
						restart(redundantBefore, inFlight)
						break
					}
				}
				if r.IntN(3) == 0 {
					restart(redundant(), nil)
				}
			}
			// Drain without faults.
			for i := 0; hs.StatsFor("n1").Count > 0; i++ {
				if i > 10_000 {
					t.Fatalf("queue does not drain: %+v", hs.StatsFor("n1"))
				}
				now = now.Add(d.Wait(now))
				hints, next, err := hs.Batch(ctx, "n1", d.Cursor())
				if err != nil {
					t.Fatal(err)
				}
				d.Sending(len(hints), 0, now)
				for _, h := range hints {
					target.merge(h)
					if _, err := hs.Delivered(ctx, h); err != nil {
						t.Fatal(err)
					}
				}
				d.Acked(next, now)
			}
			for k, want := range expected {
				var p uint32
				var key string
				fmt.Sscanf(k, "%d/%s", &p, &key)
				if got := target.get(p, key); !got.Equal(want) {
					t.Errorf("owner holds %s = %v, want %v", k, got, want)
				}
			}
			if left := all(t, hs, "n1"); len(left) != 0 || len(hs.Targets()) != 0 {
				t.Fatalf("%d hints left behind, targets %v", len(left), hs.Targets())
			}
			checkStatsMatchStore(t, hs)
			t.Logf("%d writes to %d keys delivered through %d restarts", writes, len(expected), crashes)
		})
	}
}

// TestConcurrentUse runs Add, Batch, Delivered, Lookup and Stats from
// several goroutines at once (run it with -race). Afterwards the statistics
// must equal what the store holds, a target's bytes must never have
// exceeded its bound, and the owner must hold every accepted write: with
// old=true, the writes span twice the hint window, and hints past it are
// delivered like the others (before, they were dropped).
func TestConcurrentUse(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("old=%v", old), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st storage.Store) {
				seed := testSeed(t)
				ctx := context.Background()
				const limit = 4 << 10
				cfg := Config{MaxBytesPerTarget: limit, MaxAge: 30 * time.Minute, BatchKeys: 5}
				hs := open(t, st, cfg)
				owners := []ring.NodeID{"n1", "n2"}
				targets := map[ring.NodeID]*owner{"n1": newOwner(), "n2": newOwner()}
				type accepted struct {
					owner ring.NodeID
					p     uint32
					key   string
					st    vclock.State
				}
				var (
					mu       sync.Mutex
					accepts  []accepted
					refused  int
					writers  sync.WaitGroup
					others   sync.WaitGroup
					stop     = make(chan struct{})
					overflow = make(chan string, 1)
				)
				for w := range 4 {
					r := rand.New(rand.NewPCG(seed, uint64(w)))
					writers.Go(func() {
						for i := range 150 {
							o := owners[r.IntN(len(owners))]
							p, key := uint32(r.IntN(2)), randKey(r, 15)
							s := fresh(fmt.Sprintf("g%d-%d", w, i), "value")
							span := 20
							if old {
								span = 60
							}
							at := t0.Add(time.Duration(r.IntN(span)) * time.Minute)
							err := hs.Add(ctx, o, p, []byte(key), s, at)
							mu.Lock()
							switch {
							case err == nil:
								accepts = append(accepts, accepted{o, p, key, s})
							case errors.Is(err, ErrTargetFull):
								refused++
							default:
								t.Errorf("Add: %v", err)
							}
							mu.Unlock()
						}
					})
				}
				deliver := func(o ring.NodeID) {
					hints, _, err := hs.Batch(ctx, o, nil)
					if err != nil {
						t.Errorf("Batch: %v", err)
						return
					}
					for _, h := range hints {
						targets[o].merge(h)
						if _, err := hs.Delivered(ctx, h); err != nil {
							t.Errorf("Delivered: %v", err)
						}
					}
				}
				for _, o := range owners {
					others.Go(func() {
						for {
							select {
							case <-stop:
								return
							default:
								deliver(o)
							}
						}
					})
				}
				others.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						for id, s := range hs.Stats() {
							if s.Bytes > limit {
								select {
								case overflow <- fmt.Sprintf("%s holds %d bytes", id, s.Bytes):
								default:
								}
							}
						}
						if _, _, err := hs.Lookup(ctx, 1, []byte(randKey(rand.New(rand.NewPCG(seed, 99)), 15))); err != nil {
							t.Errorf("Lookup: %v", err)
						}
					}
				})
				writers.Wait()
				close(stop)
				others.Wait()
				select {
				case msg := <-overflow:
					t.Fatalf("queue over its %d-byte bound: %s", limit, msg)
				default:
				}
				checkStatsMatchStore(t, hs)
				for _, o := range owners {
					for hs.StatsFor(o).Count > 0 {
						deliver(o)
					}
				}
				checkStatsMatchStore(t, hs)
				for _, a := range accepts {
					if !targets[a.owner].get(a.p, a.key).Descends(a.st) {
						t.Fatalf("accepted write %v for %s/%d/%s never reached the owner", a.st, a.owner, a.p, a.key)
					}
				}
				total := hs.StatsFor("n1").Delivered + hs.StatsFor("n2").Delivered
				t.Logf("%d accepted, %d refused, %d hints delivered", len(accepts), refused, total)
			})
		})
	}
}
