package hintedhandoff

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Dynamo §4.6: a fallback keeps a write for a down replica as a hint, and
// the hint accumulates every write it receives for that key.
func TestAddGetMerge(t *testing.T) {
	s1 := fresh("a", "one")
	s2 := fresh("b", "two")     // concurrent with s1
	s1b := write(s1, "a", "1b") // supersedes s1
	type add struct {
		st vclock.State
		at time.Duration
	}
	tests := []struct {
		name        string
		adds        []add
		want        vclock.State
		found       bool
		wantCreated time.Duration
	}{
		{"new hint", []add{{s1, 0}}, s1, true, 0},
		{"concurrent writes become siblings", []add{{s1, 0}, {s2, time.Minute}}, vclock.Merge(s1, s2), true, 0},
		{"a successor replaces", []add{{s1, 0}, {s1b, time.Hour}}, s1b, true, 0},
		{"an ancestor changes nothing", []add{{s1b, time.Minute}, {s1, time.Hour}}, s1b, true, time.Minute},
		{"the same state twice", []add{{s1, 0}, {s1, time.Hour}}, s1, true, 0},
		{"merge is order-free", []add{{s2, time.Second}, {s1b, 0}, {s1, time.Hour}}, vclock.Merge(s1b, s2), true, time.Second},
		{"a zero state stores nothing", []add{{vclock.State{}, 0}}, vclock.State{}, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st storage.Store) {
				hs := open(t, st, Config{})
				for _, a := range tc.adds {
					mustAdd(t, hs, "n1", 3, "key", a.st, t0.Add(a.at))
				}
				got, ok := mustGet(t, hs, "n1", 3, "key")
				if ok != tc.found || !got.Equal(tc.want) {
					t.Fatalf("Get = %v, %v; want %v, %v", got, ok, tc.want, tc.found)
				}
				hints := all(t, hs, "n1")
				if !tc.found {
					if len(hints) != 0 {
						t.Fatalf("Batch returned %d hints, want none", len(hints))
					}
					checkStatsMatchStore(t, hs)
					return
				}
				if len(hints) != 1 {
					t.Fatalf("Batch returned %d hints, want 1", len(hints))
				}
				h := hints[0]
				if h.Owner != "n1" || h.Partition != 3 || string(h.Key) != "key" || !h.State.Equal(tc.want) {
					t.Fatalf("hint = %+v, want n1/3/key holding %v", h, tc.want)
				}
				if want := t0.Add(tc.wantCreated); !h.Created.Equal(want) {
					t.Fatalf("Created = %v, want %v (the first write's time)", h.Created, want)
				}
				if want := hintSize("n1", 3, "key", tc.want); h.Size != want {
					t.Fatalf("Size = %d, want %d", h.Size, want)
				}
				stats := hs.StatsFor("n1")
				if stats.Count != 1 || stats.Bytes != int64(h.Size) || !stats.Oldest.Equal(t0.Add(tc.wantCreated).Truncate(time.Second)) {
					t.Fatalf("stats = %+v, want 1 hint of %d bytes created %v", stats, h.Size, t0.Add(tc.wantCreated))
				}
				checkStatsMatchStore(t, hs)
			})
		})
	}
}

func TestAddInvalid(t *testing.T) {
	bad := vclock.State{Versions: []vclock.Version{{Value: []byte("x")}}} // zero dot: breaks the invariants
	tests := []struct {
		name  string
		owner ring.NodeID
		key   []byte
		st    vclock.State
		now   time.Time
	}{
		{"empty owner", "", []byte("k"), fresh("a", "v"), t0},
		{"owner too long", ring.NodeID(strings.Repeat("n", storage.MaxHintOwner+1)), []byte("k"), fresh("a", "v"), t0},
		{"key too long", "n1", bytes.Repeat([]byte("k"), storage.MaxKeySize), fresh("a", "v"), t0},
		{"zero time", "n1", []byte("k"), fresh("a", "v"), time.Time{}},
		{"malformed state", "n1", []byte("k"), bad, t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := open(t, backends[0].open(t), Config{})
			err := hs.Add(context.Background(), tc.owner, 0, tc.key, tc.st, tc.now)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Add = %v, want ErrInvalid", err)
			}
			if len(hs.Targets()) != 0 {
				t.Fatalf("Targets = %v after a refused Add", hs.Targets())
			}
		})
	}
}

