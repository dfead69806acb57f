// Package memory is an ordered in-memory storage.Store: the default store for
// unit and simulation tests.
//
// # What it is
//
// Store keeps values in a map and a sorted index of keys. New keys are added
// to the index lazily (sorted and merged in by the next Scan), so a write is
// O(1) and a Scan after n writes costs O(n log n) once, not per write.
//
// # What it must not import or do
//
// Only the standard library and storage. No goroutines, no I/O, no clock; it
// holds nothing after Close. It is not durable: everything is lost when the
// process exits or the Store is closed, which is what tests want. So it never
// returns storage.ErrNotDurable and never fail-stops; wrap it with
// faulty.FailSyncAfterWrite to test how a caller handles a durable store that
// does.
//
// # Invariants
//
// One mutex guards all state and is held for the whole of an Update, fn
// included, so Updates (of any keys) are serialized and fn runs exactly once.
// A panic in fn is recovered before the mutex is released (the Update returns
// storage.ErrPanic and writes nothing), so the Store stays usable.
// Scan copies the pairs in range under the mutex (a snapshot) and calls fn
// with the mutex released, so fn may call back into the Store. Stored slices
// are private copies never handed out: Get, Update's old and Scan's k and v are
// copies. It passes storagetest.Run.
//
// # How to use
//
//	st := memory.New()
//	defer st.Close()
//	err := st.Update(ctx, storage.DataKey(p, k), fn)
package memory
