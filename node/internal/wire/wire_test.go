package wire

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
	ar, err := ApplyRequest{Key: []byte("k"), State: st, Owner: "n3"}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gotA, err := UnmarshalApply(ar)
	if err != nil || string(gotA.Key) != "k" || !gotA.State.Equal(st) || gotA.Owner != "n3" {
		t.Fatalf("apply round trip: %+v %v", gotA, err)
	}
	gotR, err := UnmarshalRead(ReadRequest{Key: []byte("k"), Owner: "n2"}.Marshal())
	if err != nil || string(gotR.Key) != "k" || gotR.Owner != "n2" {
		t.Fatalf("read round trip: %+v %v", gotR, err)
	}
	hb, err := HandoffRequest{From: "n4", Items: []HandoffItem{{Key: []byte("a"), State: st}, {Key: []byte("b"), State: st}}}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	gotH, err := UnmarshalHandoff(hb)
	if err != nil || gotH.From != "n4" || len(gotH.Items) != 2 || string(gotH.Items[1].Key) != "b" || !gotH.Items[0].State.Equal(st) {
		t.Fatalf("handoff round trip: %+v %v", gotH, err)
	}

	wr := WriteRequest{Key: []byte("key"), Value: []byte("val"), Context: st.Context, Delete: true, W: 2, PW: 1, TimeoutMS: 1500, ReturnBody: true, Strict: true}
	gotW, err := UnmarshalWriteRequest(wr.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotW.Key, wr.Key) || !bytes.Equal(gotW.Value, wr.Value) || !gotW.Context.Equal(wr.Context) ||
		gotW.Delete != wr.Delete || gotW.W != 2 || gotW.PW != 1 || gotW.TimeoutMS != 1500 || !gotW.ReturnBody || !gotW.Strict || gotW.Overwrite {
		t.Fatalf("write request round trip: %+v", gotW)
	}
	ow := WriteRequest{Key: []byte("key"), Value: []byte("val"), W: 2, TimeoutMS: 10, Overwrite: true}
	if got, err := UnmarshalWriteRequest(ow.Marshal()); err != nil || !got.Overwrite || got.Delete || got.Strict || got.ReturnBody {
		t.Fatalf("overwrite round trip: %+v %v", got, err)
	}

	for _, wo := range []WriteOutcome{
		{State: st, Context: st.Context, Coordinator: "n1", W: 2, Acked: []string{"n1", "n2"}, Primaries: 2},
		{Err: &Error{Kind: KindQuorum, Op: OpWrite, Need: 3, Got: 1, Acked: []string{"n2"}, Failed: []string{"n3"}, Pending: []string{"n1"}},
			Coordinator: "n2", W: 3, Acked: []string{"n2"}, Failed: []string{"n3"}, Pending: []string{"n1"}},
	} {
		b, err := wo.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalWriteOutcome(b)
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
	wr := WriteRequest{Key: []byte("key"), W: 2, TimeoutMS: 10}.Marshal()
	for name, in := range map[string][]byte{
		"empty":         nil,
		"bad version":   append([]byte{9}, wr[1:]...),
		"truncated":     wr[:len(wr)-1],
		"trailing":      append(append([]byte(nil), wr...), 0),
		"huge length":   {wireV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad flags":     WriteRequest{Key: []byte("k")}.Marshal()[:5],
		"length at end": {wireV1, 5, 'a'},
	} {
		if _, err := UnmarshalWriteRequest(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
}

func FuzzUnmarshalWriteRequest(f *testing.F) {
	f.Add(WriteRequest{Key: []byte("k"), Value: []byte("v"), W: 2, TimeoutMS: 100}.Marshal())
	f.Add(WriteRequest{Key: []byte("k"), Context: sampleState().Context, Delete: true}.Marshal())
	f.Add(WriteRequest{Key: []byte("k"), Value: []byte("v"), W: 2, TimeoutMS: 100, Overwrite: true}.Marshal())
	f.Add([]byte{wireV1})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := UnmarshalWriteRequest(in)
		if err != nil {
			return
		}
		again, err := UnmarshalWriteRequest(m.Marshal())
		if err != nil || !bytes.Equal(again.Key, m.Key) || !bytes.Equal(again.Value, m.Value) || !again.Context.Equal(m.Context) ||
			again.W != m.W || again.PW != m.PW || again.TimeoutMS != m.TimeoutMS || again.Delete != m.Delete ||
			again.Overwrite != m.Overwrite || again.Strict != m.Strict || again.ReturnBody != m.ReturnBody {
			t.Fatalf("re-encode changed the request: %+v vs %+v (%v)", m, again, err)
		}
	})
}

func FuzzUnmarshalApply(f *testing.F) {
	b, _ := ApplyRequest{Key: []byte("k"), State: sampleState()}.Marshal()
	f.Add(b)
	f.Add([]byte{wireV1, 1, 'k', 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := UnmarshalApply(in)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := UnmarshalApply(b)
		if err != nil || !again.State.Equal(m.State) || !bytes.Equal(again.Key, m.Key) {
			t.Fatalf("re-encode changed the request (%v)", err)
		}
	})
}

// wireErrors has one error of each kind and variant that crosses the
// wire in a WriteOutcome, with every field set that it can carry (node's
// typed errors of the same name, as node converts them).
func wireErrors() []*Error {
	return []*Error{
		{Kind: KindUnavailable, Op: OpWrite, Reason: 1, Need: 3, NeedPrimary: 2,
			Alive: []string{"n1", "n4"}, AlivePrimaries: 1, Down: []string{"n3"}},
		{Kind: KindUnavailable, Op: OpRead, Reason: 1, Need: 2, Down: []string{"n2", "n3"}},
		{Kind: KindUnavailable, Op: OpWrite, Reason: 2, Need: 2, NeedPrimary: 1},
		{Kind: KindUnavailable, Op: OpWrite, Reason: 3, Need: 2,
			Cause: CauseOf(fmt.Errorf("dial: %w", context.DeadlineExceeded))},
		{Kind: KindUnavailable, Op: OpWrite, Reason: 3, Need: 1},
		{Kind: KindQuorum, Op: OpWrite, Need: 3, NeedPrimary: 1, Got: 2, GotPrimary: 1,
			Acked: []string{"n1", "n2"}, Failed: []string{"n3"}, Pending: []string{"n4"}},
		{Kind: KindQuorum, Op: OpRead, Need: 2, NeedPrimary: 1, Got: 1, Acked: []string{"n1"}, Pending: []string{"n2"}},
		{Kind: KindQuorum, Op: OpWrite, Need: 2, Cause: CauseOf(errors.New("the coordinator n2 did not answer (eof)"))},
		{Kind: KindContext, Actor: vclock.Actor{Node: "n1", Epoch: 7}, Claim: 1 << 40, Have: 3},
		{Kind: KindContext, Cause: CauseOf(fmt.Errorf("%w: actor n1.7 is at counter %d", vclock.ErrCounterExhausted, uint64(1<<64-1)))},
		{Kind: KindLimit, Exceeded: LimitSiblings, Limit: 100},
		{Kind: KindLimit, Exceeded: LimitState, Limit: 48 << 20},
		{Kind: KindWriteFailed, Cause: CauseOf(errors.New("injected: commit failed"))},
		{Kind: KindWriteFailed, Cause: CauseOf(fmt.Errorf("deadline: %w", context.Canceled))},
		{Kind: KindQuorumDiskFull, Op: OpWrite, Need: 2, Got: 1, GotPrimary: 1,
			Acked: []string{"n1"}, Failed: []string{"n2", "n3"}, DiskFull: []string{"n2", "n3"}},
		{Kind: KindQuorumDiskFull, Op: OpWrite, Need: 3, NeedPrimary: 1,
			Failed: []string{"n1", "n2", "n3"}, DiskFull: []string{"n2", "n3"}, Definite: true},
	}
}

// Every error crosses the wire with every field, and a cause still
// unwraps to the sentinel it wrapped.
func TestWireErrorsRoundTrip(t *testing.T) {
	for _, e := range wireErrors() {
		b, err := WriteOutcome{Err: e, W: 2}.Marshal()
		if err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		got, err := UnmarshalWriteOutcome(b)
		if err != nil {
			t.Fatalf("%+v: %v", e, err)
		}
		if !reflect.DeepEqual(got.Err, e) {
			t.Fatalf("%+v came back as %+v", e, got.Err)
		}
	}
	for _, c := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("x: %w", context.DeadlineExceeded), context.DeadlineExceeded},
		{fmt.Errorf("x: %w", context.Canceled), context.Canceled},
		{fmt.Errorf("x: %w", vclock.ErrCounterExhausted), vclock.ErrCounterExhausted},
		{errors.New("plain"), nil},
	} {
		got := CauseOf(c.err).Err()
		if got.Error() != c.err.Error() {
			t.Fatalf("cause text %q, want %q", got, c.err)
		}
		for _, s := range Sentinels() {
			if errors.Is(got, s) != (s == c.want) {
				t.Fatalf("%v: errors.Is(%v) = %v", c.err, s, errors.Is(got, s))
			}
		}
	}
	// An error the format can't carry whole is refused.
	for _, e := range []*Error{
		{},
		{Kind: KindUnavailable, Op: OpWrite},
		{Kind: KindQuorum},
		{Kind: KindLimit},
		{Kind: KindWriteFailed},
		{Kind: KindWriteFailed, Cause: &Cause{Text: "x", Sentinel: 99}},
		{Kind: maxKind + 1},
		{Kind: KindQuorumDiskFull, Op: OpWrite},                                 // neither disk full nor definite
		{Kind: KindQuorum, Op: OpWrite, DiskFull: []string{"n2"}},               // needs KindQuorumDiskFull
		{Kind: KindQuorum, Op: OpWrite, Definite: true, Failed: []string{"n2"}}, // the same
	} {
		if _, err := (WriteOutcome{Err: e}).Marshal(); err == nil {
			t.Fatalf("%+v was encoded", e)
		}
	}
	// A version-1 outcome (an HTTP status on the wire) is refused.
	v1 := []byte{wireV1, 0xf7, 0x03, 1, 'c', 1, 'm'}
	if _, err := UnmarshalWriteOutcome(v1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a version-1 outcome: %v", err)
	}
}

