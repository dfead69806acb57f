package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
)

// Hinted handoff (Dynamo §4.6): a fallback keeps the writes it took for a
// down primary as durable hints (package hintedhandoff) and streams them to
// the primary once gossip says it is back (and on a periodic retry), in
// rate-limited batches; it deletes a hint only after the primary has merged
// it durably. One goroutine (handoffLoop) owns every target's Delivery.

// handoffState is what /debug/hints shows of the delivery loop.
type handoffState struct {
	mu       sync.Mutex
	statuses map[ring.NodeID]hintedhandoff.DeliveryStatus
	wake     chan struct{}
}

// wakeHandoff asks the delivery loop to look at its targets now (a peer
// came back).
func (n *Node) wakeHandoff() {
	select {
	case n.handoff.wake <- struct{}{}:
	default:
	}
}

func (n *Node) hintRefused(owner string) {
	n.metrics.hintsRefused.Inc()
	n.log.Warn("hint refused: the queue for this target is full; the write counts only the replicas that stored it, anti-entropy repairs the rest",
		"target", owner, "limit_bytes", n.cfg.Hints.MaxBytesPerTarget)
}

// handoffLoop delivers hints until the node stops.
func (n *Node) handoffLoop() {
	deliveries := map[ring.NodeID]*hintedhandoff.Delivery{}
	expire := time.NewTicker(time.Minute)
	defer expire.Stop()
	for {
		wait := n.handoffRound(deliveries)
		timer := time.NewTimer(wait)
		select {
		case <-n.bgCtx.Done():
			timer.Stop()
			return
		case <-n.handoff.wake:
			for _, d := range deliveries {
				d.Wake()
			}
		case <-expire.C:
			n.expireHints()
		case <-timer.C:
		}
		timer.Stop()
	}
}

// handoffRound sends at most one batch to every live target that is ready
// and returns how long to wait before the next round.
func (n *Node) handoffRound(deliveries map[ring.NodeID]*hintedhandoff.Delivery) time.Duration {
	wait := n.cfg.HandoffInterval
	targets := n.hints.Targets()
	for _, target := range targets {
		d := deliveries[target]
		if d == nil {
			var err error
			if d, err = hintedhandoff.NewDelivery(target, n.cfg.Hints); err != nil {
				n.log.Error("hint delivery", "err", err)
				continue
			}
			deliveries[target] = d
		}
		if !n.orphaned(target) && !n.alive(string(target)) {
			continue
		}
		now := n.clock.Steady()
		if !d.Ready(now) {
			wait = min(wait, max(d.Wait(now), 10*time.Millisecond))
			continue
		}
		if n.deliverBatch(d) {
			wait = 0 // more to send: go again at once (the bucket paces it)
		}
	}
	n.publishHandoff(deliveries, targets)
	return wait
}

