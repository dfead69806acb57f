package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	bdg "github.com/dgraph-io/badger/v4"

	"github.com/dynago/dynago/storage"
)

// inMemoryMaxValue is the largest value an in-memory database takes: values
// of badger's value threshold (1 MiB) or more would need a value log. Note
// the off-by-one: badger v4.9.6 accepts a value of exactly the threshold in
// Txn.Set (it checks len > threshold) but then routes it to the missing value
// log (it checks len < threshold) and panics its write goroutine, killing
// the process. Refusing it here avoids that.
const inMemoryMaxValue = 1<<20 - 1

// Store is a storage.Store backed by badger. Create it with Open. It is safe
// for concurrent use.
type Store struct {
	// writes and commits count writing Updates and their commits
	// (CommitStats).
	writes, commits atomic.Uint64

	db       *bdg.DB
	dir      string
	inMemory bool
	maxValue int

	// space refuses data writes near a full disk (space.go); nil in
	// memory.
	space *spaceGuard

	// updates feeds the single writer goroutine (writeLoop), which group-
	// commits them; stopWriter stops it and writerDone says it stopped.
	updates    chan *update
	stopWriter chan struct{}
	writerDone chan struct{}

	// failed is nil until a write could not be made durable (a commit or
	// Sync failed); then it holds the error that every later Update, Sync
	// and RunGC returns (fail-stop, see storage.ErrNotDurable). Set once,
	// never cleared.
	failed atomic.Pointer[error]
	// testFault is nil except in this package's tests, which set it before
	// the first Update or Sync. It is called after each commit ("commit")
	// and Sync ("sync") that badger reported as successful; a non-nil result
	// is handled as if badger had returned it, which is how a test makes a
	// write land in the memtable and then fail as a WAL fsync would.
	testFault func(op string) error

	closing   chan struct{} // closed when Close starts
	drained   chan struct{} // closed when the last call in flight leaves after Close started
	closeDone chan struct{} // closed when Close has closed badger

	mu struct {
		sync.Mutex
		closed   bool
		inflight int // calls between enter and leave
	}
}

var (
	_ storage.Store  = (*Store)(nil)
	_ storage.GCer   = (*Store)(nil)
	_ storage.Syncer = (*Store)(nil)
	_ storage.Sizer  = (*Store)(nil)

	_ storage.DiskReporter = (*Store)(nil)
)

