package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/dynago/dynago/antientropy"
	"github.com/dynago/dynago/vclock"
)

func sampleState() vclock.State {
	a := vclock.Actor{Node: "n1", Epoch: 7}
	b := vclock.Actor{Node: "n2", Epoch: 9}
	s, _, _ := vclock.State{}.Write(a, vclock.VV{}, []byte("one"), false)
	s2, _, _ := vclock.State{}.Write(b, vclock.VV{}, []byte("two"), false)
	return vclock.Merge(s, s2)
}

func TestWireRoundTrip(t *testing.T) {
	st := sampleState()
	ar, err := applyRequest{Key: []byte("k"), State: st, Owner: "n3"}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := unmarshalApply(ar)
	if err != nil || string(gotA.Key) != "k" || !gotA.State.Equal(st) || gotA.Owner != "n3" {
		t.Fatalf("apply round trip: %+v %v", gotA, err)
	}
	gotR, err := unmarshalRead(readRequest{Key: []byte("k"), Owner: "n2"}.marshal())
	if err != nil || string(gotR.Key) != "k" || gotR.Owner != "n2" {
		t.Fatalf("read round trip: %+v %v", gotR, err)
	}
	hb, err := handoffRequest{From: "n4", Items: []handoffItem{{Key: []byte("a"), State: st}, {Key: []byte("b"), State: st}}}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	gotH, err := unmarshalHandoff(hb)
	if err != nil || gotH.From != "n4" || len(gotH.Items) != 2 || string(gotH.Items[1].Key) != "b" || !gotH.Items[0].State.Equal(st) {
		t.Fatalf("handoff round trip: %+v %v", gotH, err)
	}

	wr := writeRequest{Key: []byte("key"), Value: []byte("val"), Context: st.Context, Delete: true, W: 2, PW: 1, TimeoutMS: 1500, ReturnBody: true, Strict: true}
	gotW, err := unmarshalWriteRequest(wr.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotW.Key, wr.Key) || !bytes.Equal(gotW.Value, wr.Value) || !gotW.Context.Equal(wr.Context) ||
		gotW.Delete != wr.Delete || gotW.W != 2 || gotW.PW != 1 || gotW.TimeoutMS != 1500 || !gotW.ReturnBody || !gotW.Strict {
		t.Fatalf("write request round trip: %+v", gotW)
	}

	for _, wo := range []writeOutcome{
		{State: st, Context: st.Context, Coordinator: "n1", W: 2, Acked: []string{"n1", "n2"}, Primaries: 2},
		{Err: &QuorumError{Op: opWrite, Need: 3, Got: 1, Acked: []string{"n2"}, Failed: []string{"n3"}, Pending: []string{"n1"}},
			Coordinator: "n2", W: 3, Acked: []string{"n2"}, Failed: []string{"n3"}, Pending: []string{"n1"}},
	} {
		b, err := wo.marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := unmarshalWriteOutcome(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.State.Equal(wo.State) || got.Coordinator != wo.Coordinator || got.W != wo.W || len(got.Acked) != len(wo.Acked) ||
			len(got.Failed) != len(wo.Failed) || len(got.Pending) != len(wo.Pending) || got.Primaries != wo.Primaries ||
			!reflect.DeepEqual(got.Err, wo.Err) {
			t.Fatalf("outcome round trip: %+v vs %+v", got, wo)
		}
	}
}

func TestWireRejectsGarbage(t *testing.T) {
	wr := writeRequest{Key: []byte("key"), W: 2, TimeoutMS: 10}.marshal()
	for name, in := range map[string][]byte{
		"empty":         nil,
		"bad version":   append([]byte{9}, wr[1:]...),
		"truncated":     wr[:len(wr)-1],
		"trailing":      append(append([]byte(nil), wr...), 0),
		"huge length":   {wireV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad flags":     writeRequest{Key: []byte("k")}.marshal()[:5],
		"length at end": {wireV1, 5, 'a'},
	} {
		if _, err := unmarshalWriteRequest(in); !errors.Is(err, errWire) {
			t.Errorf("%s: want errWire, got %v", name, err)
		}
	}
}

func FuzzUnmarshalWriteRequest(f *testing.F) {
	f.Add(writeRequest{Key: []byte("k"), Value: []byte("v"), W: 2, TimeoutMS: 100}.marshal())
	f.Add(writeRequest{Key: []byte("k"), Context: sampleState().Context, Delete: true}.marshal())
	f.Add([]byte{wireV1})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := unmarshalWriteRequest(in)
		if err != nil {
			return
		}
		again, err := unmarshalWriteRequest(m.marshal())
		if err != nil || !bytes.Equal(again.Key, m.Key) || !bytes.Equal(again.Value, m.Value) || !again.Context.Equal(m.Context) ||
			again.W != m.W || again.PW != m.PW || again.TimeoutMS != m.TimeoutMS || again.Delete != m.Delete {
			t.Fatalf("re-encode changed the request: %+v vs %+v (%v)", m, again, err)
		}
	})
}

