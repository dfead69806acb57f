// Package badger is the on-disk storage.Store, built on
// github.com/dgraph-io/badger/v4.
//
// # What it is
//
// Open returns a Store backed by one badger database in Options.Dir (or in
// memory with Options.InMemory). Options carries badger tuning with defaults
// sized for several nodes sharing one 2-core machine, each with its reason.
// Store also implements storage.GCer (value-log GC), storage.Syncer and
// storage.Sizer.
//
// # What it must not import or do
//
// This is the only dynago package that imports badger, and no badger type or
// error escapes it: badger errors become storage.ErrNotFound,
// storage.ErrClosed, storage.ErrInvalidKey or an error that carries only
// badger's message. It starts no goroutines of its own (badger runs its own
// compactors and flushers until Close) and logs only through the
// *slog.Logger in Options.
//
// # Invariants
//
//   - Update is atomic per key with per-key lock striping: the key's stripe
//     (one of 1024, chosen by xxhash) is held around a read-then-write badger
//     transaction, so two Updates of one key never overlap and fn runs
//     exactly once. Badger's conflict detection is therefore switched off: it
//     could only report conflicts the stripes already prevent, and retrying
//     fn on a hot key (every replica write is a version-vector merge) would
//     waste work. Waiting for a stripe honours ctx and Close.
//   - With Options.Sync, badger writes synchronously (WithSyncWrites), so a
//     nil Update has been fsynced. Concurrent Updates on different stripes
//     share fsyncs through badger's write batching.
//   - Close waits for calls in flight, then closes badger; a call made after
//     Close starts returns storage.ErrClosed, and a running Scan stops at its
//     next key. The directory lock is released when Close returns, so the
//     same directory can be reopened; a second Open of a directory that is
//     still open fails.
//   - Values must fit badger's limits: up to ValueLogFileSize on disk, below
//     1 MiB in memory (badger's value threshold; in-memory mode has no value
//     log, and badger v4.9.6 crashes on a value of exactly 1 MiB there).
//     Larger values fail with an error and nothing is written.
//
// # How to use
//
//	st, err := badger.Open(badger.Options{Dir: dir, Sync: true, Logger: logger})
//	if err != nil { ... }
//	defer st.Close()
//	// node: every few minutes
//	if err := st.RunGC(ctx); err != nil { logger.Warn("value log GC", "err", err) }
package badger
