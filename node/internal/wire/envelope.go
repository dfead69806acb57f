package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/dynago/dynago/node/internal/membership"
)

// Checked reports whether calls of method carry the caller's table
// identity in an envelope (WrapRequest) and are refused on a mismatch.
func Checked(method uint8) bool {
	switch method {
	case MethodRead, MethodApply, MethodCoordinate, MethodHandoff, MethodTransfer,
		MethodAAERoots, MethodAAEChildren, MethodAAEEntries, MethodAAEFetch:
		return true
	}
	return false
}

// Envelope of checked calls. Request: envV1, uvarint version, 8-byte
// digest, payload. Response: envV1, a status byte (envOK: the payload
// follows; envMismatch: the responder's uvarint version and digest).
const (
	envV1       = 0xE1
	envOK       = 0
	envMismatch = 1
)

// WrapRequest puts payload in the envelope of a checked call from a node
// whose table is id.
func WrapRequest(id membership.TableID, payload []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+8+len(payload))
	b = append(b, envV1)
	b = binary.AppendUvarint(b, id.Version)
	b = binary.BigEndian.AppendUint64(b, id.Digest)
	return append(b, payload...)
}

// UnwrapRequest returns the caller's table identity and the payload of
// what WrapRequest wrote. The payload aliases b.
func UnwrapRequest(b []byte) (membership.TableID, []byte, error) {
	if len(b) == 0 || b[0] != envV1 {
		return membership.TableID{}, nil, fmt.Errorf("%w: no table envelope", ErrMalformed)
	}
	v, n := binary.Uvarint(b[1:])
	if n <= 0 || len(b) < 1+n+8 {
		return membership.TableID{}, nil, fmt.Errorf("%w: short table envelope", ErrMalformed)
	}
	return membership.TableID{Version: v, Digest: binary.BigEndian.Uint64(b[1+n:])}, b[1+n+8:], nil
}

// WrapOK is the answer of a checked call the responder served: payload.
func WrapOK(payload []byte) []byte {
	return append([]byte{envV1, envOK}, payload...)
}

// WrapMismatch is the answer of a checked call the responder refused
// because its table, id, is not the caller's.
func WrapMismatch(id membership.TableID) []byte {
	b := []byte{envV1, envMismatch}
	b = binary.AppendUvarint(b, id.Version)
	return binary.BigEndian.AppendUint64(b, id.Digest)
}

// UnwrapResponse returns the payload, or the responder's table identity
// when it refused the call.
func UnwrapResponse(b []byte) (payload []byte, theirs membership.TableID, refused bool, err error) {
	if len(b) < 2 || b[0] != envV1 {
		return nil, membership.TableID{}, false, fmt.Errorf("%w: no table envelope in the answer", ErrMalformed)
	}
	switch b[1] {
	case envOK:
		return b[2:], membership.TableID{}, false, nil
	case envMismatch:
		id, rest, err := UnwrapRequest(append([]byte{envV1}, b[2:]...))
		if err != nil || len(rest) != 0 {
			return nil, membership.TableID{}, false, fmt.Errorf("%w: bad table mismatch answer", ErrMalformed)
		}
		return nil, id, true, nil
	}
	return nil, membership.TableID{}, false, fmt.Errorf("%w: answer status %d", ErrMalformed, b[1])
}
