package membership

import (
	"slices"

	"github.com/dynago/dynago/ring"
)

// Claiming (Riak's claimant; DESIGN.md §2). Placement keeps history, so one
// node, the claimant, computes each new ownership table from the current
// one (ring.Claim moves about 1/k of the partitions per change) and the
// others adopt it (MergeTable). node runs the claim loop: it asks Claimant
// who claims, and when it is this node, Claim what to claim, then merges
// and pushes the result.

// Claimant returns the node that claims for c: the first (by name) valid
// member that alive says is up ("" when there is none). A joining node
// never claims: until it has met its cluster it knows only itself, and a
// table of its own would compete with the cluster's. While no member is
// valid (nodes that all started joining one another) every node places by
// the history-free ring of the members, and the first to turn valid claims
// that same placement.
func (c State) Claimant(alive func(string) bool) string {
	for _, r := range c.Records() {
		if r.Status == StatusValid && alive(r.Name) {
			return r.Name
		}
	}
	return ""
}

// Claim returns the table claimant claims next from c, and how many
// partitions change owner from c's table: nil when there is nothing to
// claim (changes are staged, no member is to be placed, or c's table
// places exactly the members to place). The next table is claimed from
// c's with ring.Claim, numbered one higher (1 for the first), names c's
// table as its Prev, and carries the sources of partitions whose pulls are
// unfinished (carriedSources).
func (c State) Claim(claimant string) (next *Table, moved int, err error) {
	if c.Staged() {
		return nil, 0, nil
	}
	want := c.placed()
	if len(want) == 0 || (c.Table != nil && slices.Equal(c.Table.Members, want)) {
		return nil, 0, nil
	}
	cfg := c.RingConfig()
	prev, err := ring.New(cfg, nil)
	if err != nil {
		return nil, 0, err
	}
	version := uint64(1)
	if c.Table != nil {
		if prev, err = c.Table.Ring(cfg, c.Members); err != nil {
			return nil, 0, err
		}
		version = c.Table.Version + 1
	}
	ms := make([]ring.Member, len(want))
	for i, m := range want {
		ms[i] = ring.Member{ID: ring.NodeID(m.Name), Zone: m.Zone}
	}
	r, err := prev.Claim(ms)
	if err != nil {
		return nil, 0, err
	}
	if c.Table != nil {
		before := prev.Owners()
		for p, o := range r.Owners() {
			if o != before[p] {
				moved++
			}
		}
	}
	return TableOf(r, version, claimant, c.Table, carriedSources(c, prev)), moved, nil
}

// carriedSources returns, for each partition whose primaries in c's table
// are not all ready for it (a member's ReadyAt is behind the table: its
// pulls are unfinished), the older owners its new owners must still pull
// from besides cur's primaries, which the next table's Prev names anyway:
// the primaries of c's previous table and the sources c's table carried.
// Without this, a change claimed before the previous one's pulls finished
// dropped the owners before that from the sources (issue 10), and a write
// only they held was missing from a copy its owner called complete.
func carriedSources(c State, cur *ring.Ring) map[int][]string {
	if c.Table == nil {
		return nil
	}
	var prev *ring.Ring
	if c.Table.Prev != nil {
		prev, _ = c.PreviousRing()
	}
	out := map[int][]string{}
	for p := range c.Partitions {
		prims := cur.Primaries(p)
		settled := true
		for _, id := range prims {
			if m, ok := c.Members[string(id)]; ok && InRing(m.Status) && m.ReadyAt < c.Table.Version+1 {
				settled = false
			}
		}
		if settled {
			continue
		}
		var srcs []string
		add := func(name string) {
			m, ok := c.Members[name]
			if name == "" || (ok && !InRing(m.Status)) || slices.Contains(prims, ring.NodeID(name)) || slices.Contains(srcs, name) {
				return
			}
			srcs = append(srcs, name)
		}
		if prev != nil {
			for _, id := range prev.Primaries(p) {
				add(string(id))
			}
		}
		for _, s := range c.Table.Sources[p] {
			add(s)
		}
		if len(srcs) > 0 {
			slices.Sort(srcs)
			out[p] = srcs[:min(len(srcs), maxCarriedSources)]
		}
	}
	return out
}
