package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// Sentinel errors. Callers compare with errors.Is; implementations may wrap
// them with context.
var (
	// ErrNotFound is returned by Get when the key is absent.
	ErrNotFound = errors.New("storage: not found")
	// ErrClosed is returned by every call made after Close.
	ErrClosed = errors.New("storage: closed")
	// ErrInvalidKey is returned for a key that is empty, longer than
	// MaxKeySize, or starts with the reserved byte '!'.
	ErrInvalidKey = errors.New("storage: invalid key")
	// ErrSkipWrite, returned by an Update fn, means "leave the key as it is":
	// nothing is written and Update returns nil.
	ErrSkipWrite = errors.New("storage: skip write")
	// ErrDeleteKey, returned by an Update fn, deletes the key (a no-op if it
	// is absent) and Update returns nil.
	ErrDeleteKey = errors.New("storage: delete key")
	// ErrNotDurable, wrapped in an Update or Sync error, means a write may
	// have been applied (visible to later reads) but is not known to be on
	// stable storage. From then on the store is failed (fail-stop: an fsync
	// error cannot be retried): every later Update, Sync and RunGC returns
	// an error wrapping ErrNotDurable without calling fn, until the store is
	// closed and reopened. Get and Scan keep working.
	ErrNotDurable = errors.New("storage: write not durable")
	// ErrPanic, wrapped in an Update error, means the Update fn panicked. The
	// error's message carries the panic value and a trimmed stack. Nothing of
	// that Update was written and the store keeps working.
	ErrPanic = errors.New("storage: update function panicked")
	// ErrNoSpace, wrapped in an Update error, means the device is full
	// (ENOSPC), or that the Update was refused because the store's disk
	// has less free space than its reserve (DiskReporter). An
	// implementation whose failed write may have left part of itself
	// behind wraps ErrNotDurable too (fail-stop, as above); one that wrote
	// nothing (a refusal at the reserve always) keeps working, and writes
	// succeed again once space returns. Callers report it to clients as
	// such (HTTP 507).
	ErrNoSpace = errors.New("storage: no space left on device")
)

// MaxKeySize is the largest key a Store accepts, in bytes. It is badger's
// limit (its table format stores key lengths in 16 bits, less room for its
// internal prefixes and timestamps); dynago's own keys are far shorter (a
// 1024-byte user key plus a 5-byte prefix).
const MaxKeySize = 65000

// reservedPrefix starts keys that engines keep for themselves (badger uses
// "!badger!"), so Store refuses them everywhere to behave the same in every
// implementation.
const reservedPrefix = '!'

// ValidateKey reports whether key may be stored: it returns ErrInvalidKey
// (wrapped with the reason) for an empty key, a key longer than MaxKeySize or
// a key starting with '!', and nil otherwise. Implementations call it at the
// top of Get and Update.
func ValidateKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: %d bytes, more than MaxKeySize", ErrInvalidKey, len(key))
	case key[0] == reservedPrefix:
		return fmt.Errorf("%w: starts with reserved byte '!'", ErrInvalidKey)
	}
	return nil
}

// maxPanicStack bounds the stack CallUpdateFn puts in an ErrPanic error, so
// the error stays loggable.
const maxPanicStack = 4 << 10

// CallUpdateFn calls fn(old, found) and returns its results, except that a
// panic in fn is recovered and returned as an error wrapping ErrPanic, with
// the panic value and the panicking goroutine's stack (from the panicking
// frame, at most a few KB) in its message. Implementations call it instead of
// calling an Update fn directly, so no caller's fn can kill the process.
func CallUpdateFn(fn func(old []byte, found bool) ([]byte, error), old []byte, found bool) (nv []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			nv, err = nil, fmt.Errorf("%w: %v\n%s", ErrPanic, v, panicStack(debug.Stack()))
		}
	}()
	return fn(old, found)
}

// panicStack trims a debug.Stack taken in a deferred recover to the frames
// from the one that panicked on (dropping debug.Stack, the deferred function
// and runtime.gopanic), cut at a line end to at most maxPanicStack bytes.
func panicStack(st []byte) []byte {
	// Each frame is two lines: "pkg.func(args)" and "\tfile:line +off".
	if i := bytes.Index(st, []byte("\npanic(")); i >= 0 {
		rest := st[i+1:]
		for range 2 { // the panic( line and its file line
			if j := bytes.IndexByte(rest, '\n'); j >= 0 {
				rest = rest[j+1:]
			}
		}
		st = rest
	}
	st = bytes.TrimRight(st, "\n")
	if len(st) > maxPanicStack {
		st = st[:maxPanicStack]
		if j := bytes.LastIndexByte(st, '\n'); j > 0 {
			st = st[:j]
		}
		st = append(st[:len(st):len(st)], "\n\t..."...)
	}
	return st
}