func FuzzUnmarshalWriteOutcome(f *testing.F) {
	b, _ := WriteOutcome{State: sampleState(), Coordinator: "n1", Acked: []string{"n1"}}.Marshal()
	f.Add(b)
	for _, e := range wireErrors() {
		b, _ := WriteOutcome{Err: e, W: 3, PW: 1, Coordinator: "n2", Failed: []string{"n3"}}.Marshal()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := UnmarshalWriteOutcome(in)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := UnmarshalWriteOutcome(b)
		if err != nil {
			t.Fatalf("re-encode failed: %v", err)
		}
		if !reflect.DeepEqual(again.Err, m.Err) || again.Coordinator != m.Coordinator || again.W != m.W || again.PW != m.PW ||
			!slices.Equal(again.Acked, m.Acked) || !slices.Equal(again.Failed, m.Failed) || !slices.Equal(again.Pending, m.Pending) ||
			again.Primaries != m.Primaries || again.Fallbacks != m.Fallbacks || !again.State.Equal(m.State) || !again.Context.Equal(m.Context) {
			t.Fatalf("re-encode changed the outcome: %+v vs %+v", m, again)
		}
	})
}

func FuzzUnmarshalHandoff(f *testing.F) {
	b, _ := HandoffRequest{From: "n1", Items: []HandoffItem{{Key: []byte("k"), State: sampleState()}}}.Marshal()
	f.Add(b)
	f.Add([]byte{wireV1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := UnmarshalHandoff(in)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := UnmarshalHandoff(b)
		if err != nil || len(again.Items) != len(m.Items) || again.From != m.From {
			t.Fatalf("re-encode changed the batch (%v)", err)
		}
	})
}

