package vclock

import (
	"bytes"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"testing"
)

// seedStates returns States from a short deterministic simulation, used
// as fuzz seeds.
func seedStates() []State {
	s := newSim(3)
	c := &randChooser{r: rand.New(rand.NewPCG(1, 2)), left: 1 << 30}
	for range 40 {
		s.step(c)
	}
	return s.pool
}

// vvFromBytes builds a VV from arbitrary bytes, three bytes per dot.
func vvFromBytes(b []byte) VV {
	var ds []Dot
	for len(b) >= 3 {
		ds = append(ds, Dot{
			Actor:   Actor{Node: "n" + strconv.Itoa(int(b[0]%8)), Epoch: uint64(b[0] >> 3)},
			Counter: uint64(b[1]) | uint64(b[2])<<8,
		})
		b = b[3:]
	}
	return NewVV(ds...)
}

func FuzzDecodeContext(f *testing.F) {
	f.Add("", []byte{})
	f.Add("AQA", []byte{1, 2, 3})
	f.Add("AQ+/", []byte{0xff, 0xff, 0xff, 9, 0, 0})
	for _, s := range seedStates()[:10] {
		f.Add(EncodeContext(s.Context), []byte{})
	}
	f.Fuzz(func(t *testing.T, tok string, raw []byte) {
		v, err := DecodeContext(tok)
		if err != nil {
			if !errors.Is(err, ErrBadContext) {
				t.Fatalf("error %v does not wrap ErrBadContext", err)
			}
		} else {
			again := EncodeContext(v)
			if tok != "" && again != tok {
				t.Fatalf("accepted non-canonical token %q (canonical %q)", tok, again)
			}
			v2, err := DecodeContext(again)
			if err != nil || !v2.Equal(v) {
				t.Fatalf("re-encoded %v as %q, decoded %v, %v", v, again, v2, err)
			}
		}
		// Any VV survives a round trip.
		vv := vvFromBytes(raw)
		got, err := DecodeContext(EncodeContext(vv))
		if err != nil || !got.Equal(vv) {
			t.Fatalf("round trip of %v: %v, %v", vv, got, err)
		}
	})
}

func FuzzUnmarshalState(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0x80, 0x00, 0})
	for _, s := range seedStates()[:20] {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			if !errors.Is(err, ErrBadState) {
				t.Fatalf("error %v does not wrap ErrBadState", err)
			}
			if !s.IsZero() || s.Versions != nil {
				t.Fatalf("failed decode changed the receiver: %v", s)
			}
			return
		}
		enc, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded state %v does not encode: %v", s, err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatalf("accepted non-canonical encoding %x (canonical %x)", data, enc)
		}
		var back State
		if err := back.UnmarshalBinary(enc); err != nil || !back.Equal(s) {
			t.Fatalf("round trip: %v, %v; want %v", back, err, s)
		}
		if !Merge(s, s).Equal(s) || !s.Descends(s) {
			t.Fatalf("decoded state %v: Merge not idempotent or not self-descending", s)
		}
	})
}

// FuzzMerge reads the input as a sequence of simulator decisions (which
// replica writes with which context, which pairs sync, which lose their
// disk), checks every replica against the naive model, and checks the
// algebra on the States produced.
func FuzzMerge(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add(bytes.Repeat([]byte{1, 2, 0}, 30))
	f.Add(bytes.Repeat([]byte{0, 0, 5, 1, 0, 9, 2, 1, 4}, 20))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 400 { // keep executions fast; ~130 steps
			ops = ops[:400]
		}
		s := newSim(3)
		c := &byteChooser{b: ops}
		for !c.done() {
			s.checkReplica(t, s.step(c))
		}
		s.check(t)
		h := fnv.New64a()
		h.Write(ops)
		r := rand.New(rand.NewPCG(h.Sum64(), 0))
		checkLaws(t, s.pool, 20, r.IntN)
	})
}

// FuzzWrite writes with an arbitrary decoded state and client context (a
// token a client may forge): Write never panics, and when it issues a dot
// the result is well formed and holds exactly that new version.
func FuzzWrite(f *testing.F) {
	a := Actor{Node: "n1", Epoch: 3}
	f.Add([]byte{}, EncodeContext(NewVV(Dot{Actor: a, Counter: MaxCounter})), false)
	f.Add([]byte{}, EncodeContext(NewVV(Dot{Actor: a, Counter: 1<<64 - 1})), true)
	for _, s := range seedStates()[:10] {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, EncodeContext(s.Context), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, tok string, deleted bool) {
		var s State
		if err := s.UnmarshalBinary(data); err != nil {
			return
		}
		ctx, err := DecodeContext(tok)
		if err != nil {
			return
		}
		for _, actor := range []Actor{a, {Node: "n2", Epoch: 0}} {
			next, d, err := s.Write(actor, ctx, nil, deleted)
			if err != nil {
				if !errors.Is(err, ErrCounterExhausted) {
					t.Fatalf("Write error %v does not wrap ErrCounterExhausted", err)
				}
				continue
			}
			if err := next.validate(); err != nil {
				t.Fatalf("Write(%v, %v) on %v = %v: %v", actor, ctx, s, next, err)
			}
			if s.Context.Covers(d) || ctx.Covers(d) {
				t.Fatalf("new dot %v was already covered", d)
			}
		}
	})
}
