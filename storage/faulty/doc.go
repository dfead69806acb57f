// Package faulty wraps a storage.Store and injects errors, so tests can prove
// that callers propagate storage failures (pebble's errorfs, for a Store).
//
// # What it is
//
// New(inner) returns a Store that forwards every call to inner unless a
// fault fires first. Faults are chosen by operation and call index (FailOn:
// "the 3rd Update fails") or by a hook that sees each call's operation and
// key (Inject). Calls counts calls per operation. RunGC and Sync are forwarded
// when inner implements them, so the wrapper keeps those capabilities.
//
// FailSyncAfterWrite emulates a durable store whose fsync fails after a write
// (storage.ErrNotDurable): the chosen Update really runs on inner, so its
// write is visible, and then returns an error wrapping storage.ErrNotDurable.
// The wrapper then emulates the fail-stop contract over any inner Store, even
// one that is not durable (memory): every later Update, Sync and RunGC
// returns storage.ErrNotDurable without reaching inner, and Get and Scan pass
// through. This is how callers (hinted handoff, the replica write path) test
// that they never treat such a write, or a later retry that finds it already
// present, as acknowledged.
//
// # What it must not import or do
//
// Only the standard library and storage. No goroutines, no randomness of its
// own (a hook that wants randomness brings a seeded *rand.Rand), no sleeping.
//
// # Invariants
//
// A fault is checked before inner is called, so a call failed by FailOn or
// Inject never reaches inner: a failed Update wrote nothing. The one exception
// is the Update FailSyncAfterWrite chose, which writes and then fails. Once
// the wrapper has failed (by FailSyncAfterWrite, or by a FailOn or Inject
// error on Update or Sync that wraps storage.ErrNotDurable) it stays failed:
// Update, Sync and RunGC return storage.ErrNotDurable, checked before any
// other fault. Call indexes count every call of an operation since New,
// faulted or not, starting at 1. Close is forwarded even when a fault fires
// (the fault's error is returned) so a test never leaks the inner store.
// Panics in an Update fn are the inner Store's to recover (storage.ErrPanic);
// the wrapper passes them through. Safe for concurrent use.
//
// # How to use
//
//	st := faulty.New(memory.New())
//	st.FailOn(faulty.OpUpdate, 2, errDisk) // the second Update returns errDisk
//	st.FailSyncAfterWrite(3)               // the third writes, then returns storage.ErrNotDurable,
//	                                       // and every later Update and Sync fails too
//	st.Inject(func(op faulty.Op, key []byte) error {
//		if op == faulty.OpGet && bytes.HasPrefix(key, storage.MetaKey("")) {
//			return errDisk
//		}
//		return nil
//	})
package faulty
