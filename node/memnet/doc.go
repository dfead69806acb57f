// Package memnet is an in-memory network for running whole dynago clusters
// inside one process, under testing/synctest's virtual time, with faults the
// test controls: partitions, one-way cuts, packet and connect loss, delay
// and jitter, paused hosts and crashed processes.
//
// # What it is
//
// A Network holds hosts, each known by an IP address ("10.0.0.1"). A node
// runs on a Host, which provides the node's transport, the interface
// package node takes (memnet satisfies it; it is declared by node, not
// here):
//
//	// Transport gives a node its listeners, its dialer and its gossip transport.
//	type Transport interface {
//		// Listen binds a stream listener at addr ("host:port"; port 0 picks a free port).
//		Listen(addr string) (net.Listener, error)
//		// Dial opens a stream to addr. It honours ctx's deadline.
//		Dial(ctx context.Context, addr string) (net.Conn, error)
//		// Gossip binds a memberlist transport at addr (port 0 picks one) and
//		// returns it with the "host:port" it advertises.
//		Gossip(addr string) (memberlist.Transport, string, error)
//	}
//
// Streams (Listen, Dial) behave like TCP as a program observes it: ordered
// bytes, a bounded window (Window) so writers block, deadlines, FIN and
// RST, ECONNREFUSED. net/http's Server and Client (with DialContext set to
// Host.DialContext) and a framed request/response protocol like node/rpc's
// run on them. A caller that resets a connection to discard what it sent
// should look for SetLinger through an interface, not *net.TCPConn. Packets
// (GossipTransport, a memberlist.NodeAwareTransport) behave like UDP:
// unordered under jitter, lossy, never blocking.
//
// # What it must not do
//
// It imports only the standard library and memberlist (for its Transport
// and Packet types): nothing of dynago, so any layer's tests can use it.
// It does no real I/O: no sockets, files or DNS (addresses are IPs; a name
// fails like an unknown host). It starts no goroutines of its own; the only
// ones it causes are time.AfterFunc callbacks that deliver delayed bytes and
// packets and fire deadlines, each of which takes the network's lock
// briefly and never blocks. Create the Network inside the synctest bubble
// that uses it (its timers and channels then belong to that bubble).
//
// # Fault semantics
//
//   - Partition, Isolate and Cut act like a firewall DROP rule. Packets
//     across the cut are dropped (counted in Stats.PacketsCut), at send and
//     again on arrival, so a packet in flight when a partition starts is
//     lost. Connection attempts across it are lost SYNs: Dial retries on
//     Linux's schedule and fails at its context's deadline, or with
//     ETIMEDOUT after 127 s. Established connections are not reset: their
//     bytes stall in flight (writers block once Window is full, until a
//     write deadline), readers wait until their read deadline, and on Heal
//     every stalled byte is delivered, in order. A stalled connection never
//     times out by itself (there is no retransmission timeout or
//     keepalive): an endpoint that wants to give up uses deadlines, Close,
//     or SetLinger(0)+Close to discard what it sent.
//   - Link.Loss drops packets; Link.ConnectLoss drops connection attempts
//     (retried as above). Stream bytes are never lost, only delayed.
//   - Link.Latency + a random [0, Jitter) delays each packet, each stream
//     Write's bytes (never reordered: a write arrives no earlier than the
//     one before it), and each half of a connect handshake.
//   - Pause freezes a host's traffic like SIGSTOP: nothing it sends leaves,
//     nothing sent to it is delivered or accepted, until Resume; it is held,
//     not lost (within Window, Backlog and HeldPackets). Its own goroutines
//     keep running: they can still read bytes that arrived before the
//     pause, their writes queue, and their dials wait as if their SYNs
//     were lost.
//   - Crash kills a host's process: its listeners and gossip transports
//     close and its connections reset (peers read ECONNRESET when the RST
//     reaches them, which a partition delays). Its handle goes dead; Host
//     returns a new one that may bind the same ports (a restart).
//   - Closing a connection sends a FIN, or an RST if unread bytes remain or
//     SetLinger(0) was set; bytes reaching a closed end draw an RST back.
//
// # Determinism
//
// Every random choice (loss, jitter) comes from a source seeded by the
// network's seed and the directed host pair (and whether it is a packet, a
// stream or a connect), so the choices on one path depend only on the
// order of the operations on that path. Under synctest, time is virtual
// and exact: a delay of 3 ms is 3 ms. So a run is reproducible given the
// same goroutine interleaving.
//
// What is not deterministic: the interleaving itself. synctest makes time
// deterministic but not the scheduler: goroutines runnable at the same
// virtual instant run in parallel in any order, so two goroutines sending
// on the same path at the same instant may draw each other's loss or
// jitter, timers due at the same instant fire in any order, ephemeral
// ports and connection ids follow dial order. memberlist adds its own
// nondeterminism: it picks probe targets, gossip peers and start-up
// staggers with math/rand's global source, which no seed here controls.
// Expect a failing seed to reproduce often, not always; tests should
// assert properties, not exact traces.
//
// # Invariants
//
//   - One mutex (Network.mu) guards all state; it is never held while
//     blocking. Blocked calls wait in sync.Cond.Wait on it (Read, Write) or
//     in a select on channels and timers taken after unlocking (Accept,
//     Dial), so under synctest they block durably and virtual time can
//     advance past them.
//   - A stream delivers each byte at most once and in order; bytes are
//     discarded only by a reset, or on reaching an end already closed
//     (which answers with a reset).
//   - A packet is delivered at most once; it is never duplicated.
//   - Stats counters only grow.
//
// # Use
//
//	synctest.Test(t, func(t *testing.T) {
//		nw := memnet.New(seed)
//		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond, Jitter: time.Millisecond})
//		a, b := nw.Host("10.0.0.1"), nw.Host("10.0.0.2")
//		ln, _ := b.Listen("10.0.0.2:8080")
//		go serve(ln)
//		c, _ := a.Dial(t.Context(), "10.0.0.2:8080")
//		nw.Partition([]string{"10.0.0.1"}, []string{"10.0.0.2"}) // c stalls
//		nw.Heal()                                                 // c flows
//		nw.Crash("10.0.0.2")                                      // c reads ECONNRESET
//		b = nw.Host("10.0.0.2")                                   // restart: listen again
//		// ... and shut everything down before returning: synctest fails
//		// if a goroutine of the bubble is still blocked at the end.
//	})
//
// For memberlist, set Config.Transport to the transport Gossip returns and
// AdvertiseAddr/AdvertisePort (or BindAddr/BindPort) to its address.
//
// Outside a synctest bubble memnet works the same in real time (delays are
// real sleeps), which suits quick tests that need no faults in time.
package memnet
