package rpc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxFrameBytes bounds one frame. A key's whole state (all siblings) travels
// in one frame, so this must exceed node's state limit.
const MaxFrameBytes = 64 << 20

const (
	kindRequest  = 1
	kindOK       = 2
	kindError    = 3
	headerLen    = 4 + 1 + 8
	reqHeaderLen = 1 + 4
)

var (
	// ErrClosed is returned by calls on a closed Client or Server.
	ErrClosed = errors.New("rpc: closed")
	// ErrFrameTooLarge is returned for a frame over MaxFrameBytes.
	ErrFrameTooLarge = errors.New("rpc: frame too large")
	// ErrNotSent is wrapped by Call's errors when the request certainly
	// never reached the peer (no connection could be made, or the client
	// is closed), so retrying it elsewhere cannot duplicate it.
	ErrNotSent = errors.New("rpc: request not sent")
)

// RemoteError is an error the peer's handler returned.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "rpc: remote: " + e.Msg }

// Handler serves one request. It may block; it is called concurrently from
// many goroutines. ctx ends at the request's deadline or when the server
// closes. The returned payload is owned by the server after return.
type Handler func(ctx context.Context, method uint8, payload []byte) ([]byte, error)

// frame is one decoded frame.
type frame struct {
	kind    uint8
	id      uint64
	method  uint8
	timeout uint32
	payload []byte
}

// readFrame reads one frame from r.
func readFrame(r io.Reader) (frame, error) {
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	if n > MaxFrameBytes {
		return frame{}, ErrFrameTooLarge
	}
	if n < 1+8 {
		return frame{}, fmt.Errorf("rpc: short frame (%d bytes)", n)
	}
	f := frame{kind: hdr[4], id: binary.BigEndian.Uint64(hdr[5:13])}
	rest, err := readN(r, int(n)-(1+8))
	if err != nil {
		return frame{}, err
	}
	switch f.kind {
	case kindRequest:
		if len(rest) < reqHeaderLen {
			return frame{}, errors.New("rpc: short request frame")
		}
		f.method = rest[0]
		f.timeout = binary.BigEndian.Uint32(rest[1:5])
		f.payload = rest[5:]
	case kindOK, kindError, kindHello, kindHelloAnswer:
		f.payload = rest
	default:
		return frame{}, fmt.Errorf("rpc: unknown frame kind %d", f.kind)
	}
	return f, nil
}

// eagerFrameBytes is the most readN allocates before the bytes arrive:
// a frame up to this size (almost every frame) is read into one buffer of
// its claimed length; a larger one into a buffer that doubles as its bytes
// arrive, so a peer that claims 64 MiB and sends nothing costs 64 KiB, not
// 64 MiB.
const eagerFrameBytes = 64 << 10

// readN reads exactly n bytes from r, allocating as they arrive (see
// eagerFrameBytes).
func readN(r io.Reader, n int) ([]byte, error) {
	if n <= eagerFrameBytes {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b := make([]byte, 0, eagerFrameBytes)
	for len(b) < n {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(cap(b), n-len(b))) // double, up to n
		}
		m := min(cap(b), n) - len(b)
		if _, err := io.ReadFull(r, b[len(b):len(b)+m]); err != nil {
			return nil, err
		}
		b = b[:len(b)+m]
	}
	return b, nil
}

// appendFrame encodes f.
func appendFrame(b []byte, f frame) ([]byte, error) {
	b, err := appendHeader(b, f)
	if err != nil {
		return nil, err
	}
	return append(b, f.payload...), nil
}

// appendHeader encodes f's header: what precedes its payload.
func appendHeader(b []byte, f frame) ([]byte, error) {
	n := 1 + 8 + len(f.payload)
	if f.kind == kindRequest {
		n += reqHeaderLen
	}
	if n > MaxFrameBytes {
		return nil, ErrFrameTooLarge
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, f.kind)
	b = binary.BigEndian.AppendUint64(b, f.id)
	if f.kind == kindRequest {
		b = append(b, f.method)
		b = binary.BigEndian.AppendUint32(b, f.timeout)
	}
	return b, nil
}

// Dialer returns a dialer whose connections originate from localIP.
func Dialer(localIP string, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 15 * time.Second}
	if ip := net.ParseIP(localIP); ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

