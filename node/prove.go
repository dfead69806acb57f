package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/rpc"
)

// Proving a new member's name (internode mutual TLS on).
//
// Gossip proves nothing about who wrote a membership record: every member
// holds the gossip key, and without one anyone who reaches a gossip port
// can gossip. So with internode mutual TLS on, a record of a name this
// node does not know yet is not merged from gossip. The name is proved
// first: this node dials the RPC address the record advertises, checks
// that the certificate there is the cluster CA's and names that node
// (security.Internode.Client), and pulls its membership; only the proved
// node's own record is merged (mergeStateFrom's proven), so an agent
// without the cluster's certificate is never seen as a member, is never
// placed, and gets no data, even if it has the gossip key (issue 13).
// Records of names already known go on merging from gossip as before
// (the name-takeover rule binds them to their addresses), and a member's
// membership push over mutual TLS (wire.MethodState) is already proved.
//
// A table that places a name this node does not know waits until the name
// is proved: the next push/pull brings it again.

// Proof tunables, each with its reason.
const (
	// proveRetry is the first wait before a name whose proof failed is
	// tried again, doubling up to proveMaxBackoff while gossip still sees
	// it alive: a joining node's gossip may reach us a moment before its
	// RPC listener answers, and a stranger that stays costs one dial per
	// interval (and one count of dynago_members_unproved_total).
	proveRetry      = 2 * time.Second
	proveMaxBackoff = 30 * time.Second
	// proveQueue bounds the names waiting for a proof; beyond it a name
	// waits for the next scan.
	proveQueue = 64
	// proveConcurrent bounds the proofs in flight: each is one TLS dial
	// and one small RPC, so a flood of invented names costs at most this
	// many connections at once.
	proveConcurrent = 4
	// proveTimeout bounds one proof: a node on the same network completes
	// a handshake and a state pull in milliseconds.
	proveTimeout = 5 * time.Second
	// proveNamesMax bounds the names remembered between attempts.
	proveNamesMax = 1024
)

// proofs is a node's bookkeeping of names to prove.
type proofs struct {
	queue chan proofTarget
	// ended counts the proofs that ended, proved or not (tests wait on it).
	ended atomic.Uint64
	mu    sync.Mutex
	names map[string]*proofState
}

// proofTarget is a name to prove and the RPC address it advertises.
type proofTarget struct{ name, rpc string }

// proofState is one name's attempts.
type proofState struct {
	rpc      string
	next     time.Time // no attempt before this
	fails    int
	inFlight bool
}

// mergeGossip merges a membership that gossip brought (records, or a whole
// state from a push/pull).
func (m *members) mergeGossip(in membership.State) {
	if m.cfg.TLS.Internode == nil {
		m.mergeState(in)
		return
	}
	known := m.clusterView().Members
	kept := make(map[string]membership.Record, len(in.Members))
	for name, r := range in.Members {
		if _, ok := known[name]; ok || name == m.cfg.Name {
			kept[name] = r
			continue
		}
		m.askProof(proofTarget{name: r.Name, rpc: r.RPC})
	}
	in.Members = kept
	if in.Table != nil {
		for _, tm := range in.Table.Members {
			if _, ok := known[tm.Name]; !ok && tm.Name != m.cfg.Name {
				in.Table = nil // placing a name not proved yet: wait for the proof
				break
			}
		}
	}
	m.mergeState(in)
}

// askProof queues a proof of t.name unless one is in flight or its
// backoff has not passed.
func (m *members) askProof(t proofTarget) {
	if t.name == "" || t.rpc == "" || t.name == m.cfg.Name {
		return
	}
	now := m.clock.Steady()
	m.proofs.mu.Lock()
	st, ok := m.proofs.names[t.name]
	if !ok {
		if m.proofs.names == nil {
			m.proofs.names = map[string]*proofState{}
		}
		if len(m.proofs.names) >= proveNamesMax {
			m.forgetProofs(now)
		}
		if len(m.proofs.names) >= proveNamesMax {
			m.proofs.mu.Unlock()
			return
		}
		st = &proofState{}
		m.proofs.names[t.name] = st
	}
	st.rpc = t.rpc
	if st.inFlight || now.Before(st.next) {
		m.proofs.mu.Unlock()
		return
	}
	st.inFlight = true
	m.proofs.mu.Unlock()
	select {
	case m.proofs.queue <- t:
	default:
		m.proofs.mu.Lock()
		st.inFlight = false
		m.proofs.mu.Unlock()
	}
}

