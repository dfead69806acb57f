// Package badger is the on-disk storage.Store, built on
// github.com/dgraph-io/badger/v4.
//
// # What it is
//
// Open returns a Store backed by one badger database in Options.Dir (or in
// memory with Options.InMemory). Options carries badger tuning with defaults
// sized for several nodes sharing one 2-core machine, each with its reason.
// Store also implements storage.GCer (value-log GC), storage.Syncer,
// storage.Sizer and storage.DiskReporter.
//
// # What it must not import or do
//
// This is the only dynago package that imports badger, and no badger type or
// error escapes it: badger errors become storage.ErrNotFound,
// storage.ErrClosed, storage.ErrInvalidKey, storage.ErrNotDurable or an error
// that carries only badger's message. It starts one goroutine of its own, the
// group-commit writer, which Close stops (badger runs its own compactors and
// flushers until Close), and logs only through the *slog.Logger in Options.
//
// # Invariants
//
//   - Update is atomic per key: one writer goroutine applies queued Updates
//     in arrival order inside one read-then-write badger transaction per
//     batch (group commit), so two Updates of one key never interleave and
//     a later one sees the earlier one's result. Badger's conflict detection
//     is therefore switched off. fn runs once (a second time only if the
//     transaction grew too big and is retried in a fresh one).
//   - Unless Options.NoSync, badger syncs every committed transaction
//     (WithSyncWrites), so a nil Update has been fsynced; a batch of Updates
//     shares one sync, which is what makes fsynced writes cheap under load.
//     Once an Update is queued it waits for its batch's outcome even if its
//     ctx ends, so a ctx error always means nothing was written.
//   - Fail-stop: badger applies a commit to the memtable before it syncs the
//     write-ahead log, so a failed commit may leave the write visible but not
//     durable. Every Update of that transaction then returns an error
//     wrapping storage.ErrNotDurable and the store fails: from then on every
//     Update (fn is not called, so an fn that would skip still gets an
//     error), Sync and RunGC returns storage.ErrNotDurable at once, until
//     the store is closed and reopened; Get and Scan keep working. A failed
//     Sync fails the store the same way.
//   - A full disk is refused, not met (space.go): before each batch the
//     writer measures the free space of Dir's filesystem, and a value write
//     that would take it below Options.DiskReserve fails with
//     storage.ErrNoSpace, nothing written and the store still working;
//     from then on every data write is refused until the free space is
//     back at the reserve plus a quarter, when writes resume by themselves.
//     Deletes and metadata keys (storage.PrefixMeta) are exempt. Store
//     implements storage.DiskReporter.
//   - A panic in an Update fn is recovered on the writer goroutine: that
//     Update returns storage.ErrPanic and writes nothing, the other Updates
//     of its batch commit, and the writer keeps serving.
//   - A crash between the creation of a memtable log (.mem) or value log
//     (.vlog) and its first write leaves an empty file, which badger
//     v4.9.6 refuses to open (badger issue #2207). Open removes such empty
//     files, holding badger's directory lock, before it opens badger.
//   - Open checks the footer of every table (.sst) the MANIFEST lists,
//     and the table's index against its checksum, before badger opens
//     them: badger v4.9.6 reads them unchecked in goroutines of its Open,
//     so a garbled or truncated table panicked the process. Such a store is
//     refused with an error naming the file.
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
//	st, err := badger.Open(badger.Options{Dir: dir, Logger: logger})
//	if err != nil { ... }
//	defer st.Close()
//	// node: every few minutes
//	if err := st.RunGC(ctx); err != nil { logger.Warn("value log GC", "err", err) }
package badger