// Client is a multiplexed connection to one peer. It dials lazily and
// redials after a failure. Safe for concurrent use.
type Client struct {
	addr string
	dial DialFunc
	log  *slog.Logger
	// self is what this side says in its hello (SetHello).
	self Hello
	// OnRefused, if set, is called when a connection is refused for its
	// protocol version, by the peer or by this client (node counts and
	// logs it). Set it before the first Call; it must not block.
	OnRefused func(*ProtocolError)
	// OnConnect, if set, is called with the protocol version of each
	// connection the client opens. Set it before the first Call; it must
	// not block.
	OnConnect func(proto uint8)

	mu struct {
		sync.Mutex
		conn    *clientConn
		nextID  uint64
		closed  bool
		dialing chan struct{} // closed when the current dial ends
	}
}

// clientConn is one live connection and its pending calls.
type clientConn struct {
	c       net.Conn
	w       *frameWriter
	mu      sync.Mutex
	pending map[uint64]chan frame
	err     error // set when the reader exits
	done    chan struct{}
	// lastRead is when the reader last got a frame (UnixNano): a call
	// that times out with nothing heard from the peer for as long resets
	// the connection (see Call).
	lastRead atomic.Int64
	// closed is set when this side closes the connection (abort, Close):
	// new calls dial a fresh one at once rather than queue on this one
	// before its reader has noticed.
	closed atomic.Bool
	// proto is the protocol version the connection speaks.
	proto uint8
}

// usable reports whether new calls may use cc.
func (cc *clientConn) usable() bool {
	select {
	case <-cc.done:
		return false
	default:
		return !cc.closed.Load()
	}
}

// DialFunc opens a connection to addr, honouring ctx's deadline. The
// network is the caller's: TCP (Dialer), or an in-memory one in tests and
// simulations.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// TCPDial returns a DialFunc for TCP whose connections originate from
// localIP (empty: any), each dial bounded by 2 s.
func TCPDial(localIP string) DialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		return Dialer(localIP, 2*time.Second).DialContext(ctx, "tcp", addr)
	}
}

// NewClient returns a client for the peer at addr whose connections are
// opened by dial (nil: TCPDial from any local address).
func NewClient(addr string, dial DialFunc, log *slog.Logger) *Client {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dial == nil {
		dial = TCPDial("")
	}
	return &Client{addr: addr, dial: dial, log: log, self: Hello{Versions: Versions{}.withDefaults()}}
}

// SetHello sets what the client says in its hello: the versions it speaks
// (zero ends: this build's) and its node name and software version. Call
// it before the first Call. A client whose range has no ProtocolHello
// sends no hello (a node pinned to the legacy protocol).
func (c *Client) SetHello(h Hello) {
	h.Versions = h.Versions.withDefaults()
	c.self = h
}

// Protocol is the protocol version of the client's live connection, or 0
// without one.
func (c *Client) Protocol() uint8 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc := c.mu.conn; cc != nil && cc.usable() {
		return cc.proto
	}
	return 0
}

// Addr is the peer's address.
func (c *Client) Addr() string { return c.addr }

// conn returns the live connection, dialing one if needed.
func (c *Client) conn(ctx context.Context) (*clientConn, error) {
	for {
		c.mu.Lock()
		if c.mu.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if cc := c.mu.conn; cc != nil {
			if cc.usable() {
				c.mu.Unlock()
				return cc, nil
			}
			c.mu.conn = nil
		}
		if wait := c.mu.dialing; wait != nil {
			c.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		wait := make(chan struct{})
		c.mu.dialing = wait
		c.mu.Unlock()

		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		nc, proto, err := c.open(dctx)
		cancel()
		if err == nil && c.OnConnect != nil {
			c.OnConnect(proto)
		}
		c.mu.Lock()
		c.mu.dialing = nil
		close(wait)
		if err != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("rpc: dial %s: %w", c.addr, err)
		}
		if c.mu.closed {
			c.mu.Unlock()
			nc.Close()
			return nil, ErrClosed
		}
		cc := &clientConn{c: nc, w: newFrameWriter(nc), pending: make(map[uint64]chan frame), done: make(chan struct{}), proto: proto}
		cc.lastRead.Store(time.Now().UnixNano())
		c.mu.conn = cc
		c.mu.Unlock()
		go cc.readLoop()
		return cc, nil
	}
}

