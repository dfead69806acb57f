//go:build !linux

package node

// bootNanos is unavailable here: Steady falls back to Go's monotonic
// clock, which may not count a suspend.
func bootNanos() (int64, bool) { return 0, false }
