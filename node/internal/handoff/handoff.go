package handoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
)

// Config is the service's configuration; node fills it from its own.
type Config struct {
	// Name is this node's name: the From of every batch it sends, and
	// the target that Local receives instead of Peers.
	Name string
	// Interval is how often delivery is retried to a target that is not
	// known to be back (node's Config.HandoffInterval).
	Interval time.Duration
	// CallTimeout bounds one batch's delivery, the deletions of its hints
	// included.
	CallTimeout time.Duration
	// Hints is the hint store's configuration: rates, batch sizes,
	// backoff, the queue limit and the hint window (past which a target's
	// hints are reported overdue, never dropped).
	Hints hintedhandoff.Config
}

// Placement is the current placement. Ring may be called from any
// goroutine, never blocks, and returns an immutable ring that is never
// nil once the service runs.
type Placement interface {
	Ring() *ring.Ring
}

// Peers reaches the other nodes. Both methods are safe for concurrent use.
type Peers interface {
	// Alive reports whether gossip believes name is up. It never blocks.
	Alive(name string) bool
	// Send delivers a batch of hints to name and returns nil only once
	// name has merged all of it durably. It blocks until then or until
	// ctx ends.
	Send(ctx context.Context, name string, req wire.HandoffRequest) error
}

// Local merges hints into this node's own data (the receiving side,
// which stays in node). Receive returns nil only once all of req is
// durable; it may block, and is safe for concurrent use.
type Local interface {
	Receive(ctx context.Context, req wire.HandoffRequest) error
}

// Clock gives the node's steady time (monotonic across restarts), the only
// time the service reads.
type Clock interface {
	Steady() time.Time
}

// Metrics receives what the service counts. Its methods are called from
// Run's goroutine and the ones it waits for, and from Refused's caller;
// they must be safe for concurrent use and must not block.
type Metrics interface {
	// Refused counts a hint refused because its target's queue is full.
	Refused()
	// Delivered counts a hint delivered and deleted.
	Delivered()
	// Queued publishes what the store holds per target (the oldest
	// hint's age shows overdue ones).
	Queued(stats map[ring.NodeID]hintedhandoff.TargetStats, now time.Time)
}

// Deps is what the service needs from the node. Every field is required.
type Deps struct {
	Hints     *hintedhandoff.Store
	Placement Placement
	Peers     Peers
	Local     Local
	Clock     Clock
	Log       *slog.Logger
	Metrics   Metrics
	// Recovered is told of a panic recovered in a goroutine the service
	// started (it logs and counts it); the goroutine then ends alone.
	Recovered func(where string, v any)
}

// Service delivers the hints this node holds as a fallback to their
// targets. Run is its loop; Wake, Refused, Statuses and Drain are safe to
// call from any goroutine.
type Service struct {
	cfg  Config
	d    Deps
	wake chan struct{}
	// statuses is the last round's delivery states, replaced whole and
	// never modified once published.
	statuses atomic.Pointer[map[ring.NodeID]hintedhandoff.DeliveryStatus]
	// overdue is the targets with hints past the hint window, as last
	// logged. Only Run's goroutine touches it.
	overdue map[ring.NodeID]bool
}

// New returns a service that does nothing until Run.
func New(cfg Config, d Deps) *Service {
	return &Service{cfg: cfg, d: d, wake: make(chan struct{}, 1), overdue: map[ring.NodeID]bool{}}
}

// Wake asks the loop to look at its targets now (a peer came back). It
// never blocks.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Refused records that a hint for owner was refused because owner's queue
// is full (hintedhandoff.ErrTargetFull): counted and logged.
func (s *Service) Refused(owner string) {
	s.d.Metrics.Refused()
	s.d.Log.Warn("hint refused: the queue for this target is full; the write counts only the replicas that stored it",
		"target", owner, "limit_bytes", s.cfg.Hints.MaxBytesPerTarget)
}

// Statuses returns the delivery state of every target of the last round,
// for /debug/hints. The map is shared and must not be modified; it is nil
// before the first round.
func (s *Service) Statuses() map[ring.NodeID]hintedhandoff.DeliveryStatus {
	if p := s.statuses.Load(); p != nil {
		return *p
	}
	return nil
}

