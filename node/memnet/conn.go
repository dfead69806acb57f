package memnet

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// segKind is what a segment carries.
type segKind uint8

const (
	segData segKind = iota
	segFIN          // the writer closed its side: EOF after the data before it
	segRST          // the writer reset the connection
)

// segment is one unit sent on a pipe.
type segment struct {
	kind segKind
	data []byte
	at   time.Time // when it arrives, if the path is open by then
}

// pipe is one direction of a connection: what src writes, dst reads. Its
// segments arrive in the order they were sent, each no earlier than its at
// and only while the path src → dst is open (no partition, cut or pause);
// until then they wait in flight.
type pipe struct {
	nw       *Network
	src, dst *Conn
	from, to string     // the hosts' IPs
	cond     *sync.Cond // on nw.mu; the reader waits for data, the writer for window
	flight   []segment  // sent, not yet arrived
	inFlight int        // data bytes in flight
	buf      []byte     // arrived, unread
	fin      bool       // a FIN arrived: EOF once buf is read
	last     time.Time  // arrival time of the last segment sent
	timer    *time.Timer
	armed    bool // timer is set for flight[0]
	stalled  bool // on nw.stalled
}

func newPipe(nw *Network, src, dst *Conn) *pipe {
	return &pipe{nw: nw, src: src, dst: dst, from: src.host.st.ip, to: dst.host.st.ip, cond: sync.NewCond(&nw.mu)}
}

// queued is the window the pipe uses: bytes in flight plus unread.
func (p *pipe) queued() int { return p.inFlight + len(p.buf) }

// sendLocked puts s in flight after one drawn delay, behind every earlier
// segment.
func (p *pipe) sendLocked(s segment) {
	at := time.Now().Add(p.nw.delayLocked(p.from, p.to, rngStream))
	if at.Before(p.last) {
		at = p.last
	}
	p.last = at
	s.at = at
	p.flight = append(p.flight, s)
	p.inFlight += len(s.data)
	p.pumpLocked()
}

// discardLocked drops everything in flight (a reset).
func (p *pipe) discardLocked() {
	p.flight = nil
	p.inFlight = 0
	p.cond.Broadcast()
}

// pumpLocked delivers the segments that are due, if the path is open, and
// sets the timer for the next one. A closed path stalls the pipe until
// Heal, Partition, Resume or Crash pumps it again.
func (p *pipe) pumpLocked() {
	if len(p.flight) == 0 {
		return
	}
	if !p.nw.openLocked(p.from, p.to) {
		p.nw.stallLocked(p)
		return
	}
	now := time.Now()
	for len(p.flight) > 0 && !p.flight[0].at.After(now) {
		s := p.flight[0]
		p.flight[0] = segment{}
		p.flight = p.flight[1:]
		p.inFlight -= len(s.data)
		p.arriveLocked(s) // may reset p.src, which discards p.flight
	}
	if len(p.flight) == 0 {
		p.flight = nil
		return
	}
	if !p.armed {
		p.armed = true
		d := p.flight[0].at.Sub(now)
		if p.timer == nil {
			p.timer = time.AfterFunc(d, p.fire)
		} else {
			p.timer.Reset(d)
		}
	}
}

func (p *pipe) fire() {
	p.nw.mu.Lock()
	defer p.nw.mu.Unlock()
	p.armed = false
	p.pumpLocked()
}

// arriveLocked is the receiving kernel's handling of one segment.
func (p *pipe) arriveLocked(s segment) {
	r := p.dst
	switch {
	case r.reset:
		// The connection is gone on this side; nothing to do.
	case s.kind == segRST:
		p.nw.stats.StreamResets++
		r.reset = true
		p.buf = nil
		r.out.discardLocked()
		p.cond.Broadcast()
	case s.kind == segFIN:
		p.fin = true
		p.cond.Broadcast()
	case r.closed:
		// Data for a socket its process closed: the kernel answers
		// with a reset.
		r.resetLocked()
		p.cond.Broadcast() // the window the data took is free
	default:
		if p.buf == nil {
			p.buf = s.data // the segment's own copy: no need for another
		} else {
			p.buf = append(p.buf, s.data...)
		}
		p.cond.Broadcast()
	}
}

