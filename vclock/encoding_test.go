package vclock

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func u(x uint64) []byte { return binary.AppendUvarint(nil, x) }

func str(s string) []byte { return append(u(uint64(len(s))), s...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// entry encodes one vector entry or dot: node, epoch, counter.
func entry(node string, epoch, counter uint64) []byte { return cat(str(node), u(epoch), u(counter)) }

// TestStateEncodingGolden pins the storage and RPC format. If this fails,
// the layout changed: bump stateFormatV1 and keep a decoder for old data.
func TestStateEncodingGolden(t *testing.T) {
	s1 := w(State{}, n1, VV{}, "hi")
	s2 := del(s1, n2, s1.Context)
	sib := w(s1, n1, VV{}, "") // empty value, sibling of "hi"
	cases := []struct {
		name string
		s    State
		want string // hex
	}{
		{"zero state", State{}, "01" + "00" + "00"},
		{"one value", s1, "01" + "01" + "026e310001" + "01" + "026e310001" + "00" + "00" + "026869"},
		{"tombstone with context", s2,
			"01" + "02" + "026e310001" + "026e320001" + "01" + "026e320001" + "01" + "01026e310001" + "00"},
		{"siblings, empty value", sib,
			"01" + "01" + "026e310002" + "02" + "026e310001" + "00" + "00" + "026869" + "026e310002" + "00" + "00" + "00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tc.want {
				t.Fatalf("MarshalBinary = %x\n           want %s", got, tc.want)
			}
			var back State
			if err := back.UnmarshalBinary(got); err != nil || !back.Equal(tc.s) {
				t.Fatalf("UnmarshalBinary = %v, %v; want %v", back, err, tc.s)
			}
			// AppendBinary appends.
			pre := []byte("prefix")
			app, err := tc.s.AppendBinary(pre)
			if err != nil || !bytes.Equal(app, append([]byte("prefix"), got...)) {
				t.Fatalf("AppendBinary = %x, %v", app, err)
			}
		})
	}
}

func TestUnmarshalStateRejects(t *testing.T) {
	valid := cat([]byte{1}, u(1), entry("n1", 0, 1), u(1), entry("n1", 0, 1), []byte{0}, u(0), str("hi"))
	var ok State
	if err := ok.UnmarshalBinary(valid); err != nil {
		t.Fatalf("base case does not decode: %v", err)
	}
	ctx2 := cat(u(2), entry("n1", 0, 2), entry("n2", 0, 1))
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown format version", append([]byte{2}, valid[1:]...)},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"truncated", valid[:len(valid)-1]},
		{"truncated inside varint", []byte{1, 0x80}},
		{"varint overflow", cat([]byte{1}, bytes.Repeat([]byte{0xff}, 10), []byte{1})},
		{"non-canonical varint", cat([]byte{1}, []byte{0x80, 0x00}, u(0))},
		{"context count beyond input", cat([]byte{1}, u(1000), entry("n1", 0, 1), u(0))},
		{"huge context count", cat([]byte{1}, u(1<<62), u(0))},
		{"huge version count", cat([]byte{1}, u(0), u(1<<62))},
		{"string length beyond input", cat([]byte{1}, u(1), u(200), []byte("n1"), u(0), u(1), u(0))},
		{"value length beyond input", cat([]byte{1}, u(1), entry("n1", 0, 1), u(1), entry("n1", 0, 1), []byte{0}, u(0), u(1<<40))},
		{"zero counter in context", cat([]byte{1}, u(1), entry("n1", 0, 0), u(0))},
		{"unsorted context", cat([]byte{1}, u(2), entry("n2", 0, 1), entry("n1", 0, 1), u(0))},
		{"duplicate context actor", cat([]byte{1}, u(2), entry("n1", 0, 1), entry("n1", 0, 2), u(0))},
		{"unsorted epochs", cat([]byte{1}, u(2), entry("n1", 2, 1), entry("n1", 1, 1), u(0))},
		{"unsorted versions", cat([]byte{1}, ctx2, u(2),
			entry("n2", 0, 1), []byte{0}, u(0), str("b"),
			entry("n1", 0, 2), []byte{0}, u(0), str("a"))},
		{"duplicate versions", cat([]byte{1}, ctx2, u(2),
			entry("n1", 0, 2), []byte{0}, u(0), str("a"),
			entry("n1", 0, 2), []byte{0}, u(0), str("a"))},
		{"zero counter dot", cat([]byte{1}, ctx2, u(1), entry("n1", 0, 0), []byte{0}, u(0), str("a"))},
		{"unknown flags", cat([]byte{1}, ctx2, u(1), entry("n1", 0, 2), []byte{2}, u(0), str("a"))},
		{"tombstone with oversized metadata", cat([]byte{1}, ctx2, u(1), entry("n1", 0, 2), []byte{1}, u(0), str("0123456789abcdefg"))},
		{"context does not cover a version", cat([]byte{1}, ctx2, u(1), entry("n3", 0, 1), []byte{0}, u(0), str("a"))},
		{"version covered by its own context", cat([]byte{1}, ctx2, u(1), entry("n1", 0, 2), []byte{0}, cat(u(1), entry("n1", 0, 2)), str("a"))},
		{"version context outside state context", cat([]byte{1}, ctx2, u(1), entry("n1", 0, 2), []byte{0}, cat(u(1), entry("n9", 0, 1)), str("a"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			err := s.UnmarshalBinary(tc.in)
			if err == nil {
				t.Fatalf("UnmarshalBinary(%x) = %v, want an error", tc.in, s)
			}
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error %v does not wrap ErrBadState", err)
			}
			if !strings.HasPrefix(err.Error(), "vclock: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			if !s.Equal(ok) {
				t.Fatalf("failed UnmarshalBinary changed the receiver to %v", s)
			}
		})
	}
}