// Open opens (creating if needed) the database described by opts. It fails
// if opts are invalid or if another Store, in this process or another, has
// the directory open.
func Open(opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	bo := bdg.DefaultOptions(opts.Dir)
	if opts.InMemory {
		bo = bdg.DefaultOptions("").WithInMemory(true)
	}
	var logger bdg.Logger // nil silences badger
	if opts.Logger != nil {
		logger = slogAdapter{opts.Logger}
	}
	bo = bo.
		WithSyncWrites(!opts.NoSync).
		WithLogger(logger).
		WithMemTableSize(opts.MemTableSize).
		WithNumMemtables(opts.NumMemtables).
		WithNumLevelZeroTables(opts.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(opts.NumLevelZeroTablesStall).
		WithBlockCacheSize(opts.BlockCacheSize).
		WithIndexCacheSize(opts.IndexCacheSize).
		WithNumCompactors(opts.NumCompactors).
		WithNumGoroutines(opts.NumGoroutines).
		WithValueLogFileSize(opts.ValueLogFileSize).
		WithBaseTableSize(opts.BaseTableSize).
		// Metrics off: they live in process-global expvar maps keyed by
		// directory, and Size computes its own numbers.
		WithMetricsEnabled(false).
		// Conflict detection off: one writer goroutine serializes Updates,
		// so it would only cost memory (read-set fingerprints per txn).
		WithDetectConflicts(false)
	if !opts.InMemory {
		if err := checkForeignDir(opts.Dir); err != nil {
			return nil, err
		}
		if err := removeEmptyLogs(opts.Dir, opts.Logger); err != nil {
			return nil, err
		}
		if err := checkTables(opts.Dir, bo); err != nil {
			return nil, fmt.Errorf("badger: open %s: %w: the store there is corrupt; restore it from a backup, or move it away and start the node on an empty data dir to rejoin (its partitions are pulled from their replicas)", opts.Dir, err)
		}
	}
	db, err := bdg.Open(bo)
	if err != nil {
		if opts.InMemory {
			return nil, fmt.Errorf("badger: open in-memory: %v", err)
		}
		// The agent exits with this message: say what it means for the
		// directory and what the operator can do (badger's own words,
		// e.g. "manifest has bad magic", say neither).
		return nil, fmt.Errorf("badger: open %s: %v: the store there is corrupt or unreadable, unless another process has it open; "+
			"restore it from a backup, or move it away and start the node on an empty data dir to rejoin (its partitions are pulled from their replicas)", opts.Dir, err)
	}
	s := &Store{
		db:        db,
		dir:       opts.Dir,
		inMemory:  opts.InMemory,
		maxValue:  int(opts.ValueLogFileSize),
		closing:   make(chan struct{}),
		drained:   make(chan struct{}),
		closeDone: make(chan struct{}),
	}
	if opts.InMemory {
		s.maxValue = inMemoryMaxValue
	} else {
		s.space = newSpaceGuard(opts.Dir, opts.DiskReserve, opts.Logger)
	}
	s.updates = make(chan *update, maxBatch)
	s.stopWriter = make(chan struct{})
	s.writerDone = make(chan struct{})
	go s.writeLoop()
	return s, nil
}

// Get returns a copy of key's value, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := storage.ValidateKey(key); err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.leave()
	var v []byte
	err := s.db.View(func(txn *bdg.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, translate("get", err)
	}
	if v == nil {
		v = []byte{} // found, empty: non-nil, as the contract says
	}
	return v, nil
}

// Scan calls fn for each key in [start, end) in order, inside one badger read
// transaction (a snapshot); see storage.Store. k and v point into badger's
// buffers: valid only during the call, never to be modified.
func (s *Store) Scan(ctx context.Context, start, end []byte, fn func(k, v []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if len(end) > 0 && bytes.Compare(start, end) >= 0 {
		return nil
	}
	var stop error // an error from fn, ctx or Close, returned unchanged
	err := s.db.View(func(txn *bdg.Txn) error {
		// Every key in [start, end) shares start and end's common prefix;
		// telling badger lets it skip tables outside it.
		it := txn.NewIterator(bdg.IteratorOptions{Prefix: commonPrefix(start, end)})
		defer it.Close()
		for it.Seek(start); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			if len(end) > 0 && bytes.Compare(k, end) >= 0 {
				return nil
			}
			if stop = ctx.Err(); stop != nil {
				return stop
			}
			if s.isClosing() {
				stop = storage.ErrClosed
				return stop
			}
			err := item.Value(func(v []byte) error {
				if v == nil {
					v = []byte{}
				}
				stop = fn(k, v)
				return stop
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if stop != nil {
		return stop
	}
	if err != nil {
		return translate("scan", err)
	}
	return nil
}

// commonPrefix returns the longest common prefix of start and end, or nil
// when end is unbounded.
func commonPrefix(start, end []byte) []byte {
	if len(end) == 0 {
		return nil
	}
	n := 0
	for n < len(start) && n < len(end) && start[n] == end[n] {
		n++
	}
	return start[:n:n]
}

// RunGC runs badger's value-log GC until there is nothing left to rewrite. It
// returns nil when there was nothing (more) to do, when another GC is already
// running, and in in-memory mode (no value log). Once the store has failed
// it returns storage.ErrNotDurable: GC rewrites values and deletes the old
// files, which a store that cannot trust its fsyncs must not do.
func (s *Store) RunGC(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.failure(); err != nil {
		return err
	}
	if s.inMemory {
		return nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.isClosing() {
			return storage.ErrClosed
		}
		// 0.5: rewrite a value-log file once half of it is garbage, badger's
		// recommended ratio (rewriting costs as much I/O as it frees).
		err := s.db.RunValueLogGC(0.5)
		switch {
		case err == nil:
			// One file rewritten; there may be more.
		case errors.Is(err, bdg.ErrNoRewrite), errors.Is(err, bdg.ErrRejected):
			return nil
		default:
			return translate("gc", err)
		}
	}
}

// Sync flushes badger's write-ahead and value logs to disk. It is a no-op in
// memory. If the flush fails, the store fails (see storage.ErrNotDurable):
// Sync returns an error wrapping storage.ErrNotDurable, now and from then on,
// and so do Update and RunGC.
func (s *Store) Sync() error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if err := s.failure(); err != nil {
		return err
	}
	err := s.db.Sync()
	if err == nil && s.testFault != nil {
		err = s.testFault("sync")
	}
	if err != nil {
		return s.fail("sync", err)
	}
	return nil
}

// failure returns the error that failed the store, or nil if it has not
// failed.
func (s *Store) failure() error {
	if p := s.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail marks the store failed after badger's err in op (a commit or a sync)
// and returns the error for the calls that hit it. It carries badger's
// message but not its identity, as translate does. If the store had already
// failed, the first failure stays the one later calls report.
func (s *Store) fail(op string, err error) error {
	later := fmt.Errorf("%w: badger: the store failed earlier (%s: %v); close and reopen it", storage.ErrNotDurable, op, err)
	s.failed.CompareAndSwap(nil, &later)
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %w: badger: %s: %v", storage.ErrNotDurable, storage.ErrNoSpace, op, err)
	}
	return fmt.Errorf("%w: badger: %s: %v", storage.ErrNotDurable, op, err)
}

// Size estimates the bytes used on disk by the LSM tree (tables and memtable
// logs) and by the value log. In memory, lsm is the size of the flushed
// tables and vlog is 0. After Close both are 0.
func (s *Store) Size() (lsm, vlog int64) {
	if s.enter() != nil {
		return 0, 0
	}
	defer s.leave()
	if s.inMemory {
		for _, t := range s.db.Tables() {
			lsm += int64(t.OnDiskSize)
		}
		return lsm, 0
	}
	return dirUsage(s.dir)
}

// Close waits for calls in flight, then closes badger and releases the
// directory. It is idempotent: a later (or concurrent) call waits for the
// first to finish and returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		<-s.closeDone
		return nil
	}
	s.mu.closed = true
	idle := s.mu.inflight == 0
	s.mu.Unlock()

	close(s.closing) // wake queued Updates and stop scans
	if !idle {
		<-s.drained
	}
	// Every Update has returned, so the writer is idle: stop it.
	close(s.stopWriter)
	<-s.writerDone
	err := s.db.Close()
	close(s.closeDone)
	if err != nil {
		return fmt.Errorf("badger: close: %v", err)
	}
	return nil
}

// enter registers a call in flight, or returns storage.ErrClosed once Close
// has started. Every successful enter must be paired with leave.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return storage.ErrClosed
	}
	s.mu.inflight++
	return nil
}

func (s *Store) leave() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.inflight--
	if s.mu.closed && s.mu.inflight == 0 {
		close(s.drained) // reached once: no enter succeeds after closed
	}
}

