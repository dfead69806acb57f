package rpc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// Internode protocol versions. A connection speaks one version, agreed
// when it starts, and every request served on it carries that version in
// its context (Protocol), so a handler can answer a peer of the previous
// release in the encodings that release reads.
//
//   - ProtocolLegacy (1): the frames of the Frame format section in
//     doc.go with no hello: what releases before protocol versioning
//     speak. A server takes a connection whose first frame is a request
//     as version 1.
//   - ProtocolHello (2): the same frames, after a hello exchange that
//     agrees on the version (the highest both sides speak) or refuses the
//     connection with a message saying why.
//
// The compatibility policy (README, Upgrades) is N-1: a release speaks its
// own version and the previous release's, so a cluster can be upgraded one
// node at a time.
const (
	ProtocolLegacy uint8 = 1
	ProtocolHello  uint8 = 2

	// MinProtocol and MaxProtocol are the versions this build speaks.
	MinProtocol = ProtocolLegacy
	MaxProtocol = ProtocolHello
)

// Versions is a range of protocol versions, both ends included. The zero
// value is [MinProtocol, MaxProtocol], all this build speaks.
type Versions struct{ Min, Max uint8 }

// withDefaults fills a zero end with this build's.
func (v Versions) withDefaults() Versions {
	if v.Min == 0 {
		v.Min = MinProtocol
	}
	if v.Max == 0 {
		v.Max = MaxProtocol
	}
	return v
}

func (v Versions) String() string {
	if v.Min == v.Max {
		return fmt.Sprint(v.Min)
	}
	return fmt.Sprintf("%d..%d", v.Min, v.Max)
}

// Common is the highest version both a and b speak, or 0 if none.
func Common(a, b Versions) uint8 {
	lo, hi := max(a.Min, b.Min), min(a.Max, b.Max)
	if lo > hi {
		return 0
	}
	return hi
}

// ErrProtocol is wrapped by the error of a connection refused because the
// two sides speak no common protocol version (*ProtocolError).
var ErrProtocol = errors.New("rpc: no common internode protocol version")

// ProtocolError is a connection refused for its protocol version, on
// either side: Local is the range of the side that reports it, Remote the
// peer's (its hello's, or [1,1] for a peer that sent none).
type ProtocolError struct {
	Local, Remote Versions
	// Peer is the name the peer gave in its hello ("" if none), and Addr
	// its address.
	Peer, Addr string
	// Msg is the refusing side's explanation, when it was the peer.
	Msg string
}

func (e *ProtocolError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("rpc: %s refused the connection: %s", e.Addr, e.Msg)
	}
	return refusal(e.Local, e.Remote, e.Peer, e.Addr)
}

func (e *ProtocolError) Unwrap() error { return ErrProtocol }

// refusal is the message of a refusal by the side that speaks local.
func refusal(local, remote Versions, peer, addr string) string {
	who := addr
	if peer != "" {
		who = peer + " at " + addr
	}
	return fmt.Sprintf("%v: %s speaks internode protocol %v, this node speaks %v; "+
		"a release speaks its own protocol and the previous release's, so upgrade one release at a time (README, Upgrades)",
		ErrProtocol, who, remote, local)
}

// Hello frames (ProtocolHello). A client's first frame is a hello (kind 4,
// id 0), the server's answer a hello answer (kind 5, id 0); a server
// answers nothing else before it. Payloads (big-endian, strings are a
// uvarint length and bytes):
//
//	hello:  uint8 min, uint8 max, string name, string software version
//	answer: uint8 chosen version (0: refused), uint8 min, uint8 max,
//	        string name, string software version, string message (why it
//	        refused; empty when it did not)
//
// A release before ProtocolHello reads kind 4 as an unknown frame and
// closes the connection: a client that speaks version 1 then dials again
// without a hello (Client.conn).
const (
	kindHello       = 4
	kindHelloAnswer = 5
	// maxHelloBytes bounds a hello's payload: two bytes and a few short
	// strings.
	maxHelloBytes = 1024
	// helloTimeout bounds the exchange when the caller's context does not:
	// a peer answers at once.
	helloTimeout = 5 * time.Second
)

