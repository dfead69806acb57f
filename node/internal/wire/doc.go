// Package wire is dynago's internode protocol: the RPC method ids
// (MethodRead, MethodApply, MethodCoordinate, ...), the messages each
// method carries and their versioned binary encodings, the table-identity
// envelope of checked calls (WrapRequest, UnwrapResponse), and the limits
// a decoder enforces (MaxHandoffItems, MaxFetchBytes). Replicas exchange
// states as in Dynamo (DeCandia et al., SOSP 2007): reads and writes to a
// key's preference list (§4.5), hinted handoff (§4.6) and Merkle-tree
// anti-entropy (§4.7); this package only says how those messages look
// on the network.
//
// # What it must not import or do
//
// wire is pure data and codecs: it does no I/O, reads no clock (it uses
// package time for time.Duration only), sets no timers, starts no
// goroutines, takes no locks and never logs. It imports vclock (states and
// contexts), antientropy (tree entries and shapes), node/internal/membership
// (TableID, the envelope's identity) and the standard library's pure
// parts; never node, node/rpc or a storage package. It knows nothing of
// node's typed errors: a failure crosses the wire as an Error, plain data,
// and node converts its error types to and from it (node/errors.go). The
// import rule and the purity check in test/arch_test.go enforce this.
//
// # Invariants
//
//   - Every decoder is total: on any input it returns a message or an
//     error wrapping ErrMalformed, never panics, and allocates in
//     proportion to its input (every list length is checked against the
//     bytes left and a limit before anything is allocated). The Fuzz*
//     tests check this and that what a decoder accepts re-encodes to the
//     same message.
//   - Every payload starts with a format version byte (1; WriteOutcome is
//     at 2, since errors are typed; the envelope's is 0xE1), and a decoder
//     refuses a version it does not know. A message's encoding changes only
//     with a new version: nodes of different versions talk to each other
//     during a rolling upgrade. TestGolden pins the bytes of every message
//     kind.
//   - A method id, an ErrorKind, Op or LimitKind value and a cause's
//     sentinel index are never reused for another meaning.
//   - Error texts keep the "node:" prefix they had before this package was
//     split from node: they reach operators, logs and peers unchanged.
//
// # How to use
//
// A caller encodes a request, sends it with its method id, and decodes the
// answer; a server does the reverse:
//
//	payload := wire.ReadRequest{Key: key, Owner: owner}.Marshal()
//	resp, err := client.Call(ctx, wire.MethodRead, wire.WrapRequest(myTable, payload))
//	body, theirs, refused, err := wire.UnwrapResponse(resp)
//
//	// server side
//	id, inner, err := wire.UnwrapRequest(payload)
//	req, err := wire.UnmarshalRead(inner)
//
// Decoded byte slices alias the input; a caller that keeps them past the
// input's life copies them. Nothing here is shared between goroutines, so
// nothing needs to be safe for concurrent use beyond being values.
package wire