// open dials the peer and agrees on a protocol version: with a hello when
// the client speaks ProtocolHello, and again without one, as the legacy
// protocol, when the peer closed the connection at the hello (a release
// before ProtocolHello) and the client speaks the legacy protocol too.
func (c *Client) open(ctx context.Context) (net.Conn, uint8, error) {
	nc, err := c.dial(ctx, c.addr)
	if err != nil {
		return nil, 0, err
	}
	if c.self.Max < ProtocolHello {
		return nc, ProtocolLegacy, nil
	}
	proto, _, err := c.hello(ctx, nc)
	if err == nil {
		return nc, proto, nil
	}
	nc.Close()
	if !errors.Is(err, errNoHello) || c.self.Min > ProtocolLegacy {
		if errors.Is(err, errNoHello) {
			err = &ProtocolError{Local: c.self.Versions, Remote: Versions{ProtocolLegacy, ProtocolLegacy}, Addr: c.addr}
		}
		var pe *ProtocolError
		if c.OnRefused != nil && errors.As(err, &pe) {
			c.OnRefused(pe)
		}
		return nil, 0, err
	}
	c.log.Debug("rpc: the peer speaks the legacy protocol; dialing again without a hello", "peer", c.addr)
	if nc, err = c.dial(ctx, c.addr); err != nil {
		return nil, 0, err
	}
	return nc, ProtocolLegacy, nil
}

// readLoop delivers responses until the connection fails.
func (cc *clientConn) readLoop() {
	r := bufio.NewReaderSize(cc.c, 32<<10)
	var err error
	for {
		var f frame
		f, err = readFrame(r)
		if err != nil {
			break
		}
		cc.lastRead.Store(time.Now().UnixNano())
		cc.mu.Lock()
		ch := cc.pending[f.id]
		delete(cc.pending, f.id)
		cc.mu.Unlock()
		if ch != nil {
			ch <- f // buffered 1
		}
	}
	cc.c.Close()
	cc.w.close()
	cc.mu.Lock()
	cc.err = err
	for id, ch := range cc.pending {
		close(ch)
		delete(cc.pending, id)
	}
	cc.mu.Unlock()
	close(cc.done)
}

// Call sends one request and waits for its response or for ctx to end.
// The request's timeout is ctx's deadline (or 30 s without one).
func (c *Client) Call(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	cc, err := c.conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	c.mu.Lock()
	c.mu.nextID++
	id := c.mu.nextID
	c.mu.Unlock()

	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, context.DeadlineExceeded
		}
	}
	ms := uint32(min(timeout.Milliseconds()+1, 1<<31))
	hdr, err := appendHeader(make([]byte, 0, headerLen+reqHeaderLen), frame{kind: kindRequest, id: id, method: method, timeout: ms, payload: payload})
	if err != nil {
		return nil, err
	}
	ch := make(chan frame, 1)
	cc.mu.Lock()
	if cc.err != nil || cc.pending == nil || cc.closed.Load() {
		cc.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: connection lost before sending", ErrNotSent, c.addr)
	}
	cc.pending[id] = ch
	cc.mu.Unlock()

	if err := cc.w.write(hdr, payload, time.Now().Add(timeout)); err != nil {
		// The writer had stopped (the connection failed): this frame was
		// never queued.
		cc.forget(id)
		return nil, fmt.Errorf("%w: %s: %w", ErrNotSent, c.addr, err)
	}

	select {
	case f, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("rpc: %s: connection lost", c.addr)
		}
		if f.kind == kindError {
			if err := ctx.Err(); err != nil {
				// The peer gave up at the deadline we sent it: ours.
				return nil, err
			}
			if _, ok := ctx.Deadline(); ok && strings.HasSuffix(string(f.payload), context.DeadlineExceeded.Error()) {
				// The same, when the peer's timer fired a moment
				// before ours did.
				return nil, context.DeadlineExceeded
			}
			return nil, &RemoteError{Msg: string(f.payload)}
		}
		return f.payload, nil
	case <-ctx.Done():
		cc.forget(id)
		if time.Since(time.Unix(0, cc.lastRead.Load())) >= timeout {
			// Nothing heard from the peer for the whole call: it is
			// likely unreachable, and the kernel would keep
			// retransmitting this request for many minutes, to be
			// applied whenever the path heals, long after the caller
			// gave up (a late write landing after its key's delete was
			// reaped would bring it back). Reset the connection so the
			// unsent bytes are discarded; other calls on it fail.
			cc.abort()
		}
		return nil, ctx.Err()
	}
}

// abort resets the connection (RST, not FIN): unsent bytes are dropped.
func (cc *clientConn) abort() {
	// Any connection that can reset (TCP, memnet): discard what is queued
	// so a timed-out request cannot land later.
	cc.closed.Store(true)
	if lc, ok := cc.c.(interface{ SetLinger(sec int) error }); ok {
		_ = lc.SetLinger(0)
	}
	cc.c.Close()
}

