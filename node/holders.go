package node

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
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
func (a *antiEntropy) publishHolds() {
	c := a.members.clusterSnapshot()
	me, ok := c.Members[a.cfg.Name]
	if !ok || !membership.InRing(me.Status) {
		return
	}
	cur := a.members.currentView()
	if cur.table != c.Table {
		return // the view is being rebuilt: the next round reports on it
	}
	r := cur.ring
	primary := map[int]bool{}
	if _, in := r.Member(ring.NodeID(a.cfg.Name)); in {
		for _, p := range r.PartitionsOf(ring.NodeID(a.cfg.Name)) {
			primary[p] = true
		}
	}
	var holds []uint32
	for p, pt := range a.aae.parts {
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
		if !a.rep.partReady(p) {
			allReady = false
		}
	}
	a.xfer.mu.Lock()
	reconciled := a.xfer.readyFor == cur.line
	a.xfer.mu.Unlock()
	if allReady && reconciled && c.Table != nil {
		readyAt = at
	}
	if me.Holds == enc && me.HoldsAt == at && me.ReadyAt == readyAt {
		return
	}
	_, changed := a.members.updateCluster(func(c membership.State) (membership.State, bool) {
		me = c.Members[a.cfg.Name]
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
	a.log.Debug("holdings advertised", "holds", enc, "table", at-1)
	a.members.announce(me)
}

// holderView takes the current view of holdings.
func (a *antiEntropy) holderView() membership.Holders {
	cur := a.members.currentView()
	v := membership.NewHolders(a.members.clusterSnapshot(), a.cfg.Name, cur.ring, cur.prev, cur.table)
	if !a.cfg.NoHintedHandoff {
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
func (a *antiEntropy) holderRound(ctx context.Context, holder string, parts []uint32) {
	addr, ok := a.cluster.rpcAddrOf(holder)
	if !ok {
		return
	}
	start, wait := a.clock.Steady(), time.Duration(0)
	if !a.cfg.NoHintedHandoff {
		wait = a.cfg.reapMargin()
		start = start.Add(-wait)
	}
	var done []uint32
	for _, p := range parts {
		if ctx.Err() != nil {
			return
		}
		pt := a.aae.parts[p]
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
		slices.SortFunc(keys, func(x, y []byte) int { return strings.Compare(string(x), string(y)) })
		if err := a.confirmHolder(ctx, p, holder, addr, keys); err != nil {
			a.log.Debug("confirming tombstones with a holder", "partition", p, "holder", holder, "err", err)
			continue
		}
		done = append(done, p)
	}
	if len(done) == 0 || sleepCtx(ctx, wait) != nil {
		return
	}
	for _, p := range done {
		pt := a.aae.parts[p]
		pt.mu.Lock()
		if last, ok := pt.confirmed[holder]; !ok || start.After(last) {
			pt.confirmed[holder] = start
		}
		pt.mu.Unlock()
	}
}

// confirmHolder brings holder's states of keys (this node's tombstoned keys
// of partition p) up to this node's, where the holder has any.
func (a *antiEntropy) confirmHolder(ctx context.Context, p uint32, holder, addr string, keys [][]byte) error {
	for batch := range slices.Chunk(keys, repairBatch) {
		if err := a.pace(ctx, len(batch), 0); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		theirs, err := a.cluster.fetchStates(cctx, addr, p, batch)
		cancel()
		if err != nil {
			return err
		}
		var push []wire.HandoffItem
		for i, key := range batch {
			if theirs[i].IsZero() {
				continue
			}
			mine, err := a.rep.readLocal(ctx, key)
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
		cctx, cancel = context.WithTimeout(ctx, a.cfg.RequestTimeout)
		err = a.cluster.sendHandoff(cctx, holder, wire.HandoffRequest{From: a.cfg.Name, Items: push})
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// holdersRound runs holderRound with each live holder that has no round in
// flight.
func (a *antiEntropy) holdersRound(ctx context.Context, v membership.Holders) {
	for holder, parts := range v.Partitions(a.peers.Alive) {
		key := "holder/" + holder
		if _, busy := a.aae.running.LoadOrStore(key, struct{}{}); busy {
			continue
		}
		a.aae.wg.Go(func() {
			defer a.aae.running.Delete(key)
			defer a.guard("holder round")
			a.holderRound(ctx, holder, parts)
		})
	}
}

// holdsInterval is how often a node checks whether its advertised holdings
// changed: on its own ticker, so a long transfer round never delays it.
const holdsInterval = time.Second

// holdsLoop advertises this node's holdings until it stops.
func (a *antiEntropy) holdsLoop(ctx context.Context) {
	t := time.NewTicker(holdsInterval)
	defer t.Stop()
	for {
		a.publishHolds()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
