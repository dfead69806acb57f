package gossip

import (
	"log/slog"
	"sync"
	"sync/atomic"
)

// Meta is what memberlist gossips about each node (under 512 bytes).
type Meta struct {
	RPC        string `json:"rpc"`
	HTTP       string `json:"http"`
	Zone       string `json:"zone,omitempty"`
	Partitions int    `json:"q"`
	N          int    `json:"n"`
	// ProtoMin and ProtoMax are the internode protocol versions the node
	// speaks, and Version its software version (README, Upgrades). A
	// node of a release before versioning gossips none of them.
	ProtoMin uint8  `json:"pmin,omitempty"`
	ProtoMax uint8  `json:"pmax,omitempty"`
	Version  string `json:"ver,omitempty"`
}

// Peer is what this node knows of another node's liveness.
type Peer struct {
	Name  string
	Alive bool
	Meta  Meta
	Addr  string // gossip address
}

// Peers is the liveness table: each other node's latest memberlist event.
// Readers never lock it; it is replaced whole (copy-on-write) on each
// event.
type Peers struct {
	self    string
	log     *slog.Logger
	changed func(all map[string]Peer, p Peer)

	mu    sync.Mutex // serializes writers, so changed sees events in order
	table atomic.Pointer[map[string]Peer]
}

// NewPeers returns an empty table for the node named self. changed is
// called after each event with the new table (which it must not modify)
// and the peer that changed, under the table's lock, so in event order:
// it must not block and must not call back into Peers' writers.
func NewPeers(self string, log *slog.Logger, changed func(all map[string]Peer, p Peer)) *Peers {
	p := &Peers{self: self, log: log, changed: changed}
	empty := map[string]Peer{}
	p.table.Store(&empty)
	return p
}

// Alive reports whether a node is up as far as gossip knows; this node
// always is. It never blocks.
func (ps *Peers) Alive(name string) bool {
	if name == ps.self {
		return true
	}
	p, ok := (*ps.table.Load())[name]
	return ok && p.Alive
}

// Get returns what gossip knows of name. It never blocks.
func (ps *Peers) Get(name string) (Peer, bool) {
	p, ok := (*ps.table.Load())[name]
	return p, ok
}

// All returns what gossip knows of every other node, alive or not. The
// slice is the caller's; it never blocks.
func (ps *Peers) All() []Peer {
	t := *ps.table.Load()
	out := make([]Peer, 0, len(t))
	for _, p := range t {
		out = append(out, p)
	}
	return out
}

// set records a memberlist event. It runs on memberlist's goroutine.
func (ps *Peers) set(p Peer) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	old := *ps.table.Load()
	next := make(map[string]Peer, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[p.Name] = p
	ps.table.Store(&next)
	if p.Alive {
		ps.log.Debug("peer alive", "peer", p.Name)
	} else {
		ps.log.Info("peer down", "peer", p.Name)
	}
	ps.changed(next, p)
}