func (cc *clientConn) forget(id uint64) {
	cc.mu.Lock()
	delete(cc.pending, id)
	cc.mu.Unlock()
}

// Close closes the connection; pending calls fail. Idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	c.mu.closed = true
	cc := c.mu.conn
	c.mu.conn = nil
	c.mu.Unlock()
	if cc != nil {
		cc.c.Close()
		<-cc.done
	}
	return nil
}

// Server accepts connections and serves requests with a Handler.
type Server struct {
	// Handshake, if set, runs first on each accepted connection, in the
	// connection's goroutine, and returns the context the connection's
	// requests' handlers derive from (node uses it for the TLS handshake
	// and the peer's verified name). An error closes the connection
	// before any of it is read. Set it before Serve; it must honour ctx
	// (cancelled by Close) and return.
	Handshake func(ctx context.Context, c net.Conn) (context.Context, error)
	// OnRefused, if set, is called for each connection refused because
	// its peer speaks no protocol version this server does, before the
	// connection closes (node counts and logs it). Set it before Serve;
	// it must not block.
	OnRefused func(*ProtocolError)
	// OnConnect, if set, is called with the protocol version of each
	// connection accepted, once agreed. Set it before Serve; it must not
	// block.
	OnConnect func(proto uint8)

	// self is what the server says in its hello answers (SetHello).
	self    Hello
	handler Handler
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	limits ServerLimits

	mu struct {
		sync.Mutex
		lns    []net.Listener
		conns  map[net.Conn]struct{}
		perIP  map[string]int // connections open per remote IP (limits.MaxConnsPerIP)
		closed bool
	}

	// Stall guard: beat is when the heartbeat last ran, stalledAt when it
	// last found a gap (UnixNano, monotonic readings). See stalled.
	beat, stalledAt atomic.Int64
	beating         sync.Once
}

// Stall guard. A process that was paused (SIGSTOP, a VM freeze, a long GC)
// finds, when it resumes, requests its kernel queued meanwhile: reading
// them then would run writes long after their senders gave up, when what
// they carry may be obsolete (a delete's tombstone reaped since). After a
// pause longer than stallThreshold the server answers every request it
// reads in the next stallGrace with an error and closes the connection,
// which discards whatever else was queued on it; the senders' calls fail.
const (
	stallThreshold = 5 * time.Second // far above a GC pause or a loaded scheduler, far below reapMargin
	stallGrace     = 2 * time.Second
	beatInterval   = 100 * time.Millisecond
)

// ErrStalled is the error text a request gets after the server was paused.
var ErrStalled = errors.New("rpc: the server was paused; request dropped")

func (s *Server) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(beatInterval)
	defer t.Stop()
	s.beat.Store(time.Now().UnixNano())
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			now := time.Now().UnixNano()
			if now-s.beat.Load() > int64(stallThreshold) {
				s.stalledAt.Store(now)
				s.log.Warn("rpc: this process was paused; requests queued meanwhile are dropped", "paused", time.Duration(now-s.beat.Load()))
			}
			s.beat.Store(now)
		}
	}
}

// stalled reports whether a request read now may have been queued during
// a pause: the heartbeat has not run for stallThreshold (the pause is not
// over for it yet), or it found a pause less than stallGrace ago. Either
// order in which the resumed goroutines run is caught.
func (s *Server) stalled() bool {
	now := time.Now().UnixNano()
	beat := s.beat.Load()
	return beat != 0 && (now-beat > int64(stallThreshold) || now-s.stalledAt.Load() < int64(stallGrace))
}

// MaxInflightPerConn bounds concurrent requests served for one connection,
// so one peer can't make this node spawn unbounded goroutines.
const MaxInflightPerConn = 512

// ServerLimits bound what a peer can make a Server hold. Zero fields are
// no limit.
type ServerLimits struct {
	// FrameTimeout bounds how long the rest of a frame may take to arrive
	// once its first byte has: a peer that stalls mid-frame has its
	// connection closed.
	FrameTimeout time.Duration
	// IdleTimeout closes a connection that has no request in flight and
	// sends none for this long (a client reconnects when it next calls).
	IdleTimeout time.Duration
	// MaxConnsPerIP bounds the connections one remote IP address holds
	// open; one past it is closed as soon as it is accepted.
	MaxConnsPerIP int
}

