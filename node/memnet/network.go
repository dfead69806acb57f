package memnet

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"
)

// Limits of the simulated kernel. Each is a fixed constant rather than a
// knob: a test that needs a different one is testing something else.
const (
	// Window is how many bytes one direction of a stream holds, in flight
	// plus unread, before Write blocks (a TCP send+receive buffer).
	Window = 4 << 20
	// Backlog is how many established connections a listener queues for
	// Accept; when it is full, further connects are treated as lost SYNs.
	Backlog = 512
	// PacketQueue is how many undelivered packets one gossip port queues
	// (a UDP receive buffer); further packets are dropped.
	PacketQueue = 1024
	// MaxPacket is the largest packet WriteTo accepts (UDP's limit).
	MaxPacket = 65507
	// HeldPackets bounds the packets held for paused hosts, network-wide;
	// further packets to or from a paused host are dropped.
	HeldPackets = 16384
	// synRetries and synRTO give Linux's connect schedule: attempts at
	// 0, 1, 3, 7, 15, 31 and 63 s, failing with ETIMEDOUT at 127 s.
	synRetries = 6
	synRTO     = time.Second
	// firstPort is where port 0 starts looking (Linux's ephemeral range).
	firstPort = 32768
	lastPort  = 60999
)

// Link is what the network does to traffic on one directed path between two
// hosts. The zero Link is a perfect network: no loss, no delay.
type Link struct {
	// Loss is the probability in [0, 1] that a packet is dropped.
	Loss float64
	// ConnectLoss is the probability in [0, 1] that a connection attempt
	// (a SYN) is lost. A lost attempt is retried on Linux's schedule, so
	// it delays the dial (by 1 s, then 2 s, ...) until the dial's context
	// ends or the connect times out at 127 s.
	ConnectLoss float64
	// Latency is the fixed one-way delay of a packet, of the bytes of one
	// stream Write, and of each half of a connect handshake.
	Latency time.Duration
	// Jitter adds a uniformly random delay in [0, Jitter) to each of
	// those. Packets may be reordered by it; a stream's bytes never are.
	Jitter time.Duration
}

// Stats counts what the network did since New. Counters only grow.
type Stats struct {
	PacketsSent        int64 // packets accepted by WriteTo
	PacketBytes        int64 // bytes in those packets
	PacketsDelivered   int64 // packets put on a receiver's PacketCh
	PacketsLost        int64 // dropped by Link.Loss
	PacketsCut         int64 // dropped by a partition or cut
	PacketsUnreachable int64 // dropped at a port with no transport, a full queue, or a crash

	StreamsOpened   int64 // dials that returned a connection
	StreamsRefused  int64 // dials refused: no listener on the port, or no such host
	StreamsTimedOut int64 // dials that gave up: context ended or 127 s of lost SYNs
	SYNsLost        int64 // connection attempts lost to a partition, ConnectLoss or a full backlog
	StreamBytes     int64 // bytes accepted by Write
	StreamResets    int64 // RSTs that reached a peer
}

// PacketsDropped is the number of packets dropped for any reason.
func (s Stats) PacketsDropped() int64 { return s.PacketsLost + s.PacketsCut + s.PacketsUnreachable }

// Network is an in-memory network of hosts. Every method is safe for
// concurrent use. Create it inside the synctest bubble that uses it.
type Network struct {
	seed int64

	// mu guards everything below, and every host, listener, connection
	// and gossip transport of this network. It is never held while
	// blocking: waits are Cond.Wait on it or selects taken after Unlock.
	mu         sync.Mutex
	hosts      map[string]*hostState
	island     map[string]int // a host's side of the partition; 0 unless set
	nextIsland int
	cuts       map[[2]string]bool // one-way cuts, from → to
	paused     map[string]bool
	def        Link
	links      map[[2]string]Link
	rngs       map[rngKey]*rand.Rand
	stalled    []*pipe   // pipes whose next segment waits for a path to open
	held       []*packet // packets waiting for a paused host
	nextConnID uint64
	stats      Stats
}

// New returns an empty network whose random choices (loss, jitter) derive
// from seed.
func New(seed int64) *Network {
	return &Network{
		seed:   seed,
		hosts:  make(map[string]*hostState),
		island: make(map[string]int),
		cuts:   make(map[[2]string]bool),
		paused: make(map[string]bool),
		links:  make(map[[2]string]Link),
		rngs:   make(map[rngKey]*rand.Rand),
	}
}