func FuzzUnmarshalApply(f *testing.F) {
	b, _ := applyRequest{Key: []byte("k"), State: sampleState()}.marshal()
	f.Add(b)
	f.Add([]byte{wireV1, 1, 'k', 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := unmarshalApply(in)
		if err != nil {
			return
		}
		b, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := unmarshalApply(b)
		if err != nil || !again.State.Equal(m.State) || !bytes.Equal(again.Key, m.Key) {
			t.Fatalf("re-encode changed the request (%v)", err)
		}
	})
}

// wireErrors has one error of each kind and variant that crosses the
// wire in a writeOutcome, with every field set that it can carry.
func wireErrors() []error {
	return []error{
		&UnavailableError{Op: opWrite, Reason: ReasonTooFewAlive, Need: 3, NeedPrimary: 2,
			Alive: []string{"n1", "n4"}, AlivePrimaries: 1, Down: []string{"n3"}},
		&UnavailableError{Op: opRead, Reason: ReasonTooFewAlive, Need: 2, Down: []string{"n2", "n3"}},
		&UnavailableError{Op: opWrite, Reason: ReasonNotReplica, Need: 2, NeedPrimary: 1},
		&UnavailableError{Op: opWrite, Reason: ReasonNoCoordinator, Need: 2,
			Err: fmt.Errorf("dial: %w", context.DeadlineExceeded)},
		&UnavailableError{Op: opWrite, Reason: ReasonNoCoordinator, Need: 1},
		&QuorumError{Op: opWrite, Need: 3, NeedPrimary: 1, Got: 2, GotPrimary: 1,
			Acked: []string{"n1", "n2"}, Failed: []string{"n3"}, Pending: []string{"n4"}},
		&QuorumError{Op: opRead, Need: 2, NeedPrimary: 1, Got: 1, Acked: []string{"n1"}, Pending: []string{"n2"}},
		&QuorumError{Op: opWrite, Need: 2, Err: errors.New("the coordinator n2 did not answer (eof)")},
		&ContextError{Actor: vclock.Actor{Node: "n1", Epoch: 7}, Claim: 1 << 40, Have: 3},
		&ContextError{Err: fmt.Errorf("%w: actor n1.7 is at counter %d", vclock.ErrCounterExhausted, uint64(1<<64-1))},
		&LimitError{Err: ErrTooManySiblings, Limit: 100},
		&LimitError{Err: ErrStateTooLarge, Limit: maxStateBytes},
		&WriteFailedError{Err: errors.New("injected: commit failed")},
		&WriteFailedError{Err: fmt.Errorf("deadline: %w", context.Canceled)},
	}
}

