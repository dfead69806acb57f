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

// Membership from gossip, with internode mutual TLS on.
//
// Gossip proves nothing about who wrote what it carries: every member
// holds the gossip key, and without one anyone who reaches a gossip port
// can gossip. So with internode mutual TLS on, gossip is only a hint for
// what a certificate cannot vouch for:
//   - A record of a name this node does not know is not merged. The name
//     is proved first: this node dials the RPC address the record (or the
//     gossip metadata) advertises, checks that the certificate there is
//     the cluster CA's and names that node (security.Internode.Client),
//     and pulls its membership, which it merges as that node's (the same
//     trust as that node's own push, wire.MethodState). An agent without
//     the cluster's certificate is never seen as a member, never placed,
//     and gets no data, even with the gossip key (issue 13).
//   - An ownership table or a staging hold newer than this node's is not
//     taken from gossip either: it is pulled over mutual TLS from a known
//     member (the table's claimant first), so a forged table is never
//     adopted.
//   - Records of names already known go on merging from gossip (status
//     and address changes; the name-takeover rule binds them to their
//     addresses): forging those takes the gossip key.
// A node that joins with seeds proves the members gossip showed it before
// it says it is ready (proveJoined), so it starts with the cluster's
// membership and table, as a node without TLS does.

// Proof tunables, each with its reason.
const (
	// proveRetry is the first wait before a proof that failed is tried
	// again, doubling up to proveMaxBackoff while gossip still sees the
	// name alive: a stranger that stays costs one dial per interval (and
	// one count of dynago_members_unproved_total).
	proveRetry      = 2 * time.Second
	proveMaxBackoff = 30 * time.Second
	// pullGap is the least time between two pulls from one member that
	// gossip's newer table or hold asked for: a table spreads by gossip
	// to every node within a round, and one pull brings it.
	pullGap = 500 * time.Millisecond
	// proveQueue bounds the proofs and pulls waiting; beyond it one waits
	// for the next gossip or scan.
	proveQueue = 64
	// proveConcurrent bounds the proofs in flight: each is one TLS dial
	// and one small RPC, so a flood of invented names costs at most this
	// many connections at once.
	proveConcurrent = 4
	// proveTimeout bounds one proof or pull: a node on the same network
	// completes a handshake and a state pull in milliseconds.
	proveTimeout = 5 * time.Second
	// proveNamesMax bounds the targets remembered between attempts; past
	// it the one that may be tried soonest is forgotten.
	proveNamesMax = 1024
)

// proofs is a node's bookkeeping of names to prove and members to pull.
type proofs struct {
	queue chan proofTarget
	// ended counts the proofs and pulls that ended, done or not (tests
	// wait on it).
	ended atomic.Uint64
	mu    sync.Mutex
	state map[proofTarget]*proofState
}

// proofTarget is a name to prove at the RPC address it advertises, or a
// known member to pull the membership from (pull).
type proofTarget struct {
	name, rpc string
	pull      bool
}

// proofState is one target's attempts.
type proofState struct {
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
	cur := m.clusterView()
	kept := make(map[string]membership.Record, len(in.Members))
	for name, r := range in.Members {
		if _, ok := cur.Members[name]; ok || name == m.cfg.Name {
			kept[name] = r
			continue
		}
		m.askProof(proofTarget{name: r.Name, rpc: r.RPC})
	}
	_, newerTable := cur.MergeTable(in.Table)
	_, newerHold := cur.MergeHold(in.Hold)
	if newerTable || newerHold {
		from := ""
		if in.Table != nil {
			from = in.Table.Claimant
		}
		m.askPull(from)
	}
	if len(kept) > 0 {
		m.mergeState(membership.State{Members: kept})
	}
}

// askPull queues a pull of the membership from a known member: from, if
// it is one and gossip sees it up, else the first other member that is.
func (m *members) askPull(from string) {
	c := m.clusterView()
	pick := func(name string) bool {
		r, ok := c.Members[name]
		return ok && name != m.cfg.Name && r.RPC != "" && m.peers.Alive(name)
	}
	if !pick(from) {
		from = ""
		for _, r := range c.Records() {
			if pick(r.Name) {
				from = r.Name
				break
			}
		}
	}
	if from == "" {
		return
	}
	m.ask(proofTarget{name: from, pull: true})
}

// askProof queues a proof of t.name at t.rpc.
func (m *members) askProof(t proofTarget) {
	if t.name == "" || t.rpc == "" || t.name == m.cfg.Name {
		return
	}
	m.ask(t)
}

