package ring

import (
	"encoding/binary"
	"math/bits"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// This file holds the placement algorithm. Everything here is part of the
// on-the-wire contract between nodes: two versions of dynago that place
// differently cannot share a cluster. testdata/golden-*.txt pins it.

// PartitionOf returns the partition of key in a ring of q partitions: the top
// log2(q) bits of xxhash64(key). q must be a power of two in
// [1, MaxPartitions]; PartitionOf panics otherwise.
func PartitionOf(q int, key []byte) int {
	if q < 1 || q > MaxPartitions || q&(q-1) != 0 {
		panic("ring: PartitionOf: q must be a power of two in [1, MaxPartitions]")
	}
	return partitionOf(bits.TrailingZeros(uint(q)), key)
}

// partitionOf takes log2(q). A shift by 64 yields 0 in Go, so q == 1 needs
// no special case.
func partitionOf(log2q int, key []byte) int {
	return int(xxhash.Sum64(key) >> (64 - uint(log2q)))
}

// nodeHash is the per-member half of every score.
func nodeHash(id NodeID) uint64 { return xxhash.Sum64String(string(id)) }

// score is the rendezvous (highest random weight) score of a member for
// partition p: xxhash64 of the member's nodeHash (8 bytes, little endian)
// followed by p (4 bytes, little endian). It is the definition; placement
// computes the same value with scoreFrom(prescore(h), p).
func score(h uint64, p int) uint64 {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], h)
	binary.LittleEndian.PutUint32(b[8:], uint32(p))
	return xxhash.Sum64(b[:])
}

// xxhash64 primes.
const (
	prime1 uint64 = 11400714785074694791
	prime2 uint64 = 14029467366897019727
	prime3 uint64 = 1609587929392839161
	prime4 uint64 = 9650029242287828579
	prime5 uint64 = 2870177450012600261
)

// prescore runs xxhash64 (seed 0) over a 12-byte input up to the point where
// only the last 4 bytes (the partition) remain: the state after the first
// 8-byte lane, which holds the member's hash.
func prescore(h uint64) uint64 {
	k1 := bits.RotateLeft64(h*prime2, 31) * prime1
	return bits.RotateLeft64((prime5+12)^k1, 27)*prime1 + prime4
}

// scoreFrom finishes the xxhash64 that prescore began with the 4-byte lane p
// and the final avalanche. scoreFrom(prescore(h), p) == score(h, p).
func scoreFrom(pre uint64, p int) uint64 {
	x := pre ^ uint64(uint32(p))*prime1
	x = bits.RotateLeft64(x, 23)*prime2 + prime3
	x ^= x >> 33
	x *= prime2
	x ^= x >> 29
	x *= prime3
	x ^= x >> 32
	return x
}

// ownerCap is the most partitions one member may own among k members:
// floor(1.25 Q/k), the balance bound of DESIGN §2, raised to ceil(Q/k) when
// that is larger (fewer than 4 partitions per member) so that every
// partition has room.
func ownerCap(q, k int) int {
	c := 5 * q / (4 * k)
	if m := (q + k - 1) / k; c < m {
		c = m
	}
	return c
}

// cand is one member's claim on a partition.
type cand struct {
	s uint64 // score
	i int32  // member index (members sorted by ID)
}

// before orders claims: higher score first, then lower member index, so the
// order is total and independent of input order.
func (a cand) before(b cand) bool {
	return a.s > b.s || (a.s == b.s && a.i < b.i)
}

// firstCands is how many claims per partition assignOwners ranks up front.
// Most partitions go to one of their first few; the rest rank all members.
const firstCands = 4

// assignOwners returns the owner (member index) of each of q partitions.
//
// It is the greedy stable assignment of partitions to members under a
// capacity: take (member, partition) pairs in descending score order and give
// the partition to the member unless the partition already has an owner or
// the member already owns ownerCap(q, k) partitions. With an unbounded
// capacity this is plain rendezvous hashing (adding a member moves exactly
// the partitions it wins); the capacity enforces the balance bound and costs
// some extra movement (see doc.go).
//
// The pairs are not sorted globally: each unowned partition keeps its best
// remaining claim in a max-heap. A member that is full stays full, so
// skipping it for good is exact.
//
// pre holds each member's prescore.
func assignOwners(q int, pre []uint64) []int32 {
	k := len(pre)
	owner := make([]int32, q)
	if k == 0 {
		for p := range owner {
			owner[p] = -1
		}
		return owner
	}
	capacity := ownerCap(q, k)
	t := min(k, firstCands)
	top := make([]cand, q*t)
	lists := make([][]cand, q) // claims of p in order; grows to all k when needed
	h := make(claimHeap, 0, q)
	for p := range q {
		l := topClaims(top[p*t:p*t:(p+1)*t], pre, p)
		lists[p] = l
		h = append(h, heapItem{c: l[0], p: int32(p)})
	}
	h.init()
	pos := make([]int32, q)
	load := make([]int, k)
	for len(h) > 0 {
		it := h[0]
		if load[it.c.i] < capacity {
			load[it.c.i]++
			owner[it.p] = it.c.i
			h.pop()
			continue
		}
		p := it.p
		pos[p]++
		if int(pos[p]) == len(lists[p]) {
			// Every member ranked so far is full; rank them all. Total
			// capacity is at least q, so some member has room.
			lists[p] = allClaims(pre, int(p))
		}
		h[0].c = lists[p][pos[p]]
		h.fix0()
	}
	return owner
}

