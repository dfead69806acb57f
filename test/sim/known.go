package sim

import "github.com/dynago/dynago/test/jepsen/history"

// Known bugs: dynago defects the simulator found and that are not fixed
// yet. A finding one of them explains is reported (Result.Known, and the
// claim's Known) but fails a run only with Options.Strict (-sim.strict),
// so CI stays a test of everything else while they are open. Each has the
// seed that shows it; doc.go's "Findings" describes them.
//
// None is open. Fixed: hint-expiry (a write acknowledged by fallbacks
// alone was lost when their hints expired; hints no longer expire, and
// TestSimHintWindow is its regression test) and read-repair-tombstones
// (read repair copied reaped tombstones back, so a deleted key that kept
// being read never drained; quorum.Stale no longer counts a replica with
// nothing as stale for a tombstone, and TestSimReadRepairTombstones is its
// regression test). doc.go's Findings describes both. A new one gets a
// constant here, a branch in explain and a reproduction test.

// explain returns the known bug that explains an invalid claim, or "".
// raw is the recorded history. No known bug is open, so none explains a
// claim.
func (r *run) explain(c Claim, raw []history.Op) string {
	return ""
}
