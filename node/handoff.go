package node

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/handoff"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
)

// Hinted handoff (Dynamo §4.6): a fallback keeps the writes it took for a
// down primary as durable hints (package hintedhandoff); the delivery of
// those hints to their targets is the handoff service's
// (node/internal/handoff), which Run runs. What stays here is the
// receiving side (receiveHandoff), the RPC send both sides of node use
// (sendHandoff), GET /debug/hints, and the adapters that give the service
// what it needs of the node.

// newHandoff builds the hint delivery service on this node.
func (n *Node) newHandoff() *handoff.Service {
	return handoff.New(handoff.Config{
		Name:        n.cfg.Name,
		Interval:    n.cfg.HandoffInterval,
		CallTimeout: n.cfg.hintCallTimeout(),
		Hints:       n.cfg.Hints,
	}, handoff.Deps{
		Hints:     n.hints,
		Placement: handoffNode{n},
		Peers:     handoffNode{n},
		Local:     handoffNode{n},
		Clock:     n.clock,
		Log:       n.log,
		Metrics:   handoffMetrics{n.metrics},
		Recovered: func(where string, v any) { _ = n.recovered(where, v) },
	})
}

// handoffNode is the node as the handoff service sees it: the placement,
// the peers, and this node's own data.
type handoffNode struct{ n *Node }

func (h handoffNode) Ring() *ring.Ring       { return h.n.members.ring.Load() }
func (h handoffNode) Alive(name string) bool { return h.n.peers.Alive(name) }
func (h handoffNode) Send(ctx context.Context, name string, req wire.HandoffRequest) error {
	return h.n.net.sendHandoff(ctx, name, req)
}
func (h handoffNode) Receive(ctx context.Context, req wire.HandoffRequest) error {
	return h.n.rep.receiveHandoff(ctx, req)
}

// handoffMetrics is node's metrics as the handoff service counts them.
type handoffMetrics struct{ m *metrics }

func (h handoffMetrics) Refused()   { h.m.hintsRefused.Inc() }
func (h handoffMetrics) Delivered() { h.m.hintsDelivered.Inc() }
func (h handoffMetrics) Queued(stats map[ring.NodeID]hintedhandoff.TargetStats, now time.Time) {
	h.m.setHints(stats, now)
}

func (p *peering) sendHandoff(ctx context.Context, target string, req wire.HandoffRequest) error {
	payload, err := req.Marshal()
	if err != nil {
		return err
	}
	addr, ok := p.rpcAddrOf(target)
	if !ok {
		return errors.New("node: no address for " + target)
	}
	if _, err := p.callNow(ctx, addr, wire.MethodHandoff, payload); err != nil {
		p.metrics.rpcErrors.WithLabelValues("handoff").Inc()
		return err
	}
	return nil
}

// receiveHandoff merges a batch of hints, or a push (a holder round's, a
// reclaimer's), into this node's data and returns once all of it is
// durable. The merges run in parallel so the store's group commit syncs
// them together.
//
// A delivered hint is merged whatever its age: it may hold a write that
// only fallbacks acknowledged. What keeps an old hint from bringing back a
// reaped delete is the reaper, which confirms every tombstone with every
// member that may hold hints first (holderRound). A push that covers hints
// this node holds for the key supersedes them once merged: the tombstone a
// holder round pushes replaces the pre-delete values they held.
func (n *replica) receiveHandoff(ctx context.Context, req wire.HandoffRequest) error {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	errs := make([]error, len(req.Items))
	for i, it := range req.Items {
		if len(it.Key) == 0 || len(it.Key) > n.cfg.MaxKeyBytes {
			errs[i] = errors.New("node: bad key in handoff")
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = n.safely("merge", func() error {
				merged, err := n.applyLocal(ctx, it.Key, it.State)
				if err != nil || req.Hints {
					return err
				}
				p := uint32(ring.PartitionOf(n.cfg.Ring.Partitions, it.Key))
				if !n.hints.HasPartition(p) {
					return nil
				}
				_, err = n.hints.Supersede(ctx, p, it.Key, merged)
				return err
			})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// hintJSON is one target in GET /debug/hints.
type hintJSON = api.HintTarget

// handleHints serves GET /debug/hints: per target, what this node holds for
// it and how delivery is going.
func (h *httpAPI) handleHints(w http.ResponseWriter, r *http.Request) {
	now := h.clock.Steady()
	stats := h.hints.Stats()
	statuses := h.handoff.Statuses()
	ids := make([]ring.NodeID, 0, len(stats))
	for id := range stats {
		ids = append(ids, id)
	}
	for id := range statuses {
		if _, ok := stats[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	out := []hintJSON{}
	total := 0
	for _, id := range ids {
		s, d := stats[id], statuses[id]
		state := "idle"
		if d.Target != "" {
			state = d.State.String()
		}
		age := 0.0
		if s.Count > 0 {
			age = s.Lag(now).Seconds()
		}
		total += s.Count
		out = append(out, hintJSON{Target: string(id), Count: s.Count, Bytes: s.Bytes, OldestAgeSecs: age, Overdue: s.Overdue(now, h.cfg.Hints.MaxAge), State: state,
			BytesPerSec: d.BytesPerSec, KeysPerSec: d.KeysPerSec, Delivered: s.Delivered, Refused: s.Refused,
			TargetAlive: h.peers.Alive(string(id)), LastError: d.LastError})
	}
	writeJSON(w, http.StatusOK, api.Hints{Node: h.cfg.Name, Total: total, Targets: out})
}
