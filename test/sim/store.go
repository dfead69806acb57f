package sim

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/dynago/dynago/storage"
)

// errCrashed is what every call on a crashed process's store returns: the
// process is dead, so nothing it does after the crash reaches the disk.
var errCrashed = errors.New("sim: the process crashed")

// processStore is one process's handle on a node's disk (a memory store
// that outlives the process). The node owns it and closes it at the end of
// Run; closing it leaves the disk open for the next process. crash makes
// every later call fail, so a crashed node's shutdown bookkeeping (its
// clean-shutdown mark, its last cluster save) is lost as in a real crash.
// Safe for concurrent use.
type processStore struct {
	disk    storage.Store
	crashed atomic.Bool
	closed  atomic.Bool
}

var _ storage.Store = (*processStore)(nil)

func (s *processStore) check() error {
	switch {
	case s.crashed.Load():
		return errCrashed
	case s.closed.Load():
		return storage.ErrClosed
	}
	return nil
}

func (s *processStore) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	return s.disk.Get(ctx, key)
}

func (s *processStore) Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.disk.Update(ctx, key, func(old []byte, found bool) ([]byte, error) {
		// A crash while the write waited for the key's lock: the
		// process is gone before the write reaches the disk.
		if s.crashed.Load() {
			return nil, errCrashed
		}
		return fn(old, found)
	})
}

func (s *processStore) Scan(ctx context.Context, start, end []byte, fn func(k, v []byte) error) error {
	if err := s.check(); err != nil {
		return err
	}
	return s.disk.Scan(ctx, start, end, func(k, v []byte) error {
		if s.crashed.Load() {
			return errCrashed
		}
		return fn(k, v)
	})
}

// Close ends this process's use of the disk; the disk stays open.
func (s *processStore) Close() error {
	s.closed.Store(true)
	return nil
}

// ackWithoutStore is the must-fail control's anomaly: a store that computes
// every write to a data key (so the node sees it succeed) and silently
// drops it. Metadata and hints are stored normally, so the node runs as
// usual and only its replicas lie.
type ackWithoutStore struct {
	storage.Store
	dropped atomic.Int64
}

func (s *ackWithoutStore) Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	if len(key) == 0 || key[0] != storage.PrefixData {
		return s.Store.Update(ctx, key, fn)
	}
	return s.Store.Update(ctx, key, func(old []byte, found bool) ([]byte, error) {
		if _, err := fn(old, found); err != nil && !errors.Is(err, storage.ErrDeleteKey) {
			return nil, err
		}
		s.dropped.Add(1)
		return nil, storage.ErrSkipWrite
	})
}
