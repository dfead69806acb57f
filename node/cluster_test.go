package node

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dynago/dynago/ring"
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

func testTable(t *testing.T, version uint64, claimant string, names ...string) *ownerTable {
	t.Helper()
	var ms []ring.Member
	for _, n := range names {
		ms = append(ms, ring.Member{ID: ring.NodeID(n)})
	}
	r, err := ring.New(ring.Config{Partitions: 16, N: 2}, ms)
	if err != nil {
		t.Fatal(err)
	}
	return tableOf(r, version, claimant, nil, nil)
}

// Concurrent claims (two sides of a partition, each with its own claimant)
// converge: whatever order tables arrive in, every node keeps the same one.
func TestOwnerTableMergeConverges(t *testing.T) {
	tables := []*ownerTable{
		testTable(t, 3, "a", "a", "b", "c"),
		testTable(t, 3, "b", "b", "c", "d"),
		testTable(t, 3, "a", "a", "b"),
		testTable(t, 2, "a", "a", "b", "c", "d"),
		testTable(t, 4, "c", "c", "d"),
		testTable(t, 4, "b", "c", "d"),
	}
	want := ""
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		order := slices.Clone(tables)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		c := clusterState{Partitions: 16, N: 2, Members: map[string]memberRecord{}}
		for _, tb := range order {
			c, _ = c.mergeTable(tb)
		}
		got := string(mustJSON(c.Table))
		if trial == 0 {
			want = got
			if c.Table.Version != 4 || c.Table.Claimant != "b" {
				t.Fatalf("kept version %d by %s, want the highest version, then the lower claimant (4, b)", c.Table.Version, c.Table.Claimant)
			}
		}
		if got != want {
			t.Fatalf("trial %d: arrival order changed the table", trial)
		}
	}
	if testTable(t, 3, "a", "a").newer(testTable(t, 3, "a", "a")) {
		t.Fatal("a table is newer than its equal")
	}
}

// The table round-trips through the gossip encoding, rebuilds the same
// ring, and a malformed one is refused.
func TestOwnerTableDecode(t *testing.T) {
	tb := testTable(t, 2, "a", "a", "b", "c")
	tb.Prev = testTable(t, 1, "a", "a", "b")
	c := clusterState{Partitions: 16, N: 2, Members: map[string]memberRecord{}, Table: tb}
	got, err := unmarshalCluster(c.marshal())
	if err != nil {
		t.Fatal(err)
	}
	r, err := got.ring()
	if err != nil || r.Len() != 3 {
		t.Fatalf("ring of the table: %v members, %v", r.Len(), err)
	}
	prev, err := got.previousRing()
	if err != nil || prev.Len() != 2 {
		t.Fatalf("previous ring: %v members, %v", prev.Len(), err)
	}
	bad := []string{
		`{"partitions":16,"n":2,"members":{},"table":{"version":1,"members":[{"name":"a"}],"owners":[0]}}`,
		`{"partitions":2,"n":2,"members":{},"table":{"version":1,"members":[{"name":"a"}],"owners":[0,1]}}`,
		`{"partitions":2,"n":2,"members":{},"table":{"version":1,"members":[{"name":"a"}],"owners":[0,-1]}}`,
		`{"partitions":2,"n":2,"members":{},"table":{"version":1,"members":[{"name":"b"},{"name":"a"}],"owners":[0,1]}}`,
		`{"partitions":2,"n":2,"members":{},"table":{"version":1,"members":[{"name":""}],"owners":[0,0]}}`,
		`{"partitions":2,"n":2,"members":{},"table":{"version":2,"members":[{"name":"a"}],"owners":[0,0],"prev":{"members":[{"name":"a"}],"owners":[0,0],"prev":{"members":[{"name":"a"}],"owners":[0,0]}}}}`,
	}
	for _, b := range bad {
		if _, err := unmarshalCluster([]byte(b)); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
}

// FuzzUnmarshalCluster: the membership crosses the network (gossip's
// push/pull and methodState). Whatever it decodes must rebuild a ring
// without a panic.
func FuzzUnmarshalCluster(f *testing.F) {
	tb := &ownerTable{Version: 1, Claimant: "a", Members: []tableMember{{Name: "a"}, {Name: "b", Zone: "z"}}, Owners: []int{0, 1, 1, 0}}
	c, _ := clusterState{Partitions: 4, N: 2, Members: map[string]memberRecord{}, Table: tb}.merge(rec("a", statusValid, 1))
	f.Add(c.marshal())
	f.Add([]byte(`{"partitions":4,"n":2,"members":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := unmarshalCluster(b)
		if err != nil {
			return
		}
		if c.Partitions < 1 || c.Partitions > ring.MaxPartitions || c.N < 1 || c.N > 16 {
			return // the node refuses another ring configuration before it builds anything
		}
		_, _ = c.ring()
		_, _ = c.previousRing()
	})
}