// TestTargetIsolation checks that hints for different targets never mix,
// even when one name is a prefix of another and the keys are equal.
func TestTargetIsolation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st storage.Store) {
		hs := open(t, st, Config{})
		owners := []ring.NodeID{"n1", "n10", "n2"}
		states := map[ring.NodeID]vclock.State{}
		for i, o := range owners {
			states[o] = fresh(fmt.Sprintf("w%d", i), string(o))
			for _, k := range []string{"a", "b"} {
				mustAdd(t, hs, o, 7, k, states[o], t0.Add(time.Duration(i)*time.Hour))
			}
		}
		if got := hs.Targets(); !slices.Equal(got, owners) {
			t.Fatalf("Targets = %v, want %v", got, owners)
		}
		for i, o := range owners {
			hints := all(t, hs, o)
			if len(hints) != 2 {
				t.Fatalf("%s: %d hints, want 2", o, len(hints))
			}
			for _, h := range hints {
				if h.Owner != o || !h.State.Equal(states[o]) {
					t.Fatalf("%s: got hint %+v", o, h)
				}
			}
			s := hs.StatsFor(o)
			if s.Count != 2 || !s.Oldest.Equal(t0.Add(time.Duration(i)*time.Hour)) {
				t.Fatalf("%s: stats %+v", o, s)
			}
		}
		// Delivering n1's hints leaves n10's and n2's alone.
		for _, h := range all(t, hs, "n1") {
			if ok, err := hs.Delivered(context.Background(), h); !ok || err != nil {
				t.Fatalf("Delivered(%+v) = %v, %v", h, ok, err)
			}
		}
		if got := hs.Targets(); !slices.Equal(got, owners[1:]) {
			t.Fatalf("Targets after delivering n1 = %v, want %v", got, owners[1:])
		}
		for _, o := range owners[1:] {
			if got, ok := mustGet(t, hs, o, 7, "a"); !ok || !got.Equal(states[o]) {
				t.Fatalf("%s lost its hint: %v %v", o, got, ok)
			}
		}
		// Superseding n10's state of a deletes n10's hint of a only: n2's
		// state is not covered, and b is another key.
		if n, err := hs.Supersede(context.Background(), 7, []byte("a"), states["n10"]); n != 1 || err != nil {
			t.Fatalf("Supersede(a, n10's state) = %d, %v; want 1", n, err)
		}
		if got := hs.StatsFor("n2"); got.Count != 2 {
			t.Fatalf("n2 after superseding n10's hint: %+v", got)
		}
		if got := hs.StatsFor("n10"); got.Count != 1 {
			t.Fatalf("n10 after superseding its hint of a: %+v", got)
		}
		checkStatsMatchStore(t, hs)
	})
}