// Run delivers hints until ctx ends, then returns nil once every goroutine
// it started has ended. One Run at a time: it owns every target's
// Delivery.
func (s *Service) Run(ctx context.Context) error {
	deliveries := map[ring.NodeID]*hintedhandoff.Delivery{}
	check := time.NewTicker(time.Minute)
	defer check.Stop()
	for {
		wait := s.round(ctx, deliveries)
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-s.wake:
			for _, d := range deliveries {
				d.Wake()
			}
		case <-check.C:
			s.checkOverdue()
		case <-timer.C:
		}
		timer.Stop()
	}
}

// round sends at most one batch to every live target that is ready and
// returns how long to wait before the next round.
func (s *Service) round(ctx context.Context, deliveries map[ring.NodeID]*hintedhandoff.Delivery) time.Duration {
	wait := s.cfg.Interval
	targets := s.d.Hints.Targets()
	for _, target := range targets {
		d := deliveries[target]
		if d == nil {
			var err error
			if d, err = hintedhandoff.NewDelivery(target, s.cfg.Hints); err != nil {
				s.d.Log.Error("hint delivery", "err", err)
				continue
			}
			deliveries[target] = d
		}
		if !s.orphaned(target) && !s.d.Peers.Alive(string(target)) {
			continue
		}
		now := s.d.Clock.Steady()
		if !d.Ready(now) {
			wait = min(wait, max(d.Wait(now), 10*time.Millisecond))
			continue
		}
		if s.deliverBatch(ctx, d) {
			wait = 0 // more to send: go again at once (the bucket paces it)
		}
	}
	s.publish(deliveries, targets)
	return wait
}

// deliverBatch sends one batch to d's target and reports whether more
// remain in this pass.
func (s *Service) deliverBatch(ctx context.Context, d *hintedhandoff.Delivery) bool {
	target := d.Target()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CallTimeout)
	defer cancel()
	clk := s.d.Clock
	hints, next, err := s.d.Hints.Batch(ctx, target, d.Cursor())
	if errors.Is(err, hintedhandoff.ErrBadCursor) {
		hints, next, err = s.d.Hints.Batch(ctx, target, nil)
	}
	if err != nil {
		d.Failed(err, clk.Steady())
		return false
	}
	if len(hints) == 0 {
		// The end of the queue: the next pass starts from its first hint.
		d.Acked(nil, clk.Steady())
		return false
	}
	bytes := 0
	req := wire.HandoffRequest{From: s.cfg.Name, Hints: true}
	now := clk.Steady()
	for _, h := range hints {
		bytes += h.Size
		req.Items = append(req.Items, wire.HandoffItem{Key: h.Key, State: h.State, Age: now.Sub(h.Created)})
	}
	d.Sending(len(hints), bytes, clk.Steady())
	// Hints for partitions the target is no longer a primary of (it left,
	// was removed, or lost them in a change while it was down) go to the
	// keys' current primaries: on the target they would only be stale
	// copies for its reclaimer to push on.
	own, moved := s.splitByOwner(target, req)
	if len(moved.Items) > 0 {
		err = s.redeliver(ctx, moved)
	}
	if err == nil && len(own.Items) > 0 {
		err = s.d.Peers.Send(ctx, string(target), own)
	}
	if err != nil {
		s.d.Log.Debug("hint delivery failed", "target", target, "err", err)
		d.Failed(err, clk.Steady())
		return false
	}
	// Deletions in parallel, so the store's group commit syncs them together.
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	for _, h := range hints {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer func() {
				if v := recover(); v != nil {
					s.d.Recovered("hint delivered", v)
				}
			}()
			deleted, err := s.d.Hints.Delivered(ctx, h)
			if err != nil {
				s.d.Log.Warn("marking a hint delivered", "target", target, "err", err)
				return
			}
			if deleted {
				s.d.Metrics.Delivered()
			}
		})
	}
	wg.Wait()
	d.Acked(next, clk.Steady())
	return next != nil
}

