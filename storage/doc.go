// Package storage defines Store, a replica's local ordered byte store, and the
// key layout that every node writes into it.
//
// # What it is
//
// Store is the narrow interface between a dynago node and its disk: Get, an
// atomic read-modify-write Update, an ordered Scan and Close. The replica-side
// merge of dotted version vectors is an Update whose fn reconciles the stored
// versions with the incoming ones, so every write path goes through Update.
// Optional capabilities (GCer, Syncer, Sizer) are separate interfaces found by
// type assertion. keyspace.go fixes how data, metadata and hints are laid out
// so that one partition's keys can be scanned on their own.
//
// Implementations live in subpackages: memory (ordered in-memory store, the
// default for unit and simulation tests), badger (the on-disk store), faulty
// (wraps any Store and injects errors), and storagetest (the conformance
// suite every implementation must pass).
//
// # What it must not import or do
//
// This package imports only the standard library. It holds no storage engine
// types: github.com/dgraph-io/badger is imported only by storage/badger, and
// no badger type or error crosses that package's API. Store knows nothing of
// vector clocks, rings or partitions beyond the byte layout in keyspace.go;
// callers put that logic in the Update fn.
//
// # Invariants (what every Store promises)
//
//   - Concurrency: all methods are safe for concurrent use and may block on
//     disk I/O.
//   - Keys are 1..MaxKeySize bytes and must not start with '!' (reserved for
//     engine internals); other keys fail with ErrInvalidKey. Values may be any
//     length the implementation supports, including zero.
//   - Ownership: slices returned by Get, and the old value passed to an Update
//     fn, are fresh copies owned by the caller. The store never keeps a slice
//     the caller passed in (keys, fn's result) after the call returns. Slices
//     passed to a Scan fn belong to the store: valid only during that call and
//     never to be modified.
//   - Atomicity: Update reads the current value, calls fn and stores its
//     result as one atomic step per key. Concurrent Updates of the same key are
//     serialized, so no update is lost. fn may be called more than once, so it
//     must be pure, and it must not call methods of the same Store.
//   - Durability: when the store is durable (storage/badger with Sync on), a
//     nil return from Update means the write has been fsynced. Without Sync, a
//     crash may lose recent Updates but never reorders or tears one.
//   - Failure: an Update that returns an error from fn, a sentinel misuse or a
//     cancelled ctx wrote nothing. A panic in fn is recovered (CallUpdateFn):
//     that Update returns an error wrapping ErrPanic, wrote nothing, and the
//     store keeps serving, so no caller's fn can kill the process.
//   - Fail-stop after a failed durable write (the "fsyncgate" rule: after an
//     fsync error the kernel may have dropped the dirty pages, so a retried
//     fsync can succeed without the data being on disk). An error wrapping
//     ErrNotDurable from Update or Sync means a write may have been applied,
//     and be visible to later reads, but is not known to be durable. From
//     then on the store is failed: every later Update (whatever its fn would
//     return, ErrSkipWrite and ErrDeleteKey included; fn is not called),
//     Sync and RunGC returns an error wrapping ErrNotDurable, until the store
//     is closed and reopened. Get and Scan keep working. So a caller that
//     retries a merge and finds its state already present never gets a nil
//     for a write that was never fsynced. Calls that fail first for reasons
//     of their own (an invalid key, a cancelled ctx, ErrClosed after Close)
//     return those errors instead. A store that is not durable (memory)
//     never returns ErrNotDurable.
//   - Scan visits keys in [start, end) in ascending byte order over a snapshot
//     taken when Scan starts; writes made during the scan (including by fn
//     itself, which may call Get and Update but not Close) are not visible to
//     it.
//   - Close is idempotent; every call started after Close returns ErrClosed.
//     Calls in flight when Close is called either finish or return ErrClosed.
//   - A cancelled ctx makes a call return an error that satisfies
//     errors.Is(err, ctx.Err()).
//
// # How to use
//
//	st := memory.New()              // or badger.Open(badger.Options{Dir: dir})
//	defer st.Close()
//	k := storage.DataKey(partition, userKey)
//	err := st.Update(ctx, k, func(old []byte, found bool) ([]byte, error) {
//		if found && bytes.Equal(old, v) {
//			return nil, storage.ErrSkipWrite // nothing to do
//		}
//		return v, nil
//	})
//	start, end := storage.PartitionRange(partition)
//	err = st.Scan(ctx, start, end, func(k, v []byte) error {
//		_, userKey, _ := storage.SplitDataKey(k)
//		return visit(bytes.Clone(userKey), bytes.Clone(v)) // copy to keep
//	})
//
// A new implementation proves itself by calling storagetest.Run from its tests.
package storage