// TestTargetFull pins the byte bound: hints are refused (nothing written)
// once the next could take the target's queue over MaxBytesPerTarget, other
// targets are unaffected, and delivering frees the space again.
func TestTargetFull(t *testing.T) {
	// Hints of one size: keys k0..k9, one 5-byte value each, actors of
	// equal length.
	state := func(i int) vclock.State { return fresh(fmt.Sprintf("w%d", i), "value") }
	size := int64(hintSize("n1", 0, "k0", state(0)))
	tests := []struct {
		name     string
		limit    int64
		accepted int
	}{
		{"exactly three", 3 * size, 3},
		{"one byte short of four", 4*size - 1, 3},
		{"one byte short of one", size - 1, 0},
		{"exactly one", size, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st storage.Store) {
				ctx := context.Background()
				hs := open(t, st, Config{MaxBytesPerTarget: tc.limit})
				accepted := 0
				for i := range 10 {
					key := fmt.Sprintf("k%d", i)
					err := hs.Add(ctx, "n1", 0, []byte(key), state(i), t0)
					switch {
					case err == nil:
						accepted++
					case errors.Is(err, ErrTargetFull):
						if _, ok := mustGet(t, hs, "n1", 0, key); ok {
							t.Fatalf("refused hint %s was written", key)
						}
					default:
						t.Fatalf("Add(%s) = %v", key, err)
					}
					if b := hs.StatsFor("n1").Bytes; b > tc.limit {
						t.Fatalf("queue holds %d bytes, over the %d limit", b, tc.limit)
					}
				}
				s := hs.StatsFor("n1")
				if accepted != tc.accepted || s.Count != tc.accepted || s.Refused != uint64(10-tc.accepted) {
					t.Fatalf("accepted %d, stats %+v; want %d accepted, %d refused", accepted, s, tc.accepted, 10-tc.accepted)
				}
				// Another target has its own budget.
				if err := hs.Add(ctx, "n2", 0, []byte("k0"), state(0), t0); tc.limit >= size && err != nil {
					t.Fatalf("Add for n2 = %v, want its own budget", err)
				}
				if tc.accepted == 0 {
					return
				}
				// A full queue still takes a state its hint already holds,
				// but not a merge that would grow it.
				if err := hs.Add(ctx, "n1", 0, []byte("k0"), state(0), t0); err != nil {
					t.Fatalf("re-adding a held state to a full queue = %v, want nil", err)
				}
				if tc.limit-s.Bytes < size {
					grown := write(state(0), "w0", "value2")
					if err := hs.Add(ctx, "n1", 0, []byte("k0"), grown, t0); !errors.Is(err, ErrTargetFull) {
						t.Fatalf("growing a hint in a full queue = %v, want ErrTargetFull", err)
					}
					if got, _ := mustGet(t, hs, "n1", 0, "k0"); !got.Equal(state(0)) {
						t.Fatalf("refused merge changed the hint to %v", got)
					}
				}
				// Delivering one hint frees room for one more.
				h := all(t, hs, "n1")[0]
				if ok, err := hs.Delivered(ctx, h); !ok || err != nil {
					t.Fatalf("Delivered = %v, %v", ok, err)
				}
				if err := hs.Add(ctx, "n1", 0, []byte("k9"), state(9), t0); err != nil {
					t.Fatalf("Add after Delivered freed space = %v", err)
				}
				checkStatsMatchStore(t, hs)
			})
		})
	}
}

// TestDelivered pins when a delivered hint is deleted: only if the sent
// state covers what is stored now.
func TestDelivered(t *testing.T) {
	s1 := fresh("a", "one")
	s2 := fresh("b", "two")
	s1b := write(s1, "a", "1b")
	tests := []struct {
		name string
		// before is added first, then Batch reads the hint to send; after
		// is added before Delivered; sent overrides the state sent.
		before, after, sent vclock.State
		wantDeleted         bool
		wantLeft            vclock.State // the hint afterwards, if kept
	}{
		{name: "unchanged", before: s1, wantDeleted: true},
		{name: "grown by a concurrent write", before: s1, after: s2, wantDeleted: false, wantLeft: vclock.Merge(s1, s2)},
		{name: "replaced by a successor", before: s1, after: s1b, wantDeleted: false, wantLeft: s1b},
		{name: "re-added unchanged", before: s1, after: s1, wantDeleted: true},
		{name: "sent state descends the hint", before: s1, after: s1b, sent: vclock.Merge(s1b, s2), wantDeleted: true},
		{name: "sent state older than the hint", before: s1b, sent: s1, wantDeleted: false, wantLeft: s1b},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st storage.Store) {
				ctx := context.Background()
				hs := open(t, st, Config{})
				mustAdd(t, hs, "n1", 1, "k", tc.before, t0)
				h := all(t, hs, "n1")[0]
				if !tc.after.IsZero() {
					mustAdd(t, hs, "n1", 1, "k", tc.after, t0.Add(time.Minute))
				}
				if !tc.sent.IsZero() {
					h.State = tc.sent
				}
				deleted, err := hs.Delivered(ctx, h)
				if err != nil || deleted != tc.wantDeleted {
					t.Fatalf("Delivered = %v, %v; want %v", deleted, err, tc.wantDeleted)
				}
				got, ok := mustGet(t, hs, "n1", 1, "k")
				if ok == tc.wantDeleted || (ok && !got.Equal(tc.wantLeft)) {
					t.Fatalf("after Delivered: hint %v (found %v), want deleted=%v left=%v", got, ok, tc.wantDeleted, tc.wantLeft)
				}
				// A duplicate Delivered changes nothing.
				stats := hs.StatsFor("n1")
				again, err := hs.Delivered(ctx, h)
				if err != nil || (again && tc.wantDeleted) {
					t.Fatalf("duplicate Delivered = %v, %v; want false", again, err)
				}
				if after := hs.StatsFor("n1"); after != stats {
					t.Fatalf("duplicate Delivered changed stats %+v → %+v", stats, after)
				}
				want := uint64(0)
				if tc.wantDeleted {
					want = 1
				}
				if stats.Delivered != want {
					t.Fatalf("Delivered counter = %d, want %d", stats.Delivered, want)
				}
				checkStatsMatchStore(t, hs)
			})
		})
	}
}