// SetHello sets the versions the server speaks (zero ends: this build's)
// and the name and software version its hello answers give. Call it
// before Serve. A server whose range has no ProtocolHello closes a
// connection that starts with a hello, as releases before it do.
func (s *Server) SetHello(h Hello) {
	h.Versions = h.Versions.withDefaults()
	s.self = h
}

// SetLimits sets the server's limits; call it before Serve.
func (s *Server) SetLimits(l ServerLimits) { s.limits = l }

// remoteIP is the address a connection's per-IP limit counts it under.
func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

// NewServer returns a server that calls h for each request.
func NewServer(h Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{handler: h, log: log, ctx: ctx, cancel: cancel, self: Hello{Versions: Versions{}.withDefaults()}}
	s.mu.conns = make(map[net.Conn]struct{})
	s.mu.perIP = make(map[string]int)
	return s
}

// Serve accepts connections on ln until Close. It returns ErrClosed after
// Close, or the accept error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	s.mu.lns = append(s.mu.lns, ln)
	s.wg.Add(1)
	s.beating.Do(func() { s.wg.Add(1); go s.heartbeat() })
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.mu.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			c.Close()
			return ErrClosed
		}
		ip := remoteIP(c)
		if max := s.limits.MaxConnsPerIP; max > 0 && s.mu.perIP[ip] >= max {
			s.mu.Unlock()
			c.Close()
			s.log.Warn("rpc: connection refused: too many from one address", "remote", ip, "limit", max)
			continue
		}
		s.mu.perIP[ip]++
		s.mu.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.mu.conns, c)
		ip := remoteIP(c)
		if s.mu.perIP[ip]--; s.mu.perIP[ip] <= 0 {
			delete(s.mu.perIP, ip)
		}
		s.mu.Unlock()
	}()
	ctx := s.ctx
	if s.Handshake != nil {
		hctx, err := s.Handshake(s.ctx, c)
		if err != nil {
			return // refused: not one byte is read or answered
		}
		ctx = hctx
	}
	r := bufio.NewReaderSize(c, 32<<10)
	w := newFrameWriter(c)
	defer w.close() // after the handlers have queued their answers
	sem := make(chan struct{}, MaxInflightPerConn)
	var reqs sync.WaitGroup
	defer reqs.Wait()
	var proto uint8 // agreed at the first frame (accept)
	// await waits for the first byte of the next frame, at most
	// IdleTimeout while no request of this connection is in flight.
	await := func() error {
		for {
			var dl time.Time
			if s.limits.IdleTimeout > 0 {
				dl = time.Now().Add(s.limits.IdleTimeout)
			}
			_ = c.SetReadDeadline(dl)
			_, err := r.Peek(1)
			var ne net.Error
			if err != nil && errors.As(err, &ne) && ne.Timeout() && len(sem) > 0 {
				continue // not idle: answers are still to come
			}
			return err
		}
	}
	for {
		err := await()
		if err == nil && s.limits.FrameTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(s.limits.FrameTimeout))
		}
		var f frame
		if err == nil {
			f, err = readFrame(r)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Debug("rpc: connection ended", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
		if proto == 0 {
			var ok bool
			if proto, ok = s.accept(c, w, f); !ok {
				return
			}
			ctx = context.WithValue(ctx, protocolKey{}, proto)
			if s.OnConnect != nil {
				s.OnConnect(proto)
			}
			if f.kind == kindHello {
				continue
			}
		}
		if f.kind != kindRequest {
			s.log.Warn("rpc: unexpected frame from client", "remote", c.RemoteAddr(), "kind", f.kind)
			return
		}
		if s.stalled() {
			_ = w.writeFrame(frame{kind: kindError, id: f.id, payload: []byte(ErrStalled.Error())}, time.Now().Add(time.Second))
			return // closing drops whatever else was queued on the connection
		}
		select {
		case sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		reqs.Add(1)
		go func() {
			defer reqs.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(ctx, time.Duration(f.timeout)*time.Millisecond)
			out, herr := s.handler(ctx, f.method, f.payload)
			cancel()
			resp := frame{kind: kindOK, id: f.id, payload: out}
			if herr != nil {
				resp = frame{kind: kindError, id: f.id, payload: []byte(herr.Error())}
			}
			dl := time.Now().Add(10 * time.Second)
			err := w.writeFrame(resp, dl)
			if errors.Is(err, ErrFrameTooLarge) {
				err = w.writeFrame(frame{kind: kindError, id: f.id, payload: []byte(err.Error())}, dl)
			}
			if err != nil {
				c.Close()
			}
		}()
	}
}

// Close stops accepting, closes every connection, cancels running handlers
// and waits for them. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.mu.closed = true
	for _, ln := range s.mu.lns {
		ln.Close()
	}
	for c := range s.mu.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// frameWriter writes whole frames to one connection for any number of
// goroutines through one writer goroutine per connection: a frame is put
// on the connection's queue, and the writer takes everything queued, writes
// it into its buffer and flushes once. Frames queued while it is in a write
// syscall (or waits to be scheduled, on a busy machine) go out together in
// the next flush, so a burst of calls (or of answers) on one connection
// costs one write syscall instead of one each. No frame waits for a later
// one that may not come: the writer flushes whenever its queue is empty.
//
// The payload of a queued frame is referenced until it is written: a
// caller must not change it after write returns.
type frameWriter struct {
	c    net.Conn
	wake chan struct{} // buffered 1: something was queued
	stop chan struct{} // closed by close: drain, then exit
	done chan struct{} // closed when the writer has exited
	once sync.Once

	mu struct {
		sync.Mutex
		q   []outFrame
		err error // the write error that ended the writer; later writes fail with it
	}
	// frames and flushes count what went out (frames per flush shows the
	// coalescing; BenchmarkCallParallel reports it).
	frames, flushes atomic.Uint64
}

type outFrame struct {
	hdr, payload []byte
	deadline     time.Time
}

// errWriterClosed fails a frame queued after the writer stopped.
var errWriterClosed = errors.New("rpc: connection writer closed")

func newFrameWriter(c net.Conn) *frameWriter {
	fw := &frameWriter{c: c, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go fw.loop()
	return fw
}

// writeFrame is write of f, encoded.
func (fw *frameWriter) writeFrame(f frame, deadline time.Time) error {
	hdr, err := appendHeader(make([]byte, 0, headerLen+reqHeaderLen), f)
	if err != nil {
		return err
	}
	return fw.write(hdr, f.payload, deadline)
}

// write queues one encoded frame (its header and its payload, never copied
// into a frame of their own) for the writer; deadline bounds the write of
// the batch it goes out in. It fails only if the writer already stopped
// (a write error, or close): a frame queued is written unless the
// connection fails, and then the caller learns it as it would on any
// connection loss (the reader fails and releases every pending call).
func (fw *frameWriter) write(hdr, payload []byte, deadline time.Time) error {
	fw.mu.Lock()
	if err := fw.mu.err; err != nil {
		fw.mu.Unlock()
		return err
	}
	fw.mu.q = append(fw.mu.q, outFrame{hdr: hdr, payload: payload, deadline: deadline})
	fw.mu.Unlock()
	select {
	case fw.wake <- struct{}{}:
	default: // already woken: the writer will see this frame
	}
	return nil
}

// close stops the writer once it has written what is queued (bounded by
// the frames' deadlines), and waits for it. Idempotent.
func (fw *frameWriter) close() {
	fw.once.Do(func() { close(fw.stop) })
	<-fw.done
}

// loop is the writer goroutine: it drains the queue into the buffer and
// flushes once per batch. A write error closes the connection (its reader
// then fails every pending call) and fails every later write.
func (fw *frameWriter) loop() {
	defer close(fw.done)
	w := bufio.NewWriterSize(fw.c, 32<<10)
	var batch []outFrame
	for {
		stopping := false
		select {
		case <-fw.wake:
		case <-fw.stop:
			stopping = true
		}
		fw.mu.Lock()
		batch, fw.mu.q = fw.mu.q, batch[:0]
		if stopping {
			fw.mu.err = errWriterClosed
		}
		fw.mu.Unlock()
		if len(batch) > 0 {
			var dl time.Time
			for _, f := range batch {
				if f.deadline.After(dl) {
					dl = f.deadline
				}
			}
			_ = fw.c.SetWriteDeadline(dl)
			var err error
			for _, f := range batch {
				if _, err = w.Write(f.hdr); err != nil {
					break
				}
				if _, err = w.Write(f.payload); err != nil {
					break
				}
			}
			fw.frames.Add(uint64(len(batch)))
			fw.flushes.Add(1)
			if err == nil {
				err = w.Flush()
			}
			clear(batch) // drop the payloads
			if err != nil {
				fw.mu.Lock()
				fw.mu.err = err
				fw.mu.q = nil
				fw.mu.Unlock()
				fw.c.Close()
				return
			}
		}
		if stopping {
			return
		}
	}
}
