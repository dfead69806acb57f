package hintedhandoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Sentinel errors. Callers compare with errors.Is.
var (
	// ErrTargetFull is returned by Add when the target's queue cannot take
	// the hint without exceeding Config.MaxBytesPerTarget. Nothing was
	// written.
	ErrTargetFull = errors.New("hintedhandoff: hint queue for target is full")
	// ErrBadRecord is wrapped by errors about a stored hint that cannot be
	// decoded (a malformed key or record in the hint keyspace).
	ErrBadRecord = errors.New("hintedhandoff: malformed hint record")
	// ErrBadCursor is returned by Batch for a cursor that it did not return
	// for the same target.
	ErrBadCursor = errors.New("hintedhandoff: bad cursor")
	// ErrInvalid is wrapped by errors about bad arguments: an empty or
	// too long target name, a key the store would refuse, a zero time or a
	// State that breaks vclock's invariants.
	ErrInvalid = errors.New("hintedhandoff: invalid argument")
)

// Hint is one queued hint: the state of one key that this node holds on
// behalf of the key's replica Owner.
type Hint struct {
	// Owner is the replica the hint is for (its target).
	Owner ring.NodeID
	// Partition is the key's partition.
	Partition uint32
	// Key is the user key.
	Key []byte
	// State is the merge of every State added for the key since the hint
	// was created.
	State vclock.State
	// Created is when the hint was first written (Add's now).
	Created time.Time
	// Size is the bytes the hint takes in the store (key plus record); it
	// is what Config.MaxBytesPerTarget, Config.BatchBytes and the delivery
	// rate count.
	Size int
}

// Store is the hint queue of one node, kept in the hint keyspace of the
// node's storage.Store: for each target, one hint per key, in key order.
// Create it with Open. It is safe for concurrent use; each method is one
// or more atomic storage.Updates, and returns once they are durable as the
// storage.Store makes them.
type Store struct {
	st  storage.Store
	cfg Config

	mu struct {
		sync.Mutex
		targets map[ring.NodeID]*target
		// parts counts the stored hints of each partition, whatever
		// their target (only partitions with hints have an entry).
		parts map[uint32]int
	}
}

