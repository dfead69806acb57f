//go:build !linux && !darwin

package badger

import "io/fs"

// allocated returns a file's apparent size where block counts are not
// available; for badger's sparse files this overstates usage.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }
