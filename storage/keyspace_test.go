package storage

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestDataKeyRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		partition uint32
		key       []byte
		want      []byte
	}{
		{"empty key", 0, nil, []byte{'d', 0, 0, 0, 0}},
		{"partition 1", 1, []byte("a"), []byte{'d', 0, 0, 0, 1, 'a'}},
		{"big-endian", 0x01020304, []byte("xy"), []byte{'d', 1, 2, 3, 4, 'x', 'y'}},
		{"max partition", math.MaxUint32, []byte{0xff}, []byte{'d', 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"zero bytes in key", 7, []byte{0, 0}, []byte{'d', 0, 0, 0, 7, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := DataKey(tc.partition, tc.key)
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("DataKey(%d, %q) = %x, want %x", tc.partition, tc.key, got, tc.want)
			}
			p, k, ok := SplitDataKey(got)
			if !ok || p != tc.partition || !bytes.Equal(k, tc.key) {
				t.Fatalf("SplitDataKey(%x) = %d, %q, %v; want %d, %q, true", got, p, k, ok, tc.partition, tc.key)
			}
		})
	}
}

func TestSplitDataKeyRejects(t *testing.T) {
	tests := []struct {
		name string
		k    []byte
	}{
		{"nil", nil},
		{"too short", []byte{'d', 0, 0, 0}},
		{"meta key", MetaKey("epoch")},
		{"hint prefix", []byte{'h', 0, 0, 0, 0, 'k'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if p, k, ok := SplitDataKey(tc.k); ok {
				t.Fatalf("SplitDataKey(%x) = %d, %q, true; want ok=false", tc.k, p, k)
			}
		})
	}
}

func TestPartitionRange(t *testing.T) {
	// Keys chosen to sit at the edges: empty user keys, 0x00 and 0xff runs,
	// and the neighbouring partitions' extremes.
	keys := [][]byte{nil, {0}, {0, 0}, {0xff}, {0xff, 0xff, 0xff, 0xff, 0xff}, []byte("m")}
	for _, p := range []uint32{0, 1, 2, 255, 1 << 24, math.MaxUint32 - 1, math.MaxUint32} {
		start, end := PartitionRange(p)
		in := func(k []byte) bool { return bytes.Compare(k, start) >= 0 && bytes.Compare(k, end) < 0 }
		for _, q := range []uint32{p - 1, p, p + 1} {
			for _, uk := range keys {
				k := DataKey(q, uk)
				if got, want := in(k), q == p; got != want {
					t.Errorf("partition %d range [%x, %x): key %x (partition %d) inside = %v, want %v",
						p, start, end, k, q, got, want)
				}
			}
		}
		for _, other := range [][]byte{MetaKey(""), MetaKey("epoch"), {PrefixHint, 0xff}, {'e'}, {'c', 0xff}} {
			if in(other) {
				t.Errorf("partition %d range [%x, %x) contains non-data key %x", p, start, end, other)
			}
		}
	}
}

func TestMetaKey(t *testing.T) {
	if got, want := MetaKey("epoch"), []byte("mepoch"); !bytes.Equal(got, want) {
		t.Fatalf("MetaKey(epoch) = %q, want %q", got, want)
	}
	if got := MetaKey(""); !bytes.Equal(got, []byte{'m'}) {
		t.Fatalf("MetaKey(\"\") = %q, want \"m\"", got)
	}
}

func TestValidateKey(t *testing.T) {
	tests := []struct {
		name    string
		key     []byte
		invalid bool
	}{
		{"nil", nil, true},
		{"empty", []byte{}, true},
		{"one byte", []byte{0}, false},
		{"data key", DataKey(3, []byte("k")), false},
		{"max size", bytes.Repeat([]byte{'x'}, MaxKeySize), false},
		{"too long", bytes.Repeat([]byte{'x'}, MaxKeySize+1), true},
		{"reserved prefix", []byte("!badger!head"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateKey(tc.key)
			if got := errors.Is(err, ErrInvalidKey); got != tc.invalid {
				t.Fatalf("ValidateKey(len %d) = %v, want invalid=%v", len(tc.key), err, tc.invalid)
			}
		})
	}
}

// FuzzSplitDataKey checks that SplitDataKey never panics, accepts exactly the
// keys DataKey can produce, and that an accepted key lies inside its
// partition's range and outside the neighbours'.
func FuzzSplitDataKey(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{'d', 0, 0, 0, 1, 'k'})
	f.Add([]byte{'d', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte("mepoch"))
	f.Fuzz(func(t *testing.T, k []byte) {
		p, uk, ok := SplitDataKey(k)
		if !ok {
			if len(k) >= 5 && k[0] == PrefixData {
				t.Fatalf("SplitDataKey(%x) rejected a well-formed data key", k)
			}
			return
		}
		if again := DataKey(p, uk); !bytes.Equal(again, k) {
			t.Fatalf("DataKey(SplitDataKey(%x)) = %x", k, again)
		}
		start, end := PartitionRange(p)
		if bytes.Compare(k, start) < 0 || bytes.Compare(k, end) >= 0 {
			t.Fatalf("key %x of partition %d outside its range [%x, %x)", k, p, start, end)
		}
		if p > 0 {
			if _, prevEnd := PartitionRange(p - 1); bytes.Compare(k, prevEnd) < 0 {
				t.Fatalf("key %x of partition %d inside partition %d's range", k, p, p-1)
			}
		}
	})
}
