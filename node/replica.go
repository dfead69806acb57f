package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/antientropy"
	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// replica is this node's copy of the data: the one write path into the
// store (updateRecord keeps each partition's Merkle tree in step with what
// was committed), local reads and merges, the tombstone ages the trees
// record, which partitions are ready to serve, and the durable counters
// that keep this node's dots unique (the steady-clock checkpoint, the
// incarnation). It starts no goroutine; its callers (coordination,
// anti-entropy, transfers, hint delivery) run on their own.
//
// Every field is set by newReplica and never reassigned. The trees and
// their bookkeeping are guarded per partition (partTree: gate, then the
// store's commit, then mu); the ready flags by xfer.mu; storageErr is
// atomic.
type replica struct {
	recoverer
	cfg   *Config // the node's (its addresses are set in New, before any goroutine)
	store storage.Store
	clock *clock
	// aae holds the partitions' trees (partTree) and the rebuild signal.
	aae *aaeState
	// xfer holds the partitions' ready flags (the rest is the transfer
	// loop's).
	xfer *transferState
	// hints is the hint store (set in New once it is open): the data this
	// node holds for others, superseded by pushes and dropped with the rest
	// of its data.
	hints *hintedhandoff.Store
	// storageErr is set once a write failed to reach stable storage
	// (storage.ErrNotDurable): the store then refuses every write until
	// the node restarts (fail-stop; fsync errors can't be retried), and
	// /health says so.
	storageErr atomic.Pointer[error]
	// failed is closed when storageErr is set (Node.StorageFailed).
	failed chan struct{}
}

// updateRecord is the one way node writes a key's data: it runs fn on the
// decoded current record under the store's per-key serialization and keeps
// the partition's tree in step with what was committed. fn returns the new
// record (and optionally its state's encoding), storage.ErrSkipWrite to
// leave the key alone or storage.ErrDeleteKey to remove the record (state
// and owner).
func (r *replica) updateRecord(ctx context.Context, p uint32, key []byte, fn func(cur record, found bool) (record, []byte, error)) error {
	pt := r.aae.parts[p]
	pt.gate.RLock()
	defer pt.gate.RUnlock()
	var d treeDelta
	err := r.store.Update(ctx, storage.DataKey(p, key), func(old []byte, found bool) ([]byte, error) {
		d = treeDelta{}
		var cur record
		var oldHash uint64
		if found {
			rec, enc, err := decodeRecordEnc(old)
			if err != nil {
				return nil, fmt.Errorf("node: stored state of %q is corrupt: %w", key, err)
			}
			cur, oldHash = rec, antientropy.EntryHash(key, enc)
		}
		next, enc, err := fn(cur, found)
		if errors.Is(err, storage.ErrDeleteKey) {
			d = treeDelta{set: true, old: oldHash}
			return nil, err
		}
		if err != nil {
			return nil, err
		}
		if enc == nil {
			if enc, err = next.State.MarshalBinary(); err != nil {
				return nil, err
			}
		}
		d = treeDelta{set: true, old: oldHash, new: antientropy.EntryHash(key, enc), tomb: onlyTombstones(next.State)}
		return appendRecord(nil, next.Owner, enc), nil
	})
	if err == nil && d.set {
		r.applyDelta(pt, key, d)
	}
	r.checkDurable(err)
	return err
}

// checkDurable notes a storage error that failed the store (fail-stop).
func (r *replica) checkDurable(err error) {
	if err == nil || !errors.Is(err, storage.ErrNotDurable) {
		return
	}
	if r.storageErr.CompareAndSwap(nil, &err) {
		close(r.failed)
		r.metrics.storageFailed.Set(1)
		r.log.Error("a write failed to reach stable storage: this node now refuses writes (and answers 503 on /health) until it is restarted; check the disk",
			"err", err)
	}
}

// updateData is updateRecord for writers of the state alone (merges,
// reaping, reclaiming): the record's owner is kept as it is.
func (r *replica) updateData(ctx context.Context, p uint32, key []byte, fn func(cur vclock.State, found bool) (vclock.State, []byte, error)) error {
	return r.updateRecord(ctx, p, key, func(cur record, found bool) (record, []byte, error) {
		st, enc, err := fn(cur.State, found)
		return record{State: st, Owner: cur.Owner}, enc, err
	})
}