// Conn is one end of an in-memory stream connection. It implements net.Conn
// with TCP's observable behaviour, and its methods are safe for concurrent
// use:
//
//   - Write returns once its bytes are queued (Window bytes per direction,
//     in flight plus unread); it blocks while the window is full.
//   - Read blocks until bytes arrive; it returns io.EOF after the peer's
//     close once every byte before it was read.
//   - Deadlines are honoured with timers: a blocked call returns an error
//     matching os.ErrDeadlineExceeded (a net.Error with Timeout true)
//     when its deadline passes, or at once when it is moved to the past.
//   - Close makes blocked and later calls on this end fail with
//     net.ErrClosed. It sends a FIN, or a reset if unread bytes remain or
//     SetLinger(0) was called (as Linux does).
//   - A reset reaching this end makes Read and Write fail with ECONNRESET.
//     Bytes that reach an end after its Close draw a reset back.
type Conn struct {
	nw           *Network
	host         *Host
	id           uint64
	laddr, raddr *net.TCPAddr
	in, out      *pipe

	// Guarded by nw.mu.
	closed  bool // Close was called (or the host crashed)
	wclosed bool // a FIN was sent
	reset   bool // an RST was sent or received: the connection is gone
	linger  int  // SetLinger's value; 0 resets on Close
	rd, wd  deadline
}

// deadline is one direction's deadline.
type deadline struct {
	timer   *time.Timer
	gen     uint64 // which setting the timer belongs to
	expired bool
}

// setLocked sets the deadline to t and wakes the waiters on cond, which
// re-check it.
func (d *deadline) setLocked(nw *Network, t time.Time, cond *sync.Cond) {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.expired = false
	if !t.IsZero() {
		if wait := time.Until(t); wait <= 0 {
			d.expired = true
		} else {
			gen := d.gen
			d.timer = time.AfterFunc(wait, func() {
				nw.mu.Lock()
				defer nw.mu.Unlock()
				if d.gen == gen {
					d.expired = true
					cond.Broadcast()
				}
			})
		}
	}
	cond.Broadcast()
}

func (d *deadline) stopLocked() {
	d.gen++
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// Read reads arrived bytes; see Conn for when it blocks and what it returns.
func (c *Conn) Read(b []byte) (int, error) {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	p := c.in
	for {
		switch {
		case c.closed:
			return 0, c.opErr("read", net.ErrClosed)
		case c.rd.expired:
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		case c.reset:
			return 0, c.opErr("read", os.NewSyscallError("read", syscall.ECONNRESET))
		case len(b) == 0:
			return 0, nil
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[n:]
			if len(p.buf) == 0 {
				p.buf = nil
			}
			p.cond.Broadcast() // window for the writer
			return n, nil
		case p.fin:
			return 0, io.EOF
		}
		p.cond.Wait()
	}
}

// Write queues b for the peer; see Conn for when it blocks. On an error it
// returns how many bytes were queued before it.
func (c *Conn) Write(b []byte) (int, error) {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	p := c.out
	n := 0
	for {
		switch {
		case c.closed:
			return n, c.opErr("write", net.ErrClosed)
		case c.wd.expired:
			return n, c.opErr("write", os.ErrDeadlineExceeded)
		case c.reset:
			return n, c.opErr("write", os.NewSyscallError("write", syscall.ECONNRESET))
		case c.wclosed:
			return n, c.opErr("write", os.NewSyscallError("write", syscall.EPIPE))
		case len(b) == 0:
			return n, nil
		}
		space := Window - p.queued()
		if space <= 0 {
			p.cond.Wait()
			continue
		}
		k := min(space, len(b))
		data := make([]byte, k)
		copy(data, b)
		c.nw.stats.StreamBytes += int64(k)
		p.sendLocked(segment{kind: segData, data: data})
		n += k
		b = b[k:]
	}
}

// Close closes this end; see Conn. A second Close returns an error
// wrapping net.ErrClosed.
func (c *Conn) Close() error {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	if c.closed {
		return c.opErr("close", net.ErrClosed)
	}
	c.closeLocked(c.linger == 0 || len(c.in.buf) > 0)
	return nil
}

// closeLocked closes this end, with a reset if abort, else with a FIN.
func (c *Conn) closeLocked(abort bool) {
	if c.closed {
		return
	}
	c.closed = true
	delete(c.host.st.conns, c)
	c.rd.stopLocked()
	c.wd.stopLocked()
	switch {
	case c.reset:
	case abort:
		c.resetLocked()
	case !c.wclosed:
		c.wclosed = true
		c.out.sendLocked(segment{kind: segFIN})
	}
	c.in.cond.Broadcast()
	c.out.cond.Broadcast()
}

// resetLocked aborts the connection from this end: unsent bytes are
// discarded and an RST goes to the peer.
func (c *Conn) resetLocked() {
	if c.reset {
		return
	}
	c.reset = true
	c.in.buf = nil
	c.out.discardLocked()
	c.out.sendLocked(segment{kind: segRST})
	c.in.cond.Broadcast()
}

// CloseWrite sends a FIN: the peer reads EOF after the bytes written so
// far, while this end can still read.
func (c *Conn) CloseWrite() error {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	switch {
	case c.closed:
		return c.opErr("close", net.ErrClosed)
	case c.reset:
		return c.opErr("close", os.NewSyscallError("shutdown", syscall.ENOTCONN))
	case !c.wclosed:
		c.wclosed = true
		c.out.sendLocked(segment{kind: segFIN})
		c.out.cond.Broadcast()
	}
	return nil
}

// SetLinger is *net.TCPConn's: with sec == 0, Close resets the connection
// and discards bytes not yet delivered (what a caller does to stop a
// request from landing late); other values keep the default close.
func (c *Conn) SetLinger(sec int) error {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	c.linger = sec
	return nil
}

// LocalAddr is this end's address, a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr is the peer's address, a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	if c.closed {
		return c.opErr("set deadline", net.ErrClosed)
	}
	c.rd.setLocked(c.nw, t, c.in.cond)
	c.wd.setLocked(c.nw, t, c.out.cond)
	return nil
}

