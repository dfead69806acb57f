package ring

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
)

// Ring maps keys to partitions and partitions to preference lists. A Ring is
// immutable: no method modifies the receiver, so a *Ring may be shared by any
// number of goroutines. Membership changes build a new Ring (With, Without)
// that node publishes with an atomic.Pointer.
//
// Every slice a method returns is a fresh copy owned by the caller.
type Ring struct {
	cfg     Config
	log2q   int
	members []Member         // sorted by ID
	index   map[NodeID]int32 // ID -> position in members
	pre     []uint64         // prescore(nodeHash) of each member
	zone    []int32          // zone class of each member
	zones   int              // number of zone classes

	owner []int32  // Q entries: owner of each partition; nil when empty
	idle  []int32  // members that own no partition, ascending
	n     int      // list length: min(N, len(members))
	prim  []int32  // Q*n entries: preference lists
	ids   []NodeID // Q*n entries: the same as IDs
}

// New builds the ring of members under cfg. members may come in any order.
// New returns an error wrapping ErrInvalidConfig, ErrEmptyID,
// ErrDuplicateMember or ErrUnknownState for bad input. Zero members is
// allowed: every lookup of an empty ring returns nothing.
//
// New costs O(Q × len(members)) time and precomputes every preference list,
// so Owner, Primaries, and Targets while all primaries are up cost O(N).
// PreferenceList, Targets with a primary down (they walk the ring),
// PartitionsOf and OwnedBy cost up to O(Q × N).
func New(cfg Config, members []Member) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms, err := sortedMembers(members)
	if err != nil {
		return nil, err
	}
	return build(cfg, ms, nil), nil
}

// sortedMembers validates members and returns them sorted by ID.
func sortedMembers(members []Member) ([]Member, error) {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	for i, m := range ms {
		if err := m.validate(); err != nil {
			return nil, err
		}
		if i > 0 && ms[i-1].ID == m.ID {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateMember, m.ID)
		}
	}
	return ms, nil
}

// build computes the placement of ms, which must be valid and sorted by ID.
// owner gives each partition's owner (an index into ms); nil means the
// history-free placement of assignOwners.
func build(cfg Config, ms []Member, owner []int32) *Ring {
	q, k := cfg.Partitions, len(ms)
	r := &Ring{
		cfg:     cfg,
		log2q:   bits.TrailingZeros(uint(q)),
		members: ms,
		index:   make(map[NodeID]int32, k),
		pre:     make([]uint64, k),
		zone:    make([]int32, k),
		n:       min(cfg.N, k),
	}
	zoneIDs := make(map[string]int32)
	for i, m := range ms {
		r.index[m.ID] = int32(i)
		r.pre[i] = prescore(nodeHash(m.ID))
		if m.Zone == "" {
			r.zone[i] = int32(r.zones)
			r.zones++
			continue
		}
		z, ok := zoneIDs[m.Zone]
		if !ok {
			z = int32(r.zones)
			zoneIDs[m.Zone] = z
			r.zones++
		}
		r.zone[i] = z
	}
	if k == 0 {
		return r
	}
	r.owner = owner
	if r.owner == nil {
		r.owner = assignOwners(q, r.pre)
		balance(r.owner, r.pre)
	}
	owns := make([]bool, k)
	for _, o := range r.owner {
		owns[o] = true
	}
	for i, ok := range owns {
		if !ok {
			r.idle = append(r.idle, int32(i))
		}
	}
	r.prim = make([]int32, q*r.n)
	r.ids = make([]NodeID, q*r.n)
	sc := &scratch{stamp: make([]int32, k), zstamp: make([]int32, r.zones)}
	for p := range q {
		l := r.prim[p*r.n : (p+1)*r.n]
		r.choosePrimaries(p, l, sc)
		for j, i := range l {
			r.ids[p*r.n+j] = ms[i].ID
		}
	}
	return r
}

// Config returns the ring's configuration.
func (r *Ring) Config() Config { return r.cfg }

// Len returns the number of members.
func (r *Ring) Len() int { return len(r.members) }

// Members returns the members sorted by ID.
func (r *Ring) Members() []Member { return slices.Clone(r.members) }

// Member returns the member with the given ID, if any.
func (r *Ring) Member(id NodeID) (Member, bool) {
	i, ok := r.index[id]
	if !ok {
		return Member{}, false
	}
	return r.members[i], true
}

// Partition returns the partition of key: PartitionOf(Config().Partitions, key).
func (r *Ring) Partition(key []byte) int { return partitionOf(r.log2q, key) }

// checkPartition panics when p is not a partition: that is a caller bug, like
// an index out of range.
func (r *Ring) checkPartition(p int) {
	if p < 0 || p >= r.cfg.Partitions {
		panic(fmt.Sprintf("ring: partition %d out of range [0, %d)", p, r.cfg.Partitions))
	}
}

// Owner returns the first member of p's preference list, or "" when the ring
// is empty. It panics if p is not in [0, Q).
func (r *Ring) Owner(p int) NodeID {
	r.checkPartition(p)
	if r.n == 0 {
		return ""
	}
	return r.ids[p*r.n]
}

