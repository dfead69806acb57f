package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

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
		&QuorumError{Op: opWrite, Need: 2, Got: 1, GotPrimary: 1,
			Acked: []string{"n1"}, Failed: []string{"n2", "n3"}, DiskFull: []string{"n2", "n3"}},
		&QuorumError{Op: opWrite, Need: 3, NeedPrimary: 1,
			Failed: []string{"n1", "n2", "n3"}, DiskFull: []string{"n2", "n3"}, Definite: true},
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
		for _, s := range wire.Sentinels() {
			if errors.Is(e, s) != errors.Is(got.Err, s) {
				t.Fatalf("%v: errors.Is(%v) changed on the wire", e, s)
			}
		}
		for _, s := range []error{ErrUnavailable, ErrIndeterminate, ErrBadContext, ErrTooManySiblings, ErrStateTooLarge, storage.ErrNoSpace} {
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
	v1 := []byte{1, 0xf7, 0x03, 1, 'c', 1, 'm'}
	if _, err := unmarshalWriteOutcome(v1); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("a version-1 outcome: %v", err)
	}
}

// FuzzWriteOutcomeErrors: every typed error the wire decoder accepts
// comes back from node's conversion as an error that errorResponse
// answers with a status and a body, and converts back to what arrived
// (the wire's own FuzzUnmarshalWriteOutcome fuzzes the decoder).
func FuzzWriteOutcomeErrors(f *testing.F) {
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
			t.Fatalf("a decoded outcome does not encode: %v", err)
		}
		w1, err1 := wire.UnmarshalWriteOutcome(in)
		w2, err2 := wire.UnmarshalWriteOutcome(b)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(w1.Err, w2.Err) {
			t.Fatalf("the error changed through node: %+v vs %+v (%v, %v)", w1.Err, w2.Err, err1, err2)
		}
		if m.Err != nil {
			status, body := errorResponse(m.Err)
			if status < 400 || status > 599 || status == 500 || body.Code == "" || body.Message == "" {
				t.Fatalf("decoded %#v answers %d %v", m.Err, status, body)
			}
		}
	})
}

// goldenWireErrors are the bytes of writeOutcome{Err: wireErrors()[i],
// W: 2}, taken from the encoder before the codecs moved to
// node/internal/wire: the conversion must not change them.
var goldenWireErrors = []string{
	"02010201030202026e31026e340101026e330003010000034151410002000000000000",
	"020101010200000002026e32026e330003010000034151410002000000000000",
	"0201020202010000000003010000034151410002000000000000",
	"020102030200000000031f6469616c3a20636f6e7465787420646561646c696e6520657863656564656403010000034151410002000000000000",
	"0201020301000000000003010000034151410002000000000000",
	"0202020301020102026e31026e3201026e3301026e340003010000034151410002000000000000",
	"0202010201010001026e310001026e320003010000034151410002000000000000",
	"02020202000000000000012774686520636f6f7264696e61746f72206e3220646964206e6f7420616e737765722028656f662903010000034151410002000000000000",
	"0203026e3107808080808020030003010000034151410002000000000000",
	"020300000000025076636c6f636b3a206163746f72277320636f756e746572206578686175737465643a206163746f72206e312e3720697320617420636f756e74657220313834343637343430373337303935353136313503010000034151410002000000000000",
	"0204016403010000034151410002000000000000",
	"0204028080801803010000034151410002000000000000",
	"02050117696e6a65637465643a20636f6d6d6974206661696c656403010000034151410002000000000000",
	"0205041a646561646c696e653a20636f6e746578742063616e63656c656403010000034151410002000000000000",
	// Added with disk-full reporting (wire.KindQuorumDiskFull).
	"0206020200010101026e3102026e32026e33000002026e32026e330003010000034151410002000000000000",
	"020602030100000003026e31026e32026e33000102026e32026e330003010000034151410002000000000000",
}

func TestWireErrorsGolden(t *testing.T) {
	errs := wireErrors()
	if len(errs) != len(goldenWireErrors) {
		t.Fatalf("%d errors, %d golden encodings", len(errs), len(goldenWireErrors))
	}
	for i, e := range errs {
		b, err := writeOutcome{Err: e, W: 2}.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != goldenWireErrors[i] {
			t.Errorf("%v encodes as\n%s, was\n%s", e, got, goldenWireErrors[i])
		}
	}
	// The wire carries every UnavailableReason, and no more.
	if wire.MaxReason != int(ReasonNoCoordinator) {
		t.Fatalf("wire.MaxReason is %d, the last UnavailableReason %d", wire.MaxReason, ReasonNoCoordinator)
	}
}
