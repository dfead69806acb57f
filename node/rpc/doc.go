// Package rpc is dynago's internode transport: binary request/response frames
// multiplexed over one persistent TCP connection per peer.
//
// # What it is
//
// A Client sends requests (a method byte and an opaque payload) to one peer
// and matches responses by request id, so many requests share one connection
// without head-of-line blocking on the caller side. A Server reads frames from
// each accepted connection and runs a Handler per request in its own
// goroutine, writing responses back on the same connection.
//
// # What it must not do
//
// It knows nothing about keys, clocks or quorums: payloads are opaque bytes
// that package node encodes. It never dials from the wildcard address: every
// outbound connection is bound to the configured local IP, so source-address
// firewall rules in fault tests see the right node (DESIGN.md §6).
//
// # Invariants
//
//   - Every request carries a deadline (its timeout in milliseconds); the
//     server handler's context ends at that deadline.
//   - A response is delivered to exactly the caller that sent the request id;
//     a caller whose context ends stops waiting and its late response is
//     dropped.
//   - Frames larger than MaxFrameBytes are refused on both sides and the
//     connection is closed, so a corrupt length can't exhaust memory.
//   - Every goroutine started here is owned by a Client or Server and is
//     waited for by its Close.
//
// # Frame format (big-endian)
//
//	uint32 length of the rest
//	uint8  kind: 1 request, 2 response ok, 3 response error, 4 hello, 5 hello answer
//	uint64 request id (0 in hellos)
//	request:  uint8 method, uint32 timeout ms, payload
//	response: payload (an error response's payload is the message)
//
// # Protocol versions (version.go)
//
// Protocol 1 is the frames above without a hello (releases before
// versioning). Protocol 2 starts each connection with a hello: the client
// says which versions it speaks, and the server answers with the highest
// common one, or refuses the connection with a message naming both ranges
// (Server.OnRefused counts it). A server takes a connection that starts
// with a request as protocol 1; a client whose hello the peer answers by
// closing the connection (a release before protocol 2) dials again
// without one. Each handler's context carries its connection's version
// (Protocol), so a payload's encoding can follow the peer's release. With
// internode TLS the hello runs inside the TLS session, after the
// certificates were checked. TestHelloGolden pins the bytes.
//
// # Use
//
//	srv := rpc.NewServer(handler, logger)
//	go srv.Serve(ln)
//	c := rpc.NewClient("127.0.0.12:8081", "127.0.0.11", logger)
//	resp, err := c.Call(ctx, method, payload)
package rpc