// Seed is the seed the network was created with.
func (nw *Network) Seed() int64 { return nw.seed }

// Host returns the live handle of the host with IP address ip, creating the
// host on first use. It returns the same handle until the host is crashed;
// after Crash it returns a new one (the restarted machine). It panics if ip
// is not an IP address.
func (nw *Network) Host(ip string) *Host {
	ip = mustIP(ip)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	st := nw.stateLocked(ip)
	if st.cur == nil {
		st.cur = &Host{nw: nw, st: st}
	}
	return st.cur
}

func mustIP(ip string) string {
	a := net.ParseIP(ip)
	if a == nil {
		panic(fmt.Sprintf("memnet: %q is not an IP address", ip))
	}
	return a.String()
}

func (nw *Network) stateLocked(ip string) *hostState {
	st := nw.hosts[ip]
	if st == nil {
		st = &hostState{
			ip:       ip,
			addr:     net.ParseIP(ip),
			tcp:      make(map[int]*listener),
			udp:      make(map[int]*GossipTransport),
			conns:    make(map[*Conn]struct{}),
			nextPort: firstPort,
		}
		nw.hosts[ip] = st
	}
	return st
}

// SetDefaultLink sets the Link of every path that has none of its own.
func (nw *Network) SetDefaultLink(l Link) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.def = l
}

// SetLink sets the Link of the directed path from → to, overriding the
// default. Traffic a host sends to itself is never delayed or lost.
func (nw *Network) SetLink(from, to string, l Link) {
	from, to = mustIP(from), mustIP(to)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.links[[2]string{from, to}] = l
}

// ClearLinks removes every per-path Link set by SetLink.
func (nw *Network) ClearLinks() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	clear(nw.links)
}

// Partition splits the network: hosts in different groups can't reach each
// other, and hosts in no group form one more group together. It replaces
// any earlier Partition or Isolate; Cuts stay. Traffic across the split is
// dropped like a firewall DROP rule (see the package doc).
func (nw *Network) Partition(groups ...[]string) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	clear(nw.island)
	for _, g := range groups {
		nw.nextIsland++
		for _, ip := range g {
			nw.island[mustIP(ip)] = nw.nextIsland
		}
	}
	nw.unstallLocked() // hosts that were split and are now together
}

// Isolate cuts host off from every other host, in both directions, on top
// of the current partition.
func (nw *Network) Isolate(host string) {
	host = mustIP(host)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.nextIsland++
	nw.island[host] = nw.nextIsland
}

// Cut drops traffic from → to (one way: to → from still flows) until Heal.
func (nw *Network) Cut(from, to string) {
	from, to = mustIP(from), mustIP(to)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.cuts[[2]string{from, to}] = true
}

// Heal removes every partition, isolation and cut. Stream bytes stalled by
// them resume flowing; packets dropped by them stay lost. Links and pauses
// are unchanged.
func (nw *Network) Heal() {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	clear(nw.island)
	clear(nw.cuts)
	nw.unstallLocked()
}

// Reachable reports whether traffic from → to currently passes the
// partition and cuts (pauses and Link loss aside).
func (nw *Network) Reachable(from, to string) bool {
	from, to = mustIP(from), mustIP(to)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return !nw.blockedLocked(from, to)
}

// Pause freezes host's traffic, like SIGSTOP on its process: nothing it
// sends leaves and nothing sent to it is delivered, accepted or read from
// the network until Resume; it is held, not lost (up to the kernel's
// limits: Window per stream, HeldPackets, Backlog). The host's goroutines
// keep running; they just see a silent network (bytes that arrived before
// the pause can still be read).
func (nw *Network) Pause(host string) {
	host = mustIP(host)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	nw.paused[host] = true
}

// Resume releases a paused host: held stream bytes, connections and
// packets flow again, in the order they were held.
func (nw *Network) Resume(host string) {
	host = mustIP(host)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if !nw.paused[host] {
		return
	}
	delete(nw.paused, host)
	nw.releaseLocked(host)
}

