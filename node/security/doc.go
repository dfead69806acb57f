// Package security makes and loads dynago's certificates and builds the
// TLS configurations a node and its clients use.
//
// # What it is
//
//   - Certificates: CreateCA (a self-signed cluster CA), CreateNode (a node
//     certificate: the node's name as DNS SAN and common name, optional IP
//     SANs, server and client use) and CreateClient (common name = the
//     client's name, client use only). All return PEM; `dynago cert`
//     writes them to files.
//   - Client-facing TLS: ServerConfig (the HTTP API and RESP, optionally
//     requiring client certificates of a given CA) and ClientConfig (the
//     CLI and Go client: a CA to trust, a client certificate to present).
//   - Internode mutual TLS: Internode holds a node's certificate and the
//     cluster CA. Client(name) dials the node called name; Server accepts
//     peers; Handshake and PeerName give the verified peer's node name, and
//     WithPeer/Peer carry it in a request's context.
//
// # What it must not do
//
// It imports only the standard library (no module package, so cmd/dynago,
// node and tests can all use it) and reads no clock: the time a certificate
// starts from is its caller's argument, and certificate checks at a
// handshake use crypto/x509's own current time. It opens files only in its
// Load* functions, which cmd calls; node is handed loaded values. It never
// logs.
//
// # Invariants
//
//   - Internode TLS trusts the cluster CA only, never the system roots,
//     and is TLS 1.3 at least.
//   - An internode peer's certificate must be a node certificate (a DNS
//     name, server and client use): a client certificate of the same CA
//     is refused (ErrNotNodeCert).
//   - A dialing node accepts only a certificate that names the node it
//     meant to dial (ErrWrongPeer); node names are not host names, so this
//     is checked in VerifyConnection, not by crypto/tls's host name check.
//   - A node certificate's name is its DNS SAN (its common name only when
//     it has none), the same on both ends of a connection.
//
// # How to use it
//
//	in, err := security.LoadInternode("ca.crt", "n1.crt", "n1.key")
//	ln = tls.NewListener(ln, in.Server())               // accept
//	peer, err := security.Handshake(ctx, conn)          // who it is
//	c := tls.Client(raw, in.Client("n2"))               // dial n2
//	err = c.HandshakeContext(ctx)
package security