// TestDeliveredAfterRecreate: a duplicate Delivered must not delete a newer
// hint created for the same key after the first delivery.
func TestDeliveredAfterRecreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		hs := open(t, st, Config{})
		mustAdd(t, hs, "n1", 0, "k", fresh("a", "one"), t0)
		h := all(t, hs, "n1")[0]
		if ok, err := hs.Delivered(ctx, h); !ok || err != nil {
			t.Fatalf("Delivered = %v, %v", ok, err)
		}
		newer := fresh("b", "two")
		mustAdd(t, hs, "n1", 0, "k", newer, t0.Add(time.Hour))
		if ok, err := hs.Delivered(ctx, h); ok || err != nil {
			t.Fatalf("stale duplicate Delivered = %v, %v; want false", ok, err)
		}
		if got, ok := mustGet(t, hs, "n1", 0, "k"); !ok || !got.Equal(newer) {
			t.Fatalf("newer hint = %v, %v", got, ok)
		}
		if ok, err := hs.Delivered(ctx, Hint{Owner: "n1", Partition: 9, Key: []byte("never"), State: newer}); ok || err != nil {
			t.Fatalf("Delivered of a hint never added = %v, %v", ok, err)
		}
	})
}

func TestBatchPagination(t *testing.T) {
	// 10 hints of one size S in 3 partitions.
	st := func(i int) vclock.State { return fresh(fmt.Sprintf("w%d", i), "value") }
	size := hintSize("n1", 0, "k0", st(0))
	tests := []struct {
		name       string
		keys       int
		bytes      int
		wantSizes  []int
		totalHints int
	}{
		{"by keys", 4, 1 << 20, []int{4, 4, 2}, 10},
		{"by bytes", 100, 3*size + size/2, []int{3, 3, 3, 1}, 10},
		{"bytes exactly", 100, 5 * size, []int{5, 5}, 10},
		{"one hint over the byte limit", 100, size - 1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 10},
		{"keys before bytes", 2, 3 * size, []int{2, 2, 2, 2, 2}, 10},
		{"exact multiple ends without an empty batch", 5, 1 << 20, []int{5, 5}, 10},
		{"all at once", 100, 1 << 20, []int{10}, 10},
		{"empty queue", 4, 1 << 20, []int{0}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, store storage.Store) {
				hs := open(t, store, Config{BatchKeys: tc.keys, BatchBytes: tc.bytes})
				var want []string
				for i := range tc.totalHints {
					p := uint32(i % 3)
					key := fmt.Sprintf("k%d", i)
					mustAdd(t, hs, "n1", p, key, st(i), t0)
					want = append(want, string(storage.HintKey("n1", p, []byte(key))))
				}
				mustAdd(t, hs, "n0", 0, "k0", st(0), t0) // neighbours that must not show
				mustAdd(t, hs, "n2", 0, "k0", st(0), t0)
				slices.Sort(want)
				var got []string
				var sizes []int
				var cursor []byte
				for range 20 {
					hints, next, err := hs.Batch(context.Background(), "n1", cursor)
					if err != nil {
						t.Fatalf("Batch: %v", err)
					}
					sizes = append(sizes, len(hints))
					for _, h := range hints {
						if h.Owner != "n1" {
							t.Fatalf("Batch(n1) returned a hint for %s", h.Owner)
						}
						got = append(got, string(storage.HintKey(string(h.Owner), h.Partition, h.Key)))
					}
					if next == nil {
						break
					}
					cursor = next
				}
				if !slices.Equal(sizes, tc.wantSizes) {
					t.Fatalf("batch sizes %v, want %v", sizes, tc.wantSizes)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("hints in order %q, want %q", got, want)
				}
			})
		})
	}
}

