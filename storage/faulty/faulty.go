package faulty

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dynago/dynago/storage"
)

// Op names a Store operation.
type Op uint8

// Operations that faults can target.
const (
	OpGet Op = iota
	OpUpdate
	OpScan
	OpClose
	OpRunGC
	OpSync
	numOps
)

var opNames = [numOps]string{"Get", "Update", "Scan", "Close", "RunGC", "Sync"}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Store is a storage.Store that injects faults in front of another Store.
type Store struct {
	inner storage.Store

	mu struct {
		sync.Mutex
		calls [numOps]int
		rules map[rule]error
		hook  func(op Op, key []byte) error
		// failAfterWrite is the Update that FailSyncAfterWrite fails after
		// its write (0: none).
		failAfterWrite int
		// failed is nil until the store fails (fail-stop); then it is the
		// error every later Update, Sync and RunGC returns.
		failed error
	}
}

type rule struct {
	op  Op
	nth int
}

var (
	_ storage.Store        = (*Store)(nil)
	_ storage.GCer         = (*Store)(nil)
	_ storage.Syncer       = (*Store)(nil)
	_ storage.Sizer        = (*Store)(nil)
	_ storage.DiskReporter = (*Store)(nil)
)

// New returns a Store that forwards to inner and injects no faults until told
// to.
func New(inner storage.Store) *Store {
	s := &Store{inner: inner}
	s.mu.rules = make(map[rule]error)
	return s
}

// FailOn makes the nth call (1-based, counted since New) of op return err
// without reaching the inner Store. A nil err removes the rule.
func (s *Store) FailOn(op Op, nth int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.mu.rules, rule{op, nth})
		return
	}
	s.mu.rules[rule{op, nth}] = err
}

// FailSyncAfterWrite makes the nth Update (1-based, counted since New, like
// FailOn) fail the way a durable store fails when the fsync after a write
// fails: the Update runs on the inner Store, so its write lands and is
// visible to Get and Scan, and then it returns an error wrapping
// storage.ErrNotDurable (wrapping the inner Update's error too, if it
// returned one). From the nth call on the Store is failed (fail-stop, see
// storage.ErrNotDurable): every Update counted after it, and every Sync and
// RunGC, returns an error wrapping storage.ErrNotDurable without reaching the
// inner Store, while Get, Scan and Close pass through. nth <= 0 removes the
// rule; a Store that has already failed stays failed. FailOn rules and the
// Inject hook are checked first: if one fires for the nth Update, the write
// does not land and the store does not fail (unless that error wraps
// storage.ErrNotDurable).
func (s *Store) FailSyncAfterWrite(nth int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.failAfterWrite = max(nth, 0)
}

// FailNextSync is FailSyncAfterWrite of the next Update to be called: the
// way an agent started with --test-faults fails its store on demand.
func (s *Store) FailNextSync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.failAfterWrite = s.mu.calls[OpUpdate] + 1
}

// Inject installs hook, which is called before every operation with the key
// (Scan: its start bound; Close, RunGC, Sync: nil). A non-nil result is
// returned without reaching the inner Store. hook must not call the Store.
// nil removes the hook. FailOn rules are checked first.
func (s *Store) Inject(hook func(op Op, key []byte) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.hook = hook
}

// Calls returns how many times op has been called since New, faulted or not.
func (s *Store) Calls(op Op) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.calls[op]
}

// fault counts a call of op and returns the error to inject, if any. Once the
// store has failed, that is the failure for Update, Sync and RunGC. An
// injected error wrapping storage.ErrNotDurable on Update or Sync fails the
// store, so the wrapper never breaks the contract it emulates.
//
// afterWrite is nonzero, the call's index, for the Update FailSyncAfterWrite
// chose: fault fails the store at once (so every call counted after it
// fails, even one that overtakes it), and Update forwards it to the inner
// Store and then returns afterWriteErr.
func (s *Store) fault(op Op, key []byte) (afterWrite int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.calls[op]++
	n := s.mu.calls[op]
	if s.mu.failed != nil && (op == OpUpdate || op == OpSync || op == OpRunGC) {
		return 0, s.mu.failed
	}
	err, ok := s.mu.rules[rule{op, n}]
	if !ok && s.mu.hook != nil {
		err = s.mu.hook(op, key)
	}
	if err != nil {
		if (op == OpUpdate || op == OpSync) && errors.Is(err, storage.ErrNotDurable) {
			s.failLocked(op, n)
		}
		return 0, err
	}
	if op == OpUpdate && n == s.mu.failAfterWrite {
		s.failLocked(op, n)
		return n, nil
	}
	return 0, nil
}

