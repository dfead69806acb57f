// Package hintedhandoff keeps the hints of a sloppy quorum and the
// bookkeeping of their delivery (Dynamo §4.6).
//
// # What it is
//
// When a key's primary replica is down, the coordinator writes to the next
// healthy node of the extended preference list instead (a fallback). The
// fallback keeps the write as a hint for the primary it stands in for (the
// hint's owner, or target) and hands it over when the owner is back, so
// writes stay available through failures without losing acknowledged data
// (Dynamo §4.6, "Handling Failures: Hinted Handoff").
//
// Store is the fallback's durable hint queue. It lives in the hint keyspace
// (storage.PrefixHint, layout in storage.HintKey) of the node's own
// storage.Store: one record per (owner, partition, key) holding the DVV
// merge (vclock.Merge) of every state written to the fallback for that key,
// and the time of its first write. Add merges a state into a hint with one
// atomic, durable storage.Update; Batch reads an owner's hints in key order
// from a cursor; Delivered deletes a hint once the owner has durably merged
// it. Hints are never dropped for age: a write acknowledged by fallbacks
// alone lives only in their hints until it reaches a replica. Each
// target's queue is bounded in bytes (ErrTargetFull: a full queue refuses
// the write, which the coordinator then does not count), and Stats reports
// count, bytes, oldest hint (overdue past Config.MaxAge) and refused /
// delivered counters per target.
//
// Because hints hold data, a node holding them is, for a tombstone's
// reaper, one more copy to confirm the tombstone with (node's holder
// round): Lookup returns what this node's hints hold of a key, whatever
// their targets, and Supersede deletes the hints that a state this node
// now holds as a replica covers.
//
// Delivery is the per-target delivery state machine: the cursor, the batch
// in flight, a token bucket in bytes per second, exponential backoff after
// failures, and the rates and last error shown by /debug/hints.
//
// # What it must not import or do
//
// hintedhandoff imports only the standard library and dynago's ring,
// vclock and storage packages; never a storage implementation, net, os,
// log or math/rand. It reads no clock (every time is a now argument; the
// time package is used for its types), starts no goroutines, never logs and
// never sleeps: node owns the loop, the timers, the RPC and the logging.
// Store never decides whom to deliver to or when: that is node's, from
// gossip, through Delivery.
//
// # Invariants
//
//   - A hint is deleted only by Delivered, when the state the owner
//     acknowledged Descends the stored one (so nothing written to the hint
//     after the batch was read is lost), by Supersede, when a state the
//     caller holds durably as a replica Descends it, or by Discard (a node
//     that rejoins the ring after leaving it). Nothing else drops a hint
//     Add accepted: not its age.
//   - Get and Batch return hints of every age. Ages are differences of
//     the caller's now values, so they are only as good as the caller's
//     clock: node passes its steady clock (monotonic within a run, bridged
//     across restarts), never a wall clock another node set.
//   - Add returns nil only once the hint durably holds st (Descends st);
//     otherwise it wrote nothing or (on a storage error) the write's fate
//     is unknown. It refuses with ErrTargetFull rather than letting a
//     target's queued bytes exceed MaxBytesPerTarget.
//   - Delivered is idempotent, and delivering a hint twice is harmless
//     because the owner's merge is idempotent. Since delivered hints are
//     deleted durably, delivery resumes after a crash of either side by
//     reading from the first remaining hint, resending at most the batch
//     that was in flight.
//   - Stats match the stored hints (what Open would rebuild) whenever no
//     call is in flight; during concurrent calls they may be briefly off,
//     and a storage error in the middle of a commit may leave them off
//     until the next Open. Oldest is rounded down to the second.
//   - Store is safe for concurrent use; Delivery is not (one owner
//     goroutine per target, like etcd raft's RawNode).
//
// # How to use it
//
//	hs, err := hintedhandoff.Open(ctx, st, cfg.Hints) // rebuilds stats from st
//	// fallback side of a write for a down primary:
//	err = hs.Add(ctx, owner, partition, key, state, clock.Now()) // ErrTargetFull → not an ack
//	// one goroutine per target the gossip layer reports alive:
//	d, _ := hintedhandoff.NewDelivery(owner, cfg.Hints)
//	for hs.StatsFor(owner).Count > 0 && alive(owner) {
//		if w := d.Wait(clock.Now()); w > 0 { sleep(ctx, w); continue }
//		hints, next, err := hs.Batch(ctx, owner, d.Cursor())
//		if err != nil { d.Failed(err, clock.Now()); continue }
//		d.Sending(len(hints), sizeOf(hints), clock.Now())
//		if err := rpcHandoff(ctx, owner, hints); err != nil { d.Failed(err, clock.Now()); continue }
//		for _, h := range hints { hs.Delivered(ctx, h) } // an error: d.Failed
//		d.Acked(next, clock.Now())
//	}
//	// a node holding hints for a partition takes part in its tombstones'
//	// confirmation: st, ok, err := hs.Lookup(ctx, partition, key)
//
// The owner handles a handoff RPC like any replica write: it stores
// vclock.Merge(local, hint.State) for each hint, fsynced, then acknowledges.
// When gossip reports a target alive again, call d.Wake() to skip a pending
// backoff.
package hintedhandoff
