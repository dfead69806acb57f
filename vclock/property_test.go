package vclock

import (
	"math/rand/v2"
	"testing"
)

// TestSimulatedHistories drives random writes (fresh, stale and missing
// contexts, deletes), syncs and disk losses on a few replicas, checks every
// replica against the naive explicit-history model after every step, and
// checks the algebra (doc.go) on the States produced.
func TestSimulatedHistories(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	runs, steps := 300, 80
	if testing.Short() {
		runs = 20
	}
	for run := range runs {
		s := newSim(2 + r.IntN(3))
		c := &randChooser{r: r, left: 1 << 30}
		for step := range steps {
			r := s.step(c)
			if t.Failed() {
				t.Fatalf("run %d step %d", run, step)
			}
			s.checkReplica(t, r)
		}
		s.check(t)
		checkLaws(t, s.pool, 40, r.IntN)
		if t.Failed() {
			t.Fatalf("run %d (seed %d)", run, seed)
		}
	}
}

// checkLaws picks trials random triples from pool (States of one simulated
// world, so dots are unique) and checks the State and VV algebra on them.
func checkLaws(t testing.TB, pool []State, trials int, intn func(int) int) {
	t.Helper()
	if len(pool) == 0 {
		return
	}
	for range trials {
		a, b, c := pool[intn(len(pool))], pool[intn(len(pool))], pool[intn(len(pool))]
		checkStateLaws(t, a, b, c)
		checkVVLaws(t, a.Context, b.Context, c.Context)
	}
}

func checkStateLaws(t testing.TB, a, b, c State) {
	t.Helper()
	ab, ba := Merge(a, b), Merge(b, a)
	if !ab.Equal(ba) {
		t.Fatalf("Merge not commutative:\n a=%v\n b=%v\n ab=%v\n ba=%v", a, b, ab, ba)
	}
	if l, r := Merge(ab, c), Merge(a, Merge(b, c)); !l.Equal(r) {
		t.Fatalf("Merge not associative:\n a=%v\n b=%v\n c=%v\n (ab)c=%v\n a(bc)=%v", a, b, c, l, r)
	}
	if aa := Merge(a, a); !aa.Equal(a) {
		t.Fatalf("Merge not idempotent: a=%v Merge(a,a)=%v", a, aa)
	}
	if az := Merge(a, State{}); !az.Equal(a) {
		t.Fatalf("zero State not the identity: a=%v Merge(a,0)=%v", a, az)
	}
	if !ab.Descends(a) || !ab.Descends(b) {
		t.Fatalf("Merge(a,b)=%v does not Descend a=%v and b=%v", ab, a, b)
	}
	if got, want := a.Descends(b), ab.Equal(a); got != want {
		t.Fatalf("a.Descends(b)=%v but Merge(a,b).Equal(a)=%v\n a=%v\n b=%v", got, want, a, b)
	}
	if err := ab.validate(); err != nil {
		t.Fatalf("Merge(a,b)=%v invalid: %v", ab, err)
	}
	checkAntichain(t, ab)
	// Merge keeps only versions that one of the inputs had.
	for _, v := range ab.Versions {
		if !hasVersion(a, v) && !hasVersion(b, v) {
			t.Fatalf("Merge(a,b) invented version %v", v.Dot)
		}
	}
	// Encodings round-trip and are canonical.
	enc, err := ab.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary(%v): %v", ab, err)
	}
	var dec State
	if err := dec.UnmarshalBinary(enc); err != nil || !dec.Equal(ab) {
		t.Fatalf("state round trip: %v, err %v, want %v", dec, err, ab)
	}
	if enc2, _ := ba.MarshalBinary(); string(enc2) != string(enc) {
		t.Fatalf("equal states encode differently")
	}
}

func hasVersion(s State, v Version) bool {
	for _, x := range s.Versions {
		if versionEqual(x, v) {
			return true
		}
	}
	return false
}

// naiveCompare is the dumb alternative to Compare: check every actor of
// either vector one by one.
func naiveCompare(a, b VV) Ordering {
	less, greater := false, false
	for _, v := range []VV{a, b} {
		for _, d := range v.dots {
			x, y := a.Get(d.Actor), b.Get(d.Actor)
			less = less || x < y
			greater = greater || x > y
		}
	}
	switch {
	case less && greater:
		return Concurrent
	case less:
		return Before
	case greater:
		return After
	}
	return Equal
}

func checkVVLaws(t testing.TB, a, b, c VV) {
	t.Helper()
	ord := Compare(a, b)
	if want := naiveCompare(a, b); ord != want {
		t.Fatalf("Compare(%v, %v) = %v, naive says %v", a, b, ord, want)
	}
	rev := Compare(b, a)
	if (ord == Before) != (rev == After) || (ord == After) != (rev == Before) ||
		(ord == Equal) != (rev == Equal) || (ord == Concurrent) != (rev == Concurrent) {
		t.Fatalf("Compare(a,b)=%v but Compare(b,a)=%v (a=%v b=%v)", ord, rev, a, b)
	}
	if (ord == Equal) != a.Equal(b) {
		t.Fatalf("Compare=%v but Equal=%v (a=%v b=%v)", ord, a.Equal(b), a, b)
	}
	ab := a.Merge(b)
	if !ab.Equal(b.Merge(a)) || !ab.Merge(c).Equal(a.Merge(b.Merge(c))) || !a.Merge(a).Equal(a) {
		t.Fatalf("VV.Merge laws fail for a=%v b=%v c=%v", a, b, c)
	}
	if o := Compare(a, ab); o != Before && o != Equal {
		t.Fatalf("Compare(a, a∪b) = %v (a=%v b=%v)", o, a, b)
	}
	if err := ab.validate(); err != nil {
		t.Fatalf("VV.Merge result %v invalid: %v", ab, err)
	}
	tok := EncodeContext(ab)
	if got, err := DecodeContext(tok); err != nil || !got.Equal(ab) {
		t.Fatalf("context round trip of %v: %v, %v", ab, got, err)
	}
}