// TestBatchCursorResume checks that a cursor stays valid whatever happens
// to the hints around it, and that hints added behind it wait for the next
// pass.
func TestBatchCursorResume(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		hs := open(t, st, Config{BatchKeys: 2})
		for i := range 6 {
			mustAdd(t, hs, "n1", 0, fmt.Sprintf("k%d", i*2), fresh(fmt.Sprintf("w%d", i), "v"), t0)
		}
		first, cursor, err := hs.Batch(ctx, "n1", nil)
		if err != nil || len(first) != 2 || cursor == nil {
			t.Fatalf("Batch = %d hints, cursor %x, %v", len(first), cursor, err)
		}
		// Deliver the batch (deleting the cursor's own key), add a key
		// behind the cursor and one ahead of it.
		for _, h := range first {
			if ok, err := hs.Delivered(ctx, h); !ok || err != nil {
				t.Fatalf("Delivered = %v, %v", ok, err)
			}
		}
		mustAdd(t, hs, "n1", 0, "k1", fresh("x", "behind"), t0)
		mustAdd(t, hs, "n1", 0, "k5", fresh("y", "ahead"), t0)
		var keys []string
		for cursor != nil {
			var hints []Hint
			hints, cursor, err = hs.Batch(ctx, "n1", cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range hints {
				keys = append(keys, string(h.Key))
			}
		}
		// Key order is byte order: k0 k10 k2 k4 … went first as k0, k10.
		if want := []string{"k2", "k4", "k5", "k6", "k8"}; !slices.Equal(keys, want) {
			t.Fatalf("rest of the pass = %q, want %q", keys, want)
		}
		// The next pass, from the start, has everything still queued.
		var next []string
		for _, h := range all(t, hs, "n1") {
			next = append(next, string(h.Key))
		}
		if want := []string{"k1", "k2", "k4", "k5", "k6", "k8"}; !slices.Equal(next, want) {
			t.Fatalf("next pass = %q, want %q", next, want)
		}
	})
}

func TestBatchBadCursor(t *testing.T) {
	hs := open(t, backends[0].open(t), Config{})
	mustAdd(t, hs, "n1", 0, "k", fresh("a", "v"), t0)
	tests := []struct {
		name   string
		cursor []byte
	}{
		{"another target's", storage.HintKey("n2", 0, []byte("k"))},
		{"a prefix target's", storage.HintKey("n", 0, []byte("k"))},
		{"a data key", storage.DataKey(0, []byte("k"))},
		{"garbage", []byte{1, 2, 3}},
		{"empty", []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := hs.Batch(context.Background(), "n1", tc.cursor); !errors.Is(err, ErrBadCursor) {
				t.Fatalf("Batch with cursor %x = %v, want ErrBadCursor", tc.cursor, err)
			}
		})
	}
}

