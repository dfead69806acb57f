package membership

import (
	"maps"
	"slices"
	"testing"

	"github.com/dynago/dynago/ring"
)

func TestPartsEncoding(t *testing.T) {
	for _, tc := range []struct {
		parts []uint32
		want  string
	}{
		{nil, ""},
		{[]uint32{7}, "7"},
		{[]uint32{0, 1, 2, 3, 7, 9, 10, 11, 12}, "0-3,7,9-12"},
		{[]uint32{1, 3, 5}, "1,3,5"},
	} {
		got := EncodeParts(tc.parts)
		if got != tc.want {
			t.Errorf("EncodeParts(%v) = %q, want %q", tc.parts, got, tc.want)
		}
		set, err := decodeParts(got, 16)
		if err != nil || len(set) != len(tc.parts) {
			t.Errorf("decodeParts(%q) = %v, %v", got, set, err)
		}
		for _, p := range tc.parts {
			if !set[p] {
				t.Errorf("decodeParts(%q) lacks %d", got, p)
			}
		}
	}
	for _, bad := range []string{"16", "3-1", "a", "1,,2", "-", "1-", "0-99999999999", "1-16"} {
		if _, err := decodeParts(bad, 16); err == nil {
			t.Errorf("decodeParts(%q) accepted", bad)
		}
	}
}

// FuzzDecodeParts: member records come from the network (gossip).
func FuzzDecodeParts(f *testing.F) {
	f.Add("0-3,7,9-12")
	f.Add("4095")
	f.Add("0-4095")
	f.Fuzz(func(t *testing.T, s string) {
		set, err := decodeParts(s, 256)
		if err != nil {
			return
		}
		if len(set) > 256 {
			t.Fatalf("%q decoded to %d partitions of 256", s, len(set))
		}
		parts := slices.Sorted(maps.Keys(set))
		again, err := decodeParts(EncodeParts(parts), 256)
		if err != nil || !maps.Equal(again, set) {
			t.Fatalf("%q: re-encoding %v gives %v, %v", s, parts, again, err)
		}
	})
}

// TestHolders: who, besides the primaries, must confirm a tombstone.
func TestHolders(t *testing.T) {
	// Disjoint tables: a and b held every partition, c and d hold them now.
	r, err := ring.New(ring.Config{Partitions: 8, N: 2}, []ring.Member{{ID: "c"}, {ID: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	prev, err := ring.New(ring.Config{Partitions: 8, N: 2}, []ring.Member{{ID: "a"}, {ID: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	p, lost := 3, "a"
	if slices.Contains(r.Primaries(p), ring.NodeID(lost)) || !slices.Contains(prev.Primaries(p), ring.NodeID(lost)) {
		t.Fatalf("setup: %s must have lost partition %d", lost, p)
	}
	rec := func(name, holds string, at uint64) Record {
		return Record{Name: name, Status: StatusValid, Holds: holds, HoldsAt: at}
	}
	for _, tc := range []struct {
		name string
		m    Record
		want bool
	}{
		{"never said", rec(lost, "", 0), true},
		{"says it holds p", rec(lost, EncodeParts([]uint32{uint32(p)}), 6), true},
		{"says it holds other partitions", rec(lost, EncodeParts([]uint32{uint32((p + 1) % 8)}), 6), false},
		{"reported on the previous table: its old primaries count", rec(lost, "", 5), true},
		{"a primary is no holder", rec("c", EncodeParts([]uint32{uint32(p)}), 6), false},
		{"reported on an older table", rec(lost, "", 3), true},
		{"unreadable report", rec(lost, "x", 6), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Holders{self: "zz", r: r, prev: prev, table: 5, prevV: 4, holds: map[string]map[uint32]bool{}}
			v.members = []Record{tc.m}
			if set, err := decodeParts(tc.m.Holds, 8); err == nil {
				v.holds[tc.m.Name] = set
			}
			got := slices.Contains(v.Of(p), tc.m.Name)
			if got != tc.want {
				t.Fatalf("Of(%d) includes %s = %v, want %v", p, tc.m.Name, got, tc.want)
			}
			// With hints, every member but p's primaries may hold p.
			primary := slices.Contains(r.Primaries(p), ring.NodeID(tc.m.Name))
			if got := slices.Contains(v.WithHints().Of(p), tc.m.Name); got == primary {
				t.Fatalf("WithHints: Of(%d) includes %s = %v, want %v", p, tc.m.Name, got, !primary)
			}
		})
	}
}