// SetReadDeadline sets the read deadline; the zero time clears it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	if c.closed {
		return c.opErr("set deadline", net.ErrClosed)
	}
	c.rd.setLocked(c.nw, t, c.in.cond)
	return nil
}

// SetWriteDeadline sets the write deadline; the zero time clears it.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	if c.closed {
		return c.opErr("set deadline", net.ErrClosed)
	}
	c.wd.setLocked(c.nw, t, c.out.cond)
	return nil
}

// listener is a stream listener. Its backlog is a channel so that a gossip
// transport can hand it to memberlist as StreamCh.
type listener struct {
	nw      *Network
	host    *Host
	addr    *net.TCPAddr
	backlog chan net.Conn
	done    chan struct{} // closed by Close
	closed  bool          // guarded by nw.mu
	held    []*Conn       // connected while the host was paused
}

func newListener(h *Host, port int) *listener {
	return &listener{
		nw:      h.nw,
		host:    h,
		addr:    h.tcpAddr(port),
		backlog: make(chan net.Conn, Backlog),
		done:    make(chan struct{}),
	}
}

// Accept waits for a connection. After Close it returns an error wrapping
// net.ErrClosed. While the host is paused it holds what it takes from the
// backlog until Resume.
func (l *listener) Accept() (net.Conn, error) {
	for {
		select {
		case c := <-l.backlog:
			l.nw.mu.Lock()
			if l.nw.paused[l.host.st.ip] && !l.closed {
				l.held = append(l.held, c.(*Conn))
				l.nw.mu.Unlock()
				continue
			}
			l.nw.mu.Unlock()
			return c, nil
		case <-l.done:
			return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
		}
	}
}

// Close unbinds the port and resets the connections not yet accepted.
func (l *listener) Close() error {
	l.nw.mu.Lock()
	defer l.nw.mu.Unlock()
	if l.closed {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
	l.closeLocked()
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }

func (l *listener) closeLocked() {
	if l.closed {
		return
	}
	l.closed = true
	close(l.done)
	if l.host.st.tcp[l.addr.Port] == l {
		delete(l.host.st.tcp, l.addr.Port)
	}
	for _, c := range l.held {
		c.closeLocked(true)
	}
	l.held = nil
	for {
		select {
		case c := <-l.backlog:
			c.(*Conn).closeLocked(true)
		default:
			return
		}
	}
}

// queueLocked hands a new server-side connection to Accept, or holds it
// while the host is paused.
func (l *listener) queueLocked(s *Conn) {
	if l.nw.paused[l.host.st.ip] {
		l.held = append(l.held, s)
		return
	}
	l.backlog <- s // never blocks: connect checked the room
}

// releaseLocked queues the connections held while the host was paused.
func (l *listener) releaseLocked() {
	held := l.held
	l.held = nil
	for _, s := range held {
		l.queueLocked(s)
	}
}