func FuzzUnmarshalRead(f *testing.F) {
	f.Add(ReadRequest{Key: []byte("k"), Owner: "n2"}.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := UnmarshalRead(in)
		if err != nil {
			return
		}
		again, err := UnmarshalRead(m.Marshal())
		if err != nil || !bytes.Equal(again.Key, m.Key) || again.Owner != m.Owner {
			t.Fatalf("re-encode changed the request (%v)", err)
		}
	})
}

// FuzzUnmarshalAAE feeds every anti-entropy decoder the same bytes: none
// may panic, and what one accepts must re-encode to what it decoded.
func FuzzUnmarshalAAE(f *testing.F) {
	f.Add(AAERootsRequest{Partitions: []uint32{0, 7, 255}}.Marshal())
	f.Add(AAERootsResponse{Roots: []AAERoot{{Root: 1 << 60, Depth: 3, Keys: 4000}}}.Marshal())
	f.Add(AAETreeRequest{Partition: 3, Level: 2, Indices: []uint32{0, 255}}.Marshal())
	f.Add(MarshalAAEChildren([][]uint64{make([]uint64, antientropy.Fanout)}))
	f.Add(MarshalAAEEntries([]antientropy.Entry{{Key: []byte("k"), Hash: 42}}))
	f.Add(AAEFetchRequest{Partition: 1, Keys: [][]byte{[]byte("a"), []byte("b")}}.Marshal())
	st, _ := sampleState().MarshalBinary()
	f.Add(MarshalAAEFetch([]FetchedRaw{{State: st}, {}, {State: st, Settled: true}}))
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := UnmarshalAAERootsRequest(in); err == nil {
			if again, err := UnmarshalAAERootsRequest(m.Marshal()); err != nil || !slices.Equal(again.Partitions, m.Partitions) {
				t.Fatalf("roots request re-encode: %v", err)
			}
		}
		if m, err := UnmarshalAAERoots(in); err == nil {
			if again, err := UnmarshalAAERoots(m.Marshal()); err != nil || !slices.Equal(again.Roots, m.Roots) {
				t.Fatalf("roots re-encode: %v", err)
			}
		}
		if m, err := UnmarshalAAETree(in); err == nil {
			if again, err := UnmarshalAAETree(m.Marshal()); err != nil || !slices.Equal(again.Indices, m.Indices) || again.Level != m.Level || again.Partition != m.Partition {
				t.Fatalf("tree request re-encode: %v", err)
			}
		}
		for _, want := range []int{0, 1, 2} {
			if hs, err := UnmarshalAAEChildren(in, want); err == nil {
				if len(hs) != want || !bytes.Equal(MarshalAAEChildren(hs), in) {
					t.Fatalf("children re-encode differs")
				}
			}
		}
		if es, err := UnmarshalAAEEntries(in); err == nil {
			if again, err := UnmarshalAAEEntries(MarshalAAEEntries(es)); err != nil || len(again) != len(es) {
				t.Fatalf("entries re-encode: %v", err)
			}
		}
		if m, err := UnmarshalAAEFetchRequest(in); err == nil {
			if again, err := UnmarshalAAEFetchRequest(m.Marshal()); err != nil || len(again.Keys) != len(m.Keys) {
				t.Fatalf("fetch request re-encode: %v", err)
			}
		}
		if sts, err := UnmarshalAAEFetch(in, 3); err == nil && (len(sts) == 0 || len(sts) > 3) {
			t.Fatalf("fetch decoded %d states for 3 keys", len(sts))
		}
	})
}