// Every typed error crosses the wire as the same type with the same
// fields: the client gets the same status and body from a forwarded
// failure as from a local one, and errors.Is still finds the sentinels a
// cause wrapped.
func TestWireErrorsRoundTrip(t *testing.T) {
	for _, e := range wireErrors() {
		b, err := writeOutcome{Err: e, W: 2}.marshal()
		if err != nil {
			t.Fatalf("%T: %v", e, err)
		}
		got, err := unmarshalWriteOutcome(b)
		if err != nil {
			t.Fatalf("%v: %v", e, err)
		}
		if reflect.TypeOf(got.Err) != reflect.TypeOf(e) || got.Err.Error() != e.Error() {
			t.Fatalf("%v came back as %T %v", e, got.Err, got.Err)
		}
		ws, wb := errorResponse(e)
		gs, gb := errorResponse(got.Err)
		if ws != gs || !reflect.DeepEqual(wb, gb) {
			t.Fatalf("%v: answered %d %v locally, %d %v after the wire", e, ws, wb, gs, gb)
		}
		for _, s := range wireSentinels[1:] {
			if errors.Is(e, s) != errors.Is(got.Err, s) {
				t.Fatalf("%v: errors.Is(%v) changed on the wire", e, s)
			}
		}
		for _, s := range []error{ErrUnavailable, ErrIndeterminate, ErrBadContext, ErrTooManySiblings, ErrStateTooLarge} {
			if errors.Is(e, s) != errors.Is(got.Err, s) {
				t.Fatalf("%v: errors.Is(%v) changed on the wire", e, s)
			}
		}
	}
	// No status, nor an error the wire can't carry whole.
	if _, err := (writeOutcome{Err: &apiError{Status: 503, Code: "c", Message: "m"}}).marshal(); err == nil {
		t.Fatal("an HTTP error was encoded")
	}
	// A version-1 outcome (an HTTP status on the wire) is refused.
	v1 := []byte{wireV1, 0xf7, 0x03, 1, 'c', 1, 'm'}
	if _, err := unmarshalWriteOutcome(v1); !errors.Is(err, errWire) {
		t.Fatalf("a version-1 outcome: %v", err)
	}
}

func FuzzUnmarshalWriteOutcome(f *testing.F) {
	b, _ := writeOutcome{State: sampleState(), Coordinator: "n1", Acked: []string{"n1"}}.marshal()
	f.Add(b)
	for _, e := range wireErrors() {
		b, _ := writeOutcome{Err: e, W: 3, PW: 1, Coordinator: "n2", Failed: []string{"n3"}}.marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := unmarshalWriteOutcome(in)
		if err != nil {
			return
		}
		b, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := unmarshalWriteOutcome(b)
		if err != nil {
			t.Fatalf("re-encode failed: %v", err)
		}
		if !reflect.DeepEqual(again.Err, m.Err) || again.Coordinator != m.Coordinator || again.W != m.W || again.PW != m.PW ||
			!slices.Equal(again.Acked, m.Acked) || !slices.Equal(again.Failed, m.Failed) || !slices.Equal(again.Pending, m.Pending) ||
			again.Primaries != m.Primaries || again.Fallbacks != m.Fallbacks || !again.State.Equal(m.State) || !again.Context.Equal(m.Context) {
			t.Fatalf("re-encode changed the outcome: %+v vs %+v", m, again)
		}
		if m.Err != nil {
			status, body := errorResponse(m.Err)
			if status < 400 || status > 599 || status == 500 || body.Code == "" || body.Message == "" {
				t.Fatalf("decoded %#v answers %d %v", m.Err, status, body)
			}
		}
	})
}

func FuzzUnmarshalHandoff(f *testing.F) {
	b, _ := handoffRequest{From: "n1", Items: []handoffItem{{Key: []byte("k"), State: sampleState()}}}.marshal()
	f.Add(b)
	f.Add([]byte{wireV1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := unmarshalHandoff(in)
		if err != nil {
			return
		}
		b, err := m.marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := unmarshalHandoff(b)
		if err != nil || len(again.Items) != len(m.Items) || again.From != m.From {
			t.Fatalf("re-encode changed the batch (%v)", err)
		}
	})
}

func FuzzUnmarshalRead(f *testing.F) {
	f.Add(readRequest{Key: []byte("k"), Owner: "n2"}.marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := unmarshalRead(in)
		if err != nil {
			return
		}
		again, err := unmarshalRead(m.marshal())
		if err != nil || !bytes.Equal(again.Key, m.Key) || again.Owner != m.Owner {
			t.Fatalf("re-encode changed the request (%v)", err)
		}
	})
}