// Hello is one side's hello: the versions it speaks, its node name and
// its software version (both informational, for messages and displays).
type Hello struct {
	Versions
	Name, Software string
}

// helloAnswer is a server's answer to a hello.
type helloAnswer struct {
	Hello
	Chosen uint8
	Msg    string
}

func appendHello(b []byte, h Hello) []byte {
	b = append(b, h.Min, h.Max)
	b = appendStr(b, h.Name)
	return appendStr(b, h.Software)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// errBadHello wraps a hello or answer that does not decode.
var errBadHello = errors.New("rpc: malformed hello")

// parseHello decodes a hello's payload; rest is what follows it.
func parseHello(p []byte) (h Hello, rest []byte, err error) {
	if len(p) > maxHelloBytes {
		return Hello{}, nil, fmt.Errorf("%w: %d bytes", errBadHello, len(p))
	}
	if len(p) < 2 {
		return Hello{}, nil, fmt.Errorf("%w: short", errBadHello)
	}
	h.Min, h.Max = p[0], p[1]
	if h.Min == 0 || h.Min > h.Max {
		return Hello{}, nil, fmt.Errorf("%w: versions %d..%d", errBadHello, h.Min, h.Max)
	}
	p = p[2:]
	if h.Name, p, err = parseStr(p); err != nil {
		return Hello{}, nil, err
	}
	if h.Software, p, err = parseStr(p); err != nil {
		return Hello{}, nil, err
	}
	return h, p, nil
}

func parseStr(p []byte) (string, []byte, error) {
	n, k := binary.Uvarint(p)
	// The shortest encoding only, so what decodes re-encodes the same.
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n > uint64(len(p)-k) {
		return "", nil, fmt.Errorf("%w: bad string", errBadHello)
	}
	return string(p[k : k+int(n)]), p[k+int(n):], nil
}

func appendHelloAnswer(b []byte, a helloAnswer) []byte {
	b = append(b, a.Chosen)
	b = appendHello(b, a.Hello)
	return appendStr(b, a.Msg)
}

// parseHelloAnswer decodes a hello answer's payload.
func parseHelloAnswer(p []byte) (helloAnswer, error) {
	if len(p) < 1 {
		return helloAnswer{}, fmt.Errorf("%w: empty answer", errBadHello)
	}
	a := helloAnswer{Chosen: p[0]}
	h, rest, err := parseHello(p[1:])
	if err != nil {
		return helloAnswer{}, err
	}
	a.Hello = h
	if a.Msg, rest, err = parseStr(rest); err != nil {
		return helloAnswer{}, err
	}
	if len(rest) != 0 {
		return helloAnswer{}, fmt.Errorf("%w: %d trailing bytes", errBadHello, len(rest))
	}
	if a.Chosen != 0 && (a.Chosen < a.Min || a.Chosen > a.Max) {
		return helloAnswer{}, fmt.Errorf("%w: chose %d outside its own %v", errBadHello, a.Chosen, a.Versions)
	}
	return a, nil
}

// errNoHello: the peer closed the connection in answer to a hello, as a
// release before ProtocolHello does.
var errNoHello = errors.New("rpc: the peer closed the connection at the hello")

// hello runs the client's side of the exchange on a new connection nc and
// returns the agreed version. It reads exactly the answer's bytes, so the
// connection's reader starts at the first response.
func (c *Client) hello(ctx context.Context, nc net.Conn) (uint8, *Hello, error) {
	dl := time.Now().Add(helloTimeout)
	d, fromCtx := ctx.Deadline()
	if fromCtx = fromCtx && d.Before(dl); fromCtx {
		dl = d
	}
	_ = nc.SetDeadline(dl)
	defer nc.SetDeadline(time.Time{})
	out, err := appendFrame(nil, frame{kind: kindHello, payload: appendHello(nil, c.self)})
	if err != nil {
		return 0, nil, err
	}
	if _, err := nc.Write(out); err != nil {
		return 0, nil, closedAtHello(err)
	}
	f, err := readFrame(nc)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return 0, nil, fmt.Errorf("rpc: no hello answer: %w", ctx.Err())
		case fromCtx && errors.Is(err, os.ErrDeadlineExceeded):
			// The caller's deadline, a moment before its context noticed.
			return 0, nil, fmt.Errorf("rpc: no hello answer: %w", context.DeadlineExceeded)
		}
		return 0, nil, closedAtHello(err)
	}
	if f.kind != kindHelloAnswer {
		return 0, nil, fmt.Errorf("%w: answered with frame kind %d", errBadHello, f.kind)
	}
	a, err := parseHelloAnswer(f.payload)
	if err != nil {
		return 0, nil, err
	}
	if a.Chosen == 0 {
		return 0, &a.Hello, &ProtocolError{Local: c.self.Versions, Remote: a.Versions, Peer: a.Name, Addr: c.addr, Msg: a.Msg}
	}
	if a.Chosen < c.self.Min || a.Chosen > c.self.Max {
		return 0, &a.Hello, &ProtocolError{Local: c.self.Versions, Remote: a.Versions, Peer: a.Name, Addr: c.addr}
	}
	return a.Chosen, &a.Hello, nil
}

