package vclock

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

var (
	// ErrBadContext is wrapped by every error DecodeContext returns.
	ErrBadContext = errors.New("vclock: malformed context")
	// ErrBadState is wrapped by every error UnmarshalBinary returns, and by
	// MarshalBinary when asked to encode a State that breaks its invariants.
	ErrBadState = errors.New("vclock: malformed state")
)

const (
	// MaxContextLen is the longest context token DecodeContext accepts, in
	// bytes of its base64url text.
	MaxContextLen = 64 << 10
	// MaxContextEntries is the most actors a decoded context may hold.
	MaxContextEntries = 10_000
)

// Format versions: the first byte of an encoded State and of a decoded
// context token. Bump when the layout changes; decoders reject unknown ones.
const (
	stateFormatV1   byte = 1
	contextFormatV1 byte = 1
)

// Layout (all integers are canonical uvarints, strings and byte slices are
// a uvarint length followed by the bytes):
//
//	vv      = count, count × (node, epoch, counter)   sorted by actor, counter > 0
//	dot     = node, epoch, counter
//	state   = 0x01, vv context, count, count × version  sorted by dot
//	version = dot, flags (one byte: bit 0 = deleted), vv context, value
//	token   = base64url-no-padding(0x01, vv)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendDot(b []byte, d Dot) []byte {
	b = appendString(b, d.Actor.Node)
	b = binary.AppendUvarint(b, d.Actor.Epoch)
	return binary.AppendUvarint(b, d.Counter)
}

func appendVV(b []byte, v VV) []byte {
	b = binary.AppendUvarint(b, uint64(len(v.dots)))
	for _, d := range v.dots {
		b = appendDot(b, d)
	}
	return b
}

// AppendBinary appends the binary encoding of s to b (encoding.BinaryAppender).
// It fails, wrapping ErrBadState, only if s breaks the State invariants.
func (s State) AppendBinary(b []byte) ([]byte, error) {
	if err := s.validate(); err != nil {
		return b, fmt.Errorf("%w: %v", ErrBadState, err)
	}
	b = slices.Grow(b, s.encodedLenHint())
	b = append(b, stateFormatV1)
	b = appendVV(b, s.Context)
	b = binary.AppendUvarint(b, uint64(len(s.Versions)))
	for _, v := range s.Versions {
		b = appendDot(b, v.Dot)
		var flags byte
		if v.Deleted {
			flags = 1
		}
		b = append(b, flags)
		b = appendVV(b, v.Context)
		b = binary.AppendUvarint(b, uint64(len(v.Value)))
		b = append(b, v.Value...)
	}
	return b, nil
}

// encodedLenHint returns an upper bound of s's encoded length, so that
// AppendBinary allocates once.
func (s State) encodedLenHint() int {
	vvLen := func(v VV) int {
		n := binary.MaxVarintLen64
		for _, d := range v.dots {
			n += len(d.Actor.Node) + 3*binary.MaxVarintLen64
		}
		return n
	}
	n := 1 + vvLen(s.Context) + binary.MaxVarintLen64
	for _, v := range s.Versions {
		n += len(v.Dot.Actor.Node) + 3*binary.MaxVarintLen64 + 1 + vvLen(v.Context) + binary.MaxVarintLen64 + len(v.Value)
	}
	return n
}

// MarshalBinary returns the binary encoding of s, used for storage and
// internode RPC. The encoding is canonical: equal States encode to equal
// bytes, and UnmarshalBinary accepts only what MarshalBinary produces.
func (s State) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(nil)
}

// UnmarshalBinary decodes data, as produced by MarshalBinary, into s. It
// rejects unknown format versions, truncated input, trailing bytes,
// non-canonical integers, lengths beyond the input, unsorted or duplicate
// entries and States that break the invariants, with an error wrapping
// ErrBadState; s is then unchanged. It never panics and never allocates
// much more than len(data). The result does not alias data.
func (s *State) UnmarshalBinary(data []byte) error {
	st, err := unmarshalState(data)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadState, err)
	}
	*s = st
	return nil
}

func unmarshalState(data []byte) (State, error) {
	if len(data) == 0 {
		return State{}, errors.New("empty input")
	}
	if data[0] != stateFormatV1 {
		return State{}, errorf("unknown format version %d", data[0])
	}
	d := decoder{b: data[1:]}
	ctx, err := d.vv(len(data))
	if err != nil {
		return State{}, err
	}
	n, err := d.count(minVersionLen)
	if err != nil {
		return State{}, err
	}
	var vs []Version
	if n > 0 {
		vs = make([]Version, n)
	}
	for i := range vs {
		v := &vs[i]
		if v.Dot, err = d.dot(); err != nil {
			return State{}, err
		}
		flags, err := d.byte()
		if err != nil {
			return State{}, err
		}
		if flags > 1 {
			return State{}, errorf("unknown version flags %#x", flags)
		}
		v.Deleted = flags == 1
		if v.Context, err = d.vv(len(data)); err != nil {
			return State{}, err
		}
		val, err := d.bytes()
		if err != nil {
			return State{}, err
		}
		if len(val) > 0 {
			v.Value = append([]byte(nil), val...)
		}
	}
	if len(d.b) != 0 {
		return State{}, errorf("%d trailing bytes", len(d.b))
	}
	s := State{Versions: vs, Context: ctx}
	if err := s.validate(); err != nil {
		return State{}, err
	}
	return s, nil
}