// Open returns a Store over the hint keyspace of st, with cfg's zero fields
// set to their defaults. It scans the hint keyspace to rebuild each
// target's count, bytes and oldest hint, so that a restarted node keeps
// both its hints and its numbers. It fails if cfg is invalid, if the scan
// fails, or if the keyspace holds a key or record it cannot decode
// (ErrBadRecord). The Store does not own st: closing st is the caller's
// job, after which every call fails with storage.ErrClosed.
func Open(ctx context.Context, st storage.Store, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{st: st, cfg: cfg.WithDefaults()}
	s.mu.targets = make(map[ring.NodeID]*target)
	s.mu.parts = make(map[uint32]int)
	start, end := storage.HintRange()
	err := st.Scan(ctx, start, end, func(k, v []byte) error {
		owner, p, _, ok := storage.SplitHintKey(k)
		if !ok || owner == "" {
			return fmt.Errorf("%w: key %x", ErrBadRecord, k)
		}
		created, err := decodeCreated(v)
		if err != nil {
			return fmt.Errorf("key %x: %w", k, err)
		}
		s.applyLocked(s.targetLocked(ring.NodeID(owner)), p, change{new: entry{ok: true, size: int64(len(k) + len(v)), created: created}})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hintedhandoff: open: %w", err)
	}
	return s, nil
}

// targetLocked returns owner's bookkeeping, creating it. s.mu must be held
// (or s not yet shared, as in Open).
func (s *Store) targetLocked(owner ring.NodeID) *target {
	t := s.mu.targets[owner]
	if t == nil {
		t = &target{}
		s.mu.targets[owner] = t
	}
	return t
}

// hintKey validates its arguments and returns the hint's storage key.
func hintKey(owner ring.NodeID, partition uint32, key []byte) ([]byte, error) {
	if owner == "" || len(owner) > storage.MaxHintOwner {
		return nil, fmt.Errorf("%w: target name of %d bytes", ErrInvalid, len(owner))
	}
	k := storage.HintKey(string(owner), partition, key)
	if err := storage.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return k, nil
}

// Add merges st into the hint for key (in partition) held on behalf of
// owner, creating the hint if there is none, and returns once the store has
// it durably (one storage.Update, fsynced when the store syncs). A new hint
// records now as its creation time; a merge keeps the hint's creation time,
// so a hint's age (Stats' Oldest, the hint window MaxAge) runs from the
// first write it holds, however old: a hint is never dropped for age. A
// zero st, or one the hint already holds (it Descends st), writes nothing
// and returns nil.
//
// Add refuses with ErrTargetFull, writing nothing, when the owner's queued
// bytes plus the bytes of Adds in flight plus this hint's full size (key,
// record header and st's encoding: an upper bound of what storing it adds)
// would exceed MaxBytesPerTarget. A merge into an existing hint is refused
// the same way even if it would grow the hint less, so the queue never
// exceeds the bound; only a hint that already holds st is then accepted, as
// that costs nothing. A refused write is the coordinator's to count as
// missing: a fallback that cannot hold a write never acknowledges it.
//
// Errors wrap ErrInvalid for bad arguments, ErrBadRecord for a stored hint
// that cannot be decoded, or the storage error. A storage error during the
// commit leaves the write's fate unknown, and the statistics may then be
// off until the next Open.
func (s *Store) Add(ctx context.Context, owner ring.NodeID, partition uint32, key []byte, st vclock.State, now time.Time) error {
	k, err := hintKey(owner, partition, key)
	if err != nil {
		return err
	}
	if now.IsZero() {
		return fmt.Errorf("%w: zero time", ErrInvalid)
	}
	if st.IsZero() {
		return nil
	}
	// Encode st once, to validate it and to size the reservation; the fn
	// below encodes the merged state.
	enc, err := st.MarshalBinary()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	// Merging st into a hint grows the hint's encoding by at most st's
	// encoding (each version and context entry of the merge comes from
	// one side), so est bounds what the write adds to the queue.
	est := int64(len(k) + recordHeaderLen + len(enc))

	s.mu.Lock()
	t := s.targetLocked(owner)
	full := t.bytes+t.reserved+est > s.cfg.MaxBytesPerTarget
	if !full {
		t.reserved += est
	}
	s.mu.Unlock()
	if full {
		if have, ok, err := s.get(ctx, k); err == nil && ok && have.Descends(st) {
			return nil // already held durably: nothing to refuse
		}
		s.mu.Lock()
		t.refused++
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrTargetFull, owner)
	}

	var c change
	err = s.st.Update(ctx, k, func(old []byte, found bool) ([]byte, error) {
		c = change{} // fn may be retried: start afresh each time
		created, merged := now.UnixNano(), st
		if found {
			oc, ost, err := decodeRecord(old)
			if err != nil {
				return nil, err
			}
			if ost.Descends(st) {
				return nil, storage.ErrSkipWrite
			}
			c.old = entry{ok: true, size: int64(len(k) + len(old)), created: oc}
			created, merged = oc, vclock.Merge(ost, st)
		}
		v, err := appendRecord(make([]byte, 0, recordHeaderLen+len(enc)), created, merged)
		if err != nil {
			// Merge of well-formed states is well-formed.
			panic("hintedhandoff: merged state does not encode: " + err.Error())
		}
		c.new = entry{ok: true, size: int64(len(k) + len(v)), created: created}
		return v, nil
	})

	s.mu.Lock()
	t.reserved -= est
	if err == nil {
		s.applyLocked(t, partition, c)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("hintedhandoff: add hint for %s: %w", owner, err)
	}
	return nil
}

// applyLocked records c, a change to a hint of partition in t's queue.
// s.mu must be held.
func (s *Store) applyLocked(t *target, partition uint32, c change) {
	t.apply(c)
	d := 0
	if c.old.ok {
		d--
	}
	if c.new.ok {
		d++
	}
	if n := s.mu.parts[partition] + d; n > 0 {
		s.mu.parts[partition] = n
	} else {
		delete(s.mu.parts, partition)
	}
}

// get returns the state stored under hint key k.
func (s *Store) get(ctx context.Context, k []byte) (vclock.State, bool, error) {
	v, err := s.st.Get(ctx, k)
	if errors.Is(err, storage.ErrNotFound) {
		return vclock.State{}, false, nil
	}
	if err != nil {
		return vclock.State{}, false, err
	}
	_, st, err := decodeRecord(v)
	if err != nil {
		return vclock.State{}, false, fmt.Errorf("key %x: %w", k, err)
	}
	return st, true, nil
}

// Get returns the state of the hint for key (in partition) held on behalf
// of owner, and whether there is one. A fallback serving a read merges it
// into its reply, however old the hint is.
func (s *Store) Get(ctx context.Context, owner ring.NodeID, partition uint32, key []byte) (vclock.State, bool, error) {
	k, err := hintKey(owner, partition, key)
	if err != nil {
		return vclock.State{}, false, err
	}
	st, ok, err := s.get(ctx, k)
	if err != nil {
		return vclock.State{}, false, fmt.Errorf("hintedhandoff: get hint for %s: %w", owner, err)
	}
	return st, ok, nil
}

