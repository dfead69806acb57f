package membership

import (
	"slices"
	"testing"
)

func TestClaimant(t *testing.T) {
	c := State{Partitions: 8, N: 2, Members: map[string]Record{
		"a": {Name: "a", Status: StatusJoining},
		"b": {Name: "b", Status: StatusValid},
		"c": {Name: "c", Status: StatusValid},
		"d": {Name: "d", Status: StatusLeaving},
	}}
	for _, tc := range []struct {
		name string
		down []string
		want string
	}{
		{name: "the first valid member", want: "b"},
		{name: "the first valid member that is up", down: []string{"b"}, want: "c"},
		{name: "joining and leaving members never claim", down: []string{"b", "c"}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alive := func(name string) bool { return !slices.Contains(tc.down, name) }
			if got := c.Claimant(alive); got != tc.want {
				t.Fatalf("claimant %q, want %q", got, tc.want)
			}
		})
	}
}

// Claim places exactly the members to place, numbers tables one up, names
// the table it was claimed from, and claims nothing when there is nothing
// to change or changes are staged.
func TestClaim(t *testing.T) {
	c, _ := State{Partitions: 16, N: 2, Members: map[string]Record{}}.Merge(
		rec("a", StatusValid, 1), rec("b", StatusValid, 1), rec("c", StatusJoining, 1), rec("x", StatusLeft, 1))
	first, moved, err := c.Claim("a")
	if err != nil || first == nil {
		t.Fatalf("first claim: %v, %v", first, err)
	}
	if first.Version != 1 || first.Claimant != "a" || first.Prev != nil || moved != 0 || !slices.Equal(first.Members, c.placed()) {
		t.Fatalf("first table %+v, moved %d; want version 1 by a placing %v", first, moved, c.placed())
	}
	c, _ = c.MergeTable(first)
	if next, _, err := c.Claim("a"); next != nil || err != nil {
		t.Fatalf("the table places the members already, yet claimed %+v (%v)", next, err)
	}
	c, _ = c.Merge(rec("d", StatusJoining, 1))
	staged, _ := c.MergeHold(&Hold{Version: 1, On: true})
	if next, _, err := staged.Claim("a"); next != nil || err != nil {
		t.Fatalf("claimed %+v (%v) while changes are staged", next, err)
	}
	second, moved, err := c.Claim("b")
	if err != nil || second == nil {
		t.Fatalf("second claim: %v, %v", second, err)
	}
	if second.Version != 2 || second.Claimant != "b" || second.Prev.ID() != first.LineID() || !slices.Equal(second.Members, c.placed()) {
		t.Fatalf("second table %+v", second)
	}
	before, _ := first.Ring(c.RingConfig(), c.Members)
	after, _ := second.Ring(c.RingConfig(), c.Members)
	want := 0
	for p, o := range after.Owners() {
		if o != before.Owners()[p] {
			want++
		}
	}
	if moved != want || moved == 0 || moved > 8 {
		t.Fatalf("moved %d partitions, the tables differ in %d (a fourth member takes about a quarter of 16)", moved, want)
	}
}

// Issue 10: a change claimed before the previous one's pulls finished
// carries the owners before that into the next table's sources, for the
// partitions whose primaries are not all ready; a settled partition
// carries nothing.
func TestCarriedSources(t *testing.T) {
	c, _ := State{Partitions: 16, N: 2, Members: map[string]Record{}}.Merge(
		rec("a", StatusValid, 1), rec("b", StatusValid, 1))
	first, _, _ := c.Claim("a")
	c, _ = c.MergeTable(first)
	c, _ = c.Merge(rec("c", StatusJoining, 1))
	second, _, _ := c.Claim("a")
	c, _ = c.MergeTable(second)
	cur, err := c.Ring()
	if err != nil {
		t.Fatal(err)
	}
	// Nobody says it is ready for table 2: every partition whose primaries
	// changed carries the primaries of table 1 that are not primaries now.
	got := carriedSources(c, cur)
	prev, _ := c.PreviousRing()
	for p := range c.Partitions {
		var want []string
		for _, id := range prev.Primaries(p) {
			if !slices.Contains(cur.Primaries(p), id) {
				want = append(want, string(id))
			}
		}
		if !slices.Equal(got[p], want) {
			t.Errorf("partition %d carries %v, want %v", p, got[p], want)
		}
	}
	// Every member ready for table 2: nothing is carried.
	for _, name := range []string{"a", "b", "c"} {
		r := c.Members[name]
		r.ReadyAt, r.Version = second.Version+1, r.Version+1
		c, _ = c.Merge(r)
	}
	if got := carriedSources(c, cur); len(got) != 0 {
		t.Errorf("settled partitions carry %v", got)
	}
	var none State
	if got := carriedSources(none, cur); got != nil {
		t.Errorf("no table carries %v", got)
	}
}
