package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
)

// The claimant (see node/internal/membership): one node computes each new
// ownership with ring.Claim and pushes the whole membership to every
// member; gossip's push/pull carries it to anyone the push missed.

// claimInterval is how often the claimant checks the members against the
// table besides being woken by a membership change: a backstop for a
// claimant that took over from one that went down.
const claimInterval = time.Second

func (m *members) wakeClaim() {
	select {
	case m.claimWake <- struct{}{}:
	default:
	}
}

// Run runs the claimant's loop and the loop that saves the membership
// until ctx ends, restarting either after a panic (logged and counted),
// and returns once both have returned. The roster's own goroutine is not
// Run's: it starts in New and stops in shutdown, after the last save.
func (m *members) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(m.supervise(ctx, "persistLoop", func() { m.persistLoop(ctx) }))
	wg.Go(m.supervise(ctx, "claimLoop", func() { m.claimLoop(ctx) }))
	wg.Go(m.supervise(ctx, "proveLoop", func() { m.proveLoop(ctx) }))
	wg.Wait()
	return ctx.Err()
}

func (m *members) claimLoop(ctx context.Context) {
	t := time.NewTicker(claimInterval)
	defer t.Stop()
	for {
		if err := m.claimRound(ctx); err != nil {
			m.log.Error("claiming ownership", "err", err)
		}
		m.metrics.claimRounds.Inc()
		select {
		case <-ctx.Done():
			return
		case <-m.claimWake:
		case <-t.C:
		}
	}
}

// claimRound claims a new table when this node is the claimant and the
// members that should own partitions differ from the table's
// (membership.State.Claim).
func (m *members) claimRound(ctx context.Context) error {
	c := m.clusterSnapshot()
	if c.Claimant(m.peers.Alive) != m.cfg.Name {
		return nil
	}
	t, moved, err := c.Claim(m.cfg.Name)
	if err != nil || t == nil {
		return err
	}
	m.log.Info("claimed a new ownership", "version", t.Version, "members", len(t.Members), "partitions_moved", moved)
	if !m.mergeState(membership.State{Table: t}) {
		return nil
	}
	m.pushState(ctx)
	return nil
}

// pushState sends this node's membership, table and hold to every other
// member that gossip says is up, so a change takes effect at once rather
// than at the next push/pull, and returns when each has answered or timed
// out: how many were sent it and how many merged it.
func (m *members) pushState(ctx context.Context) (sent, merged int) {
	c := m.clusterSnapshot()
	payload := c.Marshal()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for _, r := range c.Records() {
		if r.Name == m.cfg.Name || !membership.InRing(r.Status) || !m.peers.Alive(r.Name) {
			continue
		}
		addr, found := m.net.rpcAddrOf(r.Name)
		if !found {
			continue
		}
		sent++
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
			defer cancel()
			if _, err := m.net.client(addr).Call(cctx, wire.MethodState, payload); err != nil {
				m.log.Debug("pushing membership", "peer", r.Name, "err", err)
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	return sent, int(ok.Load())
}

// receiveState merges a pushed membership (wire.MethodState) from the
// node whose certificate names proven ("": plain RPC, no proof).
func (m *members) receiveState(payload []byte, proven string) error {
	c, err := m.decodeState(payload, "pushing membership")
	if err != nil {
		return err
	}
	m.mergeStateFrom(m.faultFilter(c), proven)
	return nil
}

// decodeState decodes a membership sent by a peer (from, for errors) and
// refuses one of another ring configuration.
func (m *members) decodeState(payload []byte, from string) (membership.State, error) {
	c, err := membership.Unmarshal(payload)
	if err != nil {
		return c, err
	}
	return c, membership.CheckCompatible(m.cfg.Ring.Partitions, m.cfg.Ring.N, c.Partitions, c.N, from)
}