// errBatchFull stops Batch's scan.
var errBatchFull = errors.New("batch full")

// Batch returns the next hints queued for owner, in key order, starting
// after cursor (nil: from the first), and the cursor to pass to the next
// call: nil when the batch reached the end of the queue. A batch holds at
// most BatchKeys hints and BatchBytes bytes (Hint.Size), but always at
// least one hint if any remain. It reads a snapshot: hints added behind
// the cursor meanwhile wait for the next pass from a nil cursor. The
// returned hints are owned by the caller.
//
// Hints of every age are returned: a hint past the hint window is overdue,
// not dead (see Config.MaxAge).
//
// The cursor is the storage key of the last hint returned, so it stays
// valid whatever happens to that hint; it fails with ErrBadCursor if it
// was not made for owner.
func (s *Store) Batch(ctx context.Context, owner ring.NodeID, cursor []byte) ([]Hint, []byte, error) {
	if owner == "" || len(owner) > storage.MaxHintOwner {
		return nil, nil, fmt.Errorf("%w: target name of %d bytes", ErrInvalid, len(owner))
	}
	start, end := storage.HintOwnerRange(string(owner))
	if cursor != nil {
		if o, _, _, ok := storage.SplitHintKey(cursor); !ok || o != string(owner) {
			return nil, nil, fmt.Errorf("%w: %x is not a cursor for %s", ErrBadCursor, cursor, owner)
		}
		start = append(bytes.Clone(cursor), 0) // the first key after cursor
	}
	var (
		hints []Hint
		size  int
		last  []byte
		next  []byte
	)
	err := s.st.Scan(ctx, start, end, func(k, v []byte) error {
		n := len(k) + len(v)
		if len(hints) >= s.cfg.BatchKeys || (len(hints) > 0 && size+n > s.cfg.BatchBytes) {
			next = last
			return errBatchFull
		}
		_, p, uk, ok := storage.SplitHintKey(k)
		if !ok {
			return fmt.Errorf("%w: key %x", ErrBadRecord, k)
		}
		created, st, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("key %x: %w", k, err)
		}
		hints = append(hints, Hint{
			Owner:     owner,
			Partition: p,
			Key:       bytes.Clone(uk),
			State:     st,
			Created:   time.Unix(0, created),
			Size:      n,
		})
		size += n
		last = bytes.Clone(k)
		return nil
	})
	if err != nil && !errors.Is(err, errBatchFull) {
		return nil, nil, fmt.Errorf("hintedhandoff: batch for %s: %w", owner, err)
	}
	return hints, next, nil
}

// Delivered records that h's owner has durably merged h.State. It deletes
// the stored hint if h.State Descends it: the hint is exactly what was sent,
// or something the sent state already covers. If writes merged into the
// hint since it was read it is kept, to be sent again on the next pass.
// deleted reports whether this call deleted the hint. Delivered is
// idempotent: when there is no hint (a repeated call, or Supersede was
// first) it does nothing.
func (s *Store) Delivered(ctx context.Context, h Hint) (deleted bool, err error) {
	k, err := hintKey(h.Owner, h.Partition, h.Key)
	if err != nil {
		return false, err
	}
	var c change
	err = s.st.Update(ctx, k, func(old []byte, found bool) ([]byte, error) {
		c = change{}
		if !found {
			return nil, storage.ErrSkipWrite
		}
		created, st, err := decodeRecord(old)
		if err != nil {
			return nil, err
		}
		if !h.State.Descends(st) {
			return nil, storage.ErrSkipWrite
		}
		c.old = entry{ok: true, size: int64(len(k) + len(old)), created: created}
		return nil, storage.ErrDeleteKey
	})
	if err != nil {
		return false, fmt.Errorf("hintedhandoff: delivered hint for %s: %w", h.Owner, err)
	}
	if !c.old.ok {
		return false, nil
	}
	s.mu.Lock()
	t := s.targetLocked(h.Owner)
	s.applyLocked(t, h.Partition, c)
	t.delivered++
	s.mu.Unlock()
	return true, nil
}

// Lookup returns the merge of every hint this node holds for key (in
// partition), whatever their targets, and whether there is any. A holder
// confirmation (node's holder round, before a tombstone is reaped) reads
// hints through it: a hint is a copy of the key's data like any other, and
// a tombstone may go only once every copy is known to be covered by it.
func (s *Store) Lookup(ctx context.Context, partition uint32, key []byte) (vclock.State, bool, error) {
	var merged vclock.State
	found := false
	for _, owner := range s.owners() {
		st, ok, err := s.Get(ctx, owner, partition, key)
		if err != nil {
			return vclock.State{}, false, err
		}
		if ok {
			merged, found = vclock.Merge(merged, st), true
		}
	}
	return merged, found, nil
}