// deliverBatch sends one batch to d's target and reports whether more
// remain in this pass.
func (n *Node) deliverBatch(d *hintedhandoff.Delivery) bool {
	target := d.Target()
	ctx, cancel := context.WithTimeout(n.bgCtx, n.hintCallTimeout())
	defer cancel()
	hints, next, err := n.hints.Batch(ctx, target, d.Cursor(), n.clock.Steady())
	if errors.Is(err, hintedhandoff.ErrBadCursor) {
		hints, next, err = n.hints.Batch(ctx, target, nil, n.clock.Steady())
	}
	if err != nil {
		d.Failed(err, n.clock.Steady())
		return false
	}
	if len(hints) == 0 {
		// What is left for the target, if anything, is past the hint
		// window: drop it now rather than at the next expiry tick.
		if n.hints.StatsFor(target).Count > 0 {
			n.expireTarget(target)
		}
		d.Acked(nil, n.clock.Steady())
		return false
	}
	bytes := 0
	req := wire.HandoffRequest{From: n.cfg.Name, Hints: true}
	now := n.clock.Steady()
	for _, h := range hints {
		bytes += h.Size
		req.Items = append(req.Items, wire.HandoffItem{Key: h.Key, State: h.State, Age: now.Sub(h.Created)})
	}
	d.Sending(len(hints), bytes, n.clock.Steady())
	// Hints for partitions the target is no longer a primary of (it left,
	// was removed, or lost them in a change while it was down) go to the
	// keys' current primaries: on the target they would only be stale
	// copies for its reclaimer to push on.
	own, moved := n.splitByOwner(target, req)
	if len(moved.Items) > 0 {
		err = n.redeliver(ctx, moved)
	}
	if err == nil && len(own.Items) > 0 {
		err = n.sendHandoff(ctx, string(target), own)
	}
	if err != nil {
		n.log.Debug("hint delivery failed", "target", target, "err", err)
		d.Failed(err, n.clock.Steady())
		return false
	}
	// Deletions in parallel, so the store's group commit syncs them together.
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, h := range hints {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer n.guard("hint delivered")
			deleted, err := n.hints.Delivered(ctx, h)
			if err != nil {
				n.log.Warn("marking a hint delivered", "target", target, "err", err)
				return
			}
			if deleted {
				n.metrics.hintsDelivered.Inc()
			}
		})
	}
	wg.Wait()
	d.Acked(next, n.clock.Steady())
	return next != nil
}

// orphaned reports whether a hint target is out of the placement ring
// (removed, left or leaving): its hints go to the keys' current primaries.
func (n *Node) orphaned(target ring.NodeID) bool {
	_, in := n.ring.Load().Member(target)
	return !in
}

// splitByOwner splits a hint batch for target into the hints of keys
// target is still a primary of and the others.
func (n *Node) splitByOwner(target ring.NodeID, req wire.HandoffRequest) (own, moved wire.HandoffRequest) {
	r := n.ring.Load()
	own, moved = wire.HandoffRequest{From: req.From, Hints: req.Hints}, wire.HandoffRequest{From: req.From, Hints: req.Hints}
	for _, it := range req.Items {
		if slices.Contains(r.Primaries(r.Partition(it.Key)), target) {
			own.Items = append(own.Items, it)
		} else {
			moved.Items = append(moved.Items, it)
		}
	}
	return own, moved
}

