package ring

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// TestMatchesReference compares placement with the literal definition in
// reference_test.go on many small random rings, zones included.
func TestMatchesReference(t *testing.T) {
	rng := testRand(t)
	for iter := range 300 {
		cfg := Config{Partitions: 1 << rng.IntN(7), N: 1 + rng.IntN(5)}
		ms := randomMembers(rng, rng.IntN(13), rng.IntN(4))
		r := mustNew(t, cfg, ms)
		owners, prim, ext := refPlacement(cfg, ms)
		for p := range cfg.Partitions {
			if len(ms) == 0 {
				if r.Owner(p) != "" || r.Primaries(p) != nil {
					t.Fatalf("iter %d: empty ring has owner %q", iter, r.Owner(p))
				}
				continue
			}
			if got := r.Owner(p); got != owners[p] {
				t.Fatalf("iter %d %+v %v: Owner(%d) = %s, reference %s", iter, cfg, ms, p, got, owners[p])
			}
			if got := r.Primaries(p); !slices.Equal(got, prim[p]) {
				t.Fatalf("iter %d %+v %v: Primaries(%d) = %v, reference %v", iter, cfg, ms, p, got, prim[p])
			}
			if got := r.PreferenceList(p); !slices.Equal(got, ext[p]) {
				t.Fatalf("iter %d %+v %v: PreferenceList(%d) = %v, reference %v", iter, cfg, ms, p, got, ext[p])
			}
			down := map[NodeID]bool{}
			for _, m := range ms {
				down[m.ID] = rng.IntN(3) == 0
			}
			up := func(id NodeID) bool { return !down[id] }
			if got, want := r.Targets(p, up), refTargets(cfg.N, prim[p], ext[p], up); !slices.Equal(got, want) {
				t.Fatalf("iter %d: Targets(%d) = %v, reference %v (down %v)", iter, p, got, want, down)
			}
		}
	}
}

// TestScoreMatchesXXHash checks that the incremental score used by placement
// is the documented xxhash64 of (member hash, partition).
func TestScoreMatchesXXHash(t *testing.T) {
	rng := testRand(t)
	for range 100000 {
		h, p := rng.Uint64(), rng.IntN(MaxPartitions)
		if a, b := score(h, p), scoreFrom(prescore(h), p); a != b {
			t.Fatalf("score(%#x, %d) = %#x, scoreFrom = %#x", h, p, a, b)
		}
	}
}

// checkInvariants verifies what every ring promises, whatever its size:
// preference lists of min(N, Len) distinct members led by the Owner,
// extended lists that are permutations of the members, PartitionsOf and
// OwnedBy consistent with them, and the owner-balance bound.
func checkInvariants(t testing.TB, r *Ring) {
	t.Helper()
	cfg, k := r.Config(), r.Len()
	q := cfg.Partitions
	n := min(cfg.N, k)
	members := map[NodeID]bool{}
	for _, m := range r.Members() {
		members[m.ID] = true
	}
	owned := map[NodeID][]int{}
	replica := map[NodeID][]int{}
	for p := range q {
		pl := r.Primaries(p)
		if len(pl) != n {
			t.Fatalf("partition %d: %d primaries, want %d", p, len(pl), n)
		}
		if k == 0 {
			continue
		}
		if pl[0] != r.Owner(p) {
			t.Fatalf("partition %d: Owner %s is not Primaries[0] %s", p, r.Owner(p), pl[0])
		}
		ext := r.PreferenceList(p)
		if len(ext) != k || !slices.Equal(ext[:n], pl) {
			t.Fatalf("partition %d: extended list %v does not start with %v or has not %d members", p, ext, pl, k)
		}
		seen := map[NodeID]bool{}
		for _, id := range ext {
			if seen[id] || !members[id] {
				t.Fatalf("partition %d: extended list %v repeats or invents %s", p, ext, id)
			}
			seen[id] = true
		}
		owned[pl[0]] = append(owned[pl[0]], p)
		for _, id := range pl {
			replica[id] = append(replica[id], p)
		}
	}
	for id := range members {
		if got := r.OwnedBy(id); !slices.Equal(got, owned[id]) {
			t.Fatalf("OwnedBy(%s) = %v, want %v", id, got, owned[id])
		}
		if got := r.PartitionsOf(id); !slices.Equal(got, replica[id]) {
			t.Fatalf("PartitionsOf(%s) = %v, want %v", id, got, replica[id])
		}
	}
	if limit := balanceLimit(q, k); k > 0 {
		for id, ps := range owned {
			if len(ps) > limit {
				t.Fatalf("%d members, Q=%d: %s owns %d partitions, limit %d", k, q, id, len(ps), limit)
			}
		}
	}
}

// balanceLimit is DESIGN §2's bound: no member owns more than 1.25 times its
// fair share Q/k. With fewer than 4 partitions per member whole partitions
// cannot meet it, and the limit is the best possible, ceil(Q/k).
func balanceLimit(q, k int) int {
	if k == 0 {
		return 0
	}
	fair := float64(q) / float64(k)
	return max(int(math.Floor(1.25*fair)), int(math.Ceil(fair)))
}

// loadStats returns the largest and mean number of partitions a member owns
// and holds as a primary replica.
func loadStats(r *Ring) (ownMax int, ownMean float64, repMax int, repMean float64) {
	q, k := r.Config().Partitions, r.Len()
	for _, m := range r.Members() {
		ownMax = max(ownMax, len(r.OwnedBy(m.ID)))
		repMax = max(repMax, len(r.PartitionsOf(m.ID)))
	}
	return ownMax, float64(q) / float64(k), repMax, float64(q*min(r.Config().N, k)) / float64(k)
}

