package memnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// hostState is one machine: its ports and connections. It outlives crashes;
// its current process is cur.
type hostState struct {
	ip       string
	addr     net.IP
	cur      *Host // the live handle; nil after a crash until Host is called
	tcp      map[int]*listener
	udp      map[int]*GossipTransport
	conns    map[*Conn]struct{} // open connections, for Crash
	nextPort int
}

// Host is one process's view of a machine on the network: what a node uses
// to listen, dial and gossip. Its methods are safe for concurrent use.
// After the machine is crashed (Network.Crash) the handle is dead: its
// methods fail with an error wrapping net.ErrClosed.
type Host struct {
	nw   *Network
	st   *hostState
	dead bool // guarded by nw.mu
}

// IP is the host's address.
func (h *Host) IP() string { return h.st.ip }

// Listen binds a stream listener at addr ("host:port"; port 0 picks a free
// port). The host part must be empty, unspecified (0.0.0.0, ::) or the
// host's own IP. A port already bound fails with EADDRINUSE.
func (h *Host) Listen(addr string) (net.Listener, error) {
	port, err := h.bindAddr("listen", addr)
	if err != nil {
		return nil, err
	}
	nw := h.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if h.dead {
		return nil, h.deadErr("listen", addr)
	}
	if port == 0 {
		port = h.st.freePortLocked(false)
	} else if h.st.tcp[port] != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: h.tcpAddr(port), Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	l := newListener(h, port)
	h.st.tcp[port] = l
	return l, nil
}

// Gossip binds a memberlist transport at addr (port 0 picks one free for
// both its stream and packet sides) and returns it with the "host:port" it
// advertises. Its stream side is an ordinary listener on that port.
func (h *Host) Gossip(addr string) (memberlist.Transport, string, error) {
	port, err := h.bindAddr("listen", addr)
	if err != nil {
		return nil, "", err
	}
	nw := h.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if h.dead {
		return nil, "", h.deadErr("listen", addr)
	}
	if port == 0 {
		port = h.st.freePortLocked(true)
	} else if h.st.tcp[port] != nil || h.st.udp[port] != nil {
		return nil, "", &net.OpError{Op: "listen", Net: "udp", Addr: h.tcpAddr(port), Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	}
	g := &GossipTransport{
		host:     h,
		port:     port,
		from:     &net.UDPAddr{IP: h.st.addr, Port: port},
		packetCh: make(chan *memberlist.Packet, PacketQueue),
		ln:       newListener(h, port),
	}
	h.st.tcp[port] = g.ln
	h.st.udp[port] = g
	return g, net.JoinHostPort(h.st.ip, strconv.Itoa(port)), nil
}

// Dial opens a stream to addr ("ip:port"). It honours ctx's deadline and
// cancellation. A lost attempt (partition, Link.ConnectLoss, a full
// backlog, a paused dialer) is retried like a lost SYN: after 1 s, 2 s, 4 s
// ..., failing with ETIMEDOUT 127 s after the first. No listener on the
// port fails at once with ECONNREFUSED, an IP no host has with
// EHOSTUNREACH. A successful dial takes one round trip of Link latency.
func (h *Host) Dial(ctx context.Context, addr string) (net.Conn, error) {
	ip, port, err := splitAddr(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	nw := h.nw
	raddr := &net.TCPAddr{IP: net.ParseIP(ip), Port: port}
	fail := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Source: h.tcpAddr(0), Addr: raddr, Err: err}
	}
	rto := synRTO
	for attempt := 0; ; attempt++ {
		nw.mu.Lock()
		if h.dead {
			nw.mu.Unlock()
			return nil, h.deadErr("dial", addr)
		}
		if _, ok := nw.hosts[ip]; !ok {
			nw.stats.StreamsRefused++
			nw.mu.Unlock()
			return nil, fail(os.NewSyscallError("connect", syscall.EHOSTUNREACH))
		}
		lost := nw.blockedLocked(h.st.ip, ip) || nw.paused[h.st.ip] ||
			nw.lossLocked(h.st.ip, ip, rngConnect, nw.linkLocked(h.st.ip, ip).ConnectLoss)
		var rtt time.Duration
		if !lost {
			rtt = nw.delayLocked(h.st.ip, ip, rngConnect) + nw.delayLocked(ip, h.st.ip, rngConnect)
		}
		nw.mu.Unlock()

		if !lost {
			if err := sleepCtx(ctx, rtt); err != nil {
				nw.countTimeout()
				return nil, fail(err)
			}
			c, err := h.connect(ip, port, raddr)
			if c != nil || err != nil {
				if err != nil {
					return nil, fail(err)
				}
				return c, nil
			}
			// The backlog was full: the SYN is dropped, as Linux does.
		}
		nw.mu.Lock()
		nw.stats.SYNsLost++
		nw.mu.Unlock()
		if attempt == synRetries {
			if err := sleepCtx(ctx, rto); err != nil {
				nw.countTimeout()
				return nil, fail(err)
			}
			nw.countTimeout()
			return nil, fail(os.NewSyscallError("connect", syscall.ETIMEDOUT))
		}
		if err := sleepCtx(ctx, rto); err != nil {
			nw.countTimeout()
			return nil, fail(err)
		}
		rto *= 2
	}
}

