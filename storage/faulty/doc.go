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
// # What it must not import or do
//
// Only the standard library and storage. No goroutines, no randomness of its
// own (a hook that wants randomness brings a seeded *rand.Rand), no sleeping.
//
// # Invariants
//
// A fault is checked before inner is called, so a failed call never reaches
// inner: a failed Update wrote nothing. Call indexes count every call of an
// operation since New, faulted or not, starting at 1. Close is forwarded even
// when a fault fires (the fault's error is returned) so a test never leaks
// the inner store. Safe for concurrent use.
//
// # How to use
//
//	st := faulty.New(memory.New())
//	st.FailOn(faulty.OpUpdate, 2, errDisk) // the second Update returns errDisk
//	st.Inject(func(op faulty.Op, key []byte) error {
//		if op == faulty.OpGet && bytes.HasPrefix(key, storage.MetaKey("")) {
//			return errDisk
//		}
//		return nil
//	})
package faulty