// topClaims fills dst (len 0, cap t) with the t best claims on p.
func topClaims(dst []cand, pre []uint64, p int) []cand {
	t := cap(dst)
	for i, x := range pre {
		c := cand{s: scoreFrom(x, p), i: int32(i)}
		if len(dst) == t && !c.before(dst[t-1]) {
			continue
		}
		if len(dst) < t {
			dst = append(dst, c)
		} else {
			dst[t-1] = c
		}
		for j := len(dst) - 1; j > 0 && dst[j].before(dst[j-1]); j-- {
			dst[j], dst[j-1] = dst[j-1], dst[j]
		}
	}
	return dst
}

// allClaims returns every member's claim on p, best first.
func allClaims(pre []uint64, p int) []cand {
	l := make([]cand, len(pre))
	for i, x := range pre {
		l[i] = cand{s: scoreFrom(x, p), i: int32(i)}
	}
	slices.SortFunc(l, func(a, b cand) int {
		if a.before(b) {
			return -1
		}
		if b.before(a) {
			return 1
		}
		return 0
	})
	return l
}

type heapItem struct {
	c cand
	p int32
}

// claimHeap is a max-heap of each unowned partition's best remaining claim,
// ordered by claim then by partition.
type claimHeap []heapItem

func (h claimHeap) less(a, b int) bool {
	x, y := h[a], h[b]
	if x.c.s != y.c.s {
		return x.c.s > y.c.s
	}
	if x.c.i != y.c.i {
		return x.c.i < y.c.i
	}
	return x.p < y.p
}

func (h claimHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *claimHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	if n > 0 {
		h.down(0)
	}
}

// fix0 restores the heap after h[0] got a worse claim.
func (h claimHeap) fix0() { h.down(0) }

func (h claimHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

// walker yields, without repeats, the members met walking the ring from
// partition p: the owners of p, p+1, ... (wrapping), then the members that
// own no partition, by descending score for p. This is the Dynamo ring walk
// (§4.3), and its order is p's fallback order (§4.6).
//
// The seen-set is either a bitset (lookups: each call owns one) or a stamp
// array shared across the partitions of one New (construction is single
// threaded): member i was met when stamp[i] >= 2*gen.
type walker struct {
	r     *Ring
	p     int
	step  int     // next ring step, in [0, Q]
	idle  []int32 // members without partitions, ordered for p
	ii    int
	ready bool // idle computed

	bits  bitset
	stamp []int32
	gen   int32
}

// met reports whether member i was met before, and records it.
func (w *walker) met(i int32) bool {
	if w.bits != nil {
		return w.bits.testAndSet(i)
	}
	if w.stamp[i] >= 2*w.gen {
		return true
	}
	w.stamp[i] = 2 * w.gen
	return false
}

func (w *walker) next() (int32, bool) {
	q := len(w.r.owner)
	for w.step < q {
		o := w.r.owner[(w.p+w.step)&(q-1)]
		w.step++
		if !w.met(o) {
			return o, true
		}
	}
	if !w.ready {
		w.ready = true
		w.idle = w.r.idleOrder(w.p)
	}
	for w.ii < len(w.idle) {
		o := w.idle[w.ii]
		w.ii++
		if !w.met(o) {
			return o, true
		}
	}
	return -1, false
}

// idleOrder returns the members that own no partition, best score for p
// first. It allocates; a walk needs it only after a full turn of the ring.
func (r *Ring) idleOrder(p int) []int32 {
	if len(r.idle) == 0 {
		return nil
	}
	cs := make([]cand, len(r.idle))
	for j, i := range r.idle {
		cs[j] = cand{s: scoreFrom(r.pre[i], p), i: i}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	out := make([]int32, len(cs))
	for j, c := range cs {
		out[j] = c.i
	}
	return out
}

// bitset is the seen-set of a walk at lookup time.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

// testAndSet reports whether i was set, and sets it.
func (b bitset) testAndSet(i int32) bool {
	w, m := i>>6, uint64(1)<<(uint(i)&63)
	was := b[w]&m != 0
	b[w] |= m
	return was
}

// scratch is reused across the partitions of one New.
type scratch struct {
	stamp  []int32 // per member: 2*gen met, 2*gen+1 met and picked
	zstamp []int32 // per zone: gen when used
	walked []int32
	gen    int32
}

// choosePrimaries writes p's preference list (member indexes) into out,
// len(out) = min(N, members). Without zones it is the first len(out)
// members of the walk. With zones it first takes, in walk order, members of
// zones not used yet, until the list is full or no unused zone is left; then
// it fills with the remaining members in walk order.
func (r *Ring) choosePrimaries(p int, out []int32, sc *scratch) {
	sc.gen++
	gen := sc.gen
	w := walker{r: r, p: p, stamp: sc.stamp, gen: gen}
	n := len(out)
	if r.zones == len(r.members) {
		// Every member is a zone of its own: no constraint.
		for j := range out {
			out[j], _ = w.next()
		}
		return
	}
	picked, used := 0, 0
	walked := sc.walked[:0]
	for picked < n && used < r.zones {
		i, ok := w.next()
		if !ok {
			break
		}
		walked = append(walked, i)
		if z := r.zone[i]; sc.zstamp[z] != gen {
			sc.zstamp[z] = gen
			used++
			out[picked] = i
			picked++
			sc.stamp[i] = 2*gen + 1
		}
	}
	sc.walked = walked
	for _, i := range walked {
		if picked == n {
			break
		}
		if sc.stamp[i] != 2*gen+1 {
			out[picked] = i
			picked++
		}
	}
	for picked < n {
		out[picked], _ = w.next()
		picked++
	}
}
