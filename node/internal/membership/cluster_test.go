package membership

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/dynago/dynago/ring"
)

func rec(name, status string, version uint64) Record {
	return Record{Name: name, Status: status, Version: version, Gossip: "127.0.0.1:1", RPC: "127.0.0.1:2", HTTP: "127.0.0.1:3"}
}

func TestClusterMergeRules(t *testing.T) {
	base := State{Partitions: 8, N: 3, Members: map[string]Record{}}
	cases := []struct {
		name string
		have []Record
		in   Record
		want string // status of in.Name after the merge
	}{
		{"new record", nil, rec("a", StatusValid, 1), StatusValid},
		{"higher version wins", []Record{rec("a", StatusValid, 1)}, rec("a", StatusLeft, 2), StatusLeft},
		{"lower version loses", []Record{rec("a", StatusRemoved, 3)}, rec("a", StatusValid, 2), StatusRemoved},
		{"tie: later status wins", []Record{rec("a", StatusValid, 2)}, rec("a", StatusRemoved, 2), StatusRemoved},
		{"tie: earlier status loses", []Record{rec("a", StatusRemoved, 2)}, rec("a", StatusValid, 2), StatusRemoved},
		{"unknown status ignored", []Record{rec("a", StatusValid, 1)}, rec("a", "bogus", 9), StatusValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := base.Merge(tc.have...)
			c, _ = c.Merge(tc.in)
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
	statuses := []string{StatusJoining, StatusValid, StatusLeaving, StatusLeft, StatusRemoved}
	for trial := range 200 {
		var recs []Record
		for range 12 {
			recs = append(recs, rec(fmt.Sprintf("n%d", rng.IntN(4)), statuses[rng.IntN(len(statuses))], uint64(rng.IntN(4))))
		}
		a, _ := State{Members: map[string]Record{}}.Merge(recs...)
		shuffled := append([]Record(nil), recs...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		b := State{Members: map[string]Record{}}
		for _, r := range shuffled { // one at a time, with duplicates
			b, _ = b.Merge(r, r)
		}
		if fmt.Sprint(a.Records()) != fmt.Sprint(b.Records()) {
			t.Fatalf("trial %d: order changed the result:\n%v\n%v", trial, a.Records(), b.Records())
		}
	}
}

func TestClusterStateRoundTripAndRing(t *testing.T) {
	c, _ := State{Partitions: 16, N: 2, Members: map[string]Record{}}.Merge(
		rec("a", StatusValid, 1), rec("b", StatusJoining, 1), rec("c", StatusLeft, 2), rec("d", StatusRemoved, 2))
	got, err := Unmarshal(c.Marshal())
	if err != nil || fmt.Sprint(got.Records()) != fmt.Sprint(c.Records()) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	r, err := got.Ring()
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 {
		t.Fatalf("ring has %d members; left and removed nodes must not own partitions", r.Len())
	}
	if _, err := Unmarshal([]byte(`{"members":{"x":{"name":"y","status":"valid"}}}`)); err == nil {
		t.Fatal("misfiled record accepted")
	}
}

func TestCheckCompatible(t *testing.T) {
	if err := CheckCompatible(256, 3, 256, 3, "p"); err != nil {
		t.Fatal(err)
	}
	err := CheckCompatible(256, 3, 128, 3, "p")
	if !errors.Is(err, ErrClusterMismatch) {
		t.Fatalf("got %v", err)
	}
}

func testTable(t *testing.T, version uint64, claimant string, names ...string) *Table {
	t.Helper()
	var ms []ring.Member
	for _, n := range names {
		ms = append(ms, ring.Member{ID: ring.NodeID(n)})
	}
	r, err := ring.New(ring.Config{Partitions: 16, N: 2}, ms)
	if err != nil {
		t.Fatal(err)
	}
	return TableOf(r, version, claimant, nil, nil)
}

// Concurrent claims (two sides of a partition, each with its own claimant)
// converge: whatever order tables arrive in, every node keeps the same one.
func TestOwnerTableMergeConverges(t *testing.T) {
	tables := []*Table{
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
		c := State{Partitions: 16, N: 2, Members: map[string]Record{}}
		for _, tb := range order {
			c, _ = c.MergeTable(tb)
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
	if testTable(t, 3, "a", "a").Newer(testTable(t, 3, "a", "a")) {
		t.Fatal("a table is newer than its equal")
	}
}

// The table round-trips through the gossip encoding, rebuilds the same
// ring, and a malformed one is refused.
func TestOwnerTableDecode(t *testing.T) {
	tb := testTable(t, 2, "a", "a", "b", "c")
	tb.Prev = testTable(t, 1, "a", "a", "b")
	c := State{Partitions: 16, N: 2, Members: map[string]Record{}, Table: tb}
	got, err := Unmarshal(c.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	r, err := got.Ring()
	if err != nil || r.Len() != 3 {
		t.Fatalf("ring of the table: %v members, %v", r.Len(), err)
	}
	prev, err := got.PreviousRing()
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
		if _, err := Unmarshal([]byte(b)); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
}

// FuzzUnmarshalCluster: the membership crosses the network (gossip's
// push/pull and methodState). Whatever it decodes must rebuild a ring
// without a panic.
func FuzzUnmarshalCluster(f *testing.F) {
	tb := &Table{Version: 1, Claimant: "a", Members: []TableMember{{Name: "a"}, {Name: "b", Zone: "z"}}, Owners: []int{0, 1, 1, 0}}
	c, _ := State{Partitions: 4, N: 2, Members: map[string]Record{}, Table: tb}.Merge(rec("a", StatusValid, 1))
	f.Add(c.Marshal())
	f.Add([]byte(`{"partitions":4,"n":2,"members":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Unmarshal(b)
		if err != nil {
			return
		}
		if c.Partitions < 1 || c.Partitions > ring.MaxPartitions || c.N < 1 || c.N > 16 {
			return // the node refuses another ring configuration before it builds anything
		}
		_, _ = c.Ring()
		_, _ = c.PreviousRing()
	})
}

// goldenState sets every field of the encoding.
func goldenState() State {
	prev := &Table{Version: 1, Claimant: "a", Members: []TableMember{{Name: "a", Zone: "z1"}}, Owners: []int{0, 0, 0, 0}}
	tb := &Table{Version: 2, Claimant: "a", Members: []TableMember{{Name: "a", Zone: "z1"}, {Name: "b"}}, Owners: []int{0, 1, 1, 0}, Prev: prev, Sources: map[int][]string{1: {"c", "d"}, 3: {"c"}}}
	return State{Partitions: 4, N: 2, Members: map[string]Record{
		"a": {Name: "a", Zone: "z1", Status: StatusValid, Version: 3, Gossip: "g", RPC: "r", HTTP: "h", Holds: "0-1", HoldsAt: 2, ReadyAt: 3, Boot: "b1", Gen: 1},
		"b": {Name: "b", Status: StatusJoining, Version: 1},
	}, Table: tb, Hold: &Hold{Version: 4, On: true}}
}

// The membership is stored on disk and gossiped between nodes of different
// versions: its encoding is pinned byte for byte (these are the bytes
// node's clusterState encoded before this package was split from node).
func TestWireFormat(t *testing.T) {
	c := goldenState()
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"state", c.Marshal(), `{"partitions":4,"n":2,"members":{"a":{"name":"a","zone":"z1","status":"valid","version":3,"gossip":"g","rpc":"r","http":"h","holds":"0-1","holds_at":2,"ready_at":3,"boot":"b1","gen":1},"b":{"name":"b","status":"joining","version":1,"gossip":"","rpc":"","http":""}},"table":{"version":2,"claimant":"a","members":[{"name":"a","zone":"z1"},{"name":"b"}],"owners":[0,1,1,0],"prev":{"version":1,"claimant":"a","members":[{"name":"a","zone":"z1"}],"owners":[0,0,0,0]},"sources":{"1":["c","d"],"3":["c"]}},"hold":{"version":4,"on":true}}`},
		{"record", mustJSON(c.Members["a"]), `{"name":"a","zone":"z1","status":"valid","version":3,"gossip":"g","rpc":"r","http":"h","holds":"0-1","holds_at":2,"ready_at":3,"boot":"b1","gen":1}`},
		{"empty state", State{}.Marshal(), `{"partitions":0,"n":0,"members":null}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s encodes as\n%s\nwant\n%s", tc.name, tc.got, tc.want)
		}
	}
	back, err := Unmarshal(c.Marshal())
	if err != nil || string(back.Marshal()) != string(c.Marshal()) {
		t.Fatalf("round trip: %v", err)
	}
}