// DialContext is Dial with net.Dialer's signature, for http.Transport and
// the like. network must be "tcp", "tcp4" or "tcp6".
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return h.Dial(ctx, addr)
	}
	return nil, &net.OpError{Op: "dial", Net: network, Err: net.UnknownNetworkError(network)}
}

// connect ends a handshake that reached ip: it returns the client end of a
// new connection, a refusal, or (nil, nil) when the backlog is full.
func (h *Host) connect(ip string, port int, raddr *net.TCPAddr) (*Conn, error) {
	nw := h.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if h.dead {
		return nil, net.ErrClosed
	}
	l := nw.hosts[ip].tcp[port]
	if l == nil || l.closed {
		nw.stats.StreamsRefused++
		return nil, os.NewSyscallError("connect", syscall.ECONNREFUSED)
	}
	if len(l.backlog)+len(l.held) >= Backlog {
		return nil, nil
	}
	c, s := nw.newConnLocked(h, l.host, raddr)
	l.queueLocked(s)
	nw.stats.StreamsOpened++
	return c, nil
}

func (nw *Network) countTimeout() {
	nw.mu.Lock()
	nw.stats.StreamsTimedOut++
	nw.mu.Unlock()
}

// newConnLocked creates both ends of a connection from client to the
// server host's address saddr.
func (nw *Network) newConnLocked(client, server *Host, saddr *net.TCPAddr) (c, s *Conn) {
	caddr := client.tcpAddr(client.st.freePortLocked(false))
	nw.nextConnID++
	c = &Conn{nw: nw, host: client, id: nw.nextConnID, laddr: caddr, raddr: saddr, linger: -1}
	nw.nextConnID++
	s = &Conn{nw: nw, host: server, id: nw.nextConnID, laddr: saddr, raddr: caddr, linger: -1}
	c.out = newPipe(nw, c, s)
	s.out = newPipe(nw, s, c)
	c.in, s.in = s.out, c.out
	client.st.conns[c] = struct{}{}
	server.st.conns[s] = struct{}{}
	return c, s
}

// bindAddr checks a local address and returns its port.
func (h *Host) bindAddr(op, addr string) (int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, &net.OpError{Op: op, Net: "tcp", Err: err}
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return 0, &net.OpError{Op: op, Net: "tcp", Err: fmt.Errorf("memnet: bad port in %q", addr)}
	}
	if host != "" {
		a := net.ParseIP(host)
		if a == nil || !(a.IsUnspecified() || a.Equal(h.st.addr)) {
			return 0, &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
		}
	}
	return port, nil
}

// freePortLocked returns a port free for TCP (and UDP too if both).
func (st *hostState) freePortLocked(both bool) int {
	for range lastPort - firstPort + 1 {
		p := st.nextPort
		st.nextPort++
		if st.nextPort > lastPort {
			st.nextPort = firstPort
		}
		if st.tcp[p] == nil && (!both || st.udp[p] == nil) {
			return p
		}
	}
	panic("memnet: no free port on " + st.ip)
}

func (h *Host) tcpAddr(port int) *net.TCPAddr {
	return &net.TCPAddr{IP: h.st.addr, Port: port}
}

func (h *Host) deadErr(op, addr string) error {
	return &net.OpError{Op: op, Net: "tcp", Err: fmt.Errorf("memnet: host %s crashed (%s): %w", h.st.ip, addr, net.ErrClosed)}
}

// splitAddr parses "ip:port".
func splitAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return "", 0, &net.DNSError{Err: "memnet resolves no names", Name: host, IsNotFound: true}
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("memnet: bad port in %q", addr)
	}
	return ip.String(), port, nil
}

// sleepCtx waits d or until ctx ends, returning the dial error for the
// latter: a timeout error when ctx's deadline passed.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return ctxErr(err)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx.Err())
	}
}

// ctxErr maps a context error the way package net does: a deadline becomes
// an i/o timeout (a net.Error with Timeout true) that still matches
// context.DeadlineExceeded and os.ErrDeadlineExceeded with errors.Is.
func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return dialTimeout{}
	}
	return err
}

type dialTimeout struct{}

func (dialTimeout) Error() string   { return "i/o timeout" }
func (dialTimeout) Timeout() bool   { return true }
func (dialTimeout) Temporary() bool { return true }
func (dialTimeout) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}
