package badger

import (
	"context"
	"errors"
	"fmt"
	"math"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/dynago/dynago/storage"
)

// Update atomically applies fn to key's value; see storage.Store.
//
// Updates are group-committed: one writer goroutine takes every Update
// queued at the moment, applies them in order in one badger transaction and
// commits it, so a batch costs one write-ahead-log sync instead of one per
// Update. (badger syncs once per committed transaction, even inside its own
// write batches, and that sync is an msync of the whole memtable mapping:
// it dominated the CPU profile of a write-heavy node.) Updates of one key in
// one batch see each other in order, so none is lost. fn runs once on the
// writer goroutine (a second time only if badger reports the transaction too
// big), so it must be quick and must not call the Store. A panic in fn is
// recovered on the writer: that Update returns an error wrapping
// storage.ErrPanic and writes nothing, and the rest of its batch commits.
//
// If the commit of an Update's batch fails, the write may already be in the
// memtable (badger writes the memtable, then syncs its write-ahead log), so
// the Update returns an error wrapping storage.ErrNotDurable and the store
// fails: this and every later Update return storage.ErrNotDurable without
// calling fn, until the store is closed and reopened.
func (s *Store) Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := storage.ValidateKey(key); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.failure(); err != nil {
		return err
	}
	o := &update{ctx: ctx, key: key, fn: fn, done: make(chan error, 1)}
	select {
	case s.updates <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closing:
		return storage.ErrClosed
	}
	// Once queued the update may land, so wait for its outcome: a returned
	// ctx error must always mean nothing was written.
	return <-o.done
}

// update is one queued Update.
type update struct {
	ctx  context.Context
	key  []byte
	fn   func(old []byte, found bool) ([]byte, error)
	done chan error // buffered: the writer never blocks on it
}

// maxBatch bounds one group commit, so a transaction stays far below
// badger's size limit and one batch's latency stays small.
const maxBatch = 256

// writeLoop is the single writer. It exits when stopWriter is closed, which
// Close does only after every Update has returned.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]*update, 0, maxBatch)
	for {
		select {
		case o := <-s.updates:
			batch = append(batch[:0], o)
		case <-s.stopWriter:
			return
		}
	collect:
		for len(batch) < maxBatch {
			select {
			case o := <-s.updates:
				batch = append(batch, o)
			default:
				break collect
			}
		}
		s.commitBatch(batch)
	}
}

// commitBatch applies a batch in one transaction (more if it grows too big)
// and reports each update's outcome once its transaction has committed.
//
// A failed commit fails the store (fail-stop): every update in that
// transaction gets an error wrapping storage.ErrNotDurable, and so does every
// later update, including the rest of this batch, whose fn then never runs.
// An update of this batch that wrote nothing (its fn skipped, or deleted a
// missing key) and would return nil gets that error too: it may have read a
// write of the failed transaction. The same holds if a concurrent Sync fails
// the store during the batch; the writer then commits nothing more.
func (s *Store) commitBatch(batch []*update) {
	results := make([]error, len(batch))
	// budget is the bytes this batch may write before the disk reserve.
	budget := int64(math.MaxInt64)
	if s.space != nil {
		budget = s.space.budget()
	}
	var inTxn []int // updates whose write is in txn
	txn := s.db.NewTransaction(true)
	commit := func() {
		if len(inTxn) == 0 {
			txn.Discard()
			return
		}
		err := s.failure()
		if err != nil {
			txn.Discard() // a Sync failed the store meanwhile: write nothing more
		} else {
			if err = txn.Commit(); err == nil && s.testFault != nil {
				err = s.testFault("commit")
			}
			if err == nil {
				s.commits.Add(1)
				s.writes.Add(uint64(len(inTxn)))
			}
			if err != nil {
				err = s.fail("commit", err)
			}
		}
		if err != nil {
			for _, i := range inTxn {
				results[i] = err
			}
		}
		inTxn = inTxn[:0]
	}
	for i, o := range batch {
		if err := s.failure(); err != nil {
			results[i] = err
			continue
		}
		if err := o.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		wrote, err := s.apply(txn, o, &budget)
		if errors.Is(err, bdg.ErrTxnTooBig) {
			commit()
			txn = s.db.NewTransaction(true)
			if err = s.failure(); err == nil {
				wrote, err = s.apply(txn, o, &budget)
			}
		}
		results[i] = err
		if err == nil && wrote {
			inTxn = append(inTxn, i)
		}
	}
	commit()
	if err := s.failure(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = err
			}
		}
	}
	for i, o := range batch {
		o.done <- results[i]
	}
}

// apply runs one update inside txn and reports whether it wrote anything.
// ErrTxnTooBig is returned as is, so commitBatch can start a new transaction.
// A value write is charged to budget, the bytes left above the disk
// reserve, and refused with storage.ErrNoSpace when it does not fit.
func (s *Store) apply(txn *bdg.Txn, o *update, budget *int64) (bool, error) {
	var old []byte
	found := false
	item, err := txn.Get(o.key)
	switch {
	case err == nil:
		found = true
		if old, err = item.ValueCopy(nil); err != nil {
			return false, translate("update", err)
		}
		if old == nil {
			old = []byte{}
		}
	case !errors.Is(err, bdg.ErrKeyNotFound):
		return false, translate("update", err)
	}
	nv, err := storage.CallUpdateFn(o.fn, old, found)
	switch {
	case errors.Is(err, storage.ErrSkipWrite):
		return false, nil
	case errors.Is(err, storage.ErrDeleteKey):
		if !found {
			return false, nil
		}
		err = txn.Delete(o.key)
	case err != nil:
		return false, err
	case len(nv) > s.maxValue:
		return false, fmt.Errorf("badger: update: value of %d bytes exceeds this store's limit of %d bytes", len(nv), s.maxValue)
	case s.space != nil:
		if err := s.space.take(budget, o.key, nv); err != nil {
			return false, err
		}
		fallthrough
	default:
		// fn's result may be reused by its caller once Update returns,
		// which is after the commit; until then the transaction holds it.
		err = txn.Set(o.key, nv)
	}
	if errors.Is(err, bdg.ErrTxnTooBig) {
		return false, err
	}
	if err != nil {
		return false, translate("update", err)
	}
	return true, nil
}

// CommitStats reports the writing Updates and the commits (each a
// write-ahead-log sync unless NoSync) since the store opened; see
// storage.Committer.
func (s *Store) CommitStats() storage.CommitStats {
	return storage.CommitStats{Updates: s.writes.Load(), Commits: s.commits.Load()}
}
