package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Stale copies. A node that the ring no longer places on a partition keeps
// its copy until every current primary is ready for the partition (their
// pulls may use it). Then it deletes, key by key, what every current
// primary already holds: a key goes only when each primary's state is equal
// to or newer than this node's (a tombstone also goes when a primary has
// nothing: it was reaped there, and a tombstone is not data). Where a
// primary holds an older or concurrent state, or none at all, this node's
// state is pushed to it first and the key goes on a later round. Pushing a
// value a primary has no state for is safe because this node is a holder
// of the partition (holders.go): no tombstone of it was reaped without this
// node being seen to hold the tombstone or nothing, so a value it holds is
// a write the primary missed, never a delete the primary forgot.
//
// A copy is left alone for staleWait after the change that moved it, so
// writes coordinated under the old placement have landed everywhere.

// staleBatch is how many keys one round compares at a time.
const staleBatch = 256

// staleRound reclaims the partitions this node holds data for but is not
// a primary of, while it is in the ring and not leaving (a leaving node's
// copies are the sources of its handoff).
func (t *transferService) staleRound(ctx context.Context) {
	r := t.ring.Load()
	self := ring.NodeID(t.cfg.Name)
	if _, in := r.Member(self); !in {
		return
	}
	primary := map[uint32]bool{}
	for _, p := range r.PartitionsOf(self) {
		primary[uint32(p)] = true
	}
	now := t.clock.Steady()
	for p, pt := range t.aae.parts {
		if ctx.Err() != nil {
			return
		}
		pt.mu.Lock()
		keys := pt.tree.Keys()
		pt.mu.Unlock()
		t.xfer.mu.Lock()
		if primary[uint32(p)] || keys == 0 {
			delete(t.xfer.lostAt, uint32(p))
			t.xfer.mu.Unlock()
			continue
		}
		at, ok := t.xfer.lostAt[uint32(p)]
		if !ok {
			t.xfer.lostAt[uint32(p)] = now
			at = now
		}
		t.xfer.mu.Unlock()
		if now.Sub(at) < t.cfg.staleWait() {
			continue
		}
		d, pushed, err := t.dropPartition(ctx, r, uint32(p))
		if err != nil {
			t.log.Debug("stale copy kept for now", "partition", p, "err", err)
			continue
		}
		if d > 0 || pushed > 0 {
			t.log.Info("reclaiming a partition this node no longer holds", "partition", p, "dropped", d, "pushed", pushed)
		}
	}
}

// dropPartition runs one pass over partition p's local keys: it deletes
// what every primary holds and pushes what a primary lacks or holds an
// older state of.
func (t *transferService) dropPartition(ctx context.Context, r *ring.Ring, p uint32) (dropped, pushed int, err error) {
	var addrs []string
	var prims []string
	for _, id := range r.Primaries(int(p)) {
		addr, ok := t.cluster.rpcAddrOf(string(id))
		if string(id) == t.cfg.Name || !ok || !t.peers.Alive(string(id)) {
			return 0, 0, fmt.Errorf("primary %s is not reachable", id)
		}
		roots, _, err := t.ae.rootsOf(ctx, t.members.currentView().id, addr, []uint32{p})
		if err != nil {
			return 0, 0, err
		}
		if !roots[0].Ready {
			return 0, 0, fmt.Errorf("primary %s is not ready", id)
		}
		addrs, prims = append(addrs, addr), append(prims, string(id))
	}
	if len(addrs) == 0 {
		return 0, 0, errors.New("no primaries")
	}
	lo, hi := storage.PartitionRange(p)
	for {
		var keys [][]byte
		var mine []vclock.State
		size := 0
		errFull := errors.New("batch full")
		err := t.store.Scan(ctx, lo, hi, func(k, v []byte) error {
			if len(keys) == staleBatch {
				return errFull
			}
			_, key, _ := storage.SplitDataKey(k)
			rec, err := decodeRecord(v)
			if err != nil {
				return err
			}
			keys, mine = append(keys, append([]byte(nil), key...)), append(mine, rec.State)
			size += len(k) + len(v)
			return nil
		})
		if err != nil && !errors.Is(err, errFull) {
			return dropped, pushed, err
		}
		if len(keys) == 0 {
			return dropped, pushed, nil
		}
		more := errors.Is(err, errFull)
		lo = append(storage.DataKey(p, keys[len(keys)-1]), 0)
		// covered: every primary holds the key's state (or reaped its
		// tombstone).
		covered := make([]bool, len(keys))
		for i := range covered {
			covered[i] = true
		}
		for j, addr := range addrs {
			theirs, err := t.cluster.fetchStates(ctx, addr, p, keys)
			if err != nil {
				return dropped, pushed, err
			}
			var push []wire.HandoffItem
			for i, st := range theirs {
				switch {
				case vclock.Merge(st, mine[i]).Equal(st):
				case st.IsZero() && onlyTombstones(mine[i]):
				default:
					covered[i] = false
					push = append(push, wire.HandoffItem{Key: keys[i], State: mine[i]})
				}
			}
			if len(push) > 0 {
				pushed += len(push)
				t.xfer.stalePushed.Add(int64(len(push)))
				t.metrics.stalePushed.Add(float64(len(push)))
				cctx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
				err := t.cluster.sendHandoff(cctx, prims[j], wire.HandoffRequest{From: t.cfg.Name, Items: push})
				cancel()
				if err != nil {
					return dropped, pushed, fmt.Errorf("push to %s: %w", prims[j], err)
				}
			}
		}
		batch := 0
		for i, key := range keys {
			if !covered[i] {
				continue // pushed where it was behind: dropped on a later pass
			}
			deleted := false
			err := t.rep.updateData(ctx, p, key, func(cur vclock.State, found bool) (vclock.State, []byte, error) {
				if !found || !cur.Equal(mine[i]) {
					return vclock.State{}, nil, storage.ErrSkipWrite // changed since: next round
				}
				deleted = true
				return vclock.State{}, nil, storage.ErrDeleteKey
			})
			if err != nil && !errors.Is(err, storage.ErrSkipWrite) && !errors.Is(err, storage.ErrDeleteKey) {
				return dropped, pushed, err
			}
			if deleted {
				batch++
			}
		}
		dropped += batch
		t.xfer.stale.Add(int64(batch))
		t.metrics.staleDropped.Add(float64(batch))
		// Pace by what the comparison fetched from the primaries.
		if err := sleepCtx(ctx, t.takeTransfer(size*len(addrs))); err != nil {
			return dropped, pushed, err
		}
		if !more {
			return dropped, pushed, nil
		}
	}
}

// fetchStates returns addr's states of keys of partition p (zero where it
// has none).
func (p *peering) fetchStates(ctx context.Context, addr string, part uint32, keys [][]byte) ([]vclock.State, error) {
	var out []vclock.State
	for len(keys) > 0 {
		cctx, cancel := context.WithTimeout(ctx, p.cfg.RequestTimeout)
		resp, err := p.callNow(cctx, addr, wire.MethodAAEFetch, wire.AAEFetchRequest{Partition: part, Keys: keys}.Marshal())
		cancel()
		if err != nil {
			return nil, err
		}
		sts, err := wire.UnmarshalAAEFetch(resp, len(keys))
		if err != nil {
			return nil, err
		}
		if len(sts) == 0 {
			return nil, errors.New("empty fetch answer")
		}
		for _, st := range sts {
			out = append(out, st.State)
		}
		keys = keys[len(sts):]
	}
	return out, nil
}
