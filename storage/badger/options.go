package badger

import (
	"errors"
	"fmt"
	"log/slog"
)

// Options configures a Store. The zero value of every tuning field means its
// default (see DefaultOptions); Dir or InMemory must be set.
type Options struct {
	// Dir is the database directory, created if missing. Required unless
	// InMemory; must be empty when InMemory.
	Dir string
	// InMemory keeps everything in memory (tests); nothing is durable.
	InMemory bool
	// NoSync lets an Update return before its batch is fsynced (badger
	// SyncWrites off): faster, but a crash may lose acknowledged writes.
	// The zero value syncs, so a store opened without thought is durable.
	NoSync bool
	// DiskReserve is the free space, in bytes, kept on the filesystem of
	// Dir: an Update that would store data past it is refused with
	// storage.ErrNoSpace and nothing written (deletes and metadata keys
	// are exempt; see space.go), and writes resume by themselves once
	// space is freed. Zero means the default; a negative value turns the
	// refusal off (free space is still measured). Ignored InMemory.
	DiskReserve int64
	// Logger receives badger's log lines: errors at Error, warnings at Warn,
	// info at Debug (badger is chatty), debug at Debug-4. nil discards them.
	Logger *slog.Logger

	// MemTableSize is the size of one memtable in bytes.
	MemTableSize int64
	// NumMemtables is how many memtables may exist at once.
	NumMemtables int
	// NumLevelZeroTables is the L0 table count that triggers compaction.
	NumLevelZeroTables int
	// NumLevelZeroTablesStall is the L0 table count at which writes stall.
	NumLevelZeroTablesStall int
	// BlockCacheSize is the size of the cache of decompressed table blocks.
	BlockCacheSize int64
	// IndexCacheSize is the size of the cache of table indexes and filters.
	IndexCacheSize int64
	// NumCompactors is the number of compaction goroutines; at least 2.
	NumCompactors int
	// NumGoroutines bounds the goroutines badger uses for streams and
	// iteration helpers.
	NumGoroutines int
	// ValueLogFileSize is the size of one value-log file, in [1 MiB, 2 GiB).
	ValueLogFileSize int64
	// BaseTableSize is the target size of an L1 table.
	BaseTableSize int64
}

const mib = 1 << 20

// DefaultOptions returns the tuning used when a field is zero. It is sized for
// 3-5 nodes sharing a 2-core machine; badger's own defaults cost about 86 MB of
// heap, 4 compactors and 8 goroutines per database (see DEPENDENCIES.md).
func DefaultOptions() Options {
	return Options{
		// 8 MiB: badger's 64 MiB default is most of its per-DB heap. It is
		// also the floor: badger's largest batch (15% of a memtable) must
		// hold its 1 MiB value threshold or Open fails.
		MemTableSize: 8 * mib,
		// 2: one memtable taking writes while the other is flushed.
		NumMemtables: 2,
		// 2: compact L0 early so a read checks few overlapping tables.
		NumLevelZeroTables: 2,
		// 8: stall writes before L0 runs away, late enough that two
		// compactors on two cores catch up without stalling bursts.
		NumLevelZeroTablesStall: 8,
		// 8 MiB: tables are Snappy-compressed, which needs a block cache;
		// the OS page cache serves the rest.
		BlockCacheSize: 8 * mib,
		// 4 MiB: bounds index and bloom-filter memory (badger's 0 keeps every
		// index in memory, growing with the data).
		IndexCacheSize: 4 * mib,
		// 2: badger needs at least 2 (one prefers L0); more would
		// oversubscribe two cores shared by several nodes.
		NumCompactors: 2,
		// 2: one per core.
		NumGoroutines: 2,
		// 64 MiB: files are mmapped at twice this size; smaller files keep
		// the address space small and let value-log GC reclaim space sooner.
		ValueLogFileSize: 64 * mib,
		// 1 MiB: tables sized to the small memtables, so each compaction is
		// short.
		BaseTableSize: 1 * mib,
		// 256 MiB: about twice what badger writes on its own once writes
		// are refused: filling its value-log file (64 MiB) and memtable logs
		// (2 files, each mapped at 16 MiB), flushing memtables to L0 tables
		// and compacting (new tables are written before the old are
		// deleted); its logs are mmapped sparse files, so running out there
		// is SIGBUS, not an error. Raise it for stores whose compactions
		// rewrite more.
		DiskReserve: 256 * mib,
	}
}

// withDefaults returns o with every zero tuning field set from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setDefault(&o.MemTableSize, d.MemTableSize)
	setDefault(&o.NumMemtables, d.NumMemtables)
	setDefault(&o.NumLevelZeroTables, d.NumLevelZeroTables)
	setDefault(&o.NumLevelZeroTablesStall, d.NumLevelZeroTablesStall)
	setDefault(&o.BlockCacheSize, d.BlockCacheSize)
	setDefault(&o.IndexCacheSize, d.IndexCacheSize)
	setDefault(&o.NumCompactors, d.NumCompactors)
	setDefault(&o.NumGoroutines, d.NumGoroutines)
	setDefault(&o.ValueLogFileSize, d.ValueLogFileSize)
	setDefault(&o.BaseTableSize, d.BaseTableSize)
	setDefault(&o.DiskReserve, d.DiskReserve)
	return o
}

func setDefault[T int | int64](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// Validate reports options that Open would reject, after zero fields take
// their defaults.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("badger: options: "+format, args...))
		}
	}
	check(o.InMemory && o.Dir != "", "Dir must be empty when InMemory is set")
	check(!o.InMemory && o.Dir == "", "Dir is required unless InMemory is set")
	check(o.MemTableSize < 8*mib, "MemTableSize %d is below 8 MiB (badger's batch limit must hold its 1 MiB value threshold)", o.MemTableSize)
	check(o.NumMemtables < 1, "NumMemtables %d must be at least 1", o.NumMemtables)
	check(o.NumLevelZeroTables < 1, "NumLevelZeroTables %d must be at least 1", o.NumLevelZeroTables)
	check(o.NumLevelZeroTablesStall <= o.NumLevelZeroTables,
		"NumLevelZeroTablesStall %d must exceed NumLevelZeroTables %d", o.NumLevelZeroTablesStall, o.NumLevelZeroTables)
	check(o.BlockCacheSize < 0, "BlockCacheSize %d is negative", o.BlockCacheSize)
	check(o.IndexCacheSize < 0, "IndexCacheSize %d is negative", o.IndexCacheSize)
	check(o.NumCompactors < 2, "NumCompactors %d must be at least 2 (badger needs one for L0 and one for the rest)", o.NumCompactors)
	check(o.NumGoroutines < 1, "NumGoroutines %d must be at least 1", o.NumGoroutines)
	check(o.ValueLogFileSize < mib || o.ValueLogFileSize >= 2<<30,
		"ValueLogFileSize %d must be in [1 MiB, 2 GiB)", o.ValueLogFileSize)
	check(o.BaseTableSize < 1, "BaseTableSize %d must be positive", o.BaseTableSize)
	return errors.Join(errs...)
}
