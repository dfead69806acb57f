package ring

import (
	"fmt"
	"slices"
)

// This file holds the history-aware placement: a membership change starts
// from the ownership before it (Riak's claim, Dynamo §6.2 strategy 3 with
// tokens handed over rather than recomputed). Like placement.go it is part
// of the contract between nodes, but only the claimant runs it; the others
// adopt its result (FromOwners), so two nodes never have to compute it alike
// from different histories.

// Claim returns the ring of members whose ownership starts from r's and
// changes as few partitions as the balance bound allows:
//
//  1. A partition whose owner is not in members is free. So is, for a
//     member that owns more than the cap max(floor(1.25 Q/k), ceil(Q/k)),
//     each partition over the cap: the ones it scores lowest.
//  2. Each free partition, in ascending order, goes to the member that owns
//     the fewest (ties: the best score for the partition).
//  3. While a member owns fewer than floor(Q/k), it takes, from the member
//     that owns the most (ties: lower ID), the partition it scores highest.
//
// So a join moves about Q/k partitions (what the new member takes) and a
// leave moves what the leaver owned, at most the cap: 1.0 to 1.25 Q/k,
// within DESIGN §2's 1.5/k at any Q/k. Every member ends owning between
// floor(Q/k) and the cap; Claim of a ring with its own members changes
// nothing when that holds already, so Claim is idempotent.
//
// Claim on an empty ring is New. members may come in any order; errors are
// New's. Claim costs O(Q × k) plus O(Q) per partition moved in step 3.
func (r *Ring) Claim(members []Member) (*Ring, error) {
	ms, err := sortedMembers(members)
	if err != nil {
		return nil, err
	}
	if r.Len() == 0 || len(ms) == 0 {
		return build(r.cfg, ms, nil), nil
	}
	q, k := r.cfg.Partitions, len(ms)
	index := make(map[NodeID]int32, k)
	pre := make([]uint64, k)
	for i, m := range ms {
		index[m.ID] = int32(i)
		pre[i] = prescore(nodeHash(m.ID))
	}
	owner := make([]int32, q)
	for p, o := range r.owner {
		i, ok := index[r.members[o].ID]
		if !ok {
			i = -1
		}
		owner[p] = i
	}
	balance(owner, pre)
	return build(r.cfg, ms, owner), nil
}

// Owners returns each partition's owner, indexed by partition; nil for an
// empty ring. With Members it is all FromOwners needs to rebuild the ring.
func (r *Ring) Owners() []NodeID {
	if len(r.members) == 0 {
		return nil
	}
	out := make([]NodeID, len(r.owner))
	for p, o := range r.owner {
		out[p] = r.members[o].ID
	}
	return out
}

// FromOwners builds the ring of members with the given ownership (one owner
// per partition, each a member), as Claim or New computed it elsewhere. The
// error wraps ErrInvalidConfig for a bad cfg or an ownership of the wrong
// length, ErrUnknownMember for an owner that is not a member, and New's
// errors for bad members.
func FromOwners(cfg Config, members []Member, owners []NodeID) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms, err := sortedMembers(members)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		if len(owners) != 0 {
			return nil, fmt.Errorf("%w: %d owners for an empty ring", ErrInvalidConfig, len(owners))
		}
		return build(cfg, ms, nil), nil
	}
	if len(owners) != cfg.Partitions {
		return nil, fmt.Errorf("%w: %d owners for %d partitions", ErrInvalidConfig, len(owners), cfg.Partitions)
	}
	owner := make([]int32, len(owners))
	for p, id := range owners {
		i, ok := slices.BinarySearchFunc(ms, id, func(m Member, id NodeID) int {
			switch {
			case m.ID < id:
				return -1
			case m.ID > id:
				return 1
			}
			return 0
		})
		if !ok {
			return nil, fmt.Errorf("%w: partition %d's owner %q", ErrUnknownMember, p, id)
		}
		owner[p] = int32(i)
	}
	return build(cfg, ms, owner), nil
}

// balance runs Claim's three steps on owner (member indexes, -1 for a
// free partition) in place; pre holds each member's prescore. Afterwards
// every partition has an owner and every member owns between floor(Q/k)
// and ownerCap(Q, k) partitions.
func balance(owner []int32, pre []uint64) {
	q, k := len(owner), len(pre)
	load := make([]int, k)
	for _, o := range owner {
		if o >= 0 {
			load[o]++
		}
	}
	capacity, floor := ownerCap(q, k), q/k
	// 1. Over the cap: give up the partitions scored lowest.
	for i := range k {
		for load[i] > capacity {
			worst := -1
			for p, o := range owner {
				if o == int32(i) && (worst < 0 || scoreFrom(pre[i], p) < scoreFrom(pre[i], worst)) {
					worst = p
				}
			}
			owner[worst] = -1
			load[i]--
		}
	}
	// 2. Free partitions go to the least loaded.
	for p, o := range owner {
		if o >= 0 {
			continue
		}
		best := int32(0)
		for i := int32(1); i < int32(k); i++ {
			if load[i] < load[best] || (load[i] == load[best] &&
				(cand{scoreFrom(pre[i], p), i}).before(cand{scoreFrom(pre[best], p), best})) {
				best = i
			}
		}
		owner[p] = best
		load[best]++
	}
	// 3. Fill members below floor(Q/k) from the most loaded.
	for {
		taker, donor := 0, 0
		for i := range load {
			if load[i] < load[taker] {
				taker = i
			}
			if load[i] > load[donor] {
				donor = i
			}
		}
		if load[taker] >= floor {
			break
		}
		// load[donor] > floor: the loads sum to Q >= k × floor.
		best := -1
		for p, o := range owner {
			if o == int32(donor) && (best < 0 || scoreFrom(pre[taker], p) > scoreFrom(pre[taker], best)) {
				best = p
			}
		}
		owner[best] = int32(taker)
		load[taker]++
		load[donor]--
	}
}
