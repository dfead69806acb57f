package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func rec(name, status string, version uint64) memberRecord {
	return memberRecord{Name: name, Status: status, Version: version, Gossip: "127.0.0.1:1", RPC: "127.0.0.1:2", HTTP: "127.0.0.1:3"}
}

func TestClusterMergeRules(t *testing.T) {
	base := clusterState{Partitions: 8, N: 3, Members: map[string]memberRecord{}}
	cases := []struct {
		name string
		have []memberRecord
		in   memberRecord
		want string // status of in.Name after the merge
	}{
		{"new record", nil, rec("a", statusValid, 1), statusValid},
		{"higher version wins", []memberRecord{rec("a", statusValid, 1)}, rec("a", statusLeft, 2), statusLeft},
		{"lower version loses", []memberRecord{rec("a", statusRemoved, 3)}, rec("a", statusValid, 2), statusRemoved},
		{"tie: later status wins", []memberRecord{rec("a", statusValid, 2)}, rec("a", statusRemoved, 2), statusRemoved},
		{"tie: earlier status loses", []memberRecord{rec("a", statusRemoved, 2)}, rec("a", statusValid, 2), statusRemoved},
		{"unknown status ignored", []memberRecord{rec("a", statusValid, 1)}, rec("a", "bogus", 9), statusValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := base.merge(tc.have...)
			c, _ = c.merge(tc.in)
			if got := c.Members[tc.in.Name].Status; got != tc.want {
				t.Fatalf("status %q, want %q", got, tc.want)
			}
		})
	}
}

// Any order of delivering any subset of records converges to the same state
// (the membership is a CRDT), so concurrent joins and leaves agree.
func TestClusterMergeConverges(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed: %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	statuses := []string{statusJoining, statusValid, statusLeaving, statusLeft, statusRemoved}
	for trial := range 200 {
		var recs []memberRecord
		for range 12 {
			recs = append(recs, rec(fmt.Sprintf("n%d", rng.IntN(4)), statuses[rng.IntN(len(statuses))], uint64(rng.IntN(4))))
		}
		a, _ := clusterState{Members: map[string]memberRecord{}}.merge(recs...)
		shuffled := append([]memberRecord(nil), recs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		b := clusterState{Members: map[string]memberRecord{}}
		for _, r := range shuffled { // one at a time, with duplicates
			b, _ = b.merge(r, r)
		}
		if fmt.Sprint(a.records()) != fmt.Sprint(b.records()) {
			t.Fatalf("trial %d: order changed the result:\n%v\n%v", trial, a.records(), b.records())
		}
	}
}

func TestClusterStateRoundTripAndRing(t *testing.T) {
	c, _ := clusterState{Partitions: 16, N: 2, Members: map[string]memberRecord{}}.merge(
		rec("a", statusValid, 1), rec("b", statusJoining, 1), rec("c", statusLeft, 2), rec("d", statusRemoved, 2))
	got, err := unmarshalCluster(c.marshal())
	if err != nil || fmt.Sprint(got.records()) != fmt.Sprint(c.records()) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	r, err := got.ring()
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("ring has %d members; left and removed nodes must not own partitions", r.Len())
	}
	if _, err := unmarshalCluster([]byte(`{"members":{"x":{"name":"y","status":"valid"}}}`)); err == nil {
		t.Fatal("misfiled record accepted")
	}
}

func TestCheckCompatible(t *testing.T) {
	if err := checkCompatible(256, 3, 256, 3, "p"); err != nil {
		t.Fatal(err)
	}
	err := checkCompatible(256, 3, 128, 3, "p")
	if !errors.Is(err, errClusterMismatch) {
		t.Fatalf("got %v", err)
	}
}