// afterWriteErr returns the error of the nth Update, chosen by
// FailSyncAfterWrite, which returned innerErr from the inner Store.
func afterWriteErr(nth int, innerErr error) error {
	if innerErr != nil {
		return fmt.Errorf("%w: faulty: injected sync failure after Update #%d, which returned: %w", storage.ErrNotDurable, nth, innerErr)
	}
	return fmt.Errorf("%w: faulty: injected sync failure after Update #%d", storage.ErrNotDurable, nth)
}

// failLocked marks the store failed by the nth call of op, unless it has
// already failed. s.mu must be held.
func (s *Store) failLocked(op Op, nth int) {
	if s.mu.failed == nil {
		s.mu.failed = fmt.Errorf("%w: faulty: the store failed at %v #%d; close and reopen it", storage.ErrNotDurable, op, nth)
	}
}

// Get forwards to the inner Store unless a fault fires.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if _, err := s.fault(OpGet, key); err != nil {
		return nil, err
	}
	return s.inner.Get(ctx, key)
}

// Update forwards to the inner Store unless a fault fires or the store has
// failed. The Update chosen by FailSyncAfterWrite is forwarded and then
// fails.
func (s *Store) Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	afterWrite, err := s.fault(OpUpdate, key)
	if err != nil {
		return err
	}
	err = s.inner.Update(ctx, key, fn)
	if afterWrite > 0 {
		return afterWriteErr(afterWrite, err)
	}
	return err
}

// Scan forwards to the inner Store unless a fault fires.
func (s *Store) Scan(ctx context.Context, start, end []byte, fn func(k, v []byte) error) error {
	if _, err := s.fault(OpScan, start); err != nil {
		return err
	}
	return s.inner.Scan(ctx, start, end, fn)
}

// Close closes the inner Store. If a fault fires, Close still closes the
// inner Store but returns the fault.
func (s *Store) Close() error {
	_, injected := s.fault(OpClose, nil)
	err := s.inner.Close()
	if injected != nil {
		return injected
	}
	return err
}

// RunGC forwards to the inner Store if it is a storage.GCer (else returns
// nil) unless a fault fires or the store has failed.
func (s *Store) RunGC(ctx context.Context) error {
	if _, err := s.fault(OpRunGC, nil); err != nil {
		return err
	}
	if g, ok := s.inner.(storage.GCer); ok {
		return g.RunGC(ctx)
	}
	return nil
}

// Sync forwards to the inner Store if it is a storage.Syncer (else returns
// nil) unless a fault fires or the store has failed.
func (s *Store) Sync() error {
	if _, err := s.fault(OpSync, nil); err != nil {
		return err
	}
	if y, ok := s.inner.(storage.Syncer); ok {
		return y.Sync()
	}
	return nil
}

// Size forwards to the inner Store if it is a storage.Sizer (else 0, 0).
func (s *Store) Size() (lsm, vlog int64) {
	if z, ok := s.inner.(storage.Sizer); ok {
		return z.Size()
	}
	return 0, 0
}

// DiskSpace forwards to the inner Store if it is a storage.DiskReporter
// (else errors.ErrUnsupported), so a wrapped store on a disk keeps
// reporting its free space and reserve.
func (s *Store) DiskSpace() (storage.DiskSpace, error) {
	if d, ok := s.inner.(storage.DiskReporter); ok {
		return d.DiskSpace()
	}
	return storage.DiskSpace{}, errors.ErrUnsupported
}
