// Package antientropy keeps replicas of a partition in sync in the
// background: per-partition hash trees, the exchange that finds the keys two
// replicas disagree on, the pacing of the repair, and the rule for when a
// tombstone may be reaped (Dynamo §4.7, "Handling permanent failures:
// Replica synchronization").
//
// # What it is
//
// Hinted handoff (§4.6) and read repair fix divergence on the paths that see
// it. Anything they miss (a hint lost with its fallback, a key nobody reads)
// is found here. Like Dynamo, each node keeps a hash tree per partition it
// replicates, and two replicas of a partition compare their trees top down,
// descending only into subtrees whose hashes differ, so the work of an
// exchange grows with the number of differences, not with the number of
// keys. Like Riak's active anti-entropy (AAE), the trees are kept up to date
// on every write rather than built at exchange time, and are rebuilt from
// storage now and then (node's --aae-rebuild-interval) to wash out any drift
// between tree and storage.
//
// A Tree has a fixed shape: Fanout = 16 children per node and Depth() levels
// below the root, chosen by DepthFor from the number of keys (about
// KeysPerLeaf keys per leaf, at most MaxDepth = 5 levels, 16^5 leaves). A key
// sits under node Bucket(KeyHash(key), l) at level l: the top 4·l bits of
// its hash. Each key contributes its entry hash, EntryHash(key, state), to
// the node holding it at every level.
//
// The ring places a key in a partition by the top log2(Q) <= 16 bits of
// xxhash64(key), so every key of a partition shares them. KeyHash is that
// hash rotated left by 16 bits: the path through a tree uses the other bits,
// and a partition's keys spread over all its tree's leaves
// (TestDiffCostWithinRingPartition checks it).
//
// # Why nodes XOR their entries
//
// Dynamo's Merkle tree hashes the concatenation of a node's children. This
// package's node hash is instead the XOR of the entry hashes of every key
// below it (as in Riak's AAE segment hashes, taken all the way up), so:
//
//   - A write is O(depth): Update XORs old^new into one node per level.
//     Nothing needs rehashing and there is no dirty-segment bookkeeping.
//   - Updates commute. The tree is a function of the set of entries alone,
//     not of the order of the writes that produced it, so a tree kept up by
//     Update equals one rebuilt from storage, and two replicas that hold the
//     same entries have bit-identical trees.
//   - A parent is the XOR of its children, and a node's hash does not depend
//     on the depth of the tree it is in. Two trees of different depths (one
//     replica has more keys and grew) still compare level by level down to
//     the shallower one's leaves, and the roots compare regardless.
//
// XOR is linear, so it is not a cryptographic commitment: someone who
// chooses keys and states could build two different sets with equal hashes.
// For honest divergence, two different sets under one node collide with
// probability 2^-64 per node. That is the right trade for replicas of one
// trusted cluster, and the periodic rebuild bounds how long any drift lasts.
//
// # The exchange
//
// Diff runs one exchange from the initiator's side against a Remote (the
// peer, over RPC): compare roots (equal: done, no calls), then one
// Remote.Children call per level carrying every differing index of that
// level, then one Remote.Entries call and one Local call for the differing
// buckets at the deepest common level. The result is the sorted list of
// differing keys with both sides' entry hashes. node then moves the states
// of those keys both ways and merges them with vclock, as for read repair.
// With d differing keys in a tree of depth D, an exchange receives at most
// Fanout·(1 + d·(D-1)) hashes and about d·(1 + keys/16^D) entries, in D+1
// round trips; maxBuckets bounds one exchange's work and Diff reports when
// it truncated.
//
// TokenBucket paces repair in keys and bytes per second. Backoff scales
// those rates by foreground p99 latency with AIMD, as Dynamo §6.5 does for
// background tasks. Reapable decides when a tombstone may be dropped:
// after a grace period, and only once every other replica has been seen
// equal by an exchange that started after the tombstone was stored, so that
// no replica can resurrect the deleted value.
//
// # What it must not import or do
//
// antientropy is pure. It imports only the standard library and
// github.com/cespare/xxhash/v2 (test/arch_test.go checks). It does no I/O,
// reads no clock (every time is a now argument; package time is used for
// its types), starts no goroutines, never logs and never sleeps. node owns
// the trees, the exchange loop and its timers, the RPC, storage scans and
// the repair writes.
//
// # Invariants
//
//   - Every node hash of a Tree is the XOR of the entry hashes of the
//     present keys below it; a parent is the XOR of its children. The hash
//     of a node (level, i) is the same in every tree of depth >= level over
//     the same entries.
//   - An entry hash is never 0; 0 means absent. Update(kh, old, new) with
//     old == new changes nothing.
//   - Diff's result is exact for the buckets it compared: a key is listed if
//     and only if Remote and Local disagree on it (a different hash, or
//     present on one side only). Keys are sorted and appear once.
//   - Diff never panics on what Remote returns; bad replies are errors
//     wrapping ErrBadRemote.
//   - Tree, TokenBucket and Backoff are not safe for concurrent use: each
//     has one owner (node's anti-entropy goroutine), which hands an exchange
//     a Clone of the tree.
//
// # How to use it
//
//	t := antientropy.NewTree(antientropy.DepthFor(keys))  // or rebuild from storage
//	// on every write to a key of the partition (old/new states, nil = absent):
//	t.Update(antientropy.KeyHash(k), entryHash(k, oldState), entryHash(k, newState))
//	if t.NeedsResize() { /* schedule a rebuild at DepthFor(t.Keys()) */ }
//
//	// an exchange, initiator side:
//	snap := t.Clone()
//	root, depth := rpcRoot(peer, partition)
//	diffs, st, more, err := antientropy.Diff(snap, root, depth, remote, local, maxBuckets)
//	for _, d := range diffs {
//		if w := keys.Take(clock.Now(), 1); w > 0 { sleep(ctx, w) }
//		repair(d.Key) // exchange the states both ways, merge with vclock
//	}
//	// every window: f := backoff.Observe(p99); rebuild the buckets at rate×f.
//	// tombstones: if Reapable(ts, clock.Now(), grace, peers, equalSince) { delete }
//
// where entryHash(k, nil) = 0 and otherwise EntryHash(k, encodedState), and
// equalSince[peer] is the start time of the last exchange with peer that
// found the partition equal.
package antientropy
