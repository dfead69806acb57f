//go:build linux || darwin

package badger

import (
	"io/fs"
	"syscall"
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
