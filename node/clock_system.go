package node

import "time"

// SystemClock is the machine's clock: the wall clock, and CLOCK_BOOTTIME
// (Go's monotonic clock where there is none) for Elapsed. It is the only
// code under node that reads the time directly.
type SystemClock struct{}

// processStart anchors Elapsed where CLOCK_BOOTTIME is unavailable.
var processStart = time.Now()

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// Elapsed returns CLOCK_BOOTTIME where there is one (it keeps counting
// while the machine is suspended), else Go's monotonic time since the
// process started.
func (SystemClock) Elapsed() time.Duration {
	if ns, ok := bootNanos(); ok {
		return time.Duration(ns)
	}
	return time.Since(processStart)
}