func (r *replica) applyDelta(pt *partTree, key []byte, d treeDelta) {
	pt.mu.Lock()
	pt.tree.Update(antientropy.KeyHash(key), d.old, d.new)
	if d.tomb {
		pt.tombs[string(key)] = r.clock.Steady()
	} else {
		delete(pt.tombs, string(key))
	}
	resize := pt.tree.NeedsResize()
	pt.mu.Unlock()
	if resize {
		r.aae.wantRebuild()
	}
}

// install swaps in a built tree. Tombstones keep the time they were first
// seen; new ones count from now (after a restart: the safe direction).
func (r *replica) install(p uint32, b *builtPartition, now time.Time) (changed bool) {
	pt := r.aae.parts[p]
	t := b.tree()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	changed = pt.tree.Depth() == t.Depth() && pt.tree.Root() != t.Root()
	tombs := make(map[string]time.Time, len(b.tombs))
	for _, k := range b.tombs {
		at, ok := pt.tombs[k]
		if !ok {
			at = now
		}
		tombs[k] = at
	}
	pt.tree, pt.tombs, pt.built = t, tombs, now
	pt.rebuildAt = r.aae.nextRebuild(now, r.cfg.AAE.RebuildInterval)
	return changed
}

// buildTrees builds every partition's tree from one scan of the data
// keyspace (at startup, before the node serves).
func (r *replica) buildTrees(ctx context.Context) error {
	start := r.clock.Steady()
	parts := make([]builtPartition, len(r.aae.parts))
	keys := 0
	err := r.store.Scan(ctx, []byte{storage.PrefixData}, []byte{storage.PrefixData + 1}, func(k, v []byte) error {
		p, key, ok := storage.SplitDataKey(k)
		if !ok || int(p) >= len(parts) {
			return fmt.Errorf("node: data key %q outside the ring's %d partitions", k, len(parts))
		}
		keys++
		return parts[p].add(key, v)
	})
	if err != nil {
		return fmt.Errorf("node: build anti-entropy trees: %w", err)
	}
	now := r.clock.Steady()
	for p := range parts {
		r.install(uint32(p), &parts[p], now)
	}
	r.log.Info("anti-entropy trees built", "keys", keys, "partitions", len(parts), "took", r.clock.since(start).Round(time.Millisecond))
	return nil
}

// rebuildTree rebuilds one partition's tree from storage, blocking that
// partition's writes for the length of the scan.
func (r *replica) rebuildTree(ctx context.Context, p uint32, why string) error {
	pt := r.aae.parts[p]
	pt.gate.Lock()
	defer pt.gate.Unlock()
	var b builtPartition
	lo, hi := storage.PartitionRange(p)
	err := r.store.Scan(ctx, lo, hi, func(k, v []byte) error {
		_, key, _ := storage.SplitDataKey(k)
		return b.add(key, v)
	})
	if err != nil {
		return err
	}
	if r.install(p, &b, r.clock.Steady()) {
		r.metrics.aaeTreeDrift.Inc()
		r.log.Warn("anti-entropy tree disagreed with storage; rebuilt", "partition", p, "why", why)
	} else {
		r.log.Debug("anti-entropy tree rebuilt", "partition", p, "keys", len(b.hashes), "why", why)
	}
	return nil
}

// rebuildDue rebuilds the trees that outgrew their depth, then at most one
// tree whose scheduled rebuild is due.
func (r *replica) rebuildDue(ctx context.Context) {
	now := r.clock.Steady()
	due := -1
	for p, pt := range r.aae.parts {
		pt.mu.Lock()
		resize, sched := pt.tree.NeedsResize(), now.After(pt.rebuildAt)
		pt.mu.Unlock()
		if resize {
			if err := r.rebuildTree(ctx, uint32(p), "resize"); err != nil {
				r.log.Warn("anti-entropy tree rebuild", "partition", p, "err", err)
			}
		} else if sched && due < 0 {
			due = p
		}
	}
	if due >= 0 {
		if err := r.rebuildTree(ctx, uint32(due), "scheduled"); err != nil {
			r.log.Warn("anti-entropy tree rebuild", "partition", due, "err", err)
		}
	}
}

