package storage

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestHintKeyRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		owner     string
		partition uint32
		key       []byte
		want      []byte
	}{
		{"simple", "n1", 7, []byte("k"), []byte{'h', 0, 2, 'n', '1', 0, 0, 0, 7, 'k'}},
		{"empty key", "n1", 0, nil, []byte{'h', 0, 2, 'n', '1', 0, 0, 0, 0}},
		{"empty owner", "", 1, []byte("k"), []byte{'h', 0, 0, 0, 0, 0, 1, 'k'}},
		{"big-endian partition", "a", 0x01020304, []byte{0}, []byte{'h', 0, 1, 'a', 1, 2, 3, 4, 0}},
		{"max partition", "a", math.MaxUint32, []byte{0xff}, []byte{'h', 0, 1, 'a', 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"0xff owner", "\xff\xff", 2, []byte("x"), []byte{'h', 0, 2, 0xff, 0xff, 0, 0, 0, 2, 'x'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := HintKey(tc.owner, tc.partition, tc.key)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("HintKey(%q, %d, %q) = %x, want %x", tc.owner, tc.partition, tc.key, got, tc.want)
			}
			o, p, k, ok := SplitHintKey(got)
			if !ok || o != tc.owner || p != tc.partition || !bytes.Equal(k, tc.key) {
				t.Fatalf("SplitHintKey(%x) = %q, %d, %q, %v; want %q, %d, %q, true",
					got, o, p, k, ok, tc.owner, tc.partition, tc.key)
			}
		})
	}
}

func TestHintKeyLongOwner(t *testing.T) {
	owner := strings.Repeat("o", MaxHintOwner)
	k := HintKey(owner, 3, []byte("k"))
	if o, p, uk, ok := SplitHintKey(k); !ok || o != owner || p != 3 || string(uk) != "k" {
		t.Fatalf("SplitHintKey of a MaxHintOwner-byte owner: ok=%v partition=%d key=%q", ok, p, uk)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("HintKey with an owner longer than MaxHintOwner did not panic")
		}
	}()
	HintKey(owner+"o", 0, nil)
}

func TestSplitHintKeyRejects(t *testing.T) {
	tests := []struct {
		name string
		k    []byte
	}{
		{"nil", nil},
		{"prefix only", []byte{'h'}},
		{"half a length", []byte{'h', 0}},
		{"no partition", []byte{'h', 0, 0}},
		{"owner longer than key", []byte{'h', 0, 5, 'n', '1', 0, 0, 0, 0}},
		{"short partition", []byte{'h', 0, 2, 'n', '1', 0, 0, 0}},
		{"data key", DataKey(1, []byte("k"))},
		{"meta key", MetaKey("epoch")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if o, p, k, ok := SplitHintKey(tc.k); ok {
				t.Fatalf("SplitHintKey(%x) = %q, %d, %q, true; want ok=false", tc.k, o, p, k)
			}
		})
	}
}

// TestHintOwnerRange checks, over every combination of a set of edge-case
// owners, partitions and user keys, that a hint key lies in an owner's range
// exactly when it belongs to that owner, and that no data or meta key does.
func TestHintOwnerRange(t *testing.T) {
	owners := []string{"", "a", "n1", "n10", "n1\x00", "n2", "\xff", "\xff\xff", "\x00", strings.Repeat("\xff", 300)}
	partitions := []uint32{0, 1, math.MaxUint32}
	keys := [][]byte{nil, {0}, {0xff, 0xff}, []byte("m")}
	all, allEnd := HintRange()
	for _, o := range owners {
		start, end := HintOwnerRange(o)
		in := func(k []byte) bool { return bytes.Compare(k, start) >= 0 && bytes.Compare(k, end) < 0 }
		for _, q := range owners {
			for _, p := range partitions {
				for _, uk := range keys {
					k := HintKey(q, p, uk)
					if got, want := in(k), q == o; got != want {
						t.Errorf("owner %q range [%x, %x): key %x (owner %q) inside = %v, want %v", o, start, end, k, q, got, want)
					}
					if bytes.Compare(k, all) < 0 || bytes.Compare(k, allEnd) >= 0 {
						t.Errorf("hint key %x outside HintRange [%x, %x)", k, all, allEnd)
					}
				}
			}
		}
		for _, other := range [][]byte{DataKey(0, nil), DataKey(math.MaxUint32, []byte{0xff}), MetaKey(""), MetaKey("\xff")} {
			if in(other) {
				t.Errorf("owner %q range [%x, %x) contains non-hint key %x", o, start, end, other)
			}
			if bytes.Compare(other, all) >= 0 && bytes.Compare(other, allEnd) < 0 {
				t.Errorf("HintRange contains non-hint key %x", other)
			}
		}
	}
}

// FuzzSplitHintKey checks that SplitHintKey never panics, accepts exactly
// the keys HintKey can produce, and that an accepted key lies in its owner's
// range.
func FuzzSplitHintKey(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{'h', 0, 2, 'n', '1', 0, 0, 0, 7, 'k'})
	f.Add([]byte{'h', 0xff, 0xff})
	f.Add([]byte("mepoch"))
	f.Fuzz(func(t *testing.T, k []byte) {
		o, p, uk, ok := SplitHintKey(k)
		if !ok {
			if len(k) >= 3 && k[0] == PrefixHint && len(k) >= 3+(int(k[1])<<8|int(k[2]))+4 {
				t.Fatalf("SplitHintKey(%x) rejected a well-formed hint key", k)
			}
			return
		}
		if again := HintKey(o, p, uk); !bytes.Equal(again, k) {
			t.Fatalf("HintKey(SplitHintKey(%x)) = %x", k, again)
		}
		start, end := HintOwnerRange(o)
		if bytes.Compare(k, start) < 0 || bytes.Compare(k, end) >= 0 {
			t.Fatalf("key %x of owner %q outside its range [%x, %x)", k, o, start, end)
		}
	})
}
