package ring

import (
	"cmp"
	"math"
	"slices"
)

// This file is the "dumb alternative" (ER quorum/quick_test.go): placement
// written down literally from its definition in doc.go, slow and obvious,
// for the tests to compare the real implementation against.

// refPlacement returns, per partition, the owner, the preference list and
// the extended preference list, computed the slow way.
func refPlacement(cfg Config, members []Member) (owners []NodeID, prim, ext [][]NodeID) {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	q, k := cfg.Partitions, len(ms)
	if k == 0 {
		return nil, nil, nil
	}
	// Capacity: floor(1.25 Q/k), at least ceil(Q/k).
	capacity := max(int(math.Floor(1.25*float64(q)/float64(k))), int(math.Ceil(float64(q)/float64(k))))

	// Owners: every (member, partition) pair in descending score order;
	// the partition goes to the member unless taken or the member is full.
	type pair struct {
		s    uint64
		i, p int
	}
	var pairs []pair
	for i, m := range ms {
		for p := range q {
			pairs = append(pairs, pair{score(nodeHash(m.ID), p), i, p})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := cmp.Compare(b.s, a.s); c != 0 {
			return c
		}
		if c := cmp.Compare(a.i, b.i); c != 0 {
			return c
		}
		return cmp.Compare(a.p, b.p)
	})
	own := make([]int, q)
	for p := range own {
		own[p] = -1
	}
	load := make([]int, k)
	for _, pr := range pairs {
		if own[pr.p] < 0 && load[pr.i] < capacity {
			own[pr.p] = pr.i
			load[pr.i]++
		}
	}
	refBalance(own, ms, q)
	load = make([]int, k)
	for _, o := range own {
		load[o]++
	}

	// Zone classes: an empty zone is a class of its own.
	zone := func(i int) string {
		if ms[i].Zone == "" {
			return "\x00member:" + string(ms[i].ID)
		}
		return "zone:" + ms[i].Zone
	}
	n := min(cfg.N, k)
	for p := range q {
		owners = append(owners, ms[own[p]].ID)
		// The walk: owners of p, p+1, ... distinct, then the members that
		// own nothing by descending score for p.
		var walk []int
		met := map[int]bool{}
		for s := range q {
			if o := own[(p+s)%q]; !met[o] {
				met[o] = true
				walk = append(walk, o)
			}
		}
		var idle []int
		for i := range k {
			if load[i] == 0 {
				idle = append(idle, i)
			}
		}
		slices.SortFunc(idle, func(a, b int) int {
			if c := cmp.Compare(score(nodeHash(ms[b].ID), p), score(nodeHash(ms[a].ID), p)); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		walk = append(walk, idle...)

		// Primaries: members of unused zones in walk order, then the rest
		// in walk order.
		var picked []int
		isPicked := map[int]bool{}
		used := map[string]bool{}
		for _, i := range walk {
			if len(picked) < n && !used[zone(i)] {
				used[zone(i)] = true
				picked = append(picked, i)
				isPicked[i] = true
			}
		}
		for _, i := range walk {
			if len(picked) < n && !isPicked[i] {
				picked = append(picked, i)
				isPicked[i] = true
			}
		}
		var pl, el []NodeID
		for _, i := range picked {
			pl = append(pl, ms[i].ID)
			el = append(el, ms[i].ID)
		}
		for _, i := range walk {
			if !isPicked[i] {
				el = append(el, ms[i].ID)
			}
		}
		prim = append(prim, pl)
		ext = append(ext, el)
	}
	return owners, prim, ext
}

// refBalance is Claim's three steps (claim.go) written down literally: own
// holds member indexes into ms (sorted by ID), -1 for a free partition.
func refBalance(own []int, ms []Member, q int) {
	k := len(ms)
	capacity := max(int(math.Floor(1.25*float64(q)/float64(k))), int(math.Ceil(float64(q)/float64(k))))
	floor := q / k
	sc := func(i, p int) uint64 { return score(nodeHash(ms[i].ID), p) }
	loads := func() []int {
		l := make([]int, k)
		for _, o := range own {
			if o >= 0 {
				l[o]++
			}
		}
		return l
	}
	owned := func(i int) []int {
		var ps []int
		for p, o := range own {
			if o == i {
				ps = append(ps, p)
			}
		}
		return ps
	}
	// 1. Over the cap: free the lowest-scored partitions (ties: lower p).
	for i := range k {
		for ps := owned(i); len(ps) > capacity; ps = owned(i) {
			slices.SortStableFunc(ps, func(a, b int) int { return cmp.Compare(sc(i, a), sc(i, b)) })
			own[ps[0]] = -1
		}
	}
	// 2. Free partitions, ascending, to the least loaded member (ties: the
	// higher score, then the lower index).
	for p := range q {
		if own[p] >= 0 {
			continue
		}
		l := loads()
		cands := make([]int, k)
		for i := range cands {
			cands[i] = i
		}
		slices.SortStableFunc(cands, func(a, b int) int {
			if c := cmp.Compare(l[a], l[b]); c != 0 {
				return c
			}
			return cmp.Compare(sc(b, p), sc(a, p))
		})
		own[p] = cands[0]
	}
	// 3. Members under floor(Q/k) take from the most loaded (the lowest
	// index among equals), the partition they score highest (ties: lower p).
	for {
		l := loads()
		taker := slices.Index(l, slices.Min(l))
		if l[taker] >= floor {
			return
		}
		donor := slices.Index(l, slices.Max(l))
		ps := owned(donor)
		slices.SortStableFunc(ps, func(a, b int) int { return cmp.Compare(sc(taker, b), sc(taker, a)) })
		own[ps[0]] = taker
	}
}

// refClaimOwners is Claim's ownership from the definition: prev's owners
// that are still members keep their partitions, then refBalance.
func refClaimOwners(q int, prev []NodeID, members []Member) []NodeID {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	own := make([]int, q)
	for p, id := range prev {
		own[p] = slices.IndexFunc(ms, func(m Member) bool { return m.ID == id })
	}
	refBalance(own, ms, q)
	out := make([]NodeID, q)
	for p, o := range own {
		out[p] = ms[o].ID
	}
	return out
}

// refTargets is Targets written from its definition: walk the extended list
// and keep the first N members that are up; a fallback stands in for the
// down primaries in order.
func refTargets(n int, prim, ext []NodeID, up func(NodeID) bool) []Target {
	var down []NodeID
	var out []Target
	for j, id := range ext {
		if len(out) == n {
			break
		}
		switch {
		case j < len(prim) && up(id):
			out = append(out, Target{ID: id, Primary: true})
		case j < len(prim):
			down = append(down, id)
		case up(id):
			out = append(out, Target{ID: id, For: down[0]})
			down = down[1:]
		}
	}
	return out
}
