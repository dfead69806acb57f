package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/api"
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

// leaveState is a leave's progress, as /debug/transfers shows it.
type leaveState struct {
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
func (n *Node) leave() {
	me := n.members.clusterView().Members[n.cfg.Name]
	if me.Status != membership.StatusLeaving {
		n.members.setSelfStatus(membership.StatusLeaving)
	}
	n.leaving.mu.Lock()
	if n.leaving.running {
		n.leaving.mu.Unlock()
		return
	}
	n.leaving.running = true
	n.leaving.mu.Unlock()
	n.leaveTask.Go(n.supervise("leave", func() { n.leaveLoop(n.leaveCtx) }))
}

// partitionSizes measures this node's data per partition (one scan).
func (n *Node) partitionSizes(ctx context.Context, parts []int) (map[uint32]partSize, error) {
	out := map[uint32]partSize{}
	for _, p := range parts {
		var s partSize
		lo, hi := storage.PartitionRange(uint32(p))
		err := n.store.Scan(ctx, lo, hi, func(k, v []byte) error {
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

func (n *Node) leaveLoop(ctx context.Context) {
	self := ring.NodeID(n.cfg.Name)
	// The partitions this node holds: its own in the current placement
	// until the claimant takes it out, then in the one before.
	held := n.members.ring.Load()
	if _, in := held.Member(self); !in {
		prev, err := n.members.clusterSnapshot().PreviousRing()
		if err != nil {
			n.log.Error("leave: previous ring", "err", err)
			return
		}
		held = prev
	}
	var parts []int
	if _, in := held.Member(self); in {
		parts = held.PartitionsOf(self)
	}
	sizes, err := n.partitionSizes(ctx, parts)
	if err != nil {
		n.log.Error("leave: measuring partitions", "err", err)
		return
	}
	n.leaving.mu.Lock()
	n.leaving.Parts, n.leaving.HandedOff = sizes, map[uint32]bool{}
	n.leaving.mu.Unlock()
	n.log.Info("leaving: waiting for the new owners to pull this node's partitions", "partitions", len(parts))
	for {
		if n.handedOff(ctx) {
			break
		}
		n.leaving.polls.Add(1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(leavePoll):
		}
	}
	// Writes that reached this node after a new owner's stream passed
	// their key: one Merkle exchange per partition and new primary pushes
	// whatever this node has that they lack.
	n.log.Info("leaving: every partition handed off; pushing the last writes")
	n.pushHeld(ctx, parts)
	n.log.Info("leaving: handing hints on")
	// Hand this node's hints on before it goes (bounded).
	n.handoff.Drain(n.bgCtx, 30*time.Second)
	n.leaving.mu.Lock()
	n.leaving.Done = true
	n.leaving.mu.Unlock()
	n.members.setSelfStatus(membership.StatusLeft)
	deadline := n.clock.Steady().Add(5 * time.Second)
	for n.gossip.Queued() > 0 && n.clock.Steady().Before(deadline) {
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
	n.leftOnce.Do(func() { close(n.left) })
}

// handedOff asks the current primaries of the partitions not yet handed off
// whether they are ready for them, and reports whether all are.
func (n *Node) handedOff(ctx context.Context) bool {
	r := n.members.ring.Load()
	n.leaving.mu.Lock()
	ask := map[string][]uint32{}
	pending := 0
	for p := range n.leaving.Parts {
		if n.leaving.HandedOff[p] {
			continue
		}
		pending++
		for _, id := range r.Primaries(int(p)) {
			ask[string(id)] = append(ask[string(id)], p)
		}
	}
	n.leaving.mu.Unlock()
	if pending == 0 {
		return true
	}
	notReady := map[uint32]bool{}
	for peer, parts := range ask {
		addr, ok := n.rpcAddrOf(peer)
		if !ok || !n.peers.Alive(peer) || peer == n.cfg.Name {
			for _, p := range parts {
				notReady[p] = true
			}
			continue
		}
		roots, _, err := n.ae.rootsOf(ctx, n.members.currentView().id, addr, parts)
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
	n.leaving.mu.Lock()
	defer n.leaving.mu.Unlock()
	all := true
	for p := range n.leaving.Parts {
		if n.leaving.HandedOff[p] {
			continue
		}
		if notReady[p] {
			all = false
		} else {
			n.leaving.HandedOff[p] = true
		}
	}
	return all
}

// leaveJSON is the "leaving" part of /debug/transfers; nil when the node is
// not leaving.
func (n *Node) leaveJSON() *api.LeaveProgress {
	n.leaving.mu.Lock()
	defer n.leaving.mu.Unlock()
	if !n.leaving.running {
		return nil
	}
	var keys, bytes, keysLeft, bytesLeft int64
	done := 0
	for p, s := range n.leaving.Parts {
		keys += s.Keys
		bytes += s.Bytes
		if n.leaving.HandedOff[p] {
			done++
		} else {
			keysLeft += s.Keys
			bytesLeft += s.Bytes
		}
	}
	return &api.LeaveProgress{
		PartitionsTotal: len(n.leaving.Parts), PartitionsHandedOff: done,
		KeysTotal: keys, KeysRemaining: keysLeft, BytesTotal: bytes, BytesRemaining: bytesLeft,
		Done: n.leaving.Done,
	}
}

// pushHeld brings each current primary of parts up to date with this
// node's copy (a Merkle exchange repairs both sides). Errors are logged:
// anti-entropy among the primaries and the writes' other replicas remain.
func (n *Node) pushHeld(ctx context.Context, parts []int) {
	r := n.members.ring.Load()
	for _, p := range parts {
		for _, id := range r.Primaries(p) {
			if string(id) == n.cfg.Name || !n.peers.Alive(string(id)) {
				continue
			}
			if err := n.transfers.exchangeWith(ctx, uint32(p), string(id), &transferJob{}, true); err != nil {
				n.log.Warn("leaving: pushing a partition", "partition", p, "to", id, "err", err)
			}
		}
	}
}
