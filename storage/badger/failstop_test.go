package badger

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/storagetest"
)

var errFsync = errors.New("injected: fsync: input/output error")

// openInternal opens a store and closes it when t ends.
func openInternal(t *testing.T, opts Options) *Store {
	t.Helper()
	st, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// failNth returns a testFault that fails the nth call for op with errFsync.
func failNth(op string, nth int64) func(string) error {
	var calls atomic.Int64
	return func(o string) error {
		if o == op && calls.Add(1) == nth {
			return errFsync
		}
		return nil
	}
}

func setTo(v string) func([]byte, bool) ([]byte, error) {
	return func([]byte, bool) ([]byte, error) { return []byte(v), nil }
}

// wantNotDurable fails unless err wraps storage.ErrNotDurable, carries the
// injected message, and does not wrap the injected error itself (no engine
// error crosses the package boundary).
func wantNotDurable(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotDurable) {
		t.Fatalf("%s = %v, want ErrNotDurable", what, err)
	}
	if !strings.Contains(err.Error(), errFsync.Error()) {
		t.Errorf("%s = %q, want the engine's message %q in it", what, err, errFsync)
	}
	if errors.Is(err, errFsync) {
		t.Errorf("%s wraps the engine's error; it must carry only its message", what)
	}
}

// TestCommitFailureFailsStop is the fsyncgate case: a commit whose WAL sync
// fails after badger applied it to the memtable. The write is visible, so a
// retried merge would find it present and skip; that retry must not return
// nil, or a hint sender would delete its only copy of a write that was never
// fsynced.
func TestCommitFailureFailsStop(t *testing.T) {
	dir := t.TempDir()
	st := openInternal(t, Options{Dir: dir})
	st.testFault = failNth("commit", 2)
	ctx := context.Background()
	k := []byte("k")

	if err := st.Update(ctx, k, setTo("v1")); err != nil {
		t.Fatalf("first Update: %v", err)
	}
	// (a) The Update whose commit fails returns ErrNotDurable.
	wantNotDurable(t, "Update whose commit failed", st.Update(ctx, k, setTo("v2")))

	// (c) Get still works, and sees the write: it reached the memtable.
	if v, err := st.Get(ctx, k); err != nil || string(v) != "v2" {
		t.Fatalf("Get after the failed commit = %q, %v; want the applied but not durable %q", v, err, "v2")
	}
	// (b) The retry finds v2 present and skips: it must fail, not return nil.
	called := false
	err := st.Update(ctx, k, func(old []byte, _ bool) ([]byte, error) {
		called = true
		if string(old) == "v2" {
			return nil, storage.ErrSkipWrite
		}
		return []byte("v2"), nil
	})
	wantNotDurable(t, "retried Update that would skip", err)
	if called {
		t.Errorf("a failed store called the retry's fn")
	}
	storagetest.CheckFailStopped(t, st, k)

	// Fail-stop lasts until reopen; a reopened store works.
	if err := st.Close(); err != nil {
		t.Fatalf("Close of a failed store: %v", err)
	}
	st = openInternal(t, Options{Dir: dir})
	if err := st.Update(ctx, k, setTo("v3")); err != nil {
		t.Fatalf("Update after reopen: %v", err)
	}
}

func TestSyncFailureFailsStop(t *testing.T) {
	st := openInternal(t, Options{Dir: t.TempDir()})
	st.testFault = failNth("sync", 1)
	ctx := context.Background()
	k := []byte("k")
	if err := st.Update(ctx, k, setTo("v1")); err != nil {
		t.Fatalf("Update: %v", err)
	}
	wantNotDurable(t, "failed Sync", st.Sync())
	wantNotDurable(t, "Update after a failed Sync", st.Update(ctx, k, setTo("v2")))
	wantNotDurable(t, "second Sync", st.Sync())
	storagetest.CheckFailStopped(t, st, k)
}

// batchOp is one update of a batch handed straight to commitBatch.
type batchOp struct {
	key string
	fn  func([]byte, bool) ([]byte, error)
}

// runBatch commits ops as one group commit, the way the writer would after
// taking them from the queue together, and returns each one's result.
// Calling commitBatch directly makes "these share a batch" deterministic.
func runBatch(t *testing.T, st *Store, ops ...batchOp) []error {
	t.Helper()
	batch := make([]*update, len(ops))
	for i, op := range ops {
		batch[i] = &update{ctx: t.Context(), key: []byte(op.key), fn: op.fn, done: make(chan error, 1)}
	}
	st.commitBatch(batch)
	errs := make([]error, len(ops))
	for i, o := range batch {
		errs[i] = <-o.done
	}
	return errs
}

// TestCommitFailureFailsWholeBatch: every Update of a batch whose commit fails
// gets ErrNotDurable, including those that wrote nothing: the skip read the
// failed transaction's own write of "a".
func TestCommitFailureFailsWholeBatch(t *testing.T) {
	st := openInternal(t, Options{InMemory: true})
	st.testFault = failNth("commit", 1)
	skipIfSet := func(old []byte, found bool) ([]byte, error) {
		if found && string(old) == "1" {
			return nil, storage.ErrSkipWrite
		}
		return []byte("1"), nil
	}
	errs := runBatch(t, st,
		batchOp{"a", setTo("1")},
		batchOp{"a", skipIfSet},
		batchOp{"missing", func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }},
		batchOp{"b", setTo("2")},
	)
	for i, err := range errs {
		if !errors.Is(err, storage.ErrNotDurable) {
			t.Errorf("update %d of the failed batch = %v, want ErrNotDurable", i, err)
		}
	}
	storagetest.CheckFailStopped(t, st, []byte("a"))
}

// TestPanicInBatch: a panicking fn fails only its own Update; the rest of its
// group commit lands, and the writer keeps serving.
func TestPanicInBatch(t *testing.T) {
	st := openInternal(t, Options{InMemory: true})
	boom := func([]byte, bool) ([]byte, error) { panic("boom") }
	errs := runBatch(t, st,
		batchOp{"a", setTo("1")},
		batchOp{"a", boom}, // after a write of the same key in the batch
		batchOp{"b", boom},
		batchOp{"c", setTo("3")},
	)
	want := []error{nil, storage.ErrPanic, storage.ErrPanic, nil}
	for i, err := range errs {
		if !errors.Is(err, want[i]) || (want[i] == nil && err != nil) {
			t.Errorf("update %d = %v, want %v", i, err, want[i])
		}
	}
	ctx := context.Background()
	for k, want := range map[string]string{"a": "1", "c": "3"} {
		if v, err := st.Get(ctx, []byte(k)); err != nil || string(v) != want {
			t.Errorf("Get(%s) = %q, %v; want %q", k, v, err, want)
		}
	}
	if _, err := st.Get(ctx, []byte("b")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(b) = %v, want ErrNotFound: a panicking fn must write nothing", err)
	}
	// Through the writer goroutine: a panic, then a normal Update.
	if err := st.Update(ctx, []byte("d"), boom); !errors.Is(err, storage.ErrPanic) {
		t.Fatalf("Update with a panicking fn = %v, want ErrPanic", err)
	}
	if err := st.Update(ctx, []byte("d"), setTo("4")); err != nil {
		t.Fatalf("Update after a panic = %v; the writer must keep serving", err)
	}
}
