package vclock

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: pick one from the clock and print it)")

// testSeed returns the -seed flag or a fresh seed, and logs it so a failure
// can be replayed with -seed=N.
func testSeed(t testing.TB) uint64 {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	return seed
}

// chooser supplies the simulator's decisions: from a seeded PRNG in
// property tests, from fuzz bytes in FuzzMerge.
type chooser interface {
	intn(n int) int // in [0, n)
	done() bool
}

type randChooser struct {
	r    *rand.Rand
	left int
}

func (c *randChooser) intn(n int) int { c.left--; return c.r.IntN(n) }
func (c *randChooser) done() bool     { return c.left <= 0 }

type byteChooser struct{ b []byte }

func (c *byteChooser) intn(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	x := int(c.b[0])
	c.b = c.b[1:]
	return x % n
}
func (c *byteChooser) done() bool { return len(c.b) == 0 }

// dotSet is a causal history written out explicitly: the naive reference
// model that the DVV State is checked against.
type dotSet map[Dot]struct{}

func (s dotSet) clone() dotSet {
	out := make(dotSet, len(s))
	for d := range s {
		out[d] = struct{}{}
	}
	return out
}

func (s dotSet) addAll(o dotSet) {
	for d := range o {
		s[d] = struct{}{}
	}
}

type simReplica struct {
	actor Actor
	st    State
	seen  dotSet // naive: every dot this replica has seen
	dead  dotSet // naive: every dot a seen write's context covered
}

type simCtx struct {
	vv         VV
	seen, dead dotSet
}

// sim simulates replicas of one key taking writes (with fresh, stale or no
// client contexts), syncing pairwise, and losing their data. It keeps a
// naive model (explicit causal histories) next to the real States, so that
// every State it produces is realistic and can be checked.
type sim struct {
	reps      []*simReplica
	ctxs      []simCtx       // contexts clients read earlier (may be stale)
	values    map[Dot]string // the value each write wrote ("" for deletes)
	pool      []State        // States seen during the run, for law checks
	nextValue int
}

func newSim(replicas int) *sim {
	s := &sim{values: map[Dot]string{}}
	for i := range replicas {
		s.reps = append(s.reps, &simReplica{actor: Actor{Node: fmt.Sprintf("n%d", i+1)}, seen: dotSet{}, dead: dotSet{}})
	}
	return s
}

func (s *sim) read(r *simReplica) simCtx {
	return simCtx{vv: r.st.Context, seen: r.seen.clone(), dead: r.dead.clone()}
}

var noCtx = simCtx{seen: dotSet{}, dead: dotSet{}}

func (s *sim) write(r *simReplica, c simCtx, deleted bool) Dot {
	s.nextValue++
	val := fmt.Sprintf("v%d", s.nextValue)
	var st State
	var d Dot
	if deleted {
		st, d, _ = r.st.Write(r.actor, c.vv, nil, true)
		val = ""
	} else {
		st, d, _ = r.st.Write(r.actor, c.vv, []byte(val), false)
	}
	r.st = st
	s.values[d] = val
	// The new write supersedes everything its context saw.
	r.dead.addAll(c.dead)
	r.dead.addAll(c.seen)
	r.seen.addAll(c.seen)
	r.seen[d] = struct{}{}
	return d
}

func (s *sim) sync(dst, src *simReplica) {
	dst.st = Merge(dst.st, src.st)
	dst.seen.addAll(src.seen)
	dst.dead.addAll(src.dead)
}

// step performs one random operation, records the state of the replica it
// touched and returns that replica.
func (s *sim) step(c chooser) *simReplica {
	n := len(s.reps)
	a, b := s.reps[c.intn(n)], s.reps[c.intn(n)]
	switch op := c.intn(16); {
	case op < 4: // read from b, write through a
		s.write(a, s.read(b), false)
	case op < 6: // write with a context read earlier
		if len(s.ctxs) == 0 {
			s.write(a, noCtx, false)
			break
		}
		s.write(a, s.ctxs[c.intn(len(s.ctxs))], false)
	case op < 7: // blind write, no context
		s.write(a, noCtx, false)
	case op < 8: // delete with a fresh context
		s.write(a, s.read(b), true)
	case op < 12: // anti-entropy / read repair: a takes b's state
		s.sync(a, b)
	case op < 14: // a client reads from two replicas and keeps the context
		cx := s.read(a)
		cx.vv = cx.vv.Merge(b.st.Context)
		cx.seen.addAll(b.seen)
		cx.dead.addAll(b.dead)
		s.remember(c, cx)
	case op < 15:
		s.remember(c, s.read(a))
	default: // a loses its disk and restarts with a fresh epoch
		if c.intn(4) == 0 {
			a.actor.Epoch++
			a.st = State{}
			a.seen = dotSet{}
			a.dead = dotSet{}
		}
	}
	s.pool = append(s.pool, a.st)
	if len(s.pool) > 48 {
		s.pool = slices.Delete(s.pool, 0, 1)
	}
	return a
}

func (s *sim) remember(c chooser, cx simCtx) {
	if len(s.ctxs) < 8 {
		s.ctxs = append(s.ctxs, cx)
		return
	}
	s.ctxs[c.intn(len(s.ctxs))] = cx
}

// check compares every replica's State with the naive model: the versions
// kept are exactly the seen writes no seen write superseded, and the
// context covers exactly the seen dots.
func (s *sim) check(t testing.TB) {
	t.Helper()
	for _, r := range s.reps {
		s.checkReplica(t, r)
	}
}

// checkReplica is check for one replica.
func (s *sim) checkReplica(t testing.TB, r *simReplica) {
	t.Helper()
	if err := r.st.validate(); err != nil {
		t.Fatalf("%s: invalid state %v: %v", r.actor, r.st, err)
	}
	checkAntichain(t, r.st)
	var want []Dot
	maxCounter := map[Actor]uint64{}
	perActor := map[Actor]uint64{}
	for d := range r.seen {
		maxCounter[d.Actor] = max(maxCounter[d.Actor], d.Counter)
		perActor[d.Actor]++
		if _, ok := r.dead[d]; !ok {
			want = append(want, d)
		}
	}
	slices.SortFunc(want, compareDot)
	var got []Dot
	for _, v := range r.st.Versions {
		got = append(got, v.Dot)
		wantVal := s.values[v.Dot]
		if string(v.Value) != wantVal || v.Deleted != (wantVal == "") {
			t.Fatalf("%s: version %v holds %q deleted=%v, wrote %q", r.actor, v.Dot, v.Value, v.Deleted, wantVal)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: versions %v, naive model says %v", r.actor, got, want)
	}
	for _, d := range r.st.Context.Dots() {
		if maxCounter[d.Actor] != d.Counter || perActor[d.Actor] != d.Counter {
			t.Fatalf("%s: context %v, but saw %d dots of %v up to %d",
				r.actor, r.st.Context, perActor[d.Actor], d.Actor, maxCounter[d.Actor])
		}
	}
	if r.st.Context.Len() != len(maxCounter) {
		t.Fatalf("%s: context %v has %d actors, saw %d", r.actor, r.st.Context, r.st.Context.Len(), len(maxCounter))
	}
}

// checkAntichain fails if some version's dot is covered by another
// version's context (it should have been replaced).
func checkAntichain(t testing.TB, s State) {
	t.Helper()
	for _, v := range s.Versions {
		for _, w := range s.Versions {
			if v.Dot != w.Dot && w.Context.Covers(v.Dot) {
				t.Fatalf("state %v: version %v is covered by version %v's context %v", s, v.Dot, w.Dot, w.Context)
			}
		}
	}
}
