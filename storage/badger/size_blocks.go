//go:build linux || darwin

package badger

import (
	"io/fs"
	"syscall"

	"github.com/dynago/dynago/storage"
)

// allocated returns the bytes a file occupies on disk. Badger's active .vlog
// and .mem files are sparse mmaps far larger than their data, so the apparent
// size would overstate usage.
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512 // st_blocks is in 512-byte units
	}
	return fi.Size()
}

// DiskSpace implements storage.SpaceReporter: statfs of the store's
// directory. An in-memory store reports ok=false.
func (s *Store) DiskSpace() (storage.DiskSpace, bool) {
	if s.inMemory {
		return storage.DiskSpace{}, false
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.dir, &st); err != nil {
		return storage.DiskSpace{}, false
	}
	bs := uint64(st.Bsize)
	return storage.DiskSpace{Avail: st.Bavail * bs, Total: st.Blocks * bs}, true
}