// localEntries lists this node's entries of partition p in the given
// buckets (one scan of the partition).
func (r *replica) localEntries(ctx context.Context, p uint32, level int, buckets []uint32) ([]antientropy.Entry, error) {
	want := make(map[uint32]bool, len(buckets))
	for _, b := range buckets {
		want[b] = true
	}
	var out []antientropy.Entry
	lo, hi := storage.PartitionRange(p)
	err := r.store.Scan(ctx, lo, hi, func(k, v []byte) error {
		_, key, _ := storage.SplitDataKey(k)
		if want[antientropy.Bucket(antientropy.KeyHash(key), level)] {
			enc, err := stateBytes(v)
			if err != nil {
				return fmt.Errorf("node: stored state of %q is corrupt: %w", key, err)
			}
			out = append(out, antientropy.Entry{Key: slices.Clone(key), Hash: antientropy.EntryHash(key, enc)})
		}
		return nil
	})
	return out, err
}

// settledHere reports whether this node has held key's state, only
// tombstones, for at least the grace period (its own clock): the tombstone
// is due to be reaped, here and on the replicas that confirmed it.
func (r *replica) settledHere(p uint32, key []byte, now time.Time) bool {
	pt := r.aae.parts[p]
	pt.mu.Lock()
	at, ok := pt.tombs[string(key)]
	pt.mu.Unlock()
	return ok && now.Sub(at) >= r.cfg.AAE.TombstoneGrace
}

// loadClock starts the node's clock from its checkpoint (a new data
// directory starts Steady at the wall clock).
func (r *replica) loadClock(ctx context.Context) error {
	wall := r.cfg.Clock.Now()
	b, err := r.store.Get(ctx, metaSteady)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		r.clock = newClock(r.cfg.Clock, wall)
		return r.checkpointClock(ctx)
	case err != nil:
		return fmt.Errorf("node: load clock checkpoint: %w", err)
	case len(b) != 16:
		return fmt.Errorf("node: clock checkpoint of %d bytes, want 16", len(b))
	}
	ckptSteady, ckptWall := int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
	gap := r.cfg.Hints.MaxAge + r.cfg.reapMargin()
	base := steadyBase(ckptSteady, ckptWall, wall.UnixNano(), gap)
	if wall.UnixNano() < ckptWall {
		r.log.Warn("the wall clock is behind this node's last checkpoint: the downtime is unknown, so hints and tombstones from before the restart are treated as past the hint window",
			"checkpoint", time.Unix(0, ckptWall).UTC(), "now", wall.UTC())
	}
	r.clock = newClock(r.cfg.Clock, time.Unix(0, base))
	return r.checkpointClock(ctx)
}

// checkpointClock saves the steady clock's checkpoint.
func (r *replica) checkpointClock(ctx context.Context) error {
	b := binary.BigEndian.AppendUint64(nil, uint64(r.clock.Steady().UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.clock.src.Now().UnixNano()))
	return r.store.Update(ctx, metaSteady, func([]byte, bool) ([]byte, error) { return b, nil })
}

// freshActor is a new actor of this node for one write (a fallback's: it
// keeps no record of the key to know which counters it issued).
func (r *replica) freshActor() vclock.Actor {
	return vclock.Actor{Node: r.cfg.Name, Epoch: randomEpoch()}
}

// readLocal returns this node's stored state of key.
func (r *replica) readLocal(ctx context.Context, key []byte) (vclock.State, error) {
	p := ring.PartitionOf(r.cfg.Ring.Partitions, key)
	b, err := r.store.Get(ctx, storage.DataKey(uint32(p), key))
	if errors.Is(err, storage.ErrNotFound) {
		return vclock.State{}, nil
	}
	if err != nil {
		return vclock.State{}, err
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return vclock.State{}, fmt.Errorf("node: stored state of %q: %w", key, err)
	}
	return rec.State, nil
}

// applyLocal merges in into this node's stored state of key (the replica
// side of every write path) and returns the merged state once it is durable.
// A version of in whose dot this node holds with other contents (a counter
// issued twice: a bug, Riak's kv679) is logged and counted; the merge still
// resolves it deterministically (vclock.Merge), as repair must converge.
func (r *replica) applyLocal(ctx context.Context, key []byte, in vclock.State) (vclock.State, error) {
	return r.mergeLocal(ctx, key, in, false)
}