// forgetProofs drops the names not in flight whose backoff passed long
// ago (gossip no longer brings them). Under proofs.mu.
func (m *members) forgetProofs(now time.Time) {
	for name, st := range m.proofs.names {
		if !st.inFlight && now.Sub(st.next) > proveMaxBackoff {
			delete(m.proofs.names, name)
		}
	}
}

// proofEnded records how a proof of name ended.
func (m *members) proofEnded(name string, err error) {
	m.proofs.ended.Add(1)
	m.proofs.mu.Lock()
	defer m.proofs.mu.Unlock()
	st, ok := m.proofs.names[name]
	if !ok {
		return
	}
	if err == nil {
		delete(m.proofs.names, name)
		return
	}
	st.inFlight = false
	st.fails++
	st.next = m.clock.Steady().Add(min(proveRetry<<min(st.fails-1, 8), proveMaxBackoff))
}

// proveLoop proves the queued names, proveConcurrent at a time, and every
// proveRetry asks again for each node gossip sees alive that is not a
// member (its record may not come again by gossip), until ctx ends.
func (m *members) proveLoop(ctx context.Context) {
	sem := make(chan struct{}, proveConcurrent)
	var wg sync.WaitGroup
	defer wg.Wait()
	tick := time.NewTicker(proveRetry)
	defer tick.Stop()
	for {
		var t proofTarget
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if m.cfg.TLS.Internode == nil {
				continue
			}
			known := m.clusterView().Members
			for _, p := range m.peers.All() {
				if _, ok := known[p.Name]; !ok && p.Alive {
					m.askProof(proofTarget{name: p.Name, rpc: p.Meta.RPC})
				}
			}
			continue
		case t = <-m.proofs.queue:
		}
		select {
		case <-ctx.Done():
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			defer func() { m.proofEnded(t.name, err) }()
			defer m.guard("prove")
			if _, known := m.clusterView().Members[t.name]; known {
				return
			}
			pctx, cancel := context.WithTimeout(ctx, proveTimeout)
			defer cancel()
			if err = m.prove(pctx, t); err != nil {
				m.metrics.membersUnproved.Inc()
				m.quietLog.Warn("refused a gossiped member: its name is not proved by a node certificate of the cluster CA",
					"name", t.name, "rpc", t.rpc, "err", err)
			}
		})
	}
}

// prove dials t's RPC address expecting t.name's certificate, pulls the
// membership of the node there and merges its own record as proved.
func (m *members) prove(ctx context.Context, t proofTarget) error {
	b, err := m.net.pullAs(ctx, t.name, t.rpc)
	if err != nil {
		return err
	}
	c, err := m.decodeState(b, t.rpc)
	if err != nil {
		return err
	}
	own, ok := c.Members[t.name]
	if !ok {
		return fmt.Errorf("node: %s's membership has no record of its own", t.name)
	}
	if !m.mergeStateFrom(membership.State{Members: map[string]membership.Record{t.name: own}}, t.name) {
		return nil // known by now (another proof, or a push)
	}
	m.log.Info("proved a new member by its node certificate", "name", t.name, "rpc", t.rpc)
	return nil
}

// pullAs pulls the membership of the node at RPC address addr over mutual
// TLS, checking that its certificate names name, on a connection of its
// own (the shared clients check against the members they know).
func (p *peering) pullAs(ctx context.Context, name, addr string) ([]byte, error) {
	in := p.cfg.TLS.Internode
	if in == nil {
		return nil, fmt.Errorf("node: proving %s: internode TLS is off", name)
	}
	c := rpc.NewClient(addr, func(ctx context.Context, a string) (net.Conn, error) {
		return p.tlsDial(ctx, name, a, in.Client(name))
	}, p.log.With("component", "rpc"))
	c.SetHello(p.cfg.hello())
	defer c.Close()
	return c.Call(ctx, wire.MethodStatePull, nil)
}

// tlsDial dials addr and completes a TLS handshake as cfg says (cfg checks
// that the certificate names name).
func (p *peering) tlsDial(ctx context.Context, name, addr string, cfg *tls.Config) (net.Conn, error) {
	raw, err := p.tr.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("node: tls to %s at %s: %w", name, addr, err)
	}
	return c, nil
}
