package membership

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dynago/dynago/ring"
)

// Holdings (issue 10, hole 4; node/holders.go runs the protocol). Every
// member advertises in its record the partitions it holds data of without
// being their primary (Record.Holds, as of table Record.HoldsAt-1), and a
// tombstone may be reaped only once each of those holders, besides the
// primaries, has confirmed it. A member whose advertisement is older than
// the previous table is assumed to hold every partition (it may not have
// reported what the last changes left it), which holds up reaping until it
// reports or is removed. A node that left or was removed is no holder.
//
// Hints are holdings too (WithHints): with hinted handoff, any member may
// have taken a partition's writes as a fallback, keeps them as hints until
// they reach a replica however long that takes, and the partition that made
// it a fallback may also keep its advertisement from the reaper. So then
// every member in the ring counts as a holder of every partition it is not
// a primary of, and confirms each tombstone with its data and its hints.

// EncodeParts renders a sorted partition list as ranges: "0-3,7,9-12"
// (Record.Holds' form).
func EncodeParts(parts []uint32) string {
	var b strings.Builder
	for i := 0; i < len(parts); {
		j := i
		for j+1 < len(parts) && parts[j+1] == parts[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(parts[i]), 10))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.FormatUint(uint64(parts[j]), 10))
		}
		i = j + 1
	}
	return b.String()
}

// decodeParts parses EncodeParts' form into a set of partitions below q.
// It never panics and allocates at most q entries; the input comes from
// the network (gossiped records).
func decodeParts(s string, q int) (map[uint32]bool, error) {
	out := map[uint32]bool{}
	if s == "" {
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("node: holds %q: %w", f, err)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, fmt.Errorf("node: holds %q: %w", f, err)
			}
		}
		if a > b || b >= uint64(q) {
			return nil, fmt.Errorf("node: holds %q: outside [0, %d)", f, q)
		}
		for p := a; p <= b; p++ {
			out[uint32(p)] = true
		}
	}
	return out, nil
}

// Holders is what a reaper knows of the other members' holdings: who,
// besides a partition's primaries, must confirm its tombstones. It is a
// value built by NewHolders and never changed.
type Holders struct {
	self    string
	r, prev *ring.Ring
	table   uint64
	prevV   uint64 // the previous table's version, or 0 without one
	members []Record
	holds   map[string]map[uint32]bool // parsed, or nil: unknown
	hints   bool                       // every member may hold hints of any partition
}

// NewHolders takes the holdings that c's records advertise, for the
// reaper named self, whose placement r was built from table t (nil before
// any claim); prev is the placement of t.Prev (nil without one).
func NewHolders(c State, self string, r, prev *ring.Ring, t *Table) Holders {
	v := Holders{self: self, r: r, prev: prev, holds: map[string]map[uint32]bool{}}
	if t != nil {
		v.table = t.Version
		if t.Prev != nil {
			v.prevV = t.Prev.Version
		}
	}
	for _, m := range c.Records() {
		if m.Name == self || !InRing(m.Status) {
			continue
		}
		v.members = append(v.members, m)
		if set, err := decodeParts(m.Holds, c.Partitions); err == nil {
			v.holds[m.Name] = set
		}
	}
	return v
}

// WithHints returns v in which every member counts as a holder of every
// partition it is not a primary of, as one that may hold the partition's
// writes as hints (see Holdings above). Node uses it whenever hinted
// handoff is on.
func (v Holders) WithHints() Holders {
	v.hints = true
	return v
}

// Of returns the members other than the primaries that may hold data of
// partition p.
func (v Holders) Of(p int) []string {
	var out []string
	for _, m := range v.members {
		if v.r != nil && slices.Contains(v.r.Primaries(p), ring.NodeID(m.Name)) {
			continue
		}
		set, known := v.holds[m.Name]
		switch {
		case v.hints:
			out = append(out, m.Name) // it may hold hints of p
		case !known || m.HoldsAt == 0:
			out = append(out, m.Name)
		case m.HoldsAt-1 >= v.table:
			if set[uint32(p)] {
				out = append(out, m.Name)
			}
		case v.prev != nil && m.HoldsAt-1 == v.prevV:
			// It reported on the previous table: it may also still hold
			// what it was a primary of there.
			if set[uint32(p)] || slices.Contains(v.prev.Primaries(p), ring.NodeID(m.Name)) {
				out = append(out, m.Name)
			}
		default:
			out = append(out, m.Name) // too old a report: it may hold anything
		}
	}
	return out
}

// Partitions maps each holder that alive says is up, of a partition the
// reaper is a primary of, to those partitions (the reaper confirms its
// tombstones with them).
func (v Holders) Partitions(alive func(string) bool) map[string][]uint32 {
	out := map[string][]uint32{}
	if v.r == nil {
		return out
	}
	for _, p := range v.r.PartitionsOf(ring.NodeID(v.self)) {
		for _, h := range v.Of(p) {
			if alive(h) {
				out[h] = append(out[h], uint32(p))
			}
		}
	}
	return out
}
