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
