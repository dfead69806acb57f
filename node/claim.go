package node

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
)

// The claimant (see node/internal/membership): one node computes each new
// ownership with ring.Claim and pushes the whole membership to every
// member; gossip's push/pull carries it to anyone the push missed.

// claimInterval is how often the claimant checks the members against the
// table besides being woken by a membership change: a backstop for a
// claimant that took over from one that went down.
const claimInterval = time.Second

// claimant returns the node that claims for this view of the cluster: the
// first valid member gossip says is up ("" when there is none). A joining
// node never claims: until it has met its cluster it knows only itself, and
// a table of its own would compete with the cluster's. While no member is
// valid (nodes that all started joining one another) every node places by
// the history-free ring of the members, and the first to turn valid claims
// that same placement.
func (n *Node) claimant(c membership.State) string {
	for _, r := range c.Records() {
		if r.Status == membership.StatusValid && n.alive(r.Name) {
			return r.Name
		}
	}
	return ""
}

func (n *Node) wakeClaim() {
	select {
	case n.claimWake <- struct{}{}:
	default:
	}
}

func (n *Node) claimLoop() {
	t := time.NewTicker(claimInterval)
	defer t.Stop()
	for {
		if err := n.claimRound(n.bgCtx); err != nil {
			n.log.Error("claiming ownership", "err", err)
		}
		n.metrics.claimRounds.Inc()
		select {
		case <-n.bgCtx.Done():
			return
		case <-n.claimWake:
		case <-t.C:
		}
	}
}

// claimRound claims a new table when this node is the claimant and the
// members that should own partitions differ from the table's.
func (n *Node) claimRound(ctx context.Context) error {
	c := n.clusterSnapshot()
	if n.claimant(c) != n.cfg.Name || c.Staged() {
		return nil
	}
	want := c.Placed()
	if len(want) == 0 || (c.Table != nil && slices.Equal(c.Table.Members, want)) {
		return nil
	}
	cfg := c.RingConfig()
	prev, err := ring.New(cfg, nil)
	if err != nil {
		return err
	}
	version := uint64(1)
	if c.Table != nil {
		if prev, err = c.Table.Ring(cfg, c.Members); err != nil {
			return err
		}
		version = c.Table.Version + 1
	}
	ms := make([]ring.Member, len(want))
	for i, m := range want {
		ms[i] = ring.Member{ID: ring.NodeID(m.Name), Zone: m.Zone}
	}
	next, err := prev.Claim(ms)
	if err != nil {
		return err
	}
	t := membership.TableOf(next, version, n.cfg.Name, c.Table, carriedSources(c, prev))
	moved := 0
	if c.Table != nil {
		before := prev.Owners()
		for p, o := range next.Owners() {
			if o != before[p] {
				moved++
			}
		}
	}
	n.log.Info("claimed a new ownership", "version", version, "members", len(want), "partitions_moved", moved)
	if !n.mergeState(membership.State{Table: t}) {
		return nil
	}
	n.pushState(ctx)
	return nil
}

// pushState sends this node's membership, table and hold to every other
// member that gossip says is up, so a change takes effect at once rather
// than at the next push/pull, and returns when each has answered or timed
// out: how many were sent it and how many merged it.
func (n *Node) pushState(ctx context.Context) (sent, merged int) {
	c := n.clusterSnapshot()
	payload := c.Marshal()
	var wg sync.WaitGroup
	var ok atomic.Int64
	for _, r := range c.Records() {
		if r.Name == n.cfg.Name || !membership.InRing(r.Status) || !n.alive(r.Name) {
			continue
		}
		addr, found := n.rpcAddrOf(r.Name)
		if !found {
			continue
		}
		sent++
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
			defer cancel()
			if _, err := n.client(addr).Call(cctx, methodState, payload); err != nil {
				n.log.Debug("pushing membership", "peer", r.Name, "err", err)
				return
			}
			ok.Add(1)
		})
	}
	wg.Wait()
	return sent, int(ok.Load())
}

// receiveState merges a pushed membership (methodState).
func (n *Node) receiveState(payload []byte) error {
	c, err := n.decodeState(payload, "pushing membership")
	if err != nil {
		return err
	}
	n.mergeState(n.faultFilter(c))
	return nil
}

// decodeState decodes a membership sent by a peer (from, for errors) and
// refuses one of another ring configuration.
func (n *Node) decodeState(payload []byte, from string) (membership.State, error) {
	c, err := membership.Unmarshal(payload)
	if err != nil {
		return c, err
	}
	return c, membership.CheckCompatible(n.cfg.Ring.Partitions, n.cfg.Ring.N, c.Partitions, c.N, from)
}

// carriedSources returns, for each partition whose primaries in c's table
// are not all ready for it (a member's ReadyAt is behind the table: its
// pulls are unfinished), the older owners its new owners must still pull
// from besides cur's primaries, which the next table's Prev names anyway:
// the primaries of c's previous table and the sources c's table carried.
// Without this, a change claimed before the previous one's pulls finished
// dropped the owners before that from the sources (issue 10), and a write
// only they held was missing from a copy its owner called complete.
func carriedSources(c membership.State, cur *ring.Ring) map[int][]string {
	if c.Table == nil {
		return nil
	}
	var prev *ring.Ring
	if c.Table.Prev != nil {
		prev, _ = c.PreviousRing()
	}
	out := map[int][]string{}
	for p := range c.Partitions {
		prims := cur.Primaries(p)
		settled := true
		for _, id := range prims {
			if m, ok := c.Members[string(id)]; ok && membership.InRing(m.Status) && m.ReadyAt < c.Table.Version+1 {
				settled = false
			}
		}
		if settled {
			continue
		}
		var srcs []string
		add := func(name string) {
			m, ok := c.Members[name]
			if name == "" || (ok && !membership.InRing(m.Status)) || slices.Contains(prims, ring.NodeID(name)) || slices.Contains(srcs, name) {
				return
			}
			srcs = append(srcs, name)
		}
		if prev != nil {
			for _, id := range prev.Primaries(p) {
				add(string(id))
			}
		}
		for _, s := range c.Table.Sources[p] {
			add(s)
		}
		if len(srcs) > 0 {
			slices.Sort(srcs)
			out[p] = srcs[:min(len(srcs), membership.MaxCarriedSources)]
		}
	}
	return out
}