// closedAtHello maps the peer closing the connection (EOF, a reset) to
// errNoHello; any other error (a timeout) stays as it is.
func closedAtHello(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%w: %w", errNoHello, err)
	}
	return err
}

type protocolKey struct{}

// Protocol is the protocol version of the connection a request arrived
// on (ctx is its handler's), or 0 outside a handler.
func Protocol(ctx context.Context) uint8 {
	v, _ := ctx.Value(protocolKey{}).(uint8)
	return v
}

// accept is the server's side of the start of a connection: f is its
// first frame. It answers a hello, or takes a request as the legacy
// protocol, and returns the version the connection speaks; ok false
// closes the connection (refused, or a hello to a server that speaks
// only the legacy protocol and so, as those releases do, does not know
// one).
func (s *Server) accept(c net.Conn, w *frameWriter, f frame) (uint8, bool) {
	v := s.self.Versions
	switch f.kind {
	case kindRequest:
		if v.Min <= ProtocolLegacy {
			return ProtocolLegacy, true
		}
		err := &ProtocolError{Local: v, Remote: Versions{ProtocolLegacy, ProtocolLegacy}, Addr: c.RemoteAddr().String()}
		s.refused(err)
		// A legacy client reads the refusal as its request's error.
		_ = w.writeFrame(frame{kind: kindError, id: f.id, payload: []byte(s.refusalText(err))}, time.Now().Add(time.Second))
		return 0, false
	case kindHello:
		if v.Max < ProtocolHello {
			return 0, false
		}
		h, rest, err := parseHello(f.payload)
		if err == nil && len(rest) != 0 {
			err = fmt.Errorf("%w: %d trailing bytes", errBadHello, len(rest))
		}
		if err != nil {
			s.log.Warn("rpc: bad hello; closing the connection", "remote", c.RemoteAddr(), "err", err)
			return 0, false
		}
		a := helloAnswer{Hello: s.self, Chosen: Common(v, h.Versions)}
		if a.Chosen == 0 {
			perr := &ProtocolError{Local: v, Remote: h.Versions, Peer: h.Name, Addr: c.RemoteAddr().String()}
			s.refused(perr)
			a.Msg = s.refusalText(perr)
		}
		if err := w.writeFrame(frame{kind: kindHelloAnswer, payload: appendHelloAnswer(nil, a)}, time.Now().Add(time.Second)); err != nil {
			return 0, false
		}
		return a.Chosen, a.Chosen != 0
	}
	s.log.Warn("rpc: unexpected first frame from client", "remote", c.RemoteAddr(), "kind", f.kind)
	return 0, false
}

// refusalText is what a refused peer is told: the refusal from this
// node's side, named.
func (s *Server) refusalText(e *ProtocolError) string {
	t := refusal(e.Local, e.Remote, e.Peer, e.Addr)
	if s.self.Name != "" {
		t = s.self.Name + ": " + t
	}
	return t
}

// refused reports a connection refused for its version.
func (s *Server) refused(e *ProtocolError) {
	if s.OnRefused != nil {
		s.OnRefused(e)
	}
}