// ask queues t unless it is in flight or its wait has not passed.
func (m *members) ask(t proofTarget) {
	now := m.clock.Steady()
	m.proofs.mu.Lock()
	st, ok := m.proofs.state[t]
	if !ok {
		if m.proofs.state == nil {
			m.proofs.state = map[proofTarget]*proofState{}
		}
		if len(m.proofs.state) >= proveNamesMax && !m.forgetProof() {
			m.proofs.mu.Unlock()
			return
		}
		st = &proofState{}
		m.proofs.state[t] = st
	}
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

// forgetProof drops the target not in flight that may be tried soonest
// (an invented name is as good as forgotten once its wait passed), and
// reports whether there was one. Under proofs.mu.
func (m *members) forgetProof() bool {
	var victim *proofTarget
	var at time.Time
	for t, st := range m.proofs.state {
		if !st.inFlight && (victim == nil || st.next.Before(at)) {
			victim, at = &t, st.next
		}
	}
	if victim != nil {
		delete(m.proofs.state, *victim)
	}
	return victim != nil
}

// proofEnded records how t ended: a proof that succeeded is forgotten
// (the name is a member now); a pull waits pullGap before the next; a
// failure backs off.
func (m *members) proofEnded(t proofTarget, err error) {
	m.proofs.ended.Add(1)
	m.proofs.mu.Lock()
	defer m.proofs.mu.Unlock()
	st, ok := m.proofs.state[t]
	if !ok {
		return
	}
	st.inFlight = false
	switch {
	case err == nil && !t.pull:
		delete(m.proofs.state, t)
	case err == nil:
		st.fails = 0
		st.next = m.clock.Steady().Add(pullGap)
	default:
		st.fails++
		st.next = m.clock.Steady().Add(min(proveRetry<<min(st.fails-1, 8), proveMaxBackoff))
	}
}

// proveLoop runs the queued proofs and pulls, proveConcurrent at a time,
// and every proveRetry asks again for a proof of each node gossip sees
// alive that is not a member (its record may not come by gossip again),
// until ctx ends.
func (m *members) proveLoop(ctx context.Context) {
	// A restart after a panic: nothing is in flight any more.
	m.proofs.mu.Lock()
	for _, st := range m.proofs.state {
		st.inFlight = false
	}
	m.proofs.mu.Unlock()
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
			m.proofEnded(t, ctx.Err())
			return
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			var err error
			defer func() {
				if v := recover(); v != nil {
					err = m.recovered("prove", v)
				}
				m.proofEnded(t, err)
			}()
			pctx, cancel := context.WithTimeout(ctx, proveTimeout)
			defer cancel()
			if t.pull {
				if err = m.pullFrom(pctx, t.name); err != nil {
					m.quietLog.Debug("pulling the membership gossip said was newer", "peer", t.name, "err", err)
				}
				return
			}
			if _, known := m.clusterView().Members[t.name]; known {
				return
			}
			err = m.proveCounted(pctx, t)
		})
	}
}

// proveJoined proves, before a joining node says it is ready, the nodes
// that gossip showed it and it does not know (the seeds and what they
// told), until one proof brings the cluster's membership and table. It
// waits at most proveTimeout for each.
func (m *members) proveJoined(ctx context.Context) {
	if m.cfg.TLS.Internode == nil {
		return
	}
	for _, p := range m.peers.All() {
		if _, known := m.clusterView().Members[p.Name]; known || !p.Alive || p.Meta.RPC == "" {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, proveTimeout)
		err := m.proveCounted(pctx, proofTarget{name: p.Name, rpc: p.Meta.RPC})
		cancel()
		if err == nil && m.clusterView().Table != nil {
			return
		}
	}
}

// proveCounted is prove, with a failure counted and logged (rate-limited).
func (m *members) proveCounted(ctx context.Context, t proofTarget) error {
	err := m.prove(ctx, t)
	if err != nil {
		m.metrics.membersUnproved.Inc()
		m.quietLog.Warn("refused a node gossip brought: its name is not proved by a node certificate of the cluster CA",
			"name", t.name, "rpc", t.rpc, "err", err)
	}
	return err
}

// prove dials t's RPC address expecting t.name's certificate, pulls the
// membership of the node there and merges it as that node's.
func (m *members) prove(ctx context.Context, t proofTarget) error {
	b, err := m.net.pullAs(ctx, t.name, t.rpc)
	if err != nil {
		return err
	}
	c, err := m.decodeState(b, t.rpc)
	if err != nil {
		return err
	}
	if _, ok := c.Members[t.name]; !ok {
		return fmt.Errorf("node: %s's membership has no record of its own", t.name)
	}
	m.mergeStateFrom(m.faultFilter(c), t.name)
	m.log.Info("proved a member by its node certificate", "name", t.name, "rpc", t.rpc)
	return nil
}

// pullFrom pulls the membership of known member name over the node's RPC
// client (which checks its certificate names it) and merges it as its.
func (m *members) pullFrom(ctx context.Context, name string) error {
	addr, ok := m.net.rpcAddrOf(name)
	if !ok {
		return fmt.Errorf("node: no rpc address for %s", name)
	}
	b, err := m.net.client(addr).Call(ctx, wire.MethodStatePull, nil)
	if err != nil {
		return err
	}
	c, err := m.decodeState(b, addr)
	if err != nil {
		return err
	}
	m.mergeStateFrom(m.faultFilter(c), name)
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
