package sim

import "github.com/dynago/dynago/test/jepsen/history"

// Known bugs: dynago defects the simulator found and that are not fixed
// yet. A finding one of them explains is reported (Result.Known, and the
// claim's Known) but fails a run only with Options.Strict (-sim.strict),
// so CI stays a test of everything else while they are open. Each has the
// seed that shows it; doc.go's "Findings" describes them.
//
// Fixed: hint-expiry (a write acknowledged by fallbacks alone was lost
// when their hints expired); hints no longer expire, and TestSimHintWindow
// is its regression test (doc.go, Findings).
const (
	// KnownReadRepairTombstones: read repair copies a key's merged state
	// to every primary that lacks part of it, tombstones included, with
	// no regard for reaping: a replica that has reaped the tombstone (as
	// it may once every replica confirmed it) gets it back as a new one
	// (fresh stored-at, the whole wait again), and while it waits the
	// others reap theirs and an exchange within the grace copies its
	// young copy back to them. A deleted key that clients keep reading
	// keeps its tombstone for as long as they do. Anti-entropy alone
	// does not do this (it copies no tombstone older than the grace to a
	// replica that has nothing): the harness reads only keys whose
	// replicas differ in more than tombstones, unless ReadReaping
	// (-sim.read-reaping), with which seed 962 keeps 15 tombstones for
	// the whole convergence wait, as do most seeds with short windows.
	KnownReadRepairTombstones = "read-repair-tombstones: read repair copies reaped tombstones back, so a deleted key that is read never drains"
)

// explain returns the known bug that explains an invalid claim, or "".
// raw is the recorded history. No open known bug explains a claim:
// KnownReadRepairTombstones shows as a problem (tombstones that never
// drain), not as an invalid claim.
func (r *run) explain(c Claim, raw []history.Op) string {
	return ""
}
