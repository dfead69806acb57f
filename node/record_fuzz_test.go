package node

import (
	"bytes"
	"errors"
	"testing"

	"github.com/dynago/dynago/vclock"
)

// FuzzDecodeStoredRecord: a stored record is read back from disk (reads,
// writes' read-modify-write, anti-entropy, transfers, backups, the
// stale-copy scan), and a disk can hand back anything. decodeRecordEnc never panics;
// it refuses with errBadRecord, and what it accepts has a state that
// re-encodes to the encoding it returned, a suffix of the record (what
// anti-entropy hashes and peers are sent, the same as stateBytes'); the
// record re-encoded from its owner and that encoding decodes to the same
// owner and state and is never longer. Any owner and valid state the node
// writes (appendRecord) decode back unchanged, with the state's encoding
// alone as what anti-entropy hashes, whatever the owner.
func FuzzDecodeStoredRecord(f *testing.F) {
	st, _, err := vclock.State{}.Write(vclock.Actor{Node: "n1", Epoch: 7}, vclock.VV{}, []byte("v"), false)
	if err != nil {
		f.Fatal(err)
	}
	st, _, err = st.Write(vclock.Actor{Node: "n2", Epoch: 9}, vclock.VV{}, []byte("w"), false)
	if err != nil {
		f.Fatal(err)
	}
	enc, err := st.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	owned := appendRecord(nil, ownerActor{Incarnation: 3, Epoch: 1<<62 | 1}, enc)
	for _, s := range []struct {
		data, state []byte
		inc, epoch  uint64
	}{
		{enc, enc, 0, 0},                          // an older record: no owner
		{owned, enc, 3, 5},                        // a record with an owner
		{[]byte{}, []byte{}, 1, 1},                // empty
		{[]byte{recordV2}, enc, 0, 1},             // a header cut short
		{[]byte{recordV2, 1, 1}, []byte{1}, 1, 0}, // a header and no state
		{append([]byte{recordV2, 0x80, 0x00, 0x00}, enc...), enc, 0, 0},                          // a zero owner, non-minimal varints
		{append(append([]byte{recordV2}, bytes.Repeat([]byte{0xff}, 10)...), enc...), enc, 1, 2}, // a varint overflow
		{owned[:len(owned)-1], enc[:len(enc)-1], 1, 2},                                           // a truncated state
		{append(bytes.Clone(owned), 0), append(bytes.Clone(enc), 0), 1, 2},                       // a trailing byte
	} {
		f.Add(s.data, s.inc, s.epoch, s.state)
	}
	f.Fuzz(func(t *testing.T, data []byte, inc, epoch uint64, state []byte) {
		r, enc, err := decodeRecordEnc(data)
		sb, sbErr := stateBytes(data)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("decodeRecordEnc(%x): error %v does not wrap errBadRecord", data, err)
			}
			if _, err2 := decodeRecord(data); err2 == nil {
				t.Fatalf("decodeRecord(%x) accepted what decodeRecordEnc refused (%v)", data, err)
			}
		} else {
			if sbErr != nil || !bytes.Equal(sb, enc) {
				t.Fatalf("decodeRecordEnc(%x) state %x; stateBytes %x, %v", data, enc, sb, sbErr)
			}
			if !bytes.HasSuffix(data, enc) || len(enc) == 0 {
				t.Fatalf("decodeRecordEnc(%x): state encoding %x is not the record's suffix", data, enc)
			}
			if (data[0] != recordV2) != (len(enc) == len(data)) {
				t.Fatalf("decodeRecordEnc(%x): a header only when the first byte is recordV2, state %x", data, enc)
			}
			if data[0] != recordV2 && r.Owner != (ownerActor{}) {
				t.Fatalf("decodeRecordEnc(%x): owner %+v of a record without a header", data, r.Owner)
			}
			if again, err := r.State.MarshalBinary(); err != nil || !bytes.Equal(again, enc) {
				t.Fatalf("decodeRecordEnc(%x): state %v re-encodes as %x, %v; want %x", data, r.State, again, err, enc)
			}
			re := appendRecord(nil, r.Owner, enc)
			back, backEnc, err := decodeRecordEnc(re)
			if err != nil || back.Owner != r.Owner || !back.State.Equal(r.State) || !bytes.Equal(backEnc, enc) {
				t.Fatalf("record %x re-encoded as %x: %+v, %v; want %+v", data, re, back, err, r)
			}
			if len(re) > len(data) {
				t.Fatalf("record %x re-encoded longer: %x", data, re)
			}
		}

		// What the node writes reads back.
		var s vclock.State
		if s.UnmarshalBinary(state) != nil {
			return
		}
		owner := ownerActor{Incarnation: inc, Epoch: epoch}
		rec := appendRecord([]byte("prefix"), owner, state)[len("prefix"):]
		got, gotEnc, err := decodeRecordEnc(rec)
		if err != nil || got.Owner != owner || !got.State.Equal(s) || !bytes.Equal(gotEnc, state) {
			t.Fatalf("appendRecord(%+v, %x) = %x decodes as %+v, %x, %v", owner, state, rec, got, gotEnc, err)
		}
		if sb, err := stateBytes(rec); err != nil || !bytes.Equal(sb, state) {
			t.Fatalf("stateBytes(%x) = %x, %v; want the state's encoding %x whatever the owner", rec, sb, err, state)
		}
	})
}
