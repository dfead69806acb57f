package node

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dynago/dynago/node/internal/membership"
)

// rec is a member record with the given name, status and version.
func rec(name, status string, version uint64) membership.Record {
	return membership.Record{Name: name, Status: status, Version: version, Gossip: "127.0.0.1:1", RPC: "127.0.0.1:2", HTTP: "127.0.0.1:3"}
}

// The roster applies updates one at a time and publishes them in order:
// concurrent updaters never see a published version go down, and every
// change is published exactly once.
func TestRosterPublishesInOrder(t *testing.T) {
	var seqs []uint64
	r := startRoster(membership.State{Partitions: 8, N: 3, Members: map[string]membership.Record{}}, func(v rosterView, force bool) error {
		seqs = append(seqs, v.seq) // the owner goroutine is the only caller
		return nil
	})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("m%d", w)
				_, changed := r.update(func(c membership.State) (membership.State, bool) {
					return c.Merge(rec(name, membership.StatusValid, uint64(i+1)))
				})
				if !changed {
					t.Errorf("%s v%d: a newer record did not change the state", name, i+1)
				}
				if got := r.load().state.Members[name].Version; got < uint64(i+1) {
					t.Errorf("%s: published version %d after writing %d", name, got, i+1)
				}
			}
		})
	}
	wg.Wait()
	r.close()
	if len(seqs) != writers*each {
		t.Fatalf("%d publishes, want %d", len(seqs), writers*each)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("publish %d has version %d after %d", i, seqs[i], seqs[i-1])
		}
	}
	// After close an update changes nothing and says so.
	if _, changed := r.update(func(c membership.State) (membership.State, bool) {
		return c.Merge(rec("late", membership.StatusValid, 1))
	}); changed {
		t.Fatal("an update after close reported a change")
	}
}

// Membership changes merged concurrently (gossip, RPC handlers, the claim
// loop) leave the placement of the last state, never of an older snapshot
// published late (the ring used to be rebuilt outside the merge's lock, so
// a slower rebuild from an older snapshot could win).
func TestConcurrentMergesNeverLeaveAnOlderRing(t *testing.T) {
	tn := startNode(t, testConfig(t, "n1", true))
	n := tn.node
	const members = 40
	var wg sync.WaitGroup
	for i := range members {
		wg.Go(func() {
			gossipState{n}.MergeRecords(rec(fmt.Sprintf("m%02d", i), membership.StatusValid, 1))
		})
	}
	wg.Wait()
	// The claim loop may change the table meanwhile: compare the ring
	// with the state it was published for, once nothing is in flight (an
	// update that changes nothing is processed after every earlier one).
	for {
		c, _ := n.members.updateCluster(func(c membership.State) (membership.State, bool) { return c, false })
		got := n.Ring()
		if len(c.Members) != members+1 {
			t.Fatalf("%d members merged, the state has %d", members+1, len(c.Members))
		}
		want, err := c.Ring()
		if err != nil {
			t.Fatal(err)
		}
		if c2 := n.members.clusterView(); len(c2.Members) == len(c.Members) && c2.Table == c.Table {
			if !got.Equal(want) {
				t.Fatalf("published ring has %d members, the membership's %d: the ring is older than the membership", got.Len(), want.Len())
			}
			return
		}
	}
}
