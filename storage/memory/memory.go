package memory

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/dynago/dynago/storage"
)

// Store is an ordered in-memory storage.Store. The zero value is not usable;
// call New. It is safe for concurrent use.
type Store struct {
	mu struct {
		sync.Mutex
		closed bool
		data   map[string][]byte // live key → value (a private copy)
		// sorted holds keys in ascending order. It may hold keys that were
		// deleted since (absent from data), and misses keys in pending.
		sorted []string
		// pending holds keys added to data since the last index rebuild, in
		// no order, possibly repeated or deleted again.
		pending []string
		// stale counts deletes since the last rebuild, to bound how many
		// dead keys sorted can hold.
		stale int
	}
}

var _ storage.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	s := &Store{}
	s.mu.data = make(map[string][]byte)
	return s
}

// Get returns a copy of key's value, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, storage.ErrClosed
	}
	v, ok := s.mu.data[string(key)]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return clone(v), nil
}

// Update atomically applies fn to key's value; see storage.Store. fn runs
// once, with the Store's mutex held, so it must not call the Store. A panic
// in fn is recovered: Update returns an error wrapping storage.ErrPanic and
// writes nothing. Update never returns storage.ErrNotDurable: nothing here is
// durable, so there is no durable write to fail.
func (s *Store) Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return storage.ErrClosed
	}
	old, found := s.mu.data[string(key)]
	if found {
		old = clone(old)
	}
	nv, err := storage.CallUpdateFn(fn, old, found)
	switch {
	case errors.Is(err, storage.ErrSkipWrite):
		return nil
	case errors.Is(err, storage.ErrDeleteKey):
		if found {
			delete(s.mu.data, string(key))
			s.mu.stale++
		}
		return nil
	case err != nil:
		return err
	}
	k := string(key)
	if !found {
		s.mu.pending = append(s.mu.pending, k)
	}
	s.mu.data[k] = clone(nv)
	return nil
}

// Scan calls fn for each key in [start, end) in order, over a snapshot taken
// when Scan starts; see storage.Store. k and v are copies, but callers must
// not rely on that (other Stores pass slices valid only during the call).
func (s *Store) Scan(ctx context.Context, start, end []byte, fn func(k, v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pairs, err := s.snapshot(start, end)
	if err != nil {
		return err
	}
	for _, p := range pairs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn([]byte(p.k), clone(p.v)); err != nil {
			return err
		}
	}
	return nil
}

type pair struct {
	k string
	v []byte // the stored slice; never modified in place, so safe to read unlocked
}

// snapshot returns the live pairs in [start, end) in key order.
func (s *Store) snapshot(start, end []byte) ([]pair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, storage.ErrClosed
	}
	s.rebuildIndexLocked()
	keys := s.mu.sorted
	i, _ := slices.BinarySearch(keys, string(start))
	var pairs []pair
	for _, k := range keys[i:] {
		if len(end) > 0 && k >= string(end) {
			break
		}
		if v, ok := s.mu.data[k]; ok {
			pairs = append(pairs, pair{k, v})
		}
	}
	return pairs, nil
}

// rebuildIndexLocked folds pending keys into sorted and drops deleted keys,
// when there are pending keys or deletes have left sorted more than half dead.
// s.mu must be held.
func (s *Store) rebuildIndexLocked() {
	if len(s.mu.pending) == 0 && s.mu.stale <= len(s.mu.sorted)/2 {
		return
	}
	pending := s.mu.pending
	slices.Sort(pending)
	pending = slices.Compact(pending)
	// Merge two sorted lists, keeping only live keys, each once.
	merged := make([]string, 0, len(s.mu.data))
	live := func(k string) bool { _, ok := s.mu.data[k]; return ok }
	a, b := s.mu.sorted, pending
	for len(a) > 0 || len(b) > 0 {
		var k string
		switch {
		case len(b) == 0:
			k, a = a[0], a[1:]
		case len(a) == 0:
			k, b = b[0], b[1:]
		default:
			switch c := strings.Compare(a[0], b[0]); {
			case c < 0:
				k, a = a[0], a[1:]
			case c > 0:
				k, b = b[0], b[1:]
			default:
				k, a, b = a[0], a[1:], b[1:]
			}
		}
		if live(k) {
			merged = append(merged, k)
		}
	}
	s.mu.sorted = merged
	s.mu.pending = nil
	s.mu.stale = 0
}

// Close drops all data. It is idempotent; later calls of other methods return
// storage.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.closed = true
	s.mu.data, s.mu.sorted, s.mu.pending = nil, nil, nil
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return bytes.Clone(b)
}
