package hintedhandoff

import (
	"encoding/binary"
	"fmt"

	"github.com/dynago/dynago/vclock"
)

// Record layout, the value stored under a hint key (storage.HintKey):
//
//	format (1 byte, 0x01) | created (8 bytes, big-endian Unix nanoseconds) | vclock State encoding
//
// created is the time of the hint's first write; merges keep it.
const (
	recordFormatV1  byte = 1
	recordHeaderLen      = 1 + 8
)

// appendRecord appends the record of a hint first written at created (Unix
// nanoseconds) holding st.
func appendRecord(b []byte, created int64, st vclock.State) ([]byte, error) {
	b = append(b, recordFormatV1)
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	return st.AppendBinary(b)
}

// decodeCreated returns the creation time of record v, reading only its
// header.
func decodeCreated(v []byte) (int64, error) {
	if len(v) < recordHeaderLen {
		return 0, fmt.Errorf("%w: %d-byte record is shorter than its header", ErrBadRecord, len(v))
	}
	if v[0] != recordFormatV1 {
		return 0, fmt.Errorf("%w: unknown format %d", ErrBadRecord, v[0])
	}
	return int64(binary.BigEndian.Uint64(v[1:recordHeaderLen])), nil
}

// decodeRecord decodes record v. The State does not alias v.
func decodeRecord(v []byte) (created int64, st vclock.State, err error) {
	created, err = decodeCreated(v)
	if err != nil {
		return 0, vclock.State{}, err
	}
	if err := st.UnmarshalBinary(v[recordHeaderLen:]); err != nil {
		return 0, vclock.State{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return created, st, nil
}