// orphaned reports whether a hint target is out of the placement ring
// (removed, left or leaving): its hints go to the keys' current primaries.
func (s *Service) orphaned(target ring.NodeID) bool {
	_, in := s.d.Placement.Ring().Member(target)
	return !in
}

// splitByOwner splits a hint batch for target into the hints of keys
// target is still a primary of and the others.
func (s *Service) splitByOwner(target ring.NodeID, req wire.HandoffRequest) (own, moved wire.HandoffRequest) {
	r := s.d.Placement.Ring()
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
func (s *Service) redeliver(ctx context.Context, req wire.HandoffRequest) error {
	r := s.d.Placement.Ring()
	by := map[string][]wire.HandoffItem{}
	for _, it := range req.Items {
		for _, id := range r.Primaries(r.Partition(it.Key)) {
			by[string(id)] = append(by[string(id)], it)
		}
	}
	for target, items := range by {
		batch := wire.HandoffRequest{From: s.cfg.Name, Hints: req.Hints, Items: items}
		var err error
		if target == s.cfg.Name {
			err = s.d.Local.Receive(ctx, batch)
		} else if !s.d.Peers.Alive(target) {
			err = fmt.Errorf("node: %s, a primary for hints of a node that left the ring, is down", target)
		} else {
			err = s.d.Peers.Send(ctx, target, batch)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// checkOverdue logs, once each time it happens, a target whose oldest hint
// is past the hint window, and when it no longer is. Overdue hints are
// kept and delivered like the others (they may hold writes acknowledged by
// fallbacks alone), but they hold up the reaping of the tombstones of their
// partitions, and a target out of reach that long is probably gone: the
// operator should bring it back or remove it.
func (s *Service) checkOverdue() {
	now := s.d.Clock.Steady()
	stats := s.d.Hints.Stats()
	for target, st := range stats {
		over := st.Overdue(now, s.cfg.Hints.MaxAge)
		switch {
		case over && !s.overdue[target]:
			s.d.Log.Warn("hints overdue: undelivered for longer than the hint window; they are kept until the target takes them, and hold up tombstone reaping meanwhile",
				"target", target, "hints", st.Count, "oldest_age", st.Lag(now), "max_age", s.cfg.Hints.MaxAge, "target_alive", s.d.Peers.Alive(string(target)))
		case !over && s.overdue[target]:
			s.d.Log.Info("hints no longer overdue", "target", target, "hints", st.Count)
		}
		if over {
			s.overdue[target] = true
		} else {
			delete(s.overdue, target)
		}
	}
	for target := range s.overdue {
		if _, ok := stats[target]; !ok {
			delete(s.overdue, target)
		}
	}
}

// publish records the delivery states for Statuses and metrics, and
// forgets the deliveries of targets with nothing left.
func (s *Service) publish(deliveries map[ring.NodeID]*hintedhandoff.Delivery, queued []ring.NodeID) {
	now := s.d.Clock.Steady()
	st := make(map[ring.NodeID]hintedhandoff.DeliveryStatus, len(deliveries))
	for id, d := range deliveries {
		if !slices.Contains(queued, id) && d.State() != hintedhandoff.DeliveryActive {
			delete(deliveries, id) // nothing left for it
			continue
		}
		st[id] = d.Status(now)
	}
	s.statuses.Store(&st)
	s.d.Metrics.Queued(s.d.Hints.Stats(), now)
}

// Drain waits, up to timeout of the steady clock or until ctx ends, until
// this node holds no hints for any live target, waking the loop every
// 100 ms (a leaving node hands its hints on before it exits). Run must be
// running for Drain to make progress. It logs the targets left undelivered.
func (s *Service) Drain(ctx context.Context, timeout time.Duration) {
	deadline := s.d.Clock.Steady().Add(timeout)
	for s.d.Clock.Steady().Before(deadline) {
		pending := 0
		for _, t := range s.d.Hints.Targets() {
			if s.d.Peers.Alive(string(t)) {
				pending++
			}
		}
		if pending == 0 {
			return
		}
		s.Wake()
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.d.Log.Warn("leaving with hints not delivered: the writes they hold are lost unless a replica has them", "targets", s.d.Hints.Targets())
}
