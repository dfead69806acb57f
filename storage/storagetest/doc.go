// Package storagetest is the conformance suite for storage.Store
// implementations, plus shared benchmarks.
//
// # What it is
//
// Run executes table-driven subtests that pin down the storage.Store
// contract: not-found and invalid keys, every Update outcome (create, replace,
// skip, delete, fn error, fn panic), copy semantics of returned slices, Scan
// order, bounds, early stop, snapshot isolation and partition isolation, no
// lost update under concurrency, Close and ErrClosed, and cancelled contexts. A
// seeded random model test compares the store against a map. BenchUpdate,
// BenchUpdateParallel and BenchGet measure any store the same way.
//
// CheckFailStopped checks the fail-stop half of the storage.ErrNotDurable
// contract on a store that has just failed. Run cannot make a store fail (how
// to fail an fsync is the implementation's business), so each implementation
// that can fail calls it from its own tests after injecting a failure:
// storage/badger with its commit hook, storage/faulty with FailSyncAfterWrite.
//
// # What it must not import or do
//
// It imports storage and the standard library only, never an implementation,
// so every implementation can import it from its tests without a cycle. It
// must stay implementation-neutral: a check that only one engine can pass does
// not belong here. No time.Sleep: concurrency is coordinated with channels.
//
// # Invariants
//
// Each subtest calls open exactly once and closes the store when the subtest
// ends (Close is idempotent, so open may also register its own cleanup).
// Randomized tests print their seed; rerun one with -storagetest.seed=N (the
// flag name is namespaced so that packages importing this one can keep their
// own -seed flag).
//
// # How to use
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
//	}
//
//	func BenchmarkUpdate(b *testing.B) { storagetest.BenchUpdate(b, memory.New()) }
package storagetest