// mergeLocal is applyLocal; with refuseConflicts a dot conflict stores
// nothing and returns errDotConflict (a coordinator's replication: the
// write is then not acknowledged by this replica).
func (r *replica) mergeLocal(ctx context.Context, key []byte, in vclock.State, refuseConflicts bool) (vclock.State, error) {
	p := ring.PartitionOf(r.cfg.Ring.Partitions, key)
	var out vclock.State
	var conflicts []vclock.Dot
	err := r.updateData(ctx, uint32(p), key, func(cur vclock.State, found bool) (vclock.State, []byte, error) {
		if conflicts = vclock.Conflicts(cur, in); len(conflicts) > 0 && refuseConflicts {
			return vclock.State{}, nil, errDotConflict
		}
		if !found && r.aae.parts[p].coveredByReaped(key, in) {
			// This node reaped a tombstone that covers in, after every
			// replica confirmed it: in is that delete again, or what it
			// deleted (partTree.reaped).
			out = vclock.State{}
			return vclock.State{}, nil, storage.ErrSkipWrite
		}
		merged := vclock.Merge(cur, in)
		if found && merged.Equal(cur) {
			out = cur
			return vclock.State{}, nil, storage.ErrSkipWrite
		}
		out = merged
		return merged, nil, nil
	})
	if len(conflicts) > 0 {
		r.metrics.dotConflicts.Add(float64(len(conflicts)))
		r.log.Error("BUG: a dot names two different writes (a counter issued twice); please report it",
			"key", key, "dots", fmt.Sprint(conflicts), "refused", refuseConflicts)
	}
	return out, err
}

// checkState enforces the sibling and size limits on a coordinator's new
// state and returns its encoding.
func (r *replica) checkState(st vclock.State) ([]byte, error) {
	r.metrics.observeSiblings(len(st.Versions), r.cfg.MaxSiblings)
	if len(st.Versions) > r.cfg.MaxSiblings {
		return nil, &LimitError{Err: ErrTooManySiblings, Limit: r.cfg.MaxSiblings}
	}
	b, err := st.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateBytes {
		return nil, &LimitError{Err: ErrStateTooLarge, Limit: maxStateBytes}
	}
	return b, nil
}

// dropAllData deletes every key and every hint this node stores, before a
// node that left or was removed joins again: while it was out of the ring
// no reaper counted it as a holder, so what it kept may hold values whose
// deletes were reaped meanwhile.
func (r *replica) dropAllData(ctx context.Context) error {
	dropped := 0
	for p := range r.aae.parts {
		lo, hi := storage.PartitionRange(uint32(p))
		var keys [][]byte
		err := r.store.Scan(ctx, lo, hi, func(k, _ []byte) error {
			_, key, _ := storage.SplitDataKey(k)
			keys = append(keys, slices.Clone(key))
			return nil
		})
		if err != nil {
			return err
		}
		for _, key := range keys {
			err := r.updateData(ctx, uint32(p), key, func(vclock.State, bool) (vclock.State, []byte, error) {
				return vclock.State{}, nil, storage.ErrDeleteKey
			})
			if err != nil {
				return err
			}
			dropped++
		}
	}
	hints, err := r.hints.Discard(ctx)
	if err != nil {
		return err
	}
	r.log.Warn("discarded the data and hints this node held before it left the ring; its partitions come back from their owners", "keys", dropped, "hints", hints)
	return nil
}

func (r *replica) loadIncarnation(ctx context.Context) (uint64, error) {
	var epoch uint64
	_, cleanErr := r.store.Get(ctx, metaClean)
	unclean := errors.Is(cleanErr, storage.ErrNotFound)
	err := r.store.Update(ctx, metaEpoch, func(old []byte, found bool) ([]byte, error) {
		if found && len(old) == 8 && !unclean {
			epoch = binary.BigEndian.Uint64(old)
			return nil, storage.ErrSkipWrite
		}
		epoch = randomEpoch()
		return binary.BigEndian.AppendUint64(nil, epoch), nil
	})
	if err != nil {
		return 0, fmt.Errorf("node: epoch: %w", err)
	}
	if err := r.store.Update(ctx, metaClean, func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
		return 0, fmt.Errorf("node: epoch: %w", err)
	}
	return epoch, nil
}

