package vclock

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Version is one value of a key, as made by one write.
type Version struct {
	// Dot identifies the write that made this version.
	Dot Dot
	// Context is the client context the write was made with: the versions
	// it replaced. It is kept for display (/debug/replica) and for
	// checkers; the algebra does not need it.
	Context VV
	// Deleted marks a tombstone: the write was a delete.
	Deleted bool
	// Value is the value written. A tombstone's value is metadata of at
	// most MaxTombstoneMeta bytes that the store keeps for itself (dynago:
	// the delete's time, which ages the tombstone for reaping); clients
	// never see it. Values are treated
	// as immutable: no function in this package modifies one, and callers
	// must not either once a Version holds it.
	Value []byte
}

// State is one replica's dotted causal container for one key: the versions
// it currently keeps (concurrent siblings, tombstones included) and the
// causal context of everything it has seen.
//
// The zero State is a key that was never written. A State is a value: Write
// and Merge return new States and never modify their arguments, though the
// results may share Value and VV storage with them (both are immutable).
type State struct {
	// Versions are sorted by Dot, with no two equal dots. No version's dot
	// is covered by another version's Context (they form an antichain).
	Versions []Version
	// Context covers every version's dot and everything those versions
	// superseded.
	Context VV
}

// Write returns the state after a coordinator with the given actor accepts
// a new write of value (a tombstone if deleted) made with the client's
// context clientCtx, and the new write's dot.
//
// The new dot's counter is one more than the highest counter of actor in
// s.Context or clientCtx. Versions whose dots clientCtx covers are replaced;
// every other version stays as a sibling. So two writes with the same stale
// context both survive, even through the same coordinator (DVV; Preguiça et
// al. 2012). Write does not modify s. The new version holds value itself,
// not a copy; for a delete it is the tombstone's metadata.
//
// The arithmetic is total: when the actor's counter in s.Context or
// clientCtx is already MaxCounter (a forged or exhausted context), Write
// issues nothing and returns an error wrapping ErrCounterExhausted; the
// caller writes with another actor.
//
// Write panics if actor.Node is empty or a delete's value (its metadata) is
// longer than MaxTombstoneMeta, which are caller bugs.
func (s State) Write(actor Actor, clientCtx VV, value []byte, deleted bool) (State, Dot, error) {
	if actor.Node == "" {
		panic("vclock: Write with empty actor node")
	}
	c := max(s.Context.Get(actor), clientCtx.Get(actor))
	if c >= MaxCounter {
		return State{}, Dot{}, fmt.Errorf("%w: actor %v is at counter %d", ErrCounterExhausted, actor, c)
	}
	d := Dot{Actor: actor, Counter: c + 1}
	if deleted && len(value) > MaxTombstoneMeta {
		panic("vclock: tombstone metadata over MaxTombstoneMeta bytes")
	}
	nv := Version{Dot: d, Context: clientCtx, Deleted: deleted, Value: value}

	vs := make([]Version, 0, len(s.Versions)+1)
	added := false
	for _, v := range s.Versions {
		if !added && compareDot(d, v.Dot) < 0 {
			vs = append(vs, nv)
			added = true
		}
		if !clientCtx.Covers(v.Dot) {
			vs = append(vs, v)
		}
	}
	if !added {
		vs = append(vs, nv)
	}
	return State{Versions: vs, Context: s.Context.Merge(clientCtx).Add(d)}, d, nil
}

// MaxCounter is the highest counter Write issues. It is below 2^64-1 so
// that "one more than the highest seen" is always representable.
const MaxCounter = 1<<64 - 2

// ErrCounterExhausted is returned (wrapped) by Write when the actor has no
// counter left to issue for the key.
var ErrCounterExhausted = errors.New("vclock: actor's counter exhausted")

// Conflicts returns the dots that a and b both hold as versions but with
// different contents (value, tombstone flag or context). In states made by
// correct coordinators a dot names one write, so a conflict is a bug: a
// counter issued twice (Riak's kv679). Merge still resolves it
// deterministically; callers log and count it. The result is sorted.
func Conflicts(a, b State) []Dot {
	var out []Dot
	i, j := 0, 0
	for i < len(a.Versions) && j < len(b.Versions) {
		va, vb := a.Versions[i], b.Versions[j]
		switch c := compareDot(va.Dot, vb.Dot); {
		case c == 0:
			if !versionEqual(va, vb) {
				out = append(out, va.Dot)
			}
			i++
			j++
		case c < 0:
			i++
		default:
			j++
		}
	}
	return out
}

// Merge returns the join of two replicas' states for the same key (the
// dotted causal container join): versions present in both, plus each
// side's versions the other side's context has not seen. Versions the other
// side has seen but no longer keeps were superseded there and are dropped.
// The result's Context is the union of both contexts.
//
// Merge is commutative, associative and idempotent, and its result
// Descends both arguments. It modifies neither argument.
func Merge(a, b State) State {
	vs := make([]Version, 0, len(a.Versions)+len(b.Versions))
	i, j := 0, 0
	for i < len(a.Versions) && j < len(b.Versions) {
		va, vb := a.Versions[i], b.Versions[j]
		switch c := compareDot(va.Dot, vb.Dot); {
		case c == 0:
			vs = append(vs, pick(va, vb))
			i++
			j++
		case c < 0:
			if !b.Context.Covers(va.Dot) {
				vs = append(vs, va)
			}
			i++
		default:
			if !a.Context.Covers(vb.Dot) {
				vs = append(vs, vb)
			}
			j++
		}
	}
	for _, va := range a.Versions[i:] {
		if !b.Context.Covers(va.Dot) {
			vs = append(vs, va)
		}
	}
	for _, vb := range b.Versions[j:] {
		if !a.Context.Covers(vb.Dot) {
			vs = append(vs, vb)
		}
	}
	if len(vs) == 0 {
		vs = nil
	}
	return State{Versions: vs, Context: a.Context.Merge(b.Context)}
}