func FuzzUnmarshalTransfer(f *testing.F) {
	st, _ := sampleState().MarshalBinary()
	f.Add(TransferRequest{Partition: 3, After: []byte("k")}.Marshal())
	f.Add(TransferBatch{Done: true, Items: []TransferItem{{Key: []byte("k"), State: st}}}.Marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		if m, err := UnmarshalTransferRequest(in); err == nil {
			again, err := UnmarshalTransferRequest(m.Marshal())
			if err != nil || again.Partition != m.Partition || !bytes.Equal(again.After, m.After) {
				t.Fatalf("transfer request re-encode: %v", err)
			}
		}
		if b, err := UnmarshalTransferBatch(in); err == nil {
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

// MethodApply's answer is one byte of three; anything else is refused.
func TestApplyResponse(t *testing.T) {
	for _, b := range []byte{ApplyStored, ApplyCounted, ApplyNoSpace} {
		if got, err := UnmarshalApplyResponse([]byte{b}); err != nil || got != b {
			t.Fatalf("UnmarshalApplyResponse(%d) = %d, %v", b, got, err)
		}
	}
	for _, in := range [][]byte{nil, {}, {3}, {0xff}, {1, 1}} {
		if _, err := UnmarshalApplyResponse(in); !errors.Is(err, ErrMalformed) {
			t.Fatalf("UnmarshalApplyResponse(%x) = %v, want ErrMalformed", in, err)
		}
	}
}

func FuzzUnmarshalApplyResponse(f *testing.F) {
	for _, in := range [][]byte{{ApplyStored}, {ApplyCounted}, {ApplyNoSpace}, {3}, {}, {1, 2}} {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := UnmarshalApplyResponse(in)
		if err != nil {
			return
		}
		if len(in) != 1 || in[0] != b || b > ApplyNoSpace {
			t.Fatalf("UnmarshalApplyResponse(%x) accepted %d", in, b)
		}
	})
}
