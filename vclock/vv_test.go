package vclock

import (
	"testing"
)

func TestVVBasics(t *testing.T) {
	v := NewVV(dot(n2, 3), dot(n1, 1), dot(n2, 5), dot(n3, 0))
	if got, want := v.String(), "{n1.0:1, n2.0:5}"; got != want {
		t.Fatalf("NewVV = %s, want %s", got, want)
	}
	cases := []struct {
		name string
		d    Dot
		get  uint64
		cov  bool
	}{
		{"below max", dot(n2, 4), 5, true},
		{"at max", dot(n2, 5), 5, true},
		{"above max", dot(n2, 6), 5, false},
		{"absent actor", dot(n3, 1), 0, false},
		{"zero counter is always covered", dot(n3, 0), 0, true},
		{"other epoch is another actor", dot(Actor{Node: "n1", Epoch: 1}, 1), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if g := v.Get(tc.d.Actor); g != tc.get {
				t.Errorf("Get = %d, want %d", g, tc.get)
			}
			if c := v.Covers(tc.d); c != tc.cov {
				t.Errorf("Covers = %v, want %v", c, tc.cov)
			}
		})
	}
}

func TestVVAddAndMergeDoNotMutate(t *testing.T) {
	v := NewVV(dot(n1, 1), dot(n3, 1))
	before := v.String()
	cases := []struct {
		name string
		got  VV
		want string
	}{
		{"add raises a counter", v.Add(dot(n1, 4)), "{n1.0:4, n3.0:1}"},
		{"add inserts an actor in order", v.Add(dot(n2, 2)), "{n1.0:1, n2.0:2, n3.0:1}"},
		{"add of a covered dot is a no-op", v.Add(dot(n1, 1)), "{n1.0:1, n3.0:1}"},
		{"add to empty", VV{}.Add(dot(n2, 1)), "{n2.0:1}"},
		{"merge takes the max per actor", v.Merge(NewVV(dot(n1, 2), dot(n2, 1))), "{n1.0:2, n2.0:1, n3.0:1}"},
		{"merge with empty", v.Merge(VV{}), "{n1.0:1, n3.0:1}"},
		{"empty merge", VV{}.Merge(v), "{n1.0:1, n3.0:1}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.String() != tc.want {
				t.Errorf("got %v, want %s", tc.got, tc.want)
			}
			if v.String() != before {
				t.Errorf("receiver changed from %s to %v", before, v)
			}
		})
	}
	// Dots returns a copy.
	ds := v.Dots()
	ds[0].Counter = 99
	if v.Get(n1) != 1 {
		t.Error("modifying Dots() changed the VV")
	}
}

func TestCompare(t *testing.T) {
	e1 := Actor{Node: "n1", Epoch: 1}
	cases := []struct {
		name string
		a, b VV
		want Ordering
	}{
		{"empty vs empty", VV{}, VV{}, Equal},
		{"empty before anything", VV{}, NewVV(dot(n1, 1)), Before},
		{"anything after empty", NewVV(dot(n1, 1)), VV{}, After},
		{"same", NewVV(dot(n1, 2), dot(n2, 1)), NewVV(dot(n2, 1), dot(n1, 2)), Equal},
		{"one counter lower", NewVV(dot(n1, 1), dot(n2, 2)), NewVV(dot(n1, 1), dot(n2, 3)), Before},
		{"one counter higher", NewVV(dot(n1, 2), dot(n2, 3)), NewVV(dot(n1, 1), dot(n2, 3)), After},
		{"extra actor", NewVV(dot(n1, 1), dot(n3, 1)), NewVV(dot(n1, 1)), After},
		{"disjoint actors", NewVV(dot(n1, 2)), NewVV(dot(n2, 1)), Concurrent},
		{"crossing counters", NewVV(dot(n1, 2), dot(n2, 1)), NewVV(dot(n1, 1), dot(n2, 2)), Concurrent},
		{"higher counter vs extra actor", NewVV(dot(n1, 3)), NewVV(dot(n1, 2), dot(n2, 1)), Concurrent},
		{"epochs are distinct actors", NewVV(dot(n1, 1)), NewVV(dot(e1, 1)), Concurrent},
	}
	inverse := map[Ordering]Ordering{Equal: Equal, Before: After, After: Before, Concurrent: Concurrent}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Compare(tc.a, tc.b); got != tc.want {
				t.Errorf("Compare(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
			if got := Compare(tc.b, tc.a); got != inverse[tc.want] {
				t.Errorf("Compare(%v, %v) = %v, want %v", tc.b, tc.a, got, inverse[tc.want])
			}
		})
	}
}

func TestStrings(t *testing.T) {
	cases := []struct{ got, want string }{
		{dot(Actor{Node: "n1", Epoch: 3}, 17).String(), "n1.3:17"},
		{VV{}.String(), "{}"},
		{Equal.String(), "equal"},
		{Before.String(), "before"},
		{After.String(), "after"},
		{Concurrent.String(), "concurrent"},
		{Ordering(9).String(), "Ordering(9)"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