// TestProperties grows a ring one random member at a time from 3 to 64
// members (Q=256, N=3) and checks the invariants, that placement does not
// depend on input order or on history, and the load spread.
func TestProperties(t *testing.T) {
	rng := testRand(t)
	cfg := DefaultConfig()
	all := randomMembers(rng, 64, 0)
	worstRep := 0.0
	for k := 3; k <= 64; k++ {
		ms := all[:k]
		r := mustNew(t, cfg, ms)
		checkInvariants(t, r)

		shuffled := slices.Clone(ms)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if err := samePlacement(r, mustNew(t, cfg, shuffled)); err != nil {
			t.Fatalf("%d members: input order changes placement: %v", k, err)
		}

		ownMax, ownMean, repMax, repMean := loadStats(r)
		worstRep = max(worstRep, float64(repMax)/repMean)
		if float64(repMax) > 1.75*repMean {
			t.Errorf("%d members: a member is a primary replica of %d partitions, mean %.1f (> 1.75x)", k, repMax, repMean)
		}
		if k%8 == 0 {
			t.Logf("%2d members: owner max/mean %d/%.2f = %.2f; replica max/mean %d/%.2f = %.2f",
				k, ownMax, ownMean, float64(ownMax)/ownMean, repMax, repMean, float64(repMax)/repMean)
		}
	}
	t.Logf("worst replica max/mean over 3..64 members: %.2f", worstRep)

	t.Run("claim", func(t *testing.T) {
		// Build rings through a random sequence of joins and leaves:
		// each step is Claim from the ring before, matches the
		// definition (refClaimOwners), keeps the bounds, and claiming
		// the same members again changes nothing.
		r := mustNew(t, cfg, nil)
		pool := randomMembers(rng, 40, 3)
		in := map[NodeID]bool{}
		for range 120 {
			m := pool[rng.IntN(len(pool))]
			prev := r
			var err error
			if in[m.ID] {
				r, err = r.Without(m.ID)
			} else {
				r, err = r.With(m)
			}
			if err != nil {
				t.Fatal(err)
			}
			in[m.ID] = !in[m.ID]
			checkInvariants(t, r)
			if prev.Len() > 0 && r.Len() > 0 {
				if want := refClaimOwners(cfg.Partitions, prev.Owners(), r.Members()); !slices.Equal(r.Owners(), want) {
					t.Fatalf("after %d members: Claim differs from its definition", r.Len())
				}
			}
			again, err := r.Claim(r.Members())
			if err != nil {
				t.Fatal(err)
			}
			if err := samePlacement(again, r); err != nil {
				t.Fatalf("Claim is not idempotent at %d members: %v", r.Len(), err)
			}
			if r.Len() > 0 {
				k := r.Len()
				for _, m := range r.Members() {
					if got := len(r.OwnedBy(m.ID)); got < cfg.Partitions/k {
						t.Fatalf("%d members: %s owns %d partitions, floor %d", k, m.ID, got, cfg.Partitions/k)
					}
				}
			}
		}
	})
}

// movement counts the partitions whose Owner differs between a and b.
func movement(a, b *Ring) int {
	moved := 0
	for p := range a.Config().Partitions {
		if a.Owner(p) != b.Owner(p) {
			moved++
		}
	}
	return moved
}

// TestMovement checks DESIGN §2: adding the k-th member moves close to 1/k
// of partition ownership and never more than 1.5/k; removing one of k
// members likewise. Ratios are moved partitions over Q/k, so 1.0 is the
// minimum a balanced ring can move. Claim keeps ownership history, so the
// bound holds at any Q/k; Q=256 up to 64 members goes down to 4 partitions
// per member.
func TestMovement(t *testing.T) {
	rng := testRand(t)
	const (
		designBound = 1.5 // DESIGN §2, per join or leave
		designMean  = 1.1 // "close to 1/k"
	)
	for _, q := range []int{4096, 256} {
		t.Run(fmt.Sprintf("Q=%d", q), func(t *testing.T) {
			cfg := Config{Partitions: q, N: 3}
			all := randomMembers(rng, 64, 0)
			prev := mustNew(t, cfg, all[:2])
			var sum float64
			var steps int
			worst := 0.0
			line := ""
			for k := 3; k <= 64; k++ {
				cur, err := prev.With(all[k-1])
				if err != nil {
					t.Fatal(err)
				}
				share := float64(q) / float64(k)
				join := float64(movement(prev, cur)) / share
				gone := all[rng.IntN(k)].ID
				less, err := cur.Without(gone)
				if err != nil {
					t.Fatal(err)
				}
				leave := float64(movement(cur, less)) / share
				for _, step := range []struct {
					what  string
					ratio float64
				}{{"join of " + string(all[k-1].ID), join}, {"leave of " + string(gone), leave}} {
					sum += step.ratio
					steps++
					worst = max(worst, step.ratio)
					if step.ratio > designBound {
						t.Errorf("Q=%d, %d members: %s moved %.2f/k of ownership, bound %.1f/k", q, k, step.what, step.ratio, designBound)
					}
				}
				line += fmt.Sprintf(" %d:%.2f/%.2f", k, join, leave)
				if k%8 == 0 {
					t.Logf("k:join/leave%s", line)
					line = ""
				}
				prev = cur
			}
			mean := sum / float64(steps)
			t.Logf("Q=%d: mean %.3f/k, worst %.2f/k over %d joins and leaves", q, mean, worst, steps)
			if mean > designMean {
				t.Errorf("Q=%d: mean movement %.3f/k, want close to 1/k (<= %.2f)", q, mean, designMean)
			}
		})
	}
}