func (r *replica) markClean(ctx context.Context) error {
	if err := r.checkpointClock(ctx); err != nil {
		return err
	}
	if s, ok := r.store.(storage.Syncer); ok {
		if err := s.Sync(); err != nil {
			return err
		}
	}
	return r.store.Update(ctx, metaClean, func([]byte, bool) ([]byte, error) { return []byte{1}, nil })
}

// localKeyCounts returns the key count of each of this node's trees.
func (r *replica) localKeyCounts() []int {
	out := make([]int, len(r.aae.parts))
	for p, pt := range r.aae.parts {
		pt.mu.Lock()
		out[p] = pt.tree.Keys()
		pt.mu.Unlock()
	}
	return out
}

// bytesPerKey estimates the bytes a key moves with (its key and stored
// state) from the first planSampleKeys keys of this node's data; 0 when it
// holds none.
func (r *replica) bytesPerKey(ctx context.Context) (float64, error) {
	var keys, size int64
	errEnough := errors.New("enough keys")
	err := r.store.Scan(ctx, []byte{storage.PrefixData}, []byte{storage.PrefixData + 1}, func(k, v []byte) error {
		if keys >= planSampleKeys {
			return errEnough
		}
		_, key, ok := storage.SplitDataKey(k)
		if !ok {
			return nil
		}
		keys++
		size += int64(len(key) + len(v))
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, err
	}
	if keys == 0 {
		return 0, nil
	}
	return float64(size) / float64(keys), nil
}

// loadReady restores which partitions this node is ready for. A node with
// no record is ready for all of them when it founds a cluster or predates
// transfers, and for none when it is new and joins one.
func (r *replica) loadReady(ctx context.Context, freshJoin bool) error {
	q := r.cfg.Ring.Partitions
	r.xfer.ready = make([]bool, q)
	r.xfer.jobs = map[uint32]*transferJob{}
	r.xfer.lostAt = map[uint32]time.Time{}
	r.xfer.wake = make(chan struct{}, 1)
	r.xfer.bucket = antientropy.NewTokenBucket(float64(r.cfg.TransferRate), float64(r.cfg.TransferRate))
	b, err := r.store.Get(ctx, metaReady)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		for p := range r.xfer.ready {
			r.xfer.ready[p] = !freshJoin
		}
		return r.saveReady(ctx)
	case err != nil:
		return fmt.Errorf("node: load transfer state: %w", err)
	case len(b) != (q+7)/8 && len(b) != (q+7)/8+16:
		return fmt.Errorf("node: transfer state holds %d bytes, want %d for %d partitions", len(b), (q+7)/8+16, q)
	}
	if len(b) == (q+7)/8+16 {
		tail := b[(q+7)/8:]
		r.xfer.readyFor = membership.TableID{Version: binary.BigEndian.Uint64(tail), Digest: binary.BigEndian.Uint64(tail[8:])}
	}
	for p := range r.xfer.ready {
		r.xfer.ready[p] = b[p/8]&(1<<(p%8)) != 0
	}
	return nil
}

func (r *replica) saveReady(ctx context.Context) error {
	r.xfer.mu.Lock()
	b := make([]byte, (len(r.xfer.ready)+7)/8)
	for p, ok := range r.xfer.ready {
		if ok {
			b[p/8] |= 1 << (p % 8)
		}
	}
	b = binary.BigEndian.AppendUint64(b, r.xfer.readyFor.Version)
	b = binary.BigEndian.AppendUint64(b, r.xfer.readyFor.Digest)
	r.xfer.mu.Unlock()
	return r.store.Update(ctx, metaReady, func([]byte, bool) ([]byte, error) { return b, nil })
}

// partReady reports whether this node's copy of partition p is complete.
func (r *replica) partReady(p int) bool {
	r.xfer.mu.Lock()
	defer r.xfer.mu.Unlock()
	return r.xfer.ready[p]
}

// setAllReady marks every partition ready or not (a node that was alone
// joins a cluster: its partitions now come from their owners there).
func (r *replica) setAllReady(ctx context.Context, ready bool) error {
	r.xfer.mu.Lock()
	for p := range r.xfer.ready {
		r.xfer.ready[p] = ready
	}
	r.xfer.mu.Unlock()
	return r.saveReady(ctx)
}
