package ring

import (
	"math/rand/v2"
	"testing"
)

// TestSimulation1000 places Q=4096 partitions on a bit under 1000 members,
// adds members one at a time up to 1000, then removes one, logging ownership
// spread and movement (DESIGN §2: simulated up to 1000 nodes with Q = 4096).
// At Q/k ≈ 4 a member owns 4 or 5 partitions; Claim moves the new member's
// share (floor(Q/k)) per join and the leaver's partitions per leave, so
// DESIGN's bound of 1.5/k is asserted per step, and the balance bound
// exactly. The membership is fixed unless -seed asks for another.
func TestSimulation1000(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = 20261122
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const (
		q           = 4096
		final       = 1000
		designMean  = 1.1 // "close to 1/k"
		designBound = 1.5 // DESIGN §2
	)
	joins := 4
	if testing.Short() {
		joins = 2
	}
	cfg := Config{Partitions: q, N: 3}
	all := randomMembers(rng, final, 0)
	base := final - joins
	r := mustNew(t, cfg, all[:base])
	logSpread := func(r *Ring) {
		t.Helper()
		ownMax, ownMean, repMax, repMean := loadStats(r)
		t.Logf("%d members: owner max/mean %d/%.2f = %.2f (limit %d); replica max/mean %d/%.2f = %.2f",
			r.Len(), ownMax, ownMean, float64(ownMax)/ownMean, balanceLimit(q, r.Len()), repMax, repMean, float64(repMax)/repMean)
		if ownMax > balanceLimit(q, r.Len()) {
			t.Errorf("%d members: a member owns %d partitions, limit %d", r.Len(), ownMax, balanceLimit(q, r.Len()))
		}
	}
	logSpread(r)
	sum := 0.0
	for _, m := range all[base:] {
		next, err := r.With(m)
		if err != nil {
			t.Fatal(err)
		}
		k := next.Len()
		moved := movement(r, next)
		ratio := float64(moved) * float64(k) / q
		sum += ratio
		t.Logf("join %s as member %d: moved %d partitions = %.2f/k (its own: %d)", m.ID, k, moved, ratio, len(next.OwnedBy(m.ID)))
		if ratio > designBound {
			t.Errorf("join of member %d moved %.2f/k, bound %.1f/k", k, ratio, designBound)
		}
		r = next
	}
	if mean := sum / float64(joins); mean > designMean {
		t.Errorf("mean movement per join %.2f/k, bound %.1f/k", mean, designMean)
	}
	logSpread(r)
	gone := r.Members()[rng.IntN(r.Len())].ID
	less, err := r.Without(gone)
	if err != nil {
		t.Fatal(err)
	}
	moved := movement(r, less)
	ratio := float64(moved) * float64(r.Len()) / q
	t.Logf("leave of %s (owned %d): moved %d partitions = %.2f/k", gone, len(r.OwnedBy(gone)), moved, ratio)
	if ratio > designBound {
		t.Errorf("leave moved %.2f/k, bound %.1f/k", ratio, designBound)
	}
	checkInvariants(t, less)
}
