package node

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Holders (issue 10, hole 4). A tombstone may be reaped only once every
// node that could bring the deleted value back has been seen to hold the
// tombstone or nothing. That is not only the key's primaries: a node that
// lost the partition in a membership change (a leaving node, an old owner
// whose copy is not reclaimed yet) still holds values, misses the deletes
// (it is out of placement) and pushes what the primaries lack (a leaving
// node's last push, the reclaimer's push). So every member advertises, in
// its gossiped record, the partitions it holds data of without being their
// primary (Holds, as of the ownership table HoldsAt-1), and the reapers of
// a partition count its holders among the replicas that must confirm each
// tombstone. A primary confirms a holder by asking it for its states of the
// partition's tombstoned keys and pushing the tombstone wherever the holder
// has an older state (holderRound); a holder that has nothing for a key
// can't resurrect it.
//
// With that rule, anything a holder pushes is safe: a value it holds for a
// key whose tombstone was reaped would mean the reap skipped its
// confirmation. So a holder pushes every value a primary lacks (the
// reclaimer no longer keeps such values back), and a leaving node's last
// push can't resurrect. A member whose advertisement is older than the
// previous table is assumed to hold every partition (it may not have
// reported what the last changes left it), which holds up reaping until
// it reports or is removed. A node that left or was removed is no holder;
// joining again discards the data and the hints it held (joinAgain).
//
// Hints are holdings too. A write acknowledged by fallbacks alone lives
// only in their hints, which are never dropped for age, so a hint may
// still be delivered or served long after the hint window. With hinted
// handoff on, every member counts as a holder of every partition it is not
// a primary of (membership.Holders.WithHints: any member may have been a
// fallback, and the partition that made it one may have kept its gossip
// from the reaper), its fetched states include its hints, and a push that
// covers a hint supersedes it (receiveHandoff). A holder round then
// confirms as of reapMargin before its start, so that a pre-delete value
// landing late in a hint is seen, and only reapMargin after the round
// ended, so that a delivery or a read reply the holder sent from a hint
// before the push has landed by then.

// publishHolds updates this node's advertised holdings when they changed:
// the partitions it holds data of and is not a primary of in its table,
// and whether it is ready for every partition it is a primary of there
// (ReadyAt, for the claimant's carried sources).
func (n *Node) publishHolds() {
	c := n.clusterSnapshot()
	me, ok := c.Members[n.cfg.Name]
	if !ok || !membership.InRing(me.Status) {
		return
	}
	cur := n.currentView()
	if cur.table != c.Table {
		return // the view is being rebuilt: the next round reports on it
	}
	r := cur.ring
	primary := map[int]bool{}
	if _, in := r.Member(ring.NodeID(n.cfg.Name)); in {
		for _, p := range r.PartitionsOf(ring.NodeID(n.cfg.Name)) {
			primary[p] = true
		}
	}
	var holds []uint32
	for p, pt := range n.aae.parts {
		pt.mu.Lock()
		keys := pt.tree.Keys()
		pt.mu.Unlock()
		if keys > 0 && !primary[p] {
			holds = append(holds, uint32(p))
		}
	}
	enc, at := membership.EncodeParts(holds), c.TableVersion()+1
	readyAt := me.ReadyAt
	allReady := true
	for p := range primary {
		if !n.partReady(p) {
			allReady = false
		}
	}
	n.xfer.mu.Lock()
	reconciled := n.xfer.readyFor == cur.line
	n.xfer.mu.Unlock()
	if allReady && reconciled && c.Table != nil {
		readyAt = at
	}
	if me.Holds == enc && me.HoldsAt == at && me.ReadyAt == readyAt {
		return
	}
	_, changed := n.updateCluster(func(c membership.State) (membership.State, bool) {
		me = c.Members[n.cfg.Name]
		if c.TableVersion()+1 != at {
			return c, false // a new table arrived meanwhile: the next round reports on it
		}
		me.Holds, me.HoldsAt, me.ReadyAt = enc, at, readyAt
		me.Version++
		return c.Merge(me)
	})
	if !changed {
		return
	}
	n.log.Debug("holdings advertised", "holds", enc, "table", at-1)
	n.announce(me)
}

// holderView takes the current view of holdings.
func (n *Node) holderView() membership.Holders {
	cur := n.currentView()
	v := membership.NewHolders(n.clusterSnapshot(), n.cfg.Name, cur.ring, cur.prev, cur.table)
	if !n.cfg.NoHintedHandoff {
		v = v.WithHints() // any member may hold hints of any partition
	}
	return v
}

