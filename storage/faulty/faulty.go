package faulty

import (
	"context"
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
	}
}

type rule struct {
	op  Op
	nth int
}

var (
	_ storage.Store  = (*Store)(nil)
	_ storage.GCer   = (*Store)(nil)
	_ storage.Syncer = (*Store)(nil)
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

// fault counts a call of op and returns the error to inject, if any.
func (s *Store) fault(op Op, key []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.calls[op]++
	if err, ok := s.mu.rules[rule{op, s.mu.calls[op]}]; ok {
		return err
	}
	if s.mu.hook != nil {
		return s.mu.hook(op, key)
	}
	return nil
}

// Get forwards to the inner Store unless a fault fires.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := s.fault(OpGet, key); err != nil {
		return nil, err
	}
	return s.inner.Get(ctx, key)
}

// Update forwards to the inner Store unless a fault fires.
func (s *Store) Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	if err := s.fault(OpUpdate, key); err != nil {
		return err
	}
	return s.inner.Update(ctx, key, fn)
}

// Scan forwards to the inner Store unless a fault fires.
func (s *Store) Scan(ctx context.Context, start, end []byte, fn func(k, v []byte) error) error {
	if err := s.fault(OpScan, start); err != nil {
		return err
	}
	return s.inner.Scan(ctx, start, end, fn)
}

// Close closes the inner Store. If a fault fires, Close still closes the
// inner Store but returns the fault.
func (s *Store) Close() error {
	injected := s.fault(OpClose, nil)
	err := s.inner.Close()
	if injected != nil {
		return injected
	}
	return err
}

// RunGC forwards to the inner Store if it is a storage.GCer (else returns
// nil) unless a fault fires.
func (s *Store) RunGC(ctx context.Context) error {
	if err := s.fault(OpRunGC, nil); err != nil {
		return err
	}
	if g, ok := s.inner.(storage.GCer); ok {
		return g.RunGC(ctx)
	}
	return nil
}

// Sync forwards to the inner Store if it is a storage.Syncer (else returns
// nil) unless a fault fires.
func (s *Store) Sync() error {
	if err := s.fault(OpSync, nil); err != nil {
		return err
	}
	if y, ok := s.inner.(storage.Syncer); ok {
		return y.Sync()
	}
	return nil
}
