package node

import (
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/vclock"
)

// writeOutcome is a coordinated write's result, local or forwarded: what
// a wire.WriteOutcome carries, with the failure as a typed error.
type writeOutcome struct {
	// Err is nil when W (and PW) acks arrived; else one of the typed
	// errors of errors.go, which crosses the wire whole (errorToWire).
	Err error
	// State is the coordinator's state of the key after the write.
	State vclock.State
	// Context is the causal context to hand the client.
	Context vclock.VV
	// Coordinator is the node that coordinated the write.
	Coordinator string
	W, PW       int
	Acked       []string
	Failed      []string
	Pending     []string
	Primaries   int // acks from primaries
	Fallbacks   int // acks from fallbacks
}

// marshal encodes o as the answer of wire.MethodCoordinate.
func (o writeOutcome) marshal() ([]byte, error) {
	e, err := errorToWire(o.Err)
	if err != nil {
		return nil, err
	}
	return wire.WriteOutcome{Err: e, State: o.State, Context: o.Context, Coordinator: o.Coordinator,
		W: o.W, PW: o.PW, Acked: o.Acked, Failed: o.Failed, Pending: o.Pending,
		Primaries: o.Primaries, Fallbacks: o.Fallbacks}.Marshal()
}

// unmarshalWriteOutcome decodes what marshal wrote.
func unmarshalWriteOutcome(p []byte) (writeOutcome, error) {
	m, err := wire.UnmarshalWriteOutcome(p)
	if err != nil {
		return writeOutcome{}, err
	}
	return writeOutcome{Err: errorFromWire(m.Err), State: m.State, Context: m.Context, Coordinator: m.Coordinator,
		W: m.W, PW: m.PW, Acked: m.Acked, Failed: m.Failed, Pending: m.Pending,
		Primaries: m.Primaries, Fallbacks: m.Fallbacks}, nil
}
