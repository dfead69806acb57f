package quorum

import (
	"slices"
	"testing"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

var (
	a1 = vclock.Actor{Node: "p1"}
	a2 = vclock.Actor{Node: "p2"}
)

func write(s vclock.State, a vclock.Actor, ctx vclock.VV, v string) vclock.State {
	out, _, _ := s.Write(a, ctx, []byte(v), false)
	return out
}

func values(s vclock.State) []string {
	var out []string
	for _, v := range s.Live() {
		out = append(out, string(v.Value))
	}
	return out
}

func TestMergeRepliesAndStale(t *testing.T) {
	old := write(vclock.State{}, a1, vclock.VV{}, "old")
	newer := write(old, a1, old.Context, "new")                // replaces old
	sibling := write(old, a2, old.Context, "concurrent")       // concurrent with newer
	deleted, _, _ := newer.Write(a1, newer.Context, nil, true) // tombstone over new
	rep := func(node string, s vclock.State) ReadReply { return ReadReply{Node: ring.NodeID(node), State: s} }
	cases := []struct {
		name       string
		replies    []ReadReply
		wantValues []string
		wantStale  []ring.NodeID
	}{
		{"no replies", nil, nil, nil},
		{"all agree", []ReadReply{rep("p1", newer), rep("p2", newer), rep("p3", newer)}, []string{"new"}, nil},
		{"one replica behind", []ReadReply{rep("p1", newer), rep("p2", old), rep("p3", newer)}, []string{"new"}, ids("p2")},
		{"one replica has nothing", []ReadReply{rep("p1", newer), rep("p2", vclock.State{})}, []string{"new"}, ids("p2")},
		{"none has the key", []ReadReply{rep("p1", vclock.State{}), rep("p2", vclock.State{})}, nil, nil},
		{"concurrent writes become siblings, both replicas repaired",
			[]ReadReply{rep("p1", newer), rep("p2", sibling)}, []string{"new", "concurrent"}, ids("p1", "p2")},
		{"a replica that already merged is not stale",
			[]ReadReply{rep("p1", newer), rep("p2", sibling), rep("p3", vclock.Merge(newer, sibling))},
			[]string{"new", "concurrent"}, ids("p1", "p2")},
		{"tombstone wins over what it deleted", []ReadReply{rep("p1", newer), rep("p2", deleted)}, nil, ids("p1")},
		// A replica with nothing may have reaped the tombstone: copying it
		// back would start its wait again (a deleted key that is read
		// would never drain).
		{"a replica with nothing is not stale for a tombstone", []ReadReply{rep("p1", deleted), rep("p2", vclock.State{})}, nil, nil},
		{"a replica with the deleted value is", []ReadReply{rep("p1", deleted), rep("p2", vclock.State{}), rep("p3", newer)}, nil, ids("p3")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			merged := MergeReplies(tc.replies)
			if got := values(merged); !slices.Equal(got, tc.wantValues) {
				t.Fatalf("merged values %q, want %q (merged %v)", got, tc.wantValues, merged)
			}
			if got := Stale(merged, tc.replies); !slices.Equal(got, tc.wantStale) {
				t.Fatalf("Stale = %v, want %v", got, tc.wantStale)
			}
			// Reply order does not matter for the merge.
			rev := slices.Clone(tc.replies)
			slices.Reverse(rev)
			if m2 := MergeReplies(rev); !m2.Equal(merged) {
				t.Fatalf("merge depends on reply order: %v vs %v", merged, m2)
			}
			// After repair (each stale replica merges the result), none is stale.
			repaired := slices.Clone(tc.replies)
			for i := range repaired {
				repaired[i].State = vclock.Merge(repaired[i].State, merged)
			}
			if s := Stale(merged, repaired); len(s) != 0 {
				t.Fatalf("still stale after repair: %v", s)
			}
		})
	}
}

func TestReadSet(t *testing.T) {
	p := func(id string) ring.Target { return ring.Target{ID: ring.NodeID(id), Primary: true} }
	f := func(id string) ring.Target { return ring.Target{ID: ring.NodeID(id), Primary: false} }
	cases := []struct {
		name      string
		targets   []ring.Target
		self      string
		r, pr     int
		wantOrder []ring.NodeID
		wantFirst int
	}{
		{"self first, then enough primaries", []ring.Target{p("a"), p("b"), p("c")}, "b", 2, 0, ids("b", "a", "c"), 2},
		{"not a target: primaries in order", []ring.Target{p("a"), p("b"), p("c")}, "x", 2, 0, ids("a", "b", "c"), 2},
		{"primaries before fallbacks", []ring.Target{p("a"), f("d"), p("c")}, "x", 2, 0, ids("a", "c", "d"), 2},
		{"a fallback self is asked but pr needs more", []ring.Target{p("a"), p("b"), f("d")}, "d", 2, 2, ids("d", "a", "b"), 3},
		{"r=1 is self alone", []ring.Target{p("a"), p("b"), p("c")}, "c", 1, 0, ids("c", "a", "b"), 1},
		{"r=3 asks all", []ring.Target{p("a"), p("b"), p("c")}, "a", 3, 0, ids("a", "b", "c"), 3},
		{"too few: all of them", []ring.Target{p("a"), f("d")}, "a", 2, 2, ids("a", "d"), 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ordered, first := ReadSet(tc.targets, ring.NodeID(tc.self), tc.r, tc.pr)
			var got []ring.NodeID
			for _, o := range ordered {
				got = append(got, o.ID)
			}
			if !slices.Equal(got, tc.wantOrder) || first != tc.wantFirst {
				t.Fatalf("ReadSet = %v, %d; want %v, %d", got, first, tc.wantOrder, tc.wantFirst)
			}
		})
	}
}