// holderRound confirms this node's tombstones in parts with holder: it
// fetches the holder's states of those keys (its data and its hints) and
// pushes the tombstone where the holder's state does not already descend
// it. A partition whose tombstones all check out is confirmed as of the
// round's start, as an exchange with a primary would be; with hinted
// handoff on, as of reapMargin before it (a pre-delete value lands in a
// hint at most that late), and only once reapMargin has passed since the
// round ended (what the holder sent from a hint before the push has
// landed).
func (n *Node) holderRound(ctx context.Context, holder string, parts []uint32) {
	addr, ok := n.rpcAddrOf(holder)
	if !ok {
		return
	}
	start, wait := n.clock.Steady(), time.Duration(0)
	if !n.cfg.NoHintedHandoff {
		wait = n.reapMargin()
		start = start.Add(-wait)
	}
	var done []uint32
	for _, p := range parts {
		if ctx.Err() != nil {
			return
		}
		pt := n.aae.parts[p]
		pt.mu.Lock()
		// Tombstones the holder confirmed in an earlier round stay
		// confirmed (it gets nothing new for those keys: see above).
		last, confirmedBefore := pt.confirmed[holder]
		keys := make([][]byte, 0, len(pt.tombs))
		for k, at := range pt.tombs {
			if !confirmedBefore || !last.After(at) {
				keys = append(keys, []byte(k))
			}
		}
		pt.mu.Unlock()
		slices.SortFunc(keys, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
		if err := n.confirmHolder(ctx, p, holder, addr, keys); err != nil {
			n.log.Debug("confirming tombstones with a holder", "partition", p, "holder", holder, "err", err)
			continue
		}
		done = append(done, p)
	}
	if len(done) == 0 || sleepCtx(ctx, wait) != nil {
		return
	}
	for _, p := range done {
		pt := n.aae.parts[p]
		pt.mu.Lock()
		if last, ok := pt.confirmed[holder]; !ok || start.After(last) {
			pt.confirmed[holder] = start
		}
		pt.mu.Unlock()
	}
}

// confirmHolder brings holder's states of keys (this node's tombstoned keys
// of partition p) up to this node's, where the holder has any.
func (n *Node) confirmHolder(ctx context.Context, p uint32, holder, addr string, keys [][]byte) error {
	for batch := range slices.Chunk(keys, repairBatch) {
		if err := n.pace(ctx, len(batch), 0); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		theirs, err := n.fetchStates(cctx, addr, p, batch)
		cancel()
		if err != nil {
			return err
		}
		var push []wire.HandoffItem
		for i, key := range batch {
			if theirs[i].IsZero() {
				continue
			}
			mine, err := n.readLocal(ctx, key)
			if err != nil {
				return err
			}
			if merged := vclock.Merge(theirs[i], mine); !merged.Equal(theirs[i]) {
				push = append(push, wire.HandoffItem{Key: key, State: merged})
			}
		}
		if len(push) == 0 {
			continue
		}
		cctx, cancel = context.WithTimeout(ctx, n.cfg.RequestTimeout)
		err = n.sendHandoff(cctx, holder, wire.HandoffRequest{From: n.cfg.Name, Items: push})
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// holdersRound runs holderRound with each live holder that has no round in
// flight.
func (n *Node) holdersRound(ctx context.Context, v membership.Holders) {
	for holder, parts := range v.Partitions(n.peers.Alive) {
		key := "holder/" + holder
		if _, busy := n.aae.running.LoadOrStore(key, struct{}{}); busy {
			continue
		}
		n.aae.wg.Go(func() {
			defer n.aae.running.Delete(key)
			defer n.guard("holder round")
			n.holderRound(ctx, holder, parts)
		})
	}
}

// dropAllData deletes every key and every hint this node stores, before a
// node that left or was removed joins again: while it was out of the ring
// no reaper counted it as a holder, so what it kept may hold values whose
// deletes were reaped meanwhile.
func (n *Node) dropAllData(ctx context.Context) error {
	dropped := 0
	for p := range n.aae.parts {
		lo, hi := storage.PartitionRange(uint32(p))
		var keys [][]byte
		err := n.store.Scan(ctx, lo, hi, func(k, _ []byte) error {
			_, key, _ := storage.SplitDataKey(k)
			keys = append(keys, slices.Clone(key))
			return nil
		})
		if err != nil {
			return err
		}
		for _, key := range keys {
			err := n.updateData(ctx, uint32(p), key, func(vclock.State, bool) (vclock.State, []byte, error) {
				return vclock.State{}, nil, storage.ErrDeleteKey
			})
			if err != nil {
				return err
			}
			dropped++
		}
	}
	hints, err := n.hints.Discard(ctx)
	if err != nil {
		return err
	}
	n.log.Warn("discarded the data and hints this node held before it left the ring; its partitions come back from their owners", "keys", dropped, "hints", hints)
	return nil
}

// holdsInterval is how often a node checks whether its advertised holdings
// changed: on its own ticker, so a long transfer round never delays it.
const holdsInterval = time.Second

// holdsLoop advertises this node's holdings until it stops.
func (n *Node) holdsLoop() {
	t := time.NewTicker(holdsInterval)
	defer t.Stop()
	for {
		n.publishHolds()
		select {
		case <-n.bgCtx.Done():
			return
		case <-t.C:
		}
	}
}
