package node

import (
	"github.com/dynago/dynago/storage"
)

// A full disk (README "Disk full"). The store keeps a free space reserve
// (storage/badger's DiskReserve) and refuses data writes below it with an
// error wrapping storage.ErrNoSpace, writing nothing; reads go on, and
// writes succeed again once space is freed, with no restart. The node
// reports it: the coordinator's own refusal is a *WriteFailedError, a
// replica's comes back to the coordinator as a refusal (wire.ApplyNoSpace,
// not an error text) and a write that misses its quorum for it is a
// *QuorumError naming those replicas (DiskFull); httperr.go answers both
// 507 disk_full, resperr.go DISKFULL (or INDETERMINATE when some replica
// stored the write). The free space and the refusing state are metrics
// (metrics.go, watchDisk) and on /health.

// diskFullWarning is /health's warning while the disk is below its reserve.
const diskFullWarning = "the data directory's disk is below its free space reserve: writes are refused (507 disk_full) until space is freed; reads go on"

// diskSpace measures the free space of the store's filesystem; false when
// the store has no disk (in memory) or can't tell.
func (r *replica) diskSpace() (storage.DiskSpace, bool) {
	d, ok := r.store.(storage.DiskReporter)
	if !ok {
		return storage.DiskSpace{}, false
	}
	ds, err := d.DiskSpace()
	return ds, err == nil
}
