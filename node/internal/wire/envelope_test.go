package wire

import (
	"bytes"
	"testing"

	"github.com/dynago/dynago/node/internal/membership"
)

// FuzzUnmarshalEnvelope: the table envelope of checked internode calls
// crosses the network both ways.
func FuzzUnmarshalEnvelope(f *testing.F) {
	f.Add(WrapRequest(membership.TableID{Version: 7, Digest: 42}, []byte("payload")))
	f.Add(WrapOK([]byte("answer")))
	f.Add(WrapMismatch(membership.TableID{Version: 1 << 40, Digest: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, rest, err := UnwrapRequest(b); err == nil {
			if again := WrapRequest(id, rest); !bytes.Equal(again, b) && len(b) > 0 && b[0] == envV1 {
				// Non-canonical varints decode too; the identity must survive.
				if id2, rest2, err := UnwrapRequest(again); err != nil || id2 != id || !bytes.Equal(rest2, rest) {
					t.Fatalf("request envelope round trip: %v %v", id2, err)
				}
			}
		}
		if out, theirs, refused, err := UnwrapResponse(b); err == nil {
			if refused {
				if _, theirs2, refused2, err := UnwrapResponse(WrapMismatch(theirs)); err != nil || !refused2 || theirs2 != theirs {
					t.Fatalf("mismatch round trip: %v", err)
				}
			} else if !bytes.Equal(WrapOK(out), b) {
				t.Fatalf("ok answer round trip")
			}
		}
	})
}