// FuzzUnmarshalAAE feeds every anti-entropy decoder the same bytes: none
// may panic, and what one accepts must re-encode to what it decoded.
func FuzzUnmarshalAAE(f *testing.F) {
	f.Add(aaeRootsRequest{Partitions: []uint32{0, 7, 255}}.marshal())
	f.Add(aaeRootsResponse{Roots: []aaeRoot{{Root: 1 << 60, Depth: 3, Keys: 4000}}}.marshal())
	f.Add(aaeTreeRequest{Partition: 3, Level: 2, Indices: []uint32{0, 255}}.marshal())
	f.Add(marshalAAEChildren([][]uint64{make([]uint64, antientropy.Fanout)}))
	f.Add(marshalAAEEntries([]antientropy.Entry{{Key: []byte("k"), Hash: 42}}))
	f.Add(aaeFetchRequest{Partition: 1, Keys: [][]byte{[]byte("a"), []byte("b")}}.marshal())
	st, _ := sampleState().MarshalBinary()
	f.Add(marshalAAEFetch([]fetchedRaw{{State: st}, {}, {State: st, Settled: true}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := unmarshalAAERootsRequest(in); err == nil {
			if again, err := unmarshalAAERootsRequest(m.marshal()); err != nil || !slices.Equal(again.Partitions, m.Partitions) {
				t.Fatalf("roots request re-encode: %v", err)
			}
		}
		if m, err := unmarshalAAERoots(in); err == nil {
			if again, err := unmarshalAAERoots(m.marshal()); err != nil || !slices.Equal(again.Roots, m.Roots) {
				t.Fatalf("roots re-encode: %v", err)
			}
		}
		if m, err := unmarshalAAETree(in); err == nil {
			if again, err := unmarshalAAETree(m.marshal()); err != nil || !slices.Equal(again.Indices, m.Indices) || again.Level != m.Level || again.Partition != m.Partition {
				t.Fatalf("tree request re-encode: %v", err)
			}
		}
		for _, want := range []int{0, 1, 2} {
			if hs, err := unmarshalAAEChildren(in, want); err == nil {
				if len(hs) != want || !bytes.Equal(marshalAAEChildren(hs), in) {
					t.Fatalf("children re-encode differs")
				}
			}
		}
		if es, err := unmarshalAAEEntries(in); err == nil {
			if again, err := unmarshalAAEEntries(marshalAAEEntries(es)); err != nil || len(again) != len(es) {
				t.Fatalf("entries re-encode: %v", err)
			}
		}
		if m, err := unmarshalAAEFetchRequest(in); err == nil {
			if again, err := unmarshalAAEFetchRequest(m.marshal()); err != nil || len(again.Keys) != len(m.Keys) {
				t.Fatalf("fetch request re-encode: %v", err)
			}
		}
		if sts, err := unmarshalAAEFetch(in, 3); err == nil && (len(sts) == 0 || len(sts) > 3) {
			t.Fatalf("fetch decoded %d states for 3 keys", len(sts))
		}
	})
}

func FuzzUnmarshalTransfer(f *testing.F) {
	st, _ := sampleState().MarshalBinary()
	f.Add(transferRequest{Partition: 3, After: []byte("k")}.marshal())
	f.Add(transferBatch{Done: true, Items: []transferItem{{Key: []byte("k"), State: st}}}.marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := unmarshalTransferRequest(in); err == nil {
			again, err := unmarshalTransferRequest(m.marshal())
			if err != nil || again.Partition != m.Partition || !bytes.Equal(again.After, m.After) {
				t.Fatalf("transfer request re-encode: %v", err)
			}
		}
		if b, err := unmarshalTransferBatch(in); err == nil {
			for _, it := range b.Items {
				if len(it.Key) == 0 {
					t.Fatal("decoded an empty key")
				}
				if _, err := it.State.MarshalBinary(); err != nil {
					t.Fatalf("decoded state does not re-encode: %v", err)
				}
			}
		}
	})
}