// releaseLocked flushes what was held for a host that is no longer paused.
func (nw *Network) releaseLocked(host string) {
	if st := nw.hosts[host]; st != nil {
		for _, port := range sortedKeys(st.tcp) {
			st.tcp[port].releaseLocked()
		}
	}
	held := nw.held
	nw.held = nil
	for _, pk := range held {
		nw.forwardLocked(pk)
	}
	nw.unstallLocked()
}

// Crash kills host's process: every listener, gossip transport and
// connection of its current handle is closed at once, connections with a
// reset (peers read ECONNRESET once the RST reaches them), and the handle
// goes dead (its methods fail with net.ErrClosed; blocked calls on its
// connections return). The machine stays: Host(ip) then returns a fresh
// handle that can listen on the same ports (a restart). A crash also ends a
// pause, and drops the packets the paused process had not yet sent.
func (nw *Network) Crash(host string) {
	host = mustIP(host)
	nw.mu.Lock()
	defer nw.mu.Unlock()
	st := nw.hosts[host]
	if st == nil {
		return
	}
	if st.cur != nil {
		st.cur.dead = true
		st.cur = nil
	}
	for _, port := range sortedKeys(st.udp) {
		st.udp[port].shutdownLocked()
	}
	for _, port := range sortedKeys(st.tcp) {
		st.tcp[port].closeLocked()
	}
	conns := make([]*Conn, 0, len(st.conns))
	for c := range st.conns {
		conns = append(conns, c)
	}
	slices.SortFunc(conns, func(a, b *Conn) int { return cmpUint(a.id, b.id) })
	for _, c := range conns {
		c.closeLocked(true)
	}
	if nw.paused[host] {
		delete(nw.paused, host)
		nw.held = slices.DeleteFunc(nw.held, func(pk *packet) bool {
			if !pk.routed && pk.from == host {
				nw.stats.PacketsUnreachable++
				return true
			}
			return false
		})
		nw.releaseLocked(host)
	}
}

// Stats returns the counters so far.
func (nw *Network) Stats() Stats {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.stats
}

// blockedLocked reports whether a partition or cut drops traffic from → to.
func (nw *Network) blockedLocked(from, to string) bool {
	if from == to {
		return false
	}
	return nw.island[from] != nw.island[to] || nw.cuts[[2]string{from, to}]
}

// openLocked reports whether stream bytes can flow from → to now.
func (nw *Network) openLocked(from, to string) bool {
	return !nw.blockedLocked(from, to) && !nw.paused[from] && !nw.paused[to]
}

func (nw *Network) linkLocked(from, to string) Link {
	if from == to {
		return Link{}
	}
	if l, ok := nw.links[[2]string{from, to}]; ok {
		return l
	}
	return nw.def
}

// rngKind separates the random streams of one path, so that, say, more
// stream writes don't change which packets are lost.
type rngKind uint8

const (
	rngPacket rngKind = iota
	rngStream
	rngConnect
)

type rngKey struct {
	from, to string
	kind     rngKind
}

// rngLocked returns the random source of one path and purpose. It is
// seeded from the network's seed and the key alone, so its draws depend
// only on the order of the operations on that path.
func (nw *Network) rngLocked(from, to string, kind rngKind) *rand.Rand {
	k := rngKey{from, to, kind}
	r := nw.rngs[k]
	if r == nil {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s>%s#%d", from, to, kind)
		r = rand.New(rand.NewPCG(uint64(nw.seed), h.Sum64()))
		nw.rngs[k] = r
	}
	return r
}

// delayLocked draws one delay for the path.
func (nw *Network) delayLocked(from, to string, kind rngKind) time.Duration {
	l := nw.linkLocked(from, to)
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration(nw.rngLocked(from, to, kind).Int64N(int64(l.Jitter)))
	}
	return d
}

// lossLocked draws whether one packet or SYN on the path is lost.
func (nw *Network) lossLocked(from, to string, kind rngKind, p float64) bool {
	return p > 0 && nw.rngLocked(from, to, kind).Float64() < p
}

// stallLocked queues p to be pumped when a path opens.
func (nw *Network) stallLocked(p *pipe) {
	if !p.stalled {
		p.stalled = true
		nw.stalled = append(nw.stalled, p)
	}
}

// unstallLocked pumps every stalled pipe, in the order they stalled.
func (nw *Network) unstallLocked() {
	s := nw.stalled
	nw.stalled = nil
	for _, p := range s {
		p.stalled = false
		p.pumpLocked()
	}
}

func sortedKeys[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
