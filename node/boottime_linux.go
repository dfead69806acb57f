package node

import "golang.org/x/sys/unix"

// bootNanos reads CLOCK_BOOTTIME: monotonic, and unlike Go's monotonic
// clock (CLOCK_MONOTONIC) it keeps counting while the machine is
// suspended, so a node's Steady clock ages hints and tombstones across a
// suspend too.
func bootNanos() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
