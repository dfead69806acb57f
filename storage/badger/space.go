package badger

import (
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"

	"github.com/dynago/dynago/storage"
)

// entryOverhead is what one written key costs badger beyond its key and
// value bytes (its write-ahead-log header, checksum and version), rounded
// up, so a batch's estimate stays on the safe side.
const entryOverhead = 64

// spaceGuard keeps badger from ever meeting a full disk: the writer
// measures the free space of the store's filesystem (statfs, about a
// microsecond) before each batch, and refuses, with storage.ErrNoSpace
// and nothing written, every data write that would take it below the
// reserve. Badger writes its logs through mmapped sparse files, so a disk
// that really fills can surface as SIGBUS, not as an error; the reserve is
// the room badger's own work (memtable flushes, compactions, value-log GC)
// needs meanwhile.
//
// Once a write is refused, or the free space is found below the reserve,
// the guard refuses every data write (full) until the free space is back
// above the reserve by a quarter of it (resumeAt): so a disk that is full
// stays full for writes small and large, and the state does not flap
// with each write that fits or not (Elasticsearch's flood stage clears
// the same way, below a lower watermark).
//
// Exempt: deletes (small, and how space comes back) and the node's
// metadata keys (storage.PrefixMeta: a few small keys, written rarely,
// without which a node can neither start nor keep its clock).
type spaceGuard struct {
	dir     string
	reserve int64 // 0: measure only, never refuse
	log     *slog.Logger
	// statfs is statfsFree; this package's tests replace it.
	statfs func(dir string) (int64, error)

	free atomic.Int64 // the last measure (bytes), or -1 before the first
	full atomic.Bool  // refusing data writes (see above)
}

// resumeAt is the free space at which a full guard accepts writes again.
func (g *spaceGuard) resumeAt() int64 { return g.reserve + g.reserve/4 }

// setFull enters or leaves the full state, logging the change.
func (g *spaceGuard) setFull(full bool, free int64) {
	if g.full.Swap(full) == full || g.log == nil {
		return
	}
	if full {
		g.log.Error("disk at its free space reserve: refusing writes until space is freed (reads go on)",
			"dir", g.dir, "free_bytes", free, "reserve_bytes", g.reserve, "resume_at_bytes", g.resumeAt())
	} else {
		g.log.Info("disk above its free space reserve again: writes resume", "dir", g.dir, "free_bytes", free, "reserve_bytes", g.reserve)
	}
}

func newSpaceGuard(dir string, reserve int64, log *slog.Logger) *spaceGuard {
	g := &spaceGuard{dir: dir, reserve: max(reserve, 0), log: log, statfs: statfsFree}
	g.free.Store(-1)
	return g
}

// measure reads the free space now, records it, and enters the full
// state below the reserve or leaves it at resumeAt.
func (g *spaceGuard) measure() (int64, error) {
	free, err := g.statfs(g.dir)
	if err != nil {
		return 0, err
	}
	g.free.Store(free)
	switch {
	case free < g.reserve:
		g.setFull(true, free)
	case free >= g.resumeAt():
		g.setFull(false, free)
	}
	return free, nil
}

// budget is the bytes a batch may write before the reserve, measured now.
// When the free space can't be measured it is unlimited: badger then
// reports a full disk itself.
func (g *spaceGuard) budget() int64 {
	free, err := g.measure()
	if err != nil || g.reserve == 0 {
		return math.MaxInt64
	}
	return free - g.reserve
}

// take charges a write of key and value to budget, or refuses it with an
// error wrapping storage.ErrNoSpace.
func (g *spaceGuard) take(budget *int64, key, value []byte) error {
	if len(key) > 0 && key[0] == storage.PrefixMeta {
		return nil
	}
	need := int64(len(key)+len(value)) + entryOverhead
	if g.full.Load() || need > *budget {
		g.setFull(true, g.free.Load())
		return fmt.Errorf("%w: badger: %s has %d bytes free and keeps %d in reserve (--disk-reserve); nothing was written; writes resume once space is freed",
			storage.ErrNoSpace, g.dir, g.free.Load(), g.reserve)
	}
	*budget -= need
	return nil
}

// DiskSpace measures the free space of the store's filesystem now; see
// storage.DiskReporter. In memory there is no disk: it returns an error.
func (s *Store) DiskSpace() (storage.DiskSpace, error) {
	if s.space == nil {
		return storage.DiskSpace{}, fmt.Errorf("badger: an in-memory store has no disk")
	}
	free, err := s.space.measure()
	if err != nil {
		return storage.DiskSpace{}, fmt.Errorf("badger: statfs %s: %v", s.dir, err)
	}
	total, _ := statfsTotal(s.dir) // 0, unknown, on an error: only a share in alerts uses it
	return storage.DiskSpace{Free: free, Reserve: s.space.reserve, Full: s.space.full.Load(), Total: total}, nil
}
