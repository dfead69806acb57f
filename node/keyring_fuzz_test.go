package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

// FuzzDecodeKeyring: the gossip keyring file is read from disk at start
// (gossipKeys), and an operator may edit it. decodeKeyring never panics,
// refuses with ErrGossipKeyring, accepts only AES key lengths (no more
// keys than the file can hold), and what it accepts is what saveKeyring's
// encoding of those keys decodes to. Any keys the node itself saves decode
// back unchanged, in order (the primary stays first).
func FuzzDecodeKeyring(f *testing.F) {
	k16, k24, k32 := bytes.Repeat([]byte{1}, 16), bytes.Repeat([]byte{2}, 24), bytes.Repeat([]byte{3}, 32)
	file := func(keys ...[]byte) []byte {
		b, err := json.Marshal(encodeKeys(keys))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(file(k32, k16, k24), []byte(nil))
	f.Add(file(k16), append(append(bytes.Clone(k32), k16...), 7))
	f.Add([]byte(`[]`), []byte(nil))
	f.Add([]byte(`null`), []byte(nil))
	f.Add([]byte(`["AAAA"]`), []byte(nil))                                              // a key of 3 bytes
	f.Add([]byte(`["not base64!"]`), []byte(nil))                                       // not base64
	f.Add([]byte(`"AQEBAQEBAQEBAQEBAQEBAQ=="`), []byte(nil))                            // a string, not an array
	f.Add([]byte(`["AQEBAQEBAQEBAQEBAQEBAQ==", 7]`), []byte(nil))                       // not a string
	f.Add([]byte(`["AQEBAQEBAQEB\nAQEBAQEBAQ=="]`), []byte(nil))                        // base64 with a line break
	f.Add([]byte(`["AQEBAQEBAQEBAQEBAQEBAQ","AQEBAQEBAQEBAQEBAQEBAQ=="]`), []byte(nil)) // unpadded
	f.Fuzz(func(t *testing.T, data, raw []byte) {
		keys, err := decodeKeyring(data)
		if err != nil {
			if !errors.Is(err, ErrGossipKeyring) {
				t.Fatalf("decodeKeyring(%q): error %v does not wrap ErrGossipKeyring", data, err)
			}
			if keys != nil {
				t.Fatalf("decodeKeyring(%q): keys %x with error %v", data, keys, err)
			}
		} else {
			// A key is at least 24 base64 characters and 2 quotes.
			if len(keys)*26 > len(data) {
				t.Fatalf("decodeKeyring(%q): %d keys from %d bytes", data, len(keys), len(data))
			}
			for _, k := range keys {
				if checkGossipKey(k) != nil {
					t.Fatalf("decodeKeyring(%q): accepted a %d-byte key", data, len(k))
				}
			}
			again, err := decodeKeyring(keyringFile(t, keys))
			if err != nil || !slices.EqualFunc(again, keys, bytes.Equal) {
				t.Fatalf("decodeKeyring(%q) = %x; saved and read back: %x, %v", data, keys, again, err)
			}
		}

		// Keys cut from raw (16, 24 or 32 bytes each, by the first byte
		// of each) survive the node's own encoding.
		var want [][]byte
		for len(raw) > 0 {
			n := []int{16, 24, 32}[int(raw[0])%3]
			if len(raw) < n {
				break
			}
			want = append(want, raw[:n])
			raw = raw[n:]
		}
		got, err := decodeKeyring(keyringFile(t, want))
		if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("keys %x saved and read back: %x, %v", want, got, err)
		}
	})
}

// keyringFile is saveKeyring's encoding of keys.
func keyringFile(t *testing.T, keys [][]byte) []byte {
	t.Helper()
	b, err := json.Marshal(encodeKeys(keys))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