func (s *Store) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// translate maps a badger error to a storage sentinel, or to an error that
// carries badger's message but not its identity (%v, not %w), so no badger
// type escapes this package.
func translate(op string, err error) error {
	switch {
	case errors.Is(err, bdg.ErrKeyNotFound):
		return storage.ErrNotFound
	case errors.Is(err, bdg.ErrDBClosed), errors.Is(err, bdg.ErrBlockedWrites):
		return storage.ErrClosed
	case errors.Is(err, bdg.ErrEmptyKey), errors.Is(err, bdg.ErrInvalidKey):
		return fmt.Errorf("%w: badger: %s: %v", storage.ErrInvalidKey, op, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("badger: %s: %v", op, err)
}

// ErrForeignDir is wrapped by Open's error for a directory that holds
// files but no badger store: opening it would create a new, empty store
// among someone else's files (a wrong --data-dir), and the node would
// serve nothing of what it had.
var ErrForeignDir = errors.New("badger: the directory holds files but no store")

// checkForeignDir refuses a non-empty dir without badger's MANIFEST.
// lost+found (a mount point's root) and dotfiles don't count.
func checkForeignDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // missing: badger creates it; unreadable: badger says why
	}
	var foreign []string
	for _, e := range entries {
		switch name := e.Name(); {
		case name == "MANIFEST":
			return nil
		case name == "lost+found" || strings.HasPrefix(name, "."):
		default:
			foreign = append(foreign, name)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s has %d entries (%s, ...) and no MANIFEST; refusing to create a store there (wrong data dir?)",
		ErrForeignDir, dir, len(foreign), foreign[0])
}