// Primaries returns p's preference list: min(N, Len()) distinct members, the
// Owner first. It returns nil when the ring is empty and panics if p is not
// in [0, Q). The slice is a copy.
func (r *Ring) Primaries(p int) []NodeID {
	r.checkPartition(p)
	if r.n == 0 {
		return nil
	}
	return slices.Clone(r.ids[p*r.n : (p+1)*r.n])
}

// PreferenceList returns p's extended preference list: every member, the
// Primaries first, then the others in the order fallbacks are taken when
// primaries are down (the ring walk, Dynamo §4.6). It costs O(Q + Len()).
func (r *Ring) PreferenceList(p int) []NodeID {
	r.checkPartition(p)
	if r.n == 0 {
		return nil
	}
	out := make([]NodeID, 0, len(r.members))
	w := r.fallbacks(p)
	for _, i := range r.prim[p*r.n : (p+1)*r.n] {
		out = append(out, r.members[i].ID)
	}
	for {
		i, ok := w.next()
		if !ok {
			return out
		}
		out = append(out, r.members[i].ID)
	}
}

// fallbacks returns a walker over p's extended list after the primaries.
func (r *Ring) fallbacks(p int) *walker {
	w := &walker{r: r, p: p, bits: newBitset(len(r.members))}
	for _, i := range r.prim[p*r.n : (p+1)*r.n] {
		w.bits.testAndSet(i)
	}
	return w
}

// Target is one replica a request for a partition goes to.
type Target struct {
	ID NodeID
	// Primary is true when ID is in the partition's preference list.
	Primary bool
	// For is, for a fallback (Primary false), the down primary whose
	// replica ID holds; the write carries a hint for it (Dynamo §4.6).
	For NodeID
}

// Targets returns where a request for p goes: the first N members of p's
// extended preference list for which up returns true, in that order. Up
// primaries come first with Primary set; each fallback stands in for a down
// primary, assigned in preference-list order, and names it in For. Fewer than
// N targets come back when fewer members are up (or the ring has fewer than
// N members). A nil up counts every member as up. Targets calls up at most
// once per member, from the calling goroutine.
func (r *Ring) Targets(p int, up func(NodeID) bool) []Target {
	r.checkPartition(p)
	if r.n == 0 {
		return nil
	}
	prim := r.ids[p*r.n : (p+1)*r.n]
	out := make([]Target, 0, r.n)
	var down []NodeID
	for _, id := range prim {
		if up == nil || up(id) {
			out = append(out, Target{ID: id, Primary: true})
		} else {
			down = append(down, id)
		}
	}
	if len(down) == 0 {
		return out
	}
	w := r.fallbacks(p)
	for nf := 0; nf < len(down); {
		i, ok := w.next()
		if !ok {
			break
		}
		if id := r.members[i].ID; up(id) {
			out = append(out, Target{ID: id, For: down[nf]})
			nf++
		}
	}
	return out
}

// PartitionsOf returns, ascending, the partitions whose preference list
// contains id (the partitions id stores as a primary replica). It costs
// O(Q × N).
func (r *Ring) PartitionsOf(id NodeID) []int {
	i, ok := r.index[id]
	if !ok {
		return nil
	}
	var out []int
	for j, m := range r.prim {
		if m == i {
			out = append(out, j/r.n)
		}
	}
	return out
}

// OwnedBy returns, ascending, the partitions whose Owner is id.
func (r *Ring) OwnedBy(id NodeID) []int {
	i, ok := r.index[id]
	if !ok {
		return nil
	}
	var out []int
	for p, o := range r.owner {
		if o == i {
			out = append(out, p)
		}
	}
	return out
}

// With returns r.Claim of r's members with m added, or replacing the member
// with m's ID. The receiver is unchanged. Changing only a member's State or
// Zone leaves ownership unchanged.
func (r *Ring) With(m Member) (*Ring, error) {
	if err := m.validate(); err != nil {
		return nil, err
	}
	ms := slices.Clone(r.members)
	i, found := slices.BinarySearchFunc(ms, m.ID, func(a Member, id NodeID) int { return cmp.Compare(a.ID, id) })
	if found {
		ms[i] = m
	} else {
		ms = slices.Insert(ms, i, m)
	}
	return r.Claim(ms)
}

// Without returns r.Claim of r's members without the member id. The
// receiver is unchanged. The error wraps ErrUnknownMember when id is not a
// member.
func (r *Ring) Without(id NodeID) (*Ring, error) {
	i, ok := r.index[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownMember, id)
	}
	return r.Claim(slices.Delete(slices.Clone(r.members), int(i), int(i)+1))
}

// Equal reports whether r and o have the same Config, the same members
// (ID, Zone and State) and the same owners. Equal rings place identically;
// rings that differ only in members' States also place identically.
func (r *Ring) Equal(o *Ring) bool {
	if r == o {
		return true
	}
	if r == nil || o == nil {
		return false
	}
	return r.cfg == o.cfg && slices.Equal(r.members, o.members) && slices.Equal(r.owner, o.owner)
}