func TestUnmarshalDoesNotAliasInput(t *testing.T) {
	s := w(State{}, n1, VV{}, "value")
	buf, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got State
	if err := got.UnmarshalBinary(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	if string(got.Versions[0].Value) != "value" {
		t.Fatalf("decoded value changed with the input buffer: %q", got.Versions[0].Value)
	}
}

func TestMarshalRejectsInvalidState(t *testing.T) {
	good := w(State{}, n1, VV{}, "a")
	cases := []struct {
		name string
		s    State
	}{
		{"context misses a version", State{Versions: good.Versions}},
		{"unsorted versions", State{Versions: []Version{{Dot: dot(n2, 1)}, {Dot: dot(n1, 1)}}, Context: NewVV(dot(n1, 1), dot(n2, 1))}},
		{"tombstone with oversized metadata", State{Versions: []Version{{Dot: dot(n1, 1), Deleted: true, Value: make([]byte, MaxTombstoneMeta+1)}}, Context: good.Context}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := tc.s.MarshalBinary(); !errors.Is(err, ErrBadState) {
				t.Fatalf("MarshalBinary = %x, %v; want ErrBadState", b, err)
			}
		})
	}
}

func TestContextToken(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name string
		v    VV
		want string
	}{
		{"empty context", VV{}, "AQA"},
		{"one actor", NewVV(dot(n1, 1)), b64(cat([]byte{1}, u(1), entry("n1", 0, 1)))},
		{"epochs and large counters", NewVV(dot(Actor{Node: "n2", Epoch: 7}, 1<<40), dot(n1, 300)),
			b64(cat([]byte{1}, u(2), entry("n1", 0, 300), entry("n2", 7, 1<<40)))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := EncodeContext(tc.v)
			if tok != tc.want {
				t.Fatalf("EncodeContext = %q, want %q", tok, tc.want)
			}
			got, err := DecodeContext(tok)
			if err != nil || !got.Equal(tc.v) {
				t.Fatalf("DecodeContext = %v, %v; want %v", got, err, tc.v)
			}
		})
	}
	if v, err := DecodeContext(""); err != nil || v.Len() != 0 {
		t.Fatalf(`DecodeContext("") = %v, %v; want empty, nil`, v, err)
	}
}

func TestDecodeContextRejects(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	many := func(n int) string {
		ds := make([]Dot, n)
		for i := range ds {
			ds[i] = Dot{Actor: Actor{Epoch: uint64(i)}, Counter: 1}
		}
		return EncodeContext(NewVV(ds...))
	}
	if _, err := DecodeContext(many(MaxContextEntries)); err != nil {
		t.Fatalf("context with MaxContextEntries entries rejected: %v", err)
	}
	cases := []struct {
		name string
		in   string
	}{
		{"not base64", "!!!"},
		{"standard base64 alphabet", "AQ+/"},
		{"padding", "AQA="},
		{"non-zero trailing bits", "AQB"},
		{"line break", "AQ\nA"},
		{"only the version byte", b64([]byte{1})},
		{"unknown version", b64([]byte{2, 0})},
		{"trailing bytes", b64([]byte{1, 0, 0})},
		{"truncated entry", b64(cat([]byte{1}, u(1), str("n1"), u(0)))},
		{"zero counter", b64(cat([]byte{1}, u(1), entry("n1", 0, 0)))},
		{"unsorted", b64(cat([]byte{1}, u(2), entry("n2", 0, 1), entry("n1", 0, 1)))},
		{"duplicate actor", b64(cat([]byte{1}, u(2), entry("n1", 0, 1), entry("n1", 0, 1)))},
		{"non-canonical varint", b64(cat([]byte{1}, u(1), str("n1"), []byte{0x80, 0x00}, u(1)))},
		{"huge count", b64(cat([]byte{1}, u(1<<60)))},
		{"too many entries", many(MaxContextEntries + 1)},
		{"too long", strings.Repeat("A", MaxContextLen+1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := DecodeContext(tc.in)
			if err == nil {
				t.Fatalf("DecodeContext(%.40q) = %v, want an error", tc.in, v)
			}
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("error %v does not wrap ErrBadContext", err)
			}
			if !strings.HasPrefix(err.Error(), "vclock: malformed context") {
				t.Fatalf("error %q lacks the prefix", err)
			}
		})
	}
}