// CommitStats is what a group-committing store has done since it opened:
// Updates that wrote something, and the Commits that made them durable
// (one write-ahead-log sync each when the store syncs). Updates/Commits is
// how many writes shared a sync.
type CommitStats struct {
	Updates, Commits uint64
}

// Committer is implemented by stores that group-commit (badger); node
// exports its numbers as metrics.
type Committer interface {
	CommitStats() CommitStats
}

// Store is a replica's local ordered byte store.
//
// All methods are safe for concurrent use and may block on disk I/O. Slices
// returned to the caller are owned by the caller; the store keeps no slice the
// caller passes in once a call returns. See the package documentation for the
// full contract, including durability.
type Store interface {
	// Get returns a copy of key's value, or ErrNotFound if key is absent.
	// A present key with an empty value returns a non-nil empty slice.
	Get(ctx context.Context, key []byte) ([]byte, error)

	// Update atomically reads key, calls fn(old, found) and stores fn's
	// result. old is a copy owned by fn (nil when found is false). fn's result
	// is stored as is (nil stores an empty value) and may be reused by the
	// caller after Update returns. fn may instead return ErrSkipWrite (write
	// nothing) or ErrDeleteKey (delete key); Update then returns nil. Any other
	// error from fn aborts the Update with nothing written and is returned
	// unchanged. If fn panics, nothing is written and Update returns an error
	// wrapping ErrPanic; the store keeps working.
	//
	// Concurrent Updates of the same key are serialized: none is lost. fn may
	// be called more than once (on retry), so it must be pure, and it must not
	// call methods of this Store (that may deadlock). When the store is
	// durable, Update returns nil only after the write is fsynced. If the
	// write may have been applied but could not be made durable, Update
	// returns an error wrapping ErrNotDurable and the store fails: every
	// later Update returns ErrNotDurable too (without calling fn, so even an
	// fn that would return ErrSkipWrite gets an error) until it is reopened.
	Update(ctx context.Context, key []byte, fn func(old []byte, found bool) ([]byte, error)) error

	// Scan calls fn for each key in [start, end) in ascending byte order over
	// a snapshot taken when Scan starts. A nil or empty start means from the
	// first key; a nil or empty end means no upper bound. k and v are valid only during
	// that call of fn and must not be modified; copy them to keep them. fn may
	// call Get and Update on this Store (not Close, which waits for the scan);
	// those writes are not visible to the running scan. If fn returns an error, Scan stops and returns it
	// unchanged.
	Scan(ctx context.Context, start, end []byte, fn func(k, v []byte) error) error

	// Close releases the store. It is idempotent: later calls return nil.
	// Every other method called after Close returns ErrClosed.
	Close() error
}

// GCer is implemented by stores that need periodic garbage collection (badger's
// value log). node calls RunGC on a ticker. RunGC returns nil when there is
// nothing (more) to collect, and ErrNotDurable once the store has failed (GC
// rewrites data, which a failed store must not do).
type GCer interface {
	RunGC(ctx context.Context) error
}

// Syncer is implemented by stores that can flush all buffered writes to stable
// storage on demand (useful when Update itself does not sync). A Sync error
// wraps ErrNotDurable and fails the store, as for Update; once the store has
// failed, Sync returns ErrNotDurable.
type Syncer interface {
	Sync() error
}

// Sizer is implemented by stores that can report their footprint, for metrics:
// lsm is the bytes held by the ordered index (tables and write-ahead logs),
// vlog the bytes held by a separate value log. Both are estimates.
type Sizer interface {
	Size() (lsm, vlog int64)
}

// DiskSpace is the state of the filesystem a store keeps its files on.
type DiskSpace struct {
	// Free is the bytes an unprivileged writer may still use there.
	Free int64
	// Reserve is the free space the store keeps for itself: below it,
	// Updates that would store data are refused with ErrNoSpace.
	Reserve int64
	// Full reports that data writes are being refused: since a write
	// did not fit above the reserve or Free fell below it, and until
	// Free is back above it with some margin (an implementation's
	// choice, so the state does not flap).
	Full bool
	// Total is the filesystem's size (0 when unknown), for the share of
	// it that is free (deploy/prometheus/alerts.yml's disk alerts).
	Total int64
}

// DiskReporter is implemented by stores on a filesystem that keep a free
// space reserve (badger); node exports its numbers as metrics and on
// /health. DiskSpace measures now (a statfs, cheap); it is safe for
// concurrent use.
type DiskReporter interface {
	DiskSpace() (DiskSpace, error)
}
