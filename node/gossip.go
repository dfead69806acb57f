package node

import (
	"context"
	"time"

	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/membership"
)

// Failure detection and membership dissemination (Dynamo §4.8) are the
// gossip package's (node/internal/gossip): memberlist, its delegates, the
// liveness table and the record broadcasts. What stays here is the
// adapters that give it what it needs of the node.

// newPeers builds the liveness table; a change wakes the claimant, a peer
// that came back wakes hint delivery, and the members-up gauge follows.
func (n *Node) newPeers() *gossip.Peers {
	return gossip.NewPeers(n.cfg.Name, n.log, func(all map[string]gossip.Peer, p gossip.Peer) {
		n.members.wakeClaim()
		if p.Alive {
			n.handoff.Wake()
		}
		n.metrics.setAlive(all)
	})
}

// newGossip creates (binds) the node's gossip member and records the
// gossip address it advertises.
func (n *Node) newGossip() (*gossip.Member, error) {
	keys, err := gossipKeys(n.cfg, n.log)
	if err != nil {
		return nil, err
	}
	g, err := gossip.New(gossip.Config{
		Name: n.cfg.Name,
		Addr: n.cfg.GossipAddr,
		Advertise: func(bound string) (string, error) {
			a, err := advertised(bound, n.cfg.AdvertiseGossip, n.cfg.Advertise)
			if err != nil {
				return "", err
			}
			ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
			defer cancel()
			return resolveIPAddr(ctx, a)
		},
		Meta: gossip.Meta{
			RPC: n.cfg.RPCAddr, HTTP: n.HTTPAddr(), Zone: n.cfg.Zone,
			Partitions: n.cfg.Ring.Partitions, N: n.cfg.Ring.N,
			ProtoMin: n.cfg.protocols().Min, ProtoMax: n.cfg.protocols().Max, Version: softwareVersion(),
		},
		ProbeInterval:  n.cfg.Gossip.ProbeInterval,
		ProbeTimeout:   n.cfg.Gossip.ProbeTimeout,
		SuspicionMult:  n.cfg.Gossip.SuspicionMult,
		GossipInterval: n.cfg.Gossip.GossipInterval,
		Keys:           keys,
		// Internode mutual TLS proves who holds a name, so a name may
		// move to new addresses once proved (rebind.go).
		Rebind: n.cfg.TLS.Internode != nil,
		Label:  n.cfg.ClusterLabel,
		// The name-takeover rule: a name is bound to the gossip address
		// of its record (membership.State.Bound).
		Known: func(name string) string { return n.members.clusterView().Members[name].Gossip },
	}, gossip.Deps{
		Transport:    n.tr,
		State:        gossipState{n},
		Peers:        n.peers,
		Log:          n.log,
		NetLog:       n.quietLog,
		Recovered:    func(where string, v any) { _ = n.recovered(where, v) },
		NameRefused:  n.metrics.nameTakeoverRefused.Inc,
		Incompatible: n.incompatible.refused(n.metrics), // versions.go
	})
	if err != nil {
		return nil, err
	}
	n.bound.gossip = g.BoundAddr()
	n.cfg.GossipAddr = g.Addr()
	return g, nil
}

// resolveTimeout bounds resolving the advertised gossip host at start: a
// resolver answers in milliseconds, and one that does not within 10 s is
// broken, which the operator should hear about rather than wait on.
const resolveTimeout = 10 * time.Second

// gossipState is the node's membership as gossip sees it.
type gossipState struct{ n *Node }

func (g gossipState) LocalState() []byte { return g.n.members.clusterSnapshot().Marshal() }
func (g gossipState) MergeRecords(recs ...membership.Record) {
	g.n.members.mergeGossip(membership.State{Members: recordMap(recs)}) // prove.go
}
func (g gossipState) MergeState(c membership.State) {
	g.n.members.mergeGossip(g.n.members.faultFilter(c))
}
