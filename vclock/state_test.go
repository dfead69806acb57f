package vclock

import (
	"errors"
	"slices"
	"testing"
)

var (
	n1 = Actor{Node: "n1"}
	n2 = Actor{Node: "n2"}
	n3 = Actor{Node: "n3"}
	n4 = Actor{Node: "n4"}
)

func dot(a Actor, c uint64) Dot { return Dot{Actor: a, Counter: c} }

// w is a test shorthand for a value write.
func w(s State, a Actor, ctx VV, val string) State {
	out, _, _ := s.Write(a, ctx, []byte(val), false)
	return out
}

// del is a test shorthand for a delete.
func del(s State, a Actor, ctx VV) State {
	out, _, _ := s.Write(a, ctx, nil, true)
	return out
}

func TestWrite(t *testing.T) {
	s1 := w(State{}, n1, VV{}, "a")         // n1:1=a
	sib := w(s1, n1, VV{}, "b")             // n1:1=a, n1:2=b
	tomb := del(sib, n1, sib.Context)       // n1:3=⊥
	atN2 := w(State{}, n2, s1.Context, "x") // n2:1=x, context {n1:1}
	cases := []struct {
		name    string
		s       State
		actor   Actor
		ctx     VV
		val     string
		deleted bool
		want    string
		wantDot Dot
	}{
		{
			name: "first write to an empty state", s: State{}, actor: n1, ctx: VV{}, val: "a",
			want: `{ctx={n1.0:1} versions=[n1.0:1="a"]}`, wantDot: dot(n1, 1),
		},
		{
			name: "no context makes a sibling", s: s1, actor: n1, ctx: VV{}, val: "b",
			want: `{ctx={n1.0:2} versions=[n1.0:1="a" n1.0:2="b"]}`, wantDot: dot(n1, 2),
		},
		{
			name: "covering context replaces", s: s1, actor: n1, ctx: s1.Context, val: "b",
			want: `{ctx={n1.0:2} versions=[n1.0:2="b"]}`, wantDot: dot(n1, 2),
		},
		{
			name: "context covering both siblings resolves them", s: sib, actor: n1, ctx: sib.Context, val: "c",
			want: `{ctx={n1.0:3} versions=[n1.0:3="c"]}`, wantDot: dot(n1, 3),
		},
		{
			name: "stale context keeps the sibling it did not see", s: sib, actor: n1, ctx: s1.Context, val: "c",
			want: `{ctx={n1.0:3} versions=[n1.0:2="b" n1.0:3="c"]}`, wantDot: dot(n1, 3),
		},
		{
			name: "delete with a covering context leaves only a tombstone", s: sib, actor: n1, ctx: sib.Context, deleted: true,
			want: `{ctx={n1.0:3} versions=[n1.0:3=⊥]}`, wantDot: dot(n1, 3),
		},
		{
			name: "delete with a stale context keeps the unseen sibling", s: sib, actor: n1, ctx: s1.Context, deleted: true,
			want: `{ctx={n1.0:3} versions=[n1.0:2="b" n1.0:3=⊥]}`, wantDot: dot(n1, 3),
		},
		{
			name: "delete ignores the value", s: s1, actor: n1, ctx: s1.Context, val: "ignored", deleted: true,
			want: `{ctx={n1.0:2} versions=[n1.0:2=⊥]}`, wantDot: dot(n1, 2),
		},
		{
			name: "write with the tombstone's context replaces the tombstone", s: tomb, actor: n1, ctx: tomb.Context, val: "d",
			want: `{ctx={n1.0:4} versions=[n1.0:4="d"]}`, wantDot: dot(n1, 4),
		},
		{
			name: "write without context keeps the tombstone as a sibling", s: tomb, actor: n1, ctx: VV{}, val: "d",
			want: `{ctx={n1.0:4} versions=[n1.0:3=⊥ n1.0:4="d"]}`, wantDot: dot(n1, 4),
		},
		{
			name: "context read at another coordinator is merged in", s: State{}, actor: n2, ctx: s1.Context, val: "x",
			want: `{ctx={n1.0:1, n2.0:1} versions=[n2.0:1="x"]}`, wantDot: dot(n2, 1),
		},
		{
			name: "other coordinator's version replaced through its context", s: atN2, actor: n1, ctx: atN2.Context, val: "y",
			want: `{ctx={n1.0:2, n2.0:1} versions=[n1.0:2="y"]}`, wantDot: dot(n1, 2),
		},
		{
			name: "new dot sorts between other actors' versions", s: w(w(State{}, n1, VV{}, "a"), n3, VV{}, "c"), actor: n2, ctx: VV{}, val: "b",
			want: `{ctx={n1.0:1, n2.0:1, n3.0:1} versions=[n1.0:1="a" n2.0:1="b" n3.0:1="c"]}`, wantDot: dot(n2, 1),
		},
		{
			name: "counter skips past the actor's counter in the client context", s: State{}, actor: n1, ctx: NewVV(dot(n1, 5)), val: "z",
			want: `{ctx={n1.0:6} versions=[n1.0:6="z"]}`, wantDot: dot(n1, 6),
		},
		{
			name: "a new epoch is a new actor", s: s1, actor: Actor{Node: "n1", Epoch: 1}, ctx: VV{}, val: "e",
			want: `{ctx={n1.0:1, n1.1:1} versions=[n1.0:1="a" n1.1:1="e"]}`, wantDot: dot(Actor{Node: "n1", Epoch: 1}, 1),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.s.String()
			var val []byte
			if tc.val != "" {
				val = []byte(tc.val)
			}
			got, d, _ := tc.s.Write(tc.actor, tc.ctx, val, tc.deleted)
			if got.String() != tc.want {
				t.Errorf("Write = %v\n              want %v", got, tc.want)
			}
			if d != tc.wantDot {
				t.Errorf("dot = %v, want %v", d, tc.wantDot)
			}
			if after := tc.s.String(); after != before {
				t.Errorf("Write modified its receiver: %v became %v", before, after)
			}
			if err := got.validate(); err != nil {
				t.Errorf("result invalid: %v", err)
			}
			checkAntichain(t, got)
			// The new version remembers the context it was written with.
			i := slices.IndexFunc(got.Versions, func(v Version) bool { return v.Dot == d })
			if i < 0 || !got.Versions[i].Context.Equal(tc.ctx) {
				t.Errorf("new version %v missing or has context != %v", d, tc.ctx)
			}
		})
	}
}

func TestWriteEmptyActorPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Write with an empty actor node did not panic")
		}
	}()
	State{}.Write(Actor{}, VV{}, []byte("x"), false)
}

func TestMerge(t *testing.T) {
	base := w(State{}, n1, VV{}, "base")           // n1:1
	aWrote := w(base, n1, base.Context, "from-n1") // n1:2 replaces base
	bWrote := w(base, n2, base.Context, "from-n2") // n2:1 replaces base
	deleted := del(base, n2, base.Context)         // n2:1 tombstone
	blind := w(State{}, n4, VV{}, "blind")         // n4:1, saw nothing
	resolved := w(Merge(aWrote, bWrote), n3, Merge(aWrote, bWrote).Context, "resolved")
	cases := []struct {
		name string
		a, b State
		want string
	}{
		{"zero and zero", State{}, State{}, `{ctx={} versions=[]}`},
		{"zero is the identity", State{}, aWrote, `{ctx={n1.0:2} versions=[n1.0:2="from-n1"]}`},
		{"same state", base, base, `{ctx={n1.0:1} versions=[n1.0:1="base"]}`},
		{"newer write replaces what it superseded", base, aWrote, `{ctx={n1.0:2} versions=[n1.0:2="from-n1"]}`},
		{"concurrent writes after a common ancestor become siblings", aWrote, bWrote,
			`{ctx={n1.0:2, n2.0:1} versions=[n1.0:2="from-n1" n2.0:1="from-n2"]}`},
		{"tombstone supersedes the value it saw", base, deleted, `{ctx={n1.0:1, n2.0:1} versions=[n2.0:1=⊥]}`},
		{"a write that saw nothing is kept next to everything", aWrote, blind,
			`{ctx={n1.0:2, n4.0:1} versions=[n1.0:2="from-n1" n4.0:1="blind"]}`},
		{"resolution removes both siblings on a replica that has them", Merge(aWrote, bWrote), resolved,
			`{ctx={n1.0:2, n2.0:1, n3.0:1} versions=[n3.0:1="resolved"]}`},
		{"resolution removes siblings a replica never saw", bWrote, resolved,
			`{ctx={n1.0:2, n2.0:1, n3.0:1} versions=[n3.0:1="resolved"]}`},
		{"resolution keeps a sibling it never saw", blind, resolved,
			`{ctx={n1.0:2, n2.0:1, n3.0:1, n4.0:1} versions=[n3.0:1="resolved" n4.0:1="blind"]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ab, ba := Merge(tc.a, tc.b), Merge(tc.b, tc.a)
			if ab.String() != tc.want {
				t.Errorf("Merge(a, b) = %v\n          want %v", ab, tc.want)
			}
			if !ab.Equal(ba) {
				t.Errorf("Merge not commutative: %v vs %v", ab, ba)
			}
			if !ab.Descends(tc.a) || !ab.Descends(tc.b) {
				t.Errorf("Merge result %v does not descend both inputs", ab)
			}
		})
	}
}

func TestDescends(t *testing.T) {
	base := w(State{}, n1, VV{}, "base")
	next := w(base, n1, base.Context, "next")
	other := w(base, n2, base.Context, "other")
	sibs2 := w(base, n1, VV{}, "sibling") // n1:1 and n1:2 as siblings
	cases := []struct {
		name string
		s, o State
		want bool
	}{
		{"zero descends zero", State{}, State{}, true},
		{"anything descends zero", base, State{}, true},
		{"zero does not descend a write", State{}, base, false},
		{"a state descends itself", base, base, true},
		{"successor descends ancestor", next, base, true},
		{"ancestor does not descend successor", base, next, false},
		{"concurrent states do not descend each other", next, other, false},
		{"merge descends a part", Merge(next, other), other, true},
		{"equal context, different version with the same dot", base, func() State {
			x := base
			x.Versions = []Version{{Dot: base.Versions[0].Dot, Value: []byte("forged")}}
			return x
		}(), true}, // Merge picks "base" < "forged", so Merge(s, o) == s
		{"equal context, s holds the version Merge would not pick", func() State {
			x := base
			x.Versions = []Version{{Dot: base.Versions[0].Dot, Value: []byte("forged")}}
			return x
		}(), base, false},
		{"s keeps a version o has seen and dropped", sibs2, func() State {
			x := sibs2
			x.Versions = x.Versions[1:]
			return x
		}(), false},
		{"o has a version s never saw (malformed o: its context misses it)", base, func() State {
			x := base
			x.Versions = append(slices.Clone(x.Versions), Version{Dot: dot(n2, 1), Value: []byte("hidden")})
			return x
		}(), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Descends(tc.o); got != tc.want {
				t.Errorf("Descends = %v, want %v (s=%v o=%v)", got, tc.want, tc.s, tc.o)
			}
			if ref := Merge(tc.s, tc.o).Equal(tc.s); ref != tc.want {
				t.Errorf("Merge(s, o).Equal(s) = %v, but case says %v", ref, tc.want)
			}
		})
	}
}

func TestLiveAndIsZero(t *testing.T) {
	s := w(State{}, n1, VV{}, "a")
	s = del(s, n2, VV{}) // tombstone that saw nothing: a stays
	s = w(s, n3, VV{}, "c")
	live := s.Live()
	var vals []string
	for _, v := range live {
		vals = append(vals, string(v.Value))
	}
	if !slices.Equal(vals, []string{"a", "c"}) {
		t.Errorf("Live values = %q, want [a c]", vals)
	}
	if len(s.Versions) != 3 {
		t.Errorf("Versions = %d, want 3 (tombstone kept)", len(s.Versions))
	}
	if s.IsZero() {
		t.Error("state with versions IsZero")
	}
	if !(State{}).IsZero() {
		t.Error("zero State not IsZero")
	}
	// All versions deleted: no live versions, but the key was seen.
	gone := del(s, n1, s.Context)
	if len(gone.Live()) != 0 || gone.IsZero() {
		t.Errorf("after delete: Live=%v IsZero=%v, want none and false", gone.Live(), gone.IsZero())
	}
}

// TestNoServerClockLostUpdate pins the reason vclock uses dotted version
// vectors (DESIGN.md §3; Preguiça et al. 2012, §2). With classic vector
// clocks ticked by the coordinator (Dynamo §4.4, Riak before 2.0 with
// vnode vclocks), two clients that read the same context and then write
// through the same coordinator produce clocks where one dominates the
// other, so one acknowledged write is silently lost. With DVV the new
// write replaces only what the client's context covers, so both survive.
func TestNoServerClockLostUpdate(t *testing.T) {
	// Control: a minimal server-side vector clock store loses one write, so
	// this test is about a real difference.
	{
		type vcVersion struct {
			clock VV
			val   string
		}
		var stored []vcVersion
		put := func(coord Actor, val string) {
			// Server-side clock: merge of stored clocks, ticked at coord.
			var clk VV
			for _, v := range stored {
				clk = clk.Merge(v.clock)
			}
			clk = clk.Add(dot(coord, clk.Get(coord)+1))
			var keep []vcVersion
			for _, v := range stored {
				if c := Compare(v.clock, clk); c != Before && c != Equal {
					keep = append(keep, v)
				}
			}
			stored = append(keep, vcVersion{clk, val})
		}
		put(n1, "x")  // both clients read x
		put(n1, "c1") // client 1 writes with x's context
		put(n1, "c2") // client 2 writes with the same context
		if len(stored) != 1 || stored[0].val != "c2" {
			t.Fatalf("control: server-clock store kept %v; expected it to lose c1", stored)
		}
	}

	base := w(State{}, n1, VV{}, "x")
	readCtx := base.Context // both clients read x with this context

	t.Run("same coordinator", func(t *testing.T) {
		s := w(base, n1, readCtx, "c1")
		s = w(s, n1, readCtx, "c2")
		assertValues(t, s, "c1", "c2")
	})
	t.Run("two coordinators then merge", func(t *testing.T) {
		atN1 := w(base, n1, readCtx, "c1")
		atN2 := w(base, n2, readCtx, "c2")
		assertValues(t, Merge(atN1, atN2), "c1", "c2")
		assertValues(t, Merge(atN2, atN1), "c1", "c2")
	})
	t.Run("second coordinator has not seen the first write yet", func(t *testing.T) {
		atN1 := w(base, n1, readCtx, "c1")
		atN2 := w(State{}, n2, readCtx, "c2") // n2 never stored x
		assertValues(t, Merge(atN1, atN2), "c1", "c2")
	})
}

// assertValues fails unless s's live values are exactly want, in dot order.
func assertValues(t *testing.T, s State, want ...string) {
	t.Helper()
	var got []string
	for _, v := range s.Live() {
		got = append(got, string(v.Value))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("live values %q, want %q (state %v)", got, want, s)
	}
}

// TestEpochPreventsCounterReuse pins Riak kv679: a node that lost its data
// and kept its actor reuses a counter, and a replica that has seen the old
// dot silently drops the new acknowledged write. A fresh epoch avoids it.
func TestEpochPreventsCounterReuse(t *testing.T) {
	// n1 writes "old", replicates to n2, then "old" is deleted and the
	// tombstone replicated as well.
	s := w(State{}, n1, VV{}, "old")
	s = del(s, n1, s.Context)
	replicaN2 := s // n2 holds {n1:2=⊥} with context {n1:2}

	// n1 loses its disk and comes back empty; a client writes blindly.
	t.Run("same epoch loses the write (control)", func(t *testing.T) {
		fresh := w(State{}, n1, VV{}, "new") // dot n1.0:1 again
		got := Merge(replicaN2, fresh)
		if len(got.Live()) != 0 {
			t.Fatalf("expected the reused dot to be dropped, got %v", got)
		}
	})
	t.Run("new epoch keeps the write", func(t *testing.T) {
		fresh := w(State{}, Actor{Node: "n1", Epoch: 1}, VV{}, "new")
		assertValues(t, Merge(replicaN2, fresh), "new")
	})
}

// TestWriteCounterExhausted: a context that claims the actor's last counter
// (a forged token) makes Write return an error, never panic or wrap.
func TestWriteCounterExhausted(t *testing.T) {
	a := Actor{Node: "n1", Epoch: 7}
	for _, c := range []uint64{MaxCounter, MaxCounter + 1} {
		_, _, err := State{}.Write(a, NewVV(Dot{Actor: a, Counter: c}), []byte("x"), false)
		if !errors.Is(err, ErrCounterExhausted) {
			t.Fatalf("counter %d: err = %v, want ErrCounterExhausted", c, err)
		}
	}
	st, d, err := State{}.Write(a, NewVV(Dot{Actor: a, Counter: MaxCounter - 1}), []byte("x"), false)
	if err != nil || d.Counter != MaxCounter {
		t.Fatalf("the last counter: dot %v err %v", d, err)
	}
	// The state now holds the last counter: the next write has none left.
	if _, _, err := st.Write(a, st.Context, []byte("y"), false); !errors.Is(err, ErrCounterExhausted) {
		t.Fatalf("after the last counter: err = %v", err)
	}
	// Another actor still writes.
	if _, _, err := st.Write(Actor{Node: "n1", Epoch: 8}, st.Context, []byte("y"), false); err != nil {
		t.Fatal(err)
	}
}

func TestConflicts(t *testing.T) {
	a := Actor{Node: "n1", Epoch: 1}
	x, _, _ := State{}.Write(a, VV{}, []byte("one"), false)
	y, _, _ := State{}.Write(a, VV{}, []byte("two"), false) // same dot a:1, another value
	z, _, _ := x.Write(Actor{Node: "n2", Epoch: 1}, VV{}, []byte("three"), false)
	if got := Conflicts(x, y); len(got) != 1 || got[0] != (Dot{Actor: a, Counter: 1}) {
		t.Fatalf("Conflicts(x, y) = %v, want [n1.1:1]", got)
	}
	if got := Conflicts(x, z); len(got) != 0 {
		t.Fatalf("Conflicts(x, z) = %v, want none (same dot, same version)", got)
	}
	if got := Conflicts(x, x); len(got) != 0 {
		t.Fatalf("Conflicts(x, x) = %v", got)
	}
	del, _, _ := State{}.Write(a, VV{}, nil, true)
	if got := Conflicts(x, del); len(got) != 1 {
		t.Fatalf("a value and a tombstone with one dot: %v", got)
	}
}
