//go:build !linux && !darwin

package badger

import (
	"io/fs"

	"github.com/dynago/dynago/storage"
)

// allocated returns a file's apparent size where block counts are not
// available; for badger's sparse files this overstates usage.
func allocated(fi fs.FileInfo) int64 { return fi.Size() }

// DiskSpace implements storage.SpaceReporter; without statfs it reports
// ok=false.
func (s *Store) DiskSpace() (storage.DiskSpace, bool) { return storage.DiskSpace{}, false }