// Supersede deletes every hint this node holds for key (in partition),
// whatever its target, that st Descends, and returns how many it deleted.
// The caller must hold st durably as a replica of the key first (node
// calls it once it merged a holder confirmation's push into its own
// data): a deleted hint's writes then live on in that copy, which
// anti-entropy and the holder protocol carry to the primaries. Hints that
// st does not cover (written since the state was read) are kept. Deleted
// hints count as delivered in the statistics.
func (s *Store) Supersede(ctx context.Context, partition uint32, key []byte, st vclock.State) (int, error) {
	n := 0
	for _, owner := range s.owners() {
		k, err := hintKey(owner, partition, key)
		if err != nil {
			return n, err
		}
		var c change
		err = s.st.Update(ctx, k, func(old []byte, found bool) ([]byte, error) {
			c = change{}
			if !found {
				return nil, storage.ErrSkipWrite
			}
			created, have, err := decodeRecord(old)
			if err != nil {
				return nil, err
			}
			if !st.Descends(have) {
				return nil, storage.ErrSkipWrite
			}
			c.old = entry{ok: true, size: int64(len(k) + len(old)), created: created}
			return nil, storage.ErrDeleteKey
		})
		if err != nil {
			return n, fmt.Errorf("hintedhandoff: supersede hint for %s: %w", owner, err)
		}
		if c.old.ok {
			s.mu.Lock()
			t := s.targetLocked(owner)
			s.applyLocked(t, partition, c)
			t.delivered++
			s.mu.Unlock()
			n++
		}
	}
	return n, nil
}

// Discard deletes every hint this node holds, for every target, and
// returns how many it deleted. It is for a node that left the ring or was
// removed and joins again: while it was out, reapers did not count it as a
// hint holder, so its hints may hold values whose deletes were reaped.
// The writes they held are lost unless another replica has them; the
// caller says so loudly.
func (s *Store) Discard(ctx context.Context) (n int, err error) {
	start, end := storage.HintRange()
	var keys [][]byte
	err = s.st.Scan(ctx, start, end, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("hintedhandoff: discard: %w", err)
	}
	for _, k := range keys {
		owner, p, _, ok := storage.SplitHintKey(k)
		if !ok || owner == "" {
			return n, fmt.Errorf("hintedhandoff: discard: %w: key %x", ErrBadRecord, k)
		}
		var c change
		err := s.st.Update(ctx, k, func(old []byte, found bool) ([]byte, error) {
			c = change{}
			if !found {
				return nil, storage.ErrSkipWrite
			}
			created, err := decodeCreated(old)
			if err != nil {
				return nil, err
			}
			c.old = entry{ok: true, size: int64(len(k) + len(old)), created: created}
			return nil, storage.ErrDeleteKey
		})
		if err != nil {
			return n, fmt.Errorf("hintedhandoff: discard: %w", err)
		}
		if c.old.ok {
			s.mu.Lock()
			s.applyLocked(s.targetLocked(ring.NodeID(owner)), p, c)
			s.mu.Unlock()
			n++
		}
	}
	return n, nil
}

// owners returns every target the store has bookkeeping for: a superset
// of those with stored hints (Add creates the bookkeeping first).
func (s *Store) owners() []ring.NodeID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ring.NodeID, 0, len(s.mu.targets))
	for id := range s.mu.targets {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// HasPartition reports whether this node holds a hint of partition p, for
// any target. It is as current as Stats (see the package's invariants).
func (s *Store) HasPartition(p uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.parts[p] > 0
}

// Stats returns a copy of every target's statistics, including targets
// whose queue is empty but whose counters are not.
func (s *Store) Stats() map[ring.NodeID]TargetStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[ring.NodeID]TargetStats, len(s.mu.targets))
	for id, t := range s.mu.targets {
		out[id] = t.stats()
	}
	return out
}

// StatsFor returns owner's statistics (zero if it has none).
func (s *Store) StatsFor(owner ring.NodeID) TargetStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.mu.targets[owner]; t != nil {
		return t.stats()
	}
	return TargetStats{}
}

// Targets returns the targets with queued hints, sorted.
func (s *Store) Targets() []ring.NodeID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ring.NodeID
	for id, t := range s.mu.targets {
		if t.count > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
