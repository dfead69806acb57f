package vclock

import (
	"bytes"
	"testing"
)

// benchStates returns two replicas' states of one key whose merge holds 3
// siblings over 5 actors, with 100-byte values.
func benchStates() (a, b State) {
	val := bytes.Repeat([]byte("v"), 100)
	actors := []Actor{n1, n2, n3, n4, {Node: "n5"}}
	var base State
	for _, act := range actors { // a history touching 5 actors
		base = w(base, act, base.Context, string(val))
	}
	x1 := w(base, n1, base.Context, string(val))
	x2 := w(base, n2, base.Context, string(val))
	x3 := w(base, n3, base.Context, string(val))
	return Merge(x1, x2), Merge(x2, x3)
}

func BenchmarkMerge(b *testing.B) {
	x, y := benchStates()
	if m := Merge(x, y); len(m.Versions) != 3 || m.Context.Len() != 5 {
		b.Fatalf("bench state: %v", m)
	}
	b.ReportAllocs()
	for b.Loop() {
		Merge(x, y)
	}
}

func BenchmarkWrite(b *testing.B) {
	x, y := benchStates()
	s := Merge(x, y)
	val := bytes.Repeat([]byte("w"), 100)
	b.ReportAllocs()
	for b.Loop() {
		s.Write(n4, s.Context, val, false)
	}
}

func BenchmarkEncodeContext(b *testing.B) {
	x, y := benchStates()
	ctx := Merge(x, y).Context
	b.ReportAllocs()
	for b.Loop() {
		EncodeContext(ctx)
	}
}

func BenchmarkDecodeContext(b *testing.B) {
	x, y := benchStates()
	tok := EncodeContext(Merge(x, y).Context)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeContext(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalState(b *testing.B) {
	x, y := benchStates()
	s := Merge(x, y)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalState(b *testing.B) {
	x, y := benchStates()
	enc, err := Merge(x, y).MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		var s State
		if err := s.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}