// TestNoExpiry pins the hint window's contract: hints are never dropped
// for age (a write acknowledged by fallbacks alone lives only in their
// hints until it reaches a replica), MaxAge only makes them overdue, and a
// later merge does not make a hint younger. Before, Batch skipped hints
// past MaxAge and Expire deleted them: the "all overdue" case lost every
// hint.
func TestNoExpiry(t *testing.T) {
	const maxAge = 3 * time.Hour
	// Hints created at t0 + created[i]; k0 is merged into later.
	created := []time.Duration{0, time.Hour, 2 * time.Hour, 3*time.Hour + time.Second}
	tests := []struct {
		name        string
		now         time.Duration
		wantOverdue bool
	}{
		{"none old", 3 * time.Hour, false},
		{"one nanosecond past", 3*time.Hour + 1, true},
		{"merged hint keeps its age", 5*time.Hour + 1, true},
		{"all overdue", 100 * time.Hour, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, st storage.Store) {
				hs := open(t, st, Config{MaxAge: maxAge})
				for i, c := range created {
					mustAdd(t, hs, "n1", 0, fmt.Sprintf("k%d", i), fresh(fmt.Sprintf("w%d", i), "v"), t0.Add(c))
				}
				late := fresh("late", "v")
				mustAdd(t, hs, "n1", 0, "k0", late, t0.Add(tc.now))
				hints := all(t, hs, "n1")
				if len(hints) != len(created) {
					t.Fatalf("Batch at +%v = %d hints, want all %d", tc.now, len(hints), len(created))
				}
				if !hints[0].Created.Equal(t0) || !hints[0].State.Descends(late) {
					t.Fatalf("k0 = %+v, want created %v and holding the late write", hints[0], t0)
				}
				if got, ok := mustGet(t, hs, "n1", 0, "k3"); !ok || got.IsZero() {
					t.Fatalf("Get(k3) at +%v = %v, %v; want the hint", tc.now, got, ok)
				}
				s := hs.StatsFor("n1")
				if s.Count != len(created) || !s.Oldest.Equal(t0) {
					t.Fatalf("stats %+v, want %d hints, oldest %v", s, len(created), t0)
				}
				if got := s.Overdue(t0.Add(tc.now), maxAge); got != tc.wantOverdue {
					t.Fatalf("Overdue at +%v = %v, want %v", tc.now, got, tc.wantOverdue)
				}
				checkStatsMatchStore(t, hs)
			})
		})
	}
}

// TestLookupSupersede pins what a holder confirmation sees and does:
// Lookup merges every target's hint of a key; Supersede deletes those the
// pushed state covers and keeps the others; HasPartition follows.
func TestLookupSupersede(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		hs := open(t, st, Config{})
		a, b := fresh("wa", "va"), fresh("wb", "vb")
		mustAdd(t, hs, "n1", 3, "k", a, t0)
		mustAdd(t, hs, "n2", 3, "k", b, t0)
		mustAdd(t, hs, "n2", 4, "other", b, t0)
		got, ok, err := hs.Lookup(ctx, 3, []byte("k"))
		if err != nil || !ok || !got.Equal(vclock.Merge(a, b)) {
			t.Fatalf("Lookup = %v, %v, %v; want the merge of both hints", got, ok, err)
		}
		if _, ok, err := hs.Lookup(ctx, 3, []byte("none")); ok || err != nil {
			t.Fatalf("Lookup(none) = %v, %v; want absent", ok, err)
		}
		if !hs.HasPartition(3) || !hs.HasPartition(4) || hs.HasPartition(5) {
			t.Fatal("HasPartition does not match the stored hints")
		}
		// a covers n1's hint only.
		if n, err := hs.Supersede(ctx, 3, []byte("k"), a); n != 1 || err != nil {
			t.Fatalf("Supersede(a) = %d, %v; want 1", n, err)
		}
		if n, err := hs.Supersede(ctx, 3, []byte("k"), vclock.Merge(a, b)); n != 1 || err != nil {
			t.Fatalf("Supersede(a+b) = %d, %v; want 1", n, err)
		}
		if hs.HasPartition(3) || !hs.HasPartition(4) {
			t.Fatal("HasPartition after superseding partition 3's hints")
		}
		if s := hs.StatsFor("n2"); s.Count != 1 || s.Delivered != 1 {
			t.Fatalf("n2 stats %+v, want 1 left and 1 delivered", s)
		}
		checkStatsMatchStore(t, hs)
		if n, err := hs.Discard(ctx); n != 1 || err != nil {
			t.Fatalf("Discard = %d, %v; want 1", n, err)
		}
		if len(hs.Targets()) != 0 || hs.HasPartition(4) {
			t.Fatalf("after Discard: targets %v", hs.Targets())
		}
		checkStatsMatchStore(t, hs)
	})
}

