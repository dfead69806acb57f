package ring

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGolden pins placement: partitions of a few keys and the preference
// lists of small fixed rings. Placement is a cluster-wide contract, so a
// change here means nodes running the old and the new code disagree on where
// data lives. If the change is intended, regenerate with
//
//	go test ./ring -run TestGolden -rewrite
//
// and review the diff like code.
func TestGolden(t *testing.T) {
	five := func(zones ...string) []Member {
		ms := make([]Member, 5)
		for i := range ms {
			ms[i] = Member{ID: NodeID(fmt.Sprintf("node-%d", i+1)), State: MemberValid}
			if zones != nil {
				ms[i].Zone = zones[i]
			}
		}
		return ms
	}
	tests := []struct {
		file    string
		cfg     Config
		members []Member
	}{
		{"q64-5nodes.txt", Config{Partitions: 64, N: 3}, five()},
		{"q64-5nodes-zones.txt", Config{Partitions: 64, N: 3}, five("a", "a", "b", "b", "c")},
		{"q16-5nodes-n2.txt", Config{Partitions: 16, N: 2}, five()},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := renderGolden(mustNew(t, tc.cfg, tc.members))
			path := filepath.Join("testdata", "golden-"+tc.file)
			if *rewriteFlag {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -rewrite to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("placement differs from %s; first difference:\n%s", path, firstDiff(string(want), string(got)))
			}
		})
	}
}

func renderGolden(r *Ring) []byte {
	var b strings.Builder
	cfg := r.Config()
	fmt.Fprintf(&b, "# Q=%d N=%d members:", cfg.Partitions, cfg.N)
	for _, m := range r.Members() {
		fmt.Fprintf(&b, " %s", m.ID)
		if m.Zone != "" {
			fmt.Fprintf(&b, "@%s", m.Zone)
		}
	}
	b.WriteString("\n# partition: preference list | fallback order\n")
	for _, key := range []string{"", "a", "hello", "user:1001"} {
		fmt.Fprintf(&b, "key %q -> partition %d\n", key, r.Partition([]byte(key)))
	}
	for p := range cfg.Partitions {
		ext := r.PreferenceList(p)
		n := len(r.Primaries(p))
		fmt.Fprintf(&b, "%3d: %s | %s\n", p, strings.Join(ids(ext[:n]), " "), strings.Join(ids(ext[n:]), " "))
	}
	return []byte(b.String())
}

func ids(l []NodeID) []string {
	s := make([]string, len(l))
	for i, id := range l {
		s[i] = string(id)
	}
	return s
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(w), len(g)) {
		var x, y string
		if i < len(w) {
			x = w[i]
		}
		if i < len(g) {
			y = g[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n  want %s\n  got  %s", i+1, x, y)
		}
	}
	return "(none)"
}
