package ring

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

var (
	seedFlag    = flag.Uint64("seed", 0, "seed for randomized tests; 0 picks one from the clock")
	rewriteFlag = flag.Bool("rewrite", false, "rewrite the golden files in testdata/")
)

// testRand returns the test's random source and logs its seed; rerun a
// failure with -seed=N.
func testRand(t testing.TB) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// randomMembers returns k members with random names; with zones > 0 each
// gets one of that many zones.
func randomMembers(rng *rand.Rand, k, zones int) []Member {
	ms := make([]Member, k)
	for i := range ms {
		ms[i] = Member{ID: NodeID(fmt.Sprintf("node-%016x", rng.Uint64())), State: State(rng.IntN(3))}
		if zones > 0 {
			ms[i].Zone = fmt.Sprintf("z%d", rng.IntN(zones))
		}
	}
	return ms
}

// namedMembers returns members n1..nk.
func namedMembers(k int) []Member {
	ms := make([]Member, k)
	for i := range ms {
		ms[i] = Member{ID: NodeID(fmt.Sprintf("n%d", i+1)), State: MemberValid}
	}
	return ms
}

func mustNew(t testing.TB, cfg Config, ms []Member) *Ring {
	t.Helper()
	r, err := New(cfg, ms)
	if err != nil {
		t.Fatalf("New(%+v, %d members): %v", cfg, len(ms), err)
	}
	return r
}

func mustFromOwners(t testing.TB, cfg Config, ms []Member, owners []NodeID) *Ring {
	t.Helper()
	r, err := FromOwners(cfg, ms, owners)
	if err != nil {
		t.Fatalf("FromOwners: %v", err)
	}
	return r
}

func TestFromOwnersErrors(t *testing.T) {
	cfg := Config{Partitions: 8, N: 2}
	ms := namedMembers(3)
	good := mustNew(t, cfg, ms).Owners()
	bad := slices.Clone(good)
	bad[3] = "stranger"
	tests := []struct {
		name   string
		cfg    Config
		ms     []Member
		owners []NodeID
		want   error
	}{
		{"short", cfg, ms, good[:7], ErrInvalidConfig},
		{"unknown owner", cfg, ms, bad, ErrUnknownMember},
		{"owners without members", cfg, nil, good, ErrInvalidConfig},
		{"bad config", Config{Partitions: 3, N: 2}, ms, good, ErrInvalidConfig},
		{"duplicate member", cfg, append(namedMembers(3), Member{ID: "n1"}), good, ErrDuplicateMember},
	}
	for _, tc := range tests {
		if _, err := FromOwners(tc.cfg, tc.ms, tc.owners); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if r := mustFromOwners(t, cfg, nil, nil); r.Len() != 0 {
		t.Errorf("empty FromOwners has %d members", r.Len())
	}
}

// samePlacement reports the first partition where a and b differ in their
// extended preference lists.
func samePlacement(a, b *Ring) error {
	if a.Config() != b.Config() {
		return fmt.Errorf("configs differ: %+v vs %+v", a.Config(), b.Config())
	}
	for p := range a.Config().Partitions {
		if x, y := a.PreferenceList(p), b.PreferenceList(p); !slices.Equal(x, y) {
			return fmt.Errorf("partition %d: %v vs %v", p, x, y)
		}
		if x, y := a.Primaries(p), b.Primaries(p); !slices.Equal(x, y) {
			return fmt.Errorf("partition %d primaries: %v vs %v", p, x, y)
		}
	}
	return nil
}

func TestPartitionOf(t *testing.T) {
	// xxhash64 test vectors from the xxHash reference: XXH64("") and
	// XXH64("abc") with seed 0.
	const empty, abc uint64 = 0xef46db3751d8e999, 0x44bc2cf5ad770999
	if got := xxhash.Sum64String(""); got != empty {
		t.Fatalf("xxhash64(\"\") = %#x, want %#x", got, empty)
	}
	tests := []struct {
		name string
		q    int
		key  string
		want int
	}{
		{"q=1 is always 0", 1, "abc", 0},
		{"q=1 empty key", 1, "", 0},
		{"q=2 takes the top bit", 2, "", int(empty >> 63)},
		{"q=256 takes the top byte", 256, "", int(empty >> 56)},
		{"q=256 abc", 256, "abc", int(abc >> 56)},
		{"q=4096", 4096, "abc", int(abc >> 52)},
		{"q=65536 top 16 bits", 65536, "", int(empty >> 48)},
		{"q=65536 abc", 65536, "abc", int(abc >> 48)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PartitionOf(tc.q, []byte(tc.key)); got != tc.want {
				t.Errorf("PartitionOf(%d, %q) = %d, want %d", tc.q, tc.key, got, tc.want)
			}
		})
	}

	t.Run("top bits nest", func(t *testing.T) {
		// Doubling Q splits each partition in two: p of Q is p'>>1 of 2Q.
		rng := testRand(t)
		for range 2000 {
			key := make([]byte, rng.IntN(40))
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			for q := 1; q < MaxPartitions; q *= 2 {
				p, p2 := PartitionOf(q, key), PartitionOf(2*q, key)
				if p2>>1 != p || p < 0 || p >= q {
					t.Fatalf("key %x: PartitionOf(%d) = %d, PartitionOf(%d) = %d", key, q, p, 2*q, p2)
				}
			}
		}
	})

	for _, q := range []int{0, -1, 3, 6, 100, MaxPartitions * 2} {
		t.Run(fmt.Sprintf("panics for q=%d", q), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("PartitionOf(%d) did not panic", q)
				}
			}()
			PartitionOf(q, []byte("k"))
		})
	}
}