// EncodeContext returns v as an opaque, versioned, base64url (unpadded)
// token for the X-Dynago-Context header. The empty VV has a token too.
func EncodeContext(v VV) string {
	b := make([]byte, 0, 2+len(v.dots)*8)
	b = append(b, contextFormatV1)
	b = appendVV(b, v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeContext parses a token made by EncodeContext. The empty string
// means "no context" and decodes to the empty VV. Any other input that
// EncodeContext would not produce, including tokens longer than
// MaxContextLen or with more than MaxContextEntries actors, is rejected
// with an error wrapping ErrBadContext. It never panics.
func DecodeContext(s string) (VV, error) {
	if s == "" {
		return VV{}, nil
	}
	v, err := decodeContext(s)
	if err != nil {
		return VV{}, fmt.Errorf("%w: %v", ErrBadContext, err)
	}
	return v, nil
}

var strictB64 = base64.RawURLEncoding.Strict()

func decodeContext(s string) (VV, error) {
	if len(s) > MaxContextLen {
		return VV{}, errorf("token is %d bytes, limit %d", len(s), MaxContextLen)
	}
	// The base64 decoder skips CR and LF; we want one spelling per token.
	if strings.ContainsAny(s, "\r\n") {
		return VV{}, errors.New("token contains a line break")
	}
	raw, err := strictB64.DecodeString(s)
	if err != nil {
		return VV{}, errors.New("not unpadded base64url")
	}
	if len(raw) == 0 || raw[0] != contextFormatV1 {
		return VV{}, errors.New("unknown token version")
	}
	d := decoder{b: raw[1:]}
	v, err := d.vv(MaxContextEntries)
	if err != nil {
		return VV{}, err
	}
	if len(d.b) != 0 {
		return VV{}, errorf("%d trailing bytes", len(d.b))
	}
	if err := v.validate(); err != nil {
		return VV{}, err
	}
	return v, nil
}

// Minimum encoded sizes, used to bound counts by the remaining input.
const (
	minDotLen     = 3                     // empty node, 1-byte epoch, 1-byte counter
	minVersionLen = minDotLen + 1 + 1 + 1 // dot, flags, empty vv, empty value
)

type decoder struct {
	b     []byte
	names []string // node names seen so far, to share one string per actor
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func (d *decoder) uvarint() (uint64, error) {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, errors.New("truncated or overflowing integer")
	}
	if n != uvarintLen(x) {
		return 0, errors.New("non-canonical integer")
	}
	d.b = d.b[n:]
	return x, nil
}

func (d *decoder) byte() (byte, error) {
	if len(d.b) == 0 {
		return 0, errors.New("truncated")
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

// count reads a element count and checks that the rest of the input could
// hold that many elements of at least minLen bytes each.
func (d *decoder) count(minLen int) (int, error) {
	n, err := d.uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(d.b)/minLen) {
		return 0, errorf("count %d exceeds the input", n)
	}
	return int(n), nil
}

// bytes returns the next length-prefixed byte slice, aliasing the input.
func (d *decoder) bytes() ([]byte, error) {
	n, err := d.uvarint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(d.b)) {
		return nil, errorf("length %d exceeds the input", n)
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out, nil
}

func (d *decoder) name() (string, error) {
	b, err := d.bytes()
	if err != nil {
		return "", err
	}
	for _, s := range d.names {
		if s == string(b) {
			return s, nil
		}
	}
	s := string(b)
	if len(d.names) < 16 {
		d.names = append(d.names, s)
	}
	return s, nil
}

func (d *decoder) dot() (Dot, error) {
	var dt Dot
	var err error
	if dt.Actor.Node, err = d.name(); err != nil {
		return Dot{}, err
	}
	if dt.Actor.Epoch, err = d.uvarint(); err != nil {
		return Dot{}, err
	}
	if dt.Counter, err = d.uvarint(); err != nil {
		return Dot{}, err
	}
	return dt, nil
}

// vv decodes a version vector of at most maxEntries entries, checking
// order and counters as it goes.
func (d *decoder) vv(maxEntries int) (VV, error) {
	n, err := d.count(minDotLen)
	if err != nil {
		return VV{}, err
	}
	if n > maxEntries {
		return VV{}, errorf("%d vector entries, limit %d", n, maxEntries)
	}
	if n == 0 {
		return VV{}, nil
	}
	dots := make([]Dot, n)
	for i := range dots {
		if dots[i], err = d.dot(); err != nil {
			return VV{}, err
		}
		if dots[i].Counter == 0 {
			return VV{}, errorf("zero counter for %v", dots[i].Actor)
		}
		if i > 0 && compareActor(dots[i-1].Actor, dots[i].Actor) >= 0 {
			return VV{}, errorf("vector entries not sorted or duplicated at %v", dots[i].Actor)
		}
	}
	return VV{dots: dots}, nil
}
