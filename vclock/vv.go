package vclock

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Actor names one incarnation of a node: the node's ID plus an epoch that
// the node bumps whenever it starts with an empty or lost data directory.
// Counters are per Actor, so a node that lost its data never reuses a
// counter it handed out before (Riak kv679).
type Actor struct {
	Node  string
	Epoch uint64
}

// String returns the actor as "node.epoch", e.g. "n1.3".
func (a Actor) String() string {
	return a.Node + "." + strconv.FormatUint(a.Epoch, 10)
}

func compareActor(a, b Actor) int {
	if c := strings.Compare(a.Node, b.Node); c != 0 {
		return c
	}
	return cmp.Compare(a.Epoch, b.Epoch)
}

// Dot identifies one write: the Counter-th event of Actor. Counters start
// at 1; a Dot with Counter 0 names no event.
type Dot struct {
	Actor   Actor
	Counter uint64
}

// String returns the dot as "node.epoch:counter", e.g. "n1.3:17". It is
// meant for humans (logs, /debug/replica), not for parsing.
func (d Dot) String() string {
	return d.Actor.String() + ":" + strconv.FormatUint(d.Counter, 10)
}

func compareDot(a, b Dot) int {
	if c := compareActor(a.Actor, b.Actor); c != 0 {
		return c
	}
	return cmp.Compare(a.Counter, b.Counter)
}

// VV is a version vector: for each Actor, the highest counter seen, meaning
// every event 1..counter of that actor has been seen. The zero value is the
// empty vector. A VV is immutable: no method modifies its receiver or
// argument, so values may be shared and copied freely.
type VV struct {
	// dots holds one entry per actor, sorted by actor, Counter > 0.
	dots []Dot
}

// NewVV returns the smallest VV that covers every dot given. Dots with
// Counter 0 are ignored; for repeated actors the highest counter wins.
func NewVV(dots ...Dot) VV {
	ds := make([]Dot, 0, len(dots))
	for _, d := range dots {
		if d.Counter > 0 {
			ds = append(ds, d)
		}
	}
	slices.SortFunc(ds, compareDot)
	// Keep the last (highest) entry of each actor.
	out := ds[:0]
	for i, d := range ds {
		if i+1 < len(ds) && ds[i+1].Actor == d.Actor {
			continue
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return VV{}
	}
	return VV{dots: slices.Clip(out)}
}

func (v VV) find(a Actor) (int, bool) {
	return slices.BinarySearchFunc(v.dots, a, func(d Dot, a Actor) int {
		return compareActor(d.Actor, a)
	})
}

// Get returns the highest counter of a in v, or 0 if v has none.
func (v VV) Get(a Actor) uint64 {
	if i, ok := v.find(a); ok {
		return v.dots[i].Counter
	}
	return 0
}

// Covers reports whether v has seen d, that is d.Counter <= v.Get(d.Actor).
func (v VV) Covers(d Dot) bool {
	return d.Counter <= v.Get(d.Actor)
}

// Len returns the number of actors in v.
func (v VV) Len() int { return len(v.dots) }

// Dots returns v's entries, one per actor, sorted by actor. The caller owns
// the returned slice.
func (v VV) Dots() []Dot { return slices.Clone(v.dots) }

// Add returns a VV that covers everything v covers and d. It does not
// modify v.
func (v VV) Add(d Dot) VV {
	if v.Covers(d) {
		return v
	}
	i, found := v.find(d.Actor)
	if found {
		out := slices.Clone(v.dots)
		out[i].Counter = d.Counter
		return VV{dots: out}
	}
	out := make([]Dot, 0, len(v.dots)+1)
	out = append(out, v.dots[:i]...)
	out = append(out, d)
	out = append(out, v.dots[i:]...)
	return VV{dots: out}
}

// Merge returns the least upper bound of v and o: for each actor, the higher
// counter. It modifies neither.
func (v VV) Merge(o VV) VV {
	// Replicas usually agree; share instead of allocating when one side
	// already covers the other.
	switch Compare(v, o) {
	case Equal, After:
		return v
	case Before:
		return o
	}
	out := make([]Dot, 0, len(v.dots)+len(o.dots))
	i, j := 0, 0
	for i < len(v.dots) && j < len(o.dots) {
		a, b := v.dots[i], o.dots[j]
		switch c := compareActor(a.Actor, b.Actor); {
		case c < 0:
			out = append(out, a)
			i++
		case c > 0:
			out = append(out, b)
			j++
		default:
			a.Counter = max(a.Counter, b.Counter)
			out = append(out, a)
			i++
			j++
		}
	}
	out = append(out, v.dots[i:]...)
	out = append(out, o.dots[j:]...)
	return VV{dots: out}
}

// Equal reports whether v and o cover exactly the same events.
func (v VV) Equal(o VV) bool {
	return slices.Equal(v.dots, o.dots)
}

// String returns v as "{n1.0:3, n2.1:7}"; the empty VV is "{}".
func (v VV) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, d := range v.dots {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.String())
	}
	b.WriteByte('}')
	return b.String()
}

// Ordering is the causal relation between two version vectors.
type Ordering int8

const (
	// Equal: both vectors cover the same events.
	Equal Ordering = iota
	// Before: the first vector is strictly dominated by the second.
	Before
	// After: the first vector strictly dominates the second.
	After
	// Concurrent: each vector covers an event the other does not.
	Concurrent
)

// String returns "equal", "before", "after" or "concurrent".
func (o Ordering) String() string {
	switch o {
	case Equal:
		return "equal"
	case Before:
		return "before"
	case After:
		return "after"
	case Concurrent:
		return "concurrent"
	}
	return "Ordering(" + strconv.Itoa(int(o)) + ")"
}

// Compare returns how a relates to b: Before if every event in a is in b
// and b has more, After for the reverse, Equal or Concurrent otherwise.
func Compare(a, b VV) Ordering {
	aMore, bMore := false, false // a has an event b lacks, and vice versa
	i, j := 0, 0
	for i < len(a.dots) && j < len(b.dots) {
		x, y := a.dots[i], b.dots[j]
		switch c := compareActor(x.Actor, y.Actor); {
		case c < 0:
			aMore = true
			i++
		case c > 0:
			bMore = true
			j++
		default:
			if x.Counter > y.Counter {
				aMore = true
			} else if x.Counter < y.Counter {
				bMore = true
			}
			i++
			j++
		}
		if aMore && bMore {
			return Concurrent
		}
	}
	aMore = aMore || i < len(a.dots)
	bMore = bMore || j < len(b.dots)
	switch {
	case aMore && bMore:
		return Concurrent
	case aMore:
		return After
	case bMore:
		return Before
	}
	return Equal
}

// descends reports whether v covers everything o covers.
func (v VV) descends(o VV) bool {
	c := Compare(v, o)
	return c == After || c == Equal
}
