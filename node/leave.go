package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/handoff"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// Leave (decommission). A leaving node is out of placement at once: the new
// owners of its partitions are not ready for them and pull them, from it
// among others (transfer.go). It keeps serving (as a transfer source and a
// coordinator) until every current primary of every partition it held
// reports ready, hands its hints on, and only then leaves the ring and
// exits. Its status is persisted, so a leaving node that restarts resumes
// the leave.

// leaver is the leave: its loop (leaveLoop, in task, started by leave)
// waits until the new owners hold every partition this node held, hands
// its hints on and marks the node left. Its progress, as /debug/transfers
// shows it, is guarded by mu.
type leaver struct {
	recoverer
	members   *members
	cfg       *Config // the node's (its addresses are set in New, before any goroutine)
	clock     *clock
	store     storage.Store
	rep       *replica
	ae        *antiEntropy
	peers     *gossip.Peers
	net       *peering
	gossip    *gossip.Member
	handoff   *handoff.Service
	transfers *transferService
	bgCtx     context.Context
	// The leave loop runs in task (shutdown cancels it first, through
	// cancel, rather than waiting out the requests' grace); left is closed,
	// once, when the node has left.
	task     *tasks
	ctx      context.Context
	left     chan struct{}
	leftOnce *sync.Once

	mu      sync.Mutex
	running bool
	// Parts are the partitions this node held (as a primary of the
	// placement before the leave), with their keys and bytes.
	Parts     map[uint32]partSize
	HandedOff map[uint32]bool
	Done      bool
	// polls counts completed checks that found a partition not yet
	// handed off (tests wait on it to show that a leave did not finish).
	polls atomic.Uint64
}

type partSize struct{ Keys, Bytes int64 }

// leavePoll is how often a leaving node asks the new owners whether they
// are ready.
const leavePoll = 500 * time.Millisecond

// leave starts (or resumes) this node's leave.
func (l *leaver) leave() {
	me := l.members.clusterView().Members[l.cfg.Name]
	if me.Status != membership.StatusLeaving {
		l.members.setSelfStatus(membership.StatusLeaving)
	}
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return
	}
	l.running = true
	l.mu.Unlock()
	l.task.Go(l.supervise(l.bgCtx, "leave", func() { l.leaveLoop(l.ctx) }))
}

// partitionSizes measures this node's data per partition (one scan).
func (l *leaver) partitionSizes(ctx context.Context, parts []int) (map[uint32]partSize, error) {
	out := map[uint32]partSize{}
	for _, p := range parts {
		var s partSize
		lo, hi := storage.PartitionRange(uint32(p))
		err := l.store.Scan(ctx, lo, hi, func(k, v []byte) error {
			s.Keys++
			s.Bytes += int64(len(k) + len(v))
			return nil
		})
		if err != nil {
			return nil, err
		}
		out[uint32(p)] = s
	}
	return out, nil
}

func (l *leaver) leaveLoop(ctx context.Context) {
	self := ring.NodeID(l.cfg.Name)
	// The partitions this node holds: its own in the current placement
	// until the claimant takes it out, then in the one before.
	held := l.members.ring.Load()
	if _, in := held.Member(self); !in {
		prev, err := l.members.clusterSnapshot().PreviousRing()
		if err != nil {
			l.log.Error("leave: previous ring", "err", err)
			return
		}
		held = prev
	}
	var parts []int
	if _, in := held.Member(self); in {
		parts = held.PartitionsOf(self)
	}
	sizes, err := l.partitionSizes(ctx, parts)
	if err != nil {
		l.log.Error("leave: measuring partitions", "err", err)
		return
	}
	l.mu.Lock()
	l.Parts, l.HandedOff = sizes, map[uint32]bool{}
	l.mu.Unlock()
	l.log.Info("leaving: waiting for the new owners to pull this node's partitions", "partitions", len(parts))
	for {
		if l.handedOff(ctx) {
			break
		}
		l.polls.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(leavePoll):
		}
	}
	// Writes that reached this node after a new owner's stream passed
	// their key: one Merkle exchange per partition and new primary pushes
	// whatever this node has that they lack.
	l.log.Info("leaving: every partition handed off; pushing the last writes")
	l.pushHeld(ctx, parts)
	l.log.Info("leaving: handing hints on")
	// Hand this node's hints on before it goes (bounded).
	l.handoff.Drain(l.bgCtx, 30*time.Second)
	l.mu.Lock()
	l.Done = true
	l.mu.Unlock()
	l.members.setSelfStatus(membership.StatusLeft)
	deadline := l.clock.Steady().Add(5 * time.Second)
	for l.gossip.Queued() > 0 && l.clock.Steady().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Leave a moment for a watcher (dynago leave) to see the end.
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	l.leftOnce.Do(func() { close(l.left) })
}

// handedOff asks the current primaries of the partitions not yet handed off
// whether they are ready for them, and reports whether all are.
func (l *leaver) handedOff(ctx context.Context) bool {
	r := l.members.ring.Load()
	l.mu.Lock()
	ask := map[string][]uint32{}
	pending := 0
	for p := range l.Parts {
		if l.HandedOff[p] {
			continue
		}
		pending++
		for _, id := range r.Primaries(int(p)) {
			ask[string(id)] = append(ask[string(id)], p)
		}
	}
	l.mu.Unlock()
	if pending == 0 {
		return true
	}
	notReady := map[uint32]bool{}
	for peer, parts := range ask {
		addr, ok := l.net.rpcAddrOf(peer)
		if !ok || !l.peers.Alive(peer) || peer == l.cfg.Name {
			for _, p := range parts {
				notReady[p] = true
			}
			continue
		}
		roots, _, err := l.ae.rootsOf(ctx, l.members.currentView().id, addr, parts)
		if err != nil {
			for _, p := range parts {
				notReady[p] = true
			}
			continue
		}
		for i, p := range parts {
			if !roots[i].Ready {
				notReady[p] = true
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	all := true
	for p := range l.Parts {
		if l.HandedOff[p] {
			continue
		}
		if notReady[p] {
			all = false
		} else {
			l.HandedOff[p] = true
		}
	}
	return all
}

// leaveJSON is the "leaving" part of /debug/transfers; nil when the node is
// not leaving.
func (l *leaver) leaveJSON() *api.LeaveProgress {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.running {
		return nil
	}
	var keys, bytes, keysLeft, bytesLeft int64
	done := 0
	for p, s := range l.Parts {
		keys += s.Keys
		bytes += s.Bytes
		if l.HandedOff[p] {
			done++
		} else {
			keysLeft += s.Keys
			bytesLeft += s.Bytes
		}
	}
	return &api.LeaveProgress{
		PartitionsTotal: len(l.Parts), PartitionsHandedOff: done,
		KeysTotal: keys, KeysRemaining: keysLeft, BytesTotal: bytes, BytesRemaining: bytesLeft,
		Done: l.Done,
	}
}

// pushHeld brings each current primary of parts up to date with this
// node's copy (a Merkle exchange repairs both sides). Errors are logged:
// anti-entropy among the primaries and the writes' other replicas remain.
func (l *leaver) pushHeld(ctx context.Context, parts []int) {
	r := l.members.ring.Load()
	for _, p := range parts {
		for _, id := range r.Primaries(p) {
			if string(id) == l.cfg.Name || !l.peers.Alive(string(id)) {
				continue
			}
			if err := l.transfers.exchangeWith(ctx, uint32(p), string(id), &transferJob{}, true); err != nil {
				l.log.Warn("leaving: pushing a partition", "partition", p, "to", id, "err", err)
			}
		}
	}
}
