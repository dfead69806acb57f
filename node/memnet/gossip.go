package memnet

import (
	"context"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/hashicorp/memberlist"
)

// GossipTransport is a memberlist.NodeAwareTransport on a Host: packets go
// through the network's packet path (lossy, delayed, dropped across a
// partition, held by a pause); streams are ordinary memnet connections to
// the same port. Its methods are safe for concurrent use and never block,
// except DialTimeout.
type GossipTransport struct {
	host     *Host
	port     int
	from     *net.UDPAddr
	packetCh chan *memberlist.Packet // never closed: memberlist reads it until it stops
	ln       *listener               // the stream side; its backlog is StreamCh
	closed   bool                    // guarded by nw.mu
}

var _ memberlist.NodeAwareTransport = (*GossipTransport)(nil)

// FinalAdvertiseAddr returns ip and port when they are set (memberlist's
// AdvertiseAddr and AdvertisePort), else the host's IP and the bound port.
func (g *GossipTransport) FinalAdvertiseAddr(ip string, port int) (net.IP, int, error) {
	a := g.host.st.addr
	if ip != "" {
		if a = net.ParseIP(ip); a == nil {
			return nil, 0, &net.ParseError{Type: "IP address", Text: ip}
		}
	}
	if port == 0 {
		port = g.port
	}
	return a, port, nil
}

// WriteTo sends one packet to addr ("ip:port") and returns when it was
// sent. It never blocks and, like UDP, succeeds whether or not the packet
// arrives; b may be reused after it returns. It fails only for a packet
// over MaxPacket, a bad address, or a shut down transport.
func (g *GossipTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	ip, port, err := splitAddr(addr)
	if err != nil {
		return time.Time{}, &net.OpError{Op: "write", Net: "udp", Source: g.from, Err: err}
	}
	to := &net.UDPAddr{IP: net.ParseIP(ip), Port: port}
	if len(b) > MaxPacket {
		return time.Time{}, &net.OpError{Op: "write", Net: "udp", Source: g.from, Addr: to, Err: os.NewSyscallError("sendto", syscall.EMSGSIZE)}
	}
	nw := g.host.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if g.closed || g.host.dead {
		return time.Time{}, &net.OpError{Op: "write", Net: "udp", Source: g.from, Addr: to, Err: net.ErrClosed}
	}
	now := time.Now()
	nw.stats.PacketsSent++
	nw.stats.PacketBytes += int64(len(b))
	nw.forwardLocked(&packet{from: g.host.st.ip, fromAddr: g.from, to: ip, port: port, buf: append([]byte(nil), b...)})
	return now, nil
}

// WriteToAddress is WriteTo to a.Addr.
func (g *GossipTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return g.WriteTo(b, a.Addr)
}

// PacketCh delivers the packets that reach this transport. It holds
// PacketQueue packets; more are dropped while it is full.
func (g *GossipTransport) PacketCh() <-chan *memberlist.Packet { return g.packetCh }

// DialTimeout opens a stream to addr, giving up after timeout. See
// Host.Dial.
func (g *GossipTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return g.host.Dial(ctx, addr)
}

// DialAddressTimeout is DialTimeout to a.Addr.
func (g *GossipTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return g.DialTimeout(a.Addr, timeout)
}

// StreamCh delivers the stream connections made to this transport's port.
func (g *GossipTransport) StreamCh() <-chan net.Conn { return g.ln.backlog }

// Shutdown unbinds the port: later packets to it are dropped and
// connections to it refused; connections not yet taken from StreamCh are
// reset. Connections already taken stay open. Idempotent.
func (g *GossipTransport) Shutdown() error {
	nw := g.host.nw
	nw.mu.Lock()
	defer nw.mu.Unlock()
	g.shutdownLocked()
	return nil
}

func (g *GossipTransport) shutdownLocked() {
	if g.closed {
		return
	}
	g.closed = true
	if g.host.st.udp[g.port] == g {
		delete(g.host.st.udp, g.port)
	}
	g.ln.closeLocked()
}

// packet is one packet on its way.
type packet struct {
	from     string
	fromAddr *net.UDPAddr
	to       string
	port     int
	buf      []byte
	routed   bool // past the sender: loss and delay were drawn
}

// forwardLocked moves a packet one step along: from a sender (held while it
// is paused, else dropped or delayed) or to its receiver (held while it is
// paused, else delivered).
func (nw *Network) forwardLocked(pk *packet) {
	if !pk.routed {
		if nw.paused[pk.from] {
			nw.holdLocked(pk)
			return
		}
		if nw.blockedLocked(pk.from, pk.to) {
			nw.stats.PacketsCut++
			return
		}
		if nw.lossLocked(pk.from, pk.to, rngPacket, nw.linkLocked(pk.from, pk.to).Loss) {
			nw.stats.PacketsLost++
			return
		}
		pk.routed = true
		if d := nw.delayLocked(pk.from, pk.to, rngPacket); d > 0 {
			time.AfterFunc(d, func() {
				nw.mu.Lock()
				defer nw.mu.Unlock()
				nw.forwardLocked(pk)
			})
			return
		}
	}
	// Arrival: the path is checked again, as a firewall would when the
	// packet passes it.
	if nw.blockedLocked(pk.from, pk.to) {
		nw.stats.PacketsCut++
		return
	}
	if nw.paused[pk.to] {
		nw.holdLocked(pk)
		return
	}
	var g *GossipTransport
	if st := nw.hosts[pk.to]; st != nil {
		g = st.udp[pk.port]
	}
	if g == nil {
		nw.stats.PacketsUnreachable++
		return
	}
	select {
	case g.packetCh <- &memberlist.Packet{Buf: pk.buf, From: pk.fromAddr, Timestamp: time.Now()}:
		nw.stats.PacketsDelivered++
	default:
		nw.stats.PacketsUnreachable++
	}
}

func (nw *Network) holdLocked(pk *packet) {
	if len(nw.held) >= HeldPackets {
		nw.stats.PacketsUnreachable++
		return
	}
	nw.held = append(nw.held, pk)
}