// redeliver hands hints whose target left the ring to every current
// primary of each key (this node's own data when it is one), so a write
// that only a fallback holds survives its target's removal.
func (n *Node) redeliver(ctx context.Context, req wire.HandoffRequest) error {
	r := n.ring.Load()
	by := map[string][]wire.HandoffItem{}
	for _, it := range req.Items {
		for _, id := range r.Primaries(r.Partition(it.Key)) {
			by[string(id)] = append(by[string(id)], it)
		}
	}
	for target, items := range by {
		batch := wire.HandoffRequest{From: n.cfg.Name, Hints: req.Hints, Items: items}
		var err error
		if target == n.cfg.Name {
			err = n.receiveHandoff(ctx, batch)
		} else if !n.alive(target) {
			err = fmt.Errorf("node: %s, a primary for hints of a node that left the ring, is down", target)
		} else {
			err = n.sendHandoff(ctx, target, batch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) sendHandoff(ctx context.Context, target string, req wire.HandoffRequest) error {
	payload, err := req.Marshal()
	if err != nil {
		return err
	}
	addr, ok := n.rpcAddrOf(target)
	if !ok {
		return errors.New("node: no address for " + target)
	}
	if _, err := n.callNow(ctx, addr, wire.MethodHandoff, payload); err != nil {
		n.metrics.rpcErrors.WithLabelValues("handoff").Inc()
		return err
	}
	return nil
}

// receiveHandoff merges a batch of hints into this node's data and returns
// once all of it is durable. The merges run in parallel so the store's group
// commit syncs them together.
//
// A delivered hint past this node's own hint window is dropped, not
// merged, and acknowledged (so the sender deletes it): whatever the
// sender's window, this node reaps tombstones on its own (reapMinAge), and
// a hint that old may hold a value whose delete this node has reaped.
func (n *Node) receiveHandoff(ctx context.Context, req wire.HandoffRequest) error {
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	errs := make([]error, len(req.Items))
	refused := 0
	for i, it := range req.Items {
		if len(it.Key) == 0 || len(it.Key) > n.cfg.MaxKeyBytes {
			errs[i] = errors.New("node: bad key in handoff")
			continue
		}
		if req.Hints && it.Age >= n.cfg.Hints.MaxAge {
			refused++
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = n.safely("merge", func() error {
				_, err := n.applyLocal(ctx, it.Key, it.State)
				return err
			})
		})
	}
	wg.Wait()
	if refused > 0 {
		n.metrics.hintsTooOld.Add(float64(refused))
		n.log.Warn("refused delivered hints past this node's hint window (they may hold deleted values)",
			"from", req.From, "hints", refused, "max_age", n.cfg.Hints.MaxAge)
	}
	return errors.Join(errs...)
}

// expireHints drops hints older than the age limit, loudly: anti-entropy
// repairs what they carried.
func (n *Node) expireHints() {
	for _, target := range n.hints.Targets() {
		n.expireTarget(target)
	}
}

func (n *Node) expireTarget(target ring.NodeID) {
	k, err := n.hints.Expire(n.bgCtx, target, n.clock.Steady())
	if err != nil {
		n.log.Warn("expiring hints", "target", target, "err", err)
		return
	}
	if k > 0 {
		n.metrics.hintsExpired.Add(float64(k))
		n.log.Warn("hints expired: older than the age limit; anti-entropy repairs the target", "target", target, "hints", k, "max_age", n.cfg.Hints.MaxAge)
	}
}

// publishHandoff records the delivery states for /debug/hints and metrics.
func (n *Node) publishHandoff(deliveries map[ring.NodeID]*hintedhandoff.Delivery, queued []ring.NodeID) {
	now := n.clock.Steady()
	st := make(map[ring.NodeID]hintedhandoff.DeliveryStatus, len(deliveries))
	for id, d := range deliveries {
		if !slices.Contains(queued, id) && d.State() != hintedhandoff.DeliveryActive {
			delete(deliveries, id) // nothing left for it
			continue
		}
		st[id] = d.Status(now)
	}
	n.handoff.mu.Lock()
	n.handoff.statuses = st
	n.handoff.mu.Unlock()
	n.metrics.setHints(n.hints.Stats(), now)
}

// drainHints waits, up to timeout, until this node holds no hints for any
// live target (a leaving node hands its hints on before it exits).
func (n *Node) drainHints(timeout time.Duration) {
	deadline := n.clock.Steady().Add(timeout)
	for n.clock.Steady().Before(deadline) {
		pending := 0
		for _, t := range n.hints.Targets() {
			if n.alive(string(t)) {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		n.wakeHandoff()
		select {
		case <-n.bgCtx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	n.log.Warn("leaving with hints not delivered; anti-entropy repairs their targets", "targets", n.hints.Targets())
}

// hintJSON is one target in GET /debug/hints.
type hintJSON = api.HintTarget

// handleHints serves GET /debug/hints: per target, what this node holds for
// it and how delivery is going.
func (n *Node) handleHints(w http.ResponseWriter, r *http.Request) {
	now := n.clock.Steady()
	stats := n.hints.Stats()
	n.handoff.mu.Lock()
	statuses := n.handoff.statuses
	n.handoff.mu.Unlock()
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
		out = append(out, hintJSON{Target: string(id), Count: s.Count, Bytes: s.Bytes, OldestAgeSecs: age, State: state,
			BytesPerSec: d.BytesPerSec, KeysPerSec: d.KeysPerSec, Delivered: s.Delivered, Refused: s.Refused, Expired: s.Expired,
			TargetAlive: n.alive(string(id)), LastError: d.LastError})
	}
	writeJSON(w, http.StatusOK, api.Hints{Node: n.cfg.Name, Total: total, Targets: out})
}
