package ring

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// decodeRing turns fuzz input into a config and up to 16 members. Names may
// be empty or repeat, so New's validation is fuzzed too.
func decodeRing(data []byte) (Config, []Member) {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	cfg := Config{Partitions: 1 << (next() % 8), N: 1 + int(next()%6)}
	var ms []Member
	for len(data) > 0 && len(ms) < 16 {
		nameLen := int(next() % 5)
		name := make([]byte, 0, nameLen)
		for range nameLen {
			name = append(name, 'a'+next()%8)
		}
		z := next()
		m := Member{ID: NodeID(name), State: State(z>>4) % 3}
		if z%4 != 0 {
			m.Zone = fmt.Sprintf("z%d", z%4)
		}
		ms = append(ms, m)
	}
	return cfg, ms
}

// FuzzPlacement checks New against the reference placement and the ring
// invariants on arbitrary small memberships.
func FuzzPlacement(f *testing.F) {
	f.Add([]byte{6, 2, 2, 0, 1, 0, 2, 1, 2, 1, 2, 2, 3, 3, 2})
	f.Add([]byte{3, 5, 1, 0, 1, 1, 1, 2, 1, 2, 3, 1, 3, 0})
	f.Add([]byte{0, 0})
	f.Add([]byte{7, 1, 4, 1, 2, 3, 4, 0, 4, 1, 2, 3, 4, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, ms := decodeRing(data)
		r, err := New(cfg, ms)
		seen := map[NodeID]bool{}
		var wantErr error
		for _, m := range ms {
			switch {
			case m.ID == "" && wantErr == nil:
				wantErr = ErrEmptyID
			case seen[m.ID] && wantErr == nil:
				wantErr = ErrDuplicateMember
			}
			seen[m.ID] = true
		}
		if wantErr != nil {
			// Which of several problems New reports first is not part of
			// the contract; that it reports one is.
			if !errors.Is(err, ErrEmptyID) && !errors.Is(err, ErrDuplicateMember) {
				t.Fatalf("New(%v) err = %v, want an empty-ID or duplicate error", ms, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("New(%+v, %v): %v", cfg, ms, err)
		}
		checkInvariants(t, r)
		owners, prim, ext := refPlacement(cfg, ms)
		for p := range cfg.Partitions {
			if len(ms) == 0 {
				break
			}
			if r.Owner(p) != owners[p] || !slices.Equal(r.Primaries(p), prim[p]) || !slices.Equal(r.PreferenceList(p), ext[p]) {
				t.Fatalf("partition %d: got %v / %v, reference %v / %v", p, r.Primaries(p), r.PreferenceList(p), prim[p], ext[p])
			}
			up := func(id NodeID) bool { return len(id)%2 == 0 }
			if got, want := r.Targets(p, up), refTargets(cfg.N, prim[p], ext[p], up); !slices.Equal(got, want) {
				t.Fatalf("Targets(%d) = %v, reference %v", p, got, want)
			}
		}
	})
}

// FuzzParseState checks that ParseState accepts exactly the names String
// produces.
func FuzzParseState(f *testing.F) {
	for _, s := range []string{"joining", "valid", "leaving", "", "VALID", "State(3)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			if !errors.Is(err, ErrUnknownState) {
				t.Fatalf("ParseState(%q) err = %v", s, err)
			}
			return
		}
		if st.String() != s {
			t.Fatalf("ParseState(%q) = %v, whose String is %q", s, st, st.String())
		}
	})
}
