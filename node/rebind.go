package node

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
)

// Rebinding a name to new addresses: a node that restarts at other
// addresses (a pod with a new IP, a machine renumbered) under the same
// name and data directory.
//
// The name-takeover rule (membership.State.Bound, node/internal/gossip)
// binds a known name to the addresses it was first known at: without
// proof of who holds a name, its addresses are the only tie between the
// name and its process. With internode mutual TLS on there is proof: a
// node's certificate names it, and the RPC server learns the name of the
// node that calls it in the handshake (tls.go). So a node that moved
// pushes its membership, with its own record at the new addresses, to
// every member over RPC (announceMove); a member accepts the record of the
// name the caller's certificate bears even though the name is bound
// elsewhere (mergeStateFrom's proven), and from then on gossip binds the
// name to the new addresses (Known): memberlist lets the dead member's
// name move there (gossip.Config.Rebind). A member that was down when the
// node moved is pushed to again every rejoin round until it accepts.
//
// Without internode mutual TLS nothing proves a name, so the rule stays:
// the moved node is refused (its Run ends with membership.ErrNameTaken)
// and its operator restarts it at its old addresses, or turns mutual TLS
// on (README, Running on several machines).

// moveState is a moved node's progress in announcing its new addresses.
type moveState struct {
	// from is this node's record as its data directory last knew it, with
	// the old addresses; nil when the node did not move. Set in New,
	// before any goroutine, and read-only after.
	from *membership.Record
	// rounds counts the announcement rounds that ended (tests wait on it).
	rounds atomic.Uint64

	mu struct {
		sync.Mutex
		// confirmed holds the members that accepted the new addresses.
		confirmed map[string]bool
	}
}

// noteMove records whether this node's addresses differ from those its
// data directory's membership has for it. Called in New before claimSelf
// replaces them.
func (m *members) noteMove() {
	old, ok := m.clusterView().Members[m.cfg.Name]
	if !ok || old.Gossip == "" || (old.Gossip == m.cfg.GossipAddr && old.RPC == m.cfg.RPCAddr && old.HTTP == m.cfg.HTTPAddr) {
		return
	}
	m.move.from = &old
	args := []any{"old_gossip", old.Gossip, "old_rpc", old.RPC, "old_http", old.HTTP,
		"gossip", m.cfg.GossipAddr, "rpc", m.cfg.RPCAddr, "http", m.cfg.HTTPAddr}
	if m.cfg.TLS.Internode == nil {
		m.log.Warn("this node's addresses changed since its last run; without internode mutual TLS nothing proves its name, "+
			"so the cluster will refuse it: restart it at its old addresses, or turn internode mutual TLS on", args...)
		return
	}
	m.log.Info("this node's addresses changed since its last run; proving its name to each member with its node certificate", args...)
}

// announceMove pushes this node's membership (its record at the new
// addresses) over mutual TLS to every member that has not accepted it
// yet. It does nothing unless the node moved with internode mutual TLS
// on. It blocks until each push answered or timed out.
func (m *members) announceMove(ctx context.Context) {
	if m.move.from == nil || m.cfg.TLS.Internode == nil {
		return
	}
	defer m.move.rounds.Add(1)
	c := m.clusterSnapshot()
	payload := c.Marshal()
	var wg sync.WaitGroup
	for _, r := range c.Records() {
		if r.Name == m.cfg.Name || r.Status == membership.StatusRemoved || r.RPC == "" || m.moveConfirmed(r.Name) {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
			defer cancel()
			if _, err := m.net.client(r.RPC).Call(cctx, wire.MethodState, payload); err != nil {
				m.log.Debug("announcing this node's new addresses", "peer", r.Name, "err", err)
				return
			}
			m.move.mu.Lock()
			if m.move.mu.confirmed == nil {
				m.move.mu.confirmed = map[string]bool{}
			}
			m.move.mu.confirmed[r.Name] = true
			m.move.mu.Unlock()
			m.log.Info("a member accepted this node's new addresses", "peer", r.Name)
		})
	}
	wg.Wait()
}

func (m *members) moveConfirmed(name string) bool {
	m.move.mu.Lock()
	defer m.move.mu.Unlock()
	return m.move.mu.confirmed[name]
}