func TestOpenRejectsCorruptHints(t *testing.T) {
	tests := []struct {
		name string
		k, v []byte
	}{
		{"truncated header", storage.HintKey("n1", 0, []byte("k")), []byte{recordFormatV1, 0, 0}},
		{"unknown format", storage.HintKey("n1", 0, []byte("k")), []byte{9, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"malformed key", []byte{storage.PrefixHint, 0, 9, 'n'}, []byte{recordFormatV1, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"empty owner", storage.HintKey("", 0, []byte("k")), []byte{recordFormatV1, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := backends[0].open(t)
			err := st.Update(context.Background(), tc.k, func([]byte, bool) ([]byte, error) { return tc.v, nil })
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Open(context.Background(), st, Config{}); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("Open = %v, want ErrBadRecord", err)
			}
		})
	}
	// A record whose header is fine but whose state is not fails Batch and
	// Get, not Open (Open reads headers only).
	st := backends[0].open(t)
	k := storage.HintKey("n1", 0, []byte("k"))
	v := binary.BigEndian.AppendUint64([]byte{recordFormatV1}, uint64(t0.UnixNano()))
	v = append(v, 77)
	if err := st.Update(context.Background(), k, func([]byte, bool) ([]byte, error) { return v, nil }); err != nil {
		t.Fatal(err)
	}
	hs := open(t, st, Config{})
	if _, _, err := hs.Batch(context.Background(), "n1", nil); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Batch over a corrupt state = %v, want ErrBadRecord", err)
	}
	if _, _, err := hs.Get(context.Background(), "n1", 0, []byte("k")); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Get of a corrupt state = %v, want ErrBadRecord", err)
	}
	if err := hs.Add(context.Background(), "n1", 0, []byte("k"), fresh("a", "v"), t0); !errors.Is(err, ErrBadRecord) {
		t.Fatalf("Add onto a corrupt state = %v, want ErrBadRecord", err)
	}
}

// TestOpenKeepsOtherKeyspaces checks that data and meta keys are not
// taken for hints.
func TestOpenKeepsOtherKeyspaces(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		for _, k := range [][]byte{storage.DataKey(0, []byte("k")), storage.MetaKey("epoch"), {'i'}, {'g', 0xff}} {
			if err := st.Update(ctx, k, func([]byte, bool) ([]byte, error) { return []byte("x"), nil }); err != nil {
				t.Fatal(err)
			}
		}
		hs := open(t, st, Config{})
		if len(hs.Stats()) != 0 {
			t.Fatalf("Stats = %v over a store with no hints", hs.Stats())
		}
	})
}

// A hint past the window is overdue, not dead: Get and Batch return it and
// an Add merges into it, keeping its age. The write it holds may exist
// nowhere else (issue 10, hole 2 once made such hints dead to keep deletes
// from coming back; node now keeps deletes by counting hint holders among
// the replicas that confirm a tombstone before it is reaped).
func TestOverdueHintServed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		hs := open(t, st, Config{MaxAge: time.Hour})
		old := fresh("before", "v")
		mustAdd(t, hs, "n1", 0, "k", old, t0)
		late := t0.Add(10 * time.Hour)
		if got, ok, err := hs.Get(ctx, "n1", 0, []byte("k")); err != nil || !ok || !got.Equal(old) {
			t.Fatalf("Get past the window = %v, %v, %v; want the hint", got, ok, err)
		}
		nw := fresh("after", "v")
		mustAdd(t, hs, "n1", 0, "k", nw, late)
		hints, _, err := hs.Batch(ctx, "n1", nil)
		if err != nil || len(hints) != 1 || !hints[0].State.Equal(vclock.Merge(old, nw)) || !hints[0].Created.Equal(t0) {
			t.Fatalf("after a new Add: %v, %v; want both writes, created %v", hints, err, t0)
		}
		if s := hs.StatsFor("n1"); s.Count != 1 || !s.Overdue(late, time.Hour) {
			t.Fatalf("stats %+v, want 1 overdue hint", s)
		}
	})
}