// pick chooses between two versions with the same dot. In well-formed
// states they are identical (a dot names one write); if they are not, pick
// still chooses deterministically so that Merge stays commutative.
func pick(a, b Version) Version {
	if compareVersion(a, b) <= 0 {
		return a
	}
	return b
}

// compareVersion is a total order on versions, used only to break ties
// between different versions that claim the same dot.
func compareVersion(a, b Version) int {
	if c := compareDot(a.Dot, b.Dot); c != 0 {
		return c
	}
	if a.Deleted != b.Deleted {
		if !a.Deleted {
			return -1
		}
		return 1
	}
	if c := bytes.Compare(a.Value, b.Value); c != 0 {
		return c
	}
	if c := slices.CompareFunc(a.Context.dots, b.Context.dots, compareDot); c != 0 {
		return c
	}
	return 0
}

func versionEqual(a, b Version) bool {
	return a.Dot == b.Dot && a.Deleted == b.Deleted &&
		bytes.Equal(a.Value, b.Value) && a.Context.Equal(b.Context)
}

// Equal reports whether s and o hold the same versions (dot, context,
// tombstone flag and value) and the same context. Nil and empty values are
// equal.
func (s State) Equal(o State) bool {
	return s.Context.Equal(o.Context) &&
		slices.EqualFunc(s.Versions, o.Versions, versionEqual)
}

// String returns s for humans, e.g.
// `{ctx={n1.0:2, n2.0:1} versions=[n1.0:2="a" n2.0:1=⊥]}` (⊥ is a
// tombstone).
func (s State) String() string {
	var b strings.Builder
	b.WriteString("{ctx=")
	b.WriteString(s.Context.String())
	b.WriteString(" versions=[")
	for i, v := range s.Versions {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(v.Dot.String())
		if v.Deleted {
			b.WriteString("=⊥")
		} else {
			b.WriteByte('=')
			b.WriteString(strconv.Quote(string(v.Value)))
		}
	}
	b.WriteString("]}")
	return b.String()
}

// Live returns the versions that are not tombstones, in dot order. The
// caller owns the returned slice (not the Values in it).
func (s State) Live() []Version {
	var out []Version
	for _, v := range s.Versions {
		if !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

// IsZero reports whether s has no versions and an empty context: the key
// was never seen by this replica.
func (s State) IsZero() bool {
	return len(s.Versions) == 0 && s.Context.Len() == 0
}

// Descends reports whether s already contains everything o has, that is
// Merge(s, o) equals s. A replica whose state does not descend the merged
// result of a read needs read repair.
func (s State) Descends(o State) bool {
	if !s.Context.descends(o.Context) {
		return false
	}
	i, j := 0, 0
	for i < len(s.Versions) || j < len(o.Versions) {
		c := 0
		switch {
		case i == len(s.Versions):
			c = 1
		case j == len(o.Versions):
			c = -1
		default:
			c = compareDot(s.Versions[i].Dot, o.Versions[j].Dot)
		}
		switch {
		case c == 0:
			// Merge keeps pick(vs, vo); it must be s's own version.
			if compareVersion(s.Versions[i], o.Versions[j]) > 0 {
				return false
			}
			i++
			j++
		case c < 0:
			// Only s has it: o superseded it unless o never saw it.
			if o.Context.Covers(s.Versions[i].Dot) {
				return false
			}
			i++
		default:
			// Only o has it: s must already have seen (and dropped) it.
			if !s.Context.Covers(o.Versions[j].Dot) {
				return false
			}
			j++
		}
	}
	return true
}

// MaxTombstoneMeta bounds the metadata a tombstone may carry in its value.
const MaxTombstoneMeta = 16

// validate checks the invariants that can be checked cheaply (in about
// linear time): sorted unique versions, well-formed VVs, no tombstone with
// more than MaxTombstoneMeta bytes of value, every version's
// dot covered by the state's context and not by its own context, and every
// version's context contained in the state's context. The antichain
// invariant is not checked.
func (s State) validate() error {
	if err := s.Context.validate(); err != nil {
		return err
	}
	for i, v := range s.Versions {
		if v.Dot.Counter == 0 {
			return errorf("version %d has zero counter", i)
		}
		if v.Deleted && len(v.Value) > MaxTombstoneMeta {
			return errorf("tombstone %v has a %d-byte value", v.Dot, len(v.Value))
		}
		if i > 0 && compareDot(s.Versions[i-1].Dot, v.Dot) >= 0 {
			return errorf("versions not sorted or duplicated at %v", v.Dot)
		}
		if err := v.Context.validate(); err != nil {
			return err
		}
		if !s.Context.Covers(v.Dot) {
			return errorf("context %v does not cover version %v", s.Context, v.Dot)
		}
		if v.Context.Covers(v.Dot) {
			return errorf("version %v is covered by its own context", v.Dot)
		}
		if !s.Context.descends(v.Context) {
			return errorf("version %v context %v not in state context", v.Dot, v.Context)
		}
	}
	return nil
}

func (v VV) validate() error {
	for i, d := range v.dots {
		if d.Counter == 0 {
			return errorf("zero counter for %v", d.Actor)
		}
		if i > 0 && compareActor(v.dots[i-1].Actor, d.Actor) >= 0 {
			return errorf("vector entries not sorted or duplicated at %v", d.Actor)
		}
	}
	return nil
}