func TestRingPartition(t *testing.T) {
	for _, q := range []int{1, 2, 64, 256, MaxPartitions} {
		r := mustNew(t, Config{Partitions: q, N: 3}, nil)
		for _, key := range []string{"", "a", "abc", "user:42"} {
			if got, want := r.Partition([]byte(key)), PartitionOf(q, []byte(key)); got != want {
				t.Errorf("Q=%d: Partition(%q) = %d, want %d", q, key, got, want)
			}
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", DefaultConfig(), true},
		{"one partition", Config{Partitions: 1, N: 1}, true},
		{"max partitions", Config{Partitions: MaxPartitions, N: 3}, true},
		{"N above any cluster size", Config{Partitions: 8, N: 100}, true},
		{"zero value", Config{}, false},
		{"zero partitions", Config{Partitions: 0, N: 3}, false},
		{"negative partitions", Config{Partitions: -256, N: 3}, false},
		{"not a power of two", Config{Partitions: 384, N: 3}, false},
		{"too many partitions", Config{Partitions: 2 * MaxPartitions, N: 3}, false},
		{"zero N", Config{Partitions: 256, N: 0}, false},
		{"negative N", Config{Partitions: 256, N: -1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.ok && err != nil {
				t.Errorf("Validate(%+v) = %v, want nil", tc.cfg, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", tc.cfg, err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if c.Partitions != 256 || c.N != 3 {
		t.Errorf("DefaultConfig() = %+v, want Partitions 256, N 3 (DESIGN §2, §4)", c)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		members []Member
		want    error
	}{
		{"invalid config", Config{Partitions: 3, N: 3}, namedMembers(3), ErrInvalidConfig},
		{"empty ID", DefaultConfig(), []Member{{ID: "a"}, {ID: ""}}, ErrEmptyID},
		{"duplicate ID", DefaultConfig(), []Member{{ID: "a"}, {ID: "b"}, {ID: "a", Zone: "z"}}, ErrDuplicateMember},
		{"duplicate ID unsorted", DefaultConfig(), []Member{{ID: "c"}, {ID: "a"}, {ID: "b"}, {ID: "c"}}, ErrDuplicateMember},
		{"unknown state", DefaultConfig(), []Member{{ID: "a", State: 3}}, ErrUnknownState},
		{"no members is fine", DefaultConfig(), nil, nil},
		{"one member is fine", Config{Partitions: 1, N: 1}, namedMembers(1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := New(tc.cfg, tc.members)
			if !errors.Is(err, tc.want) {
				t.Fatalf("New: err = %v, want %v", err, tc.want)
			}
			if (err == nil) != (r != nil) {
				t.Fatalf("New returned ring %v with err %v", r, err)
			}
		})
	}
}

func TestState(t *testing.T) {
	tests := []struct {
		s    State
		name string
	}{
		{MemberJoining, "joining"},
		{MemberValid, "valid"},
		{MemberLeaving, "leaving"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.String(); got != tc.name {
				t.Errorf("String() = %q, want %q", got, tc.name)
			}
			got, err := ParseState(tc.name)
			if err != nil || got != tc.s {
				t.Errorf("ParseState(%q) = %v, %v; want %v", tc.name, got, err, tc.s)
			}
		})
	}
	if got := State(7).String(); got != "State(7)" {
		t.Errorf("State(7).String() = %q", got)
	}
	if var0 := (Member{}).State; var0 != MemberJoining {
		t.Errorf("zero State = %v, want joining", var0)
	}
	for _, s := range []string{"", "Valid", "down", "State(7)", "valid "} {
		if _, err := ParseState(s); !errors.Is(err, ErrUnknownState) {
			t.Errorf("ParseState(%q) err = %v, want ErrUnknownState", s, err)
		}
	}
}

func TestEmptyRing(t *testing.T) {
	r := mustNew(t, DefaultConfig(), nil)
	if r.Len() != 0 || len(r.Members()) != 0 {
		t.Errorf("Len = %d, Members = %v", r.Len(), r.Members())
	}
	for _, p := range []int{0, 255} {
		if got := r.Owner(p); got != "" {
			t.Errorf("Owner(%d) = %q", p, got)
		}
		if got := r.Primaries(p); got != nil {
			t.Errorf("Primaries(%d) = %v, want nil", p, got)
		}
		if got := r.PreferenceList(p); got != nil {
			t.Errorf("PreferenceList(%d) = %v, want nil", p, got)
		}
		if got := r.Targets(p, nil); got != nil {
			t.Errorf("Targets(%d) = %v, want nil", p, got)
		}
	}
	if got := r.PartitionsOf("x"); got != nil {
		t.Errorf("PartitionsOf = %v", got)
	}
	if _, ok := r.Member("x"); ok {
		t.Error("Member(x) found in an empty ring")
	}
	one, err := r.With(Member{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	for p := range 256 {
		if one.Owner(p) != "x" || !slices.Equal(one.Primaries(p), []NodeID{"x"}) {
			t.Fatalf("one-member ring: partition %d: owner %q primaries %v", p, one.Owner(p), one.Primaries(p))
		}
	}
}

func TestAccessors(t *testing.T) {
	ms := []Member{
		{ID: "c", Zone: "z2", State: MemberLeaving},
		{ID: "a", Zone: "z1", State: MemberValid},
		{ID: "b", State: MemberJoining},
	}
	cfg := Config{Partitions: 16, N: 2}
	r := mustNew(t, cfg, ms)
	if r.Config() != cfg || r.Len() != 3 {
		t.Fatalf("Config %+v Len %d", r.Config(), r.Len())
	}
	got := r.Members()
	want := []Member{ms[1], ms[2], ms[0]}
	if !slices.Equal(got, want) {
		t.Fatalf("Members() = %v, want sorted %v", got, want)
	}
	got[0].ID = "mutated"
	if r.Members()[0].ID != "a" {
		t.Error("Members() returned the ring's own slice")
	}
	for _, m := range ms {
		if g, ok := r.Member(m.ID); !ok || g != m {
			t.Errorf("Member(%q) = %v, %v", m.ID, g, ok)
		}
	}
	if _, ok := r.Member("d"); ok {
		t.Error("Member(d) found")
	}
	pl := r.Primaries(0)
	pl[0] = "mutated"
	if r.Primaries(0)[0] == "mutated" {
		t.Error("Primaries returned the ring's own slice")
	}
	for _, p := range []int{-1, 16} {
		for name, f := range map[string]func(){
			"Owner":          func() { r.Owner(p) },
			"Primaries":      func() { r.Primaries(p) },
			"PreferenceList": func() { r.PreferenceList(p) },
			"Targets":        func() { r.Targets(p, nil) },
		} {
			t.Run(fmt.Sprintf("%s(%d) panics", name, p), func(t *testing.T) {
				defer func() {
					if recover() == nil {
						t.Errorf("%s(%d) did not panic", name, p)
					}
				}()
				f()
			})
		}
	}
}

// TestTargets pins the sloppy quorum of Dynamo §4.6: when a primary is down,
// the next up member of the extended preference list takes its place and
// holds a hint for it.
func TestTargets(t *testing.T) {
	r := mustNew(t, Config{Partitions: 8, N: 3}, namedMembers(6))
	const p = 5
	ext := r.PreferenceList(p)
	t.Logf("extended list of %d: %v", p, ext)
	downSet := func(idx ...int) func(NodeID) bool {
		return func(id NodeID) bool {
			for _, i := range idx {
				if ext[i] == id {
					return false
				}
			}
			return true
		}
	}
	tests := []struct {
		name string
		up   func(NodeID) bool
		want []Target
	}{
		{"all up", nil, []Target{{ID: ext[0], Primary: true}, {ID: ext[1], Primary: true}, {ID: ext[2], Primary: true}}},
		{"up func all true", downSet(), []Target{{ID: ext[0], Primary: true}, {ID: ext[1], Primary: true}, {ID: ext[2], Primary: true}}},
		{"a fallback is down only", downSet(3), []Target{{ID: ext[0], Primary: true}, {ID: ext[1], Primary: true}, {ID: ext[2], Primary: true}}},
		{"owner down", downSet(0), []Target{{ID: ext[1], Primary: true}, {ID: ext[2], Primary: true}, {ID: ext[3], For: ext[0]}}},
		{"last primary down", downSet(2), []Target{{ID: ext[0], Primary: true}, {ID: ext[1], Primary: true}, {ID: ext[3], For: ext[2]}}},
		{"two primaries down", downSet(0, 2), []Target{{ID: ext[1], Primary: true}, {ID: ext[3], For: ext[0]}, {ID: ext[4], For: ext[2]}}},
		{"two primaries and first fallback down", downSet(0, 1, 3), []Target{{ID: ext[2], Primary: true}, {ID: ext[4], For: ext[0]}, {ID: ext[5], For: ext[1]}}},
		{"all primaries down", downSet(0, 1, 2), []Target{{ID: ext[3], For: ext[0]}, {ID: ext[4], For: ext[1]}, {ID: ext[5], For: ext[2]}}},
		{"fewer live members than N", downSet(0, 1, 3, 4), []Target{{ID: ext[2], Primary: true}, {ID: ext[5], For: ext[0]}}},
		{"nothing up", downSet(0, 1, 2, 3, 4, 5), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Targets(p, tc.up)
			if len(got) == 0 && len(tc.want) == 0 {
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Targets = %v\nwant      %v", got, tc.want)
			}
		})
	}

	t.Run("fewer members than N", func(t *testing.T) {
		small := mustNew(t, Config{Partitions: 8, N: 5}, namedMembers(3))
		all := small.Primaries(p)
		if len(all) != 3 {
			t.Fatalf("Primaries = %v, want all 3 members", all)
		}
		got := small.Targets(p, func(id NodeID) bool { return id != all[1] })
		want := []Target{{ID: all[0], Primary: true}, {ID: all[2], Primary: true}}
		if !slices.Equal(got, want) {
			t.Errorf("Targets = %v, want %v (no member left to fall back to)", got, want)
		}
	})

	t.Run("up called once per member", func(t *testing.T) {
		calls := map[NodeID]int{}
		r.Targets(p, func(id NodeID) bool { calls[id]++; return false })
		for id, n := range calls {
			if n != 1 {
				t.Errorf("up(%s) called %d times", id, n)
			}
		}
		if len(calls) != len(ext) {
			t.Errorf("up called for %d members, want all %d when all are down", len(calls), len(ext))
		}
	})
}

func TestZones(t *testing.T) {
	zoned := func(zones ...string) []Member {
		ms := make([]Member, len(zones))
		for i, z := range zones {
			ms[i] = Member{ID: NodeID(fmt.Sprintf("n%d", i+1)), Zone: z}
		}
		return ms
	}
	zoneOf := func(r *Ring, id NodeID) string {
		m, _ := r.Member(id)
		if m.Zone == "" {
			return "member:" + string(id)
		}
		return m.Zone
	}
	tests := []struct {
		name    string
		members []Member
		n       int
		// wantZones is how many distinct zones every preference list spans.
		wantZones int
	}{
		{"3 zones x 2 members", zoned("a", "a", "b", "b", "c", "c"), 3, 3},
		{"2 zones for N=3", zoned("a", "a", "a", "b", "b", "b"), 3, 2},
		{"one zone", zoned("a", "a", "a", "a"), 3, 1},
		{"no zones", zoned("", "", "", "", ""), 3, 3},
		{"unzoned members count as their own zone", zoned("a", "a", "a", "a", "", ""), 3, 3},
		{"lopsided: 1 member in zone b", zoned("a", "a", "a", "a", "a", "b"), 2, 2},
		{"N larger than zones and members", zoned("a", "b", "a"), 5, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Partitions: 64, N: tc.n}
			r := mustNew(t, cfg, tc.members)
			_, refPrim, refExt := refPlacement(cfg, tc.members)
			n := min(tc.n, len(tc.members))
			for p := range cfg.Partitions {
				pl := r.Primaries(p)
				if len(pl) != n {
					t.Fatalf("partition %d: %d primaries, want %d", p, len(pl), n)
				}
				zs := map[string]bool{}
				for j, id := range pl {
					z := zoneOf(r, id)
					// Zones come first: a repeated zone only after all are used.
					if zs[z] && len(zs) < tc.wantZones {
						t.Fatalf("partition %d: %v repeats zone %s at %d before using all %d zones", p, pl, z, j, tc.wantZones)
					}
					zs[z] = true
				}
				if len(zs) != tc.wantZones {
					t.Fatalf("partition %d: %v spans %d zones, want %d", p, pl, len(zs), tc.wantZones)
				}
				if !slices.Equal(pl, refPrim[p]) || !slices.Equal(r.PreferenceList(p), refExt[p]) {
					t.Fatalf("partition %d: got %v / %v, reference %v / %v", p, pl, r.PreferenceList(p), refPrim[p], refExt[p])
				}
			}
		})
	}
}

func TestWithWithout(t *testing.T) {
	cfg := Config{Partitions: 64, N: 3}
	base := mustNew(t, cfg, namedMembers(5))
	before := base.Members()
	snapshot := make([][]NodeID, 64)
	for p := range snapshot {
		snapshot[p] = base.PreferenceList(p)
	}
	unchanged := func(t *testing.T) {
		t.Helper()
		if !slices.Equal(base.Members(), before) {
			t.Fatalf("receiver's members changed: %v", base.Members())
		}
		for p := range snapshot {
			if !slices.Equal(base.PreferenceList(p), snapshot[p]) {
				t.Fatalf("receiver's placement changed at partition %d", p)
			}
		}
	}

	t.Run("add", func(t *testing.T) {
		r, err := base.With(Member{ID: "n6", Zone: "z"})
		if err != nil {
			t.Fatal(err)
		}
		unchanged(t)
		if r.Len() != 6 {
			t.Fatalf("Len = %d", r.Len())
		}
		want := refClaimOwners(64, base.Owners(), append(namedMembers(5), Member{ID: "n6", Zone: "z"}))
		if !slices.Equal(r.Owners(), want) {
			t.Fatalf("With is not Claim: owners %v, want %v", r.Owners(), want)
		}
		if moved := movement(base, r); moved > 64/6+1 {
			t.Errorf("adding a 6th member moved %d partitions, its share is %d", moved, 64/6)
		}
	})
	t.Run("replace state keeps placement", func(t *testing.T) {
		r, err := base.With(Member{ID: "n3", State: MemberLeaving})
		if err != nil {
			t.Fatal(err)
		}
		unchanged(t)
		if m, _ := r.Member("n3"); m.State != MemberLeaving || r.Len() != 5 {
			t.Fatalf("Member(n3) = %v, Len %d", m, r.Len())
		}
		if r.Equal(base) {
			t.Error("Equal ignores State")
		}
		if err := samePlacement(r, base); err != nil {
			t.Errorf("a State change moved data: %v", err)
		}
	})
	t.Run("remove", func(t *testing.T) {
		r, err := base.Without("n2")
		if err != nil {
			t.Fatal(err)
		}
		unchanged(t)
		if _, ok := r.Member("n2"); ok || r.Len() != 4 {
			t.Fatalf("n2 still there, Len %d", r.Len())
		}
		back, err := r.With(Member{ID: "n2", State: MemberValid})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(back.Members(), base.Members()) {
			t.Errorf("Without then With does not restore the members")
		}
		// Ownership keeps history: n2 gets a share back, not
		// necessarily the partitions it had.
		if got := len(back.OwnedBy("n2")); got < 64/5 || got > 64/5+1 {
			t.Errorf("n2 owns %d partitions after coming back, want %d..%d", got, 64/5, 64/5+1)
		}
		if err := samePlacement(mustFromOwners(t, cfg, back.Members(), back.Owners()), back); err != nil {
			t.Errorf("FromOwners does not rebuild the ring: %v", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, err := base.Without("nope"); !errors.Is(err, ErrUnknownMember) {
			t.Errorf("Without(unknown) err = %v", err)
		}
		if _, err := base.With(Member{}); !errors.Is(err, ErrEmptyID) {
			t.Errorf("With(empty ID) err = %v", err)
		}
		if _, err := base.With(Member{ID: "x", State: 9}); !errors.Is(err, ErrUnknownState) {
			t.Errorf("With(bad state) err = %v", err)
		}
		unchanged(t)
	})
}

func TestEqual(t *testing.T) {
	cfg := Config{Partitions: 16, N: 3}
	a := mustNew(t, cfg, namedMembers(4))
	reversed := namedMembers(4)
	slices.Reverse(reversed)
	tests := []struct {
		name string
		b    *Ring
		want bool
	}{
		{"itself", a, true},
		{"same members other order", mustNew(t, cfg, reversed), true},
		{"other N", mustNew(t, Config{Partitions: 16, N: 2}, namedMembers(4)), false},
		{"other Q", mustNew(t, Config{Partitions: 32, N: 3}, namedMembers(4)), false},
		{"one member more", mustNew(t, cfg, namedMembers(5)), false},
		{"other zone", mustNew(t, cfg, append(namedMembers(3), Member{ID: "n4", Zone: "z", State: MemberValid})), false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Equal(tc.b); got != tc.want {
				t.Errorf("Equal = %v, want %v", got, tc.want)
			}
			if tc.b != nil {
				if got := tc.b.Equal(a); got != tc.want {
					t.Errorf("Equal is not symmetric")
				}
			}
		})
	}
}

// TestConcurrentReads shares one Ring among goroutines; run with -race.
func TestConcurrentReads(t *testing.T) {
	r := mustNew(t, Config{Partitions: 64, N: 3}, namedMembers(8))
	want := make([][]Target, 64)
	for p := range want {
		want[p] = r.Targets(p, func(id NodeID) bool { return id != "n3" })
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for p := range 64 {
				got := r.Targets(p, func(id NodeID) bool { return id != "n3" })
				if !slices.Equal(got, want[p]) {
					t.Errorf("partition %d: %v vs %v", p, got, want[p])
				}
				r.PreferenceList(p)
				r.PartitionsOf(r.Owner(p))
			}
			if _, err := r.With(Member{ID: "n9"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
