package gossip

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/internal/membership"
)

// The delegates, one per memberlist interface. memberlist calls them from
// its own goroutines, so they never call back into memberlist and never
// block.

// delegate is the memberlist.Delegate: this node's metadata, the gossiped
// records and the push/pull exchange of the full membership.
type delegate struct {
	m         *Member
	meta      Meta
	state     State
	check     checker
	log       *slog.Logger
	recovered func(where string, v any)
}

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*events)(nil)
	_ memberlist.MergeDelegate = mergeDelegate{}
	_ memberlist.AliveDelegate = aliveDelegate{}
)

func (d *delegate) guard(where string) {
	if v := recover(); v != nil {
		d.recovered(where, v)
	}
}

func (d *delegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(d.meta)
	if len(b) > limit {
		panic(fmt.Sprintf("node: gossip meta is %d bytes, limit %d", len(b), limit))
	}
	return b
}

// NotifyMsg receives one gossiped membership record.
func (d *delegate) NotifyMsg(b []byte) {
	defer d.guard("gossip message")
	var r membership.Record
	if err := json.Unmarshal(b, &r); err != nil {
		d.log.Warn("gossip: bad membership record", "err", err)
		return
	}
	d.state.MergeRecords(r)
}

func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.bcast.GetBroadcasts(overhead, limit)
}

// LocalState is the full membership, exchanged on push/pull.
func (d *delegate) LocalState(join bool) []byte { return d.state.LocalState() }

func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	defer d.guard("gossip state")
	c, err := membership.Unmarshal(buf)
	if err != nil {
		d.log.Warn("gossip: bad remote state", "err", err)
		return
	}
	if c.Partitions != d.check.partitions || c.N != d.check.n {
		d.log.Error("gossip: refusing membership of a cluster with another ring configuration",
			"partitions", c.Partitions, "n", c.N)
		return
	}
	d.state.MergeState(c)
}

// events is the memberlist.EventDelegate: it keeps the liveness table.
type events struct {
	self  string
	peers *Peers
}

func (e *events) NotifyJoin(m *memberlist.Node)   { e.event(m, true) }
func (e *events) NotifyLeave(m *memberlist.Node)  { e.event(m, false) }
func (e *events) NotifyUpdate(m *memberlist.Node) { e.event(m, true) }

func (e *events) event(m *memberlist.Node, alive bool) {
	if m.Name == e.self {
		return
	}
	var meta Meta
	_ = json.Unmarshal(m.Meta, &meta)
	e.peers.set(Peer{Name: m.Name, Alive: alive, Meta: meta, Addr: m.Address()})
}

// mergeDelegate is the memberlist.MergeDelegate: it refuses to join a
// cluster whose ring configuration differs.
type mergeDelegate struct{ check checker }

func (d mergeDelegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if p.Name == d.check.name && d.check.rebind {
			// A cluster that still lists this node at its old address
			// (Config.Rebind): memberlist's merge ignores that entry or
			// refutes it, and the cluster admits the new address once the
			// node proved its name (rebind.go).
			continue
		}
		if err := d.check.peer(p); err != nil {
			return err
		}
	}
	return nil
}

// aliveDelegate is the memberlist.AliveDelegate: it refuses a node whose
// ring configuration differs.
type aliveDelegate struct{ check checker }

func (d aliveDelegate) NotifyAlive(p *memberlist.Node) error { return d.check.peer(p) }

// checker is the cluster-mismatch rule: a peer other than this node must
// gossip readable metadata with this node's partitions and N.
type checker struct {
	name          string
	partitions, n int
	// addr is this node's gossip address ("": not checked).
	addr string
	// known is Config.Known (nil: no name binding).
	known func(name string) string
	// refused is Deps.NameRefused (nil: not counted).
	refused func()
	// rebind is Config.Rebind.
	rebind bool
	// refusals counts the name-takeover refusals (Member.NameRefusals).
	refusals *atomic.Uint64
	// protoMin and protoMax are the internode protocol versions this node
	// speaks (0: not checked).
	protoMin, protoMax uint8
	// incompatible is Deps.Incompatible (nil: not told).
	incompatible func(name string, m Meta)
}

// ErrProtocol is wrapped by the refusal of a peer that gossips no
// internode protocol version this node speaks.
var ErrProtocol = errors.New("gossip: no common internode protocol version")

// protocol refuses a peer whose gossiped protocol range shares no version
// with this node's; a peer that gossips none runs a release before
// versioning, which speaks protocol 1.
func (c checker) protocol(name string, m Meta) error {
	if c.protoMin == 0 || c.protoMax == 0 {
		return nil
	}
	lo, hi := m.ProtoMin, m.ProtoMax
	if lo == 0 || hi == 0 {
		lo, hi = 1, 1
	}
	if max(lo, c.protoMin) <= min(hi, c.protoMax) {
		return nil
	}
	if c.incompatible != nil {
		c.incompatible(name, m)
	}
	return fmt.Errorf("%w: %s (dynago %q) speaks internode protocol %d..%d, this node speaks %d..%d; "+
		"a release speaks its own protocol and the previous release's, so upgrade one release at a time (README, Upgrades)",
		ErrProtocol, name, m.Version, lo, hi, c.protoMin, c.protoMax)
}

func (c checker) peer(p *memberlist.Node) error {
	err := c.check(p)
	if errors.Is(err, membership.ErrNameTaken) {
		if c.refusals != nil {
			c.refusals.Add(1)
		}
		if c.refused != nil {
			c.refused()
		}
	}
	return err
}

func (c checker) check(p *memberlist.Node) error {
	if p.Name == c.name {
		// This node's name at another address: the cluster binds the
		// name to another process (the name-takeover rule).
		if c.addr != "" && p.Address() != c.addr {
			return fmt.Errorf("%w: the cluster knows %s at gossip address %s, not this node's %s "+
				"(a name moves to new addresses only with internode mutual TLS, which proves it: restart the node at its old addresses, or turn mutual TLS on)",
				membership.ErrNameTaken, p.Name, p.Address(), c.addr)
		}
		return nil
	}
	if c.known != nil {
		if bound := c.known(p.Name); bound != "" && bound != p.Address() {
			return fmt.Errorf("%w: %s is bound to gossip address %s, refusing it from %s",
				membership.ErrNameTaken, p.Name, bound, p.Address())
		}
	}
	var m Meta
	if err := json.Unmarshal(p.Meta, &m); err != nil {
		return fmt.Errorf("node: peer %s sent unreadable metadata: %w", p.Name, err)
	}
	if err := c.protocol(p.Name, m); err != nil {
		return err
	}
	return membership.CheckCompatible(c.partitions, c.n, m.Partitions, m.N, p.Name)
}

// recordBroadcast gossips one membership record.
type recordBroadcast struct {
	name string
	msg  []byte
}

// recordBroadcast is a memberlist.UniqueBroadcast: it never invalidates
// another queued broadcast, not even an older record of the same node
// (the receiver keeps the newer by version anyway). Invalidation is what
// triggers memberlist v0.7.0's queue bug: removing the only queued item
// resets the id counter, and a later broadcast of the same length then
// takes a queued one's id and silently replaces it, losing a record of
// another node (hashicorp/memberlist PRs #263, #322, unmerged;
// TestQueuedRecordsAllSent). The cost is an older record's retransmits.
func (b *recordBroadcast) Invalidates(memberlist.Broadcast) bool { return false }

// UniqueBroadcast marks recordBroadcast as never invalidating others.
func (b *recordBroadcast) UniqueBroadcast() {}

func (b *recordBroadcast) Message() []byte { return b.msg }
func (b *recordBroadcast) Finished()       {}
