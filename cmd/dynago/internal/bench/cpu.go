package bench

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of utime and stime in
// /proc/PID/stat. It is 100 on every Linux architecture Go supports
// (sysconf(_SC_CLK_TCK) would need cgo to ask).
const clockTicks = 100

// ProcCPU returns the CPU time (user + system, every thread) the processes
// pids have used so far, from /proc/PID/stat. The resolution is 10 ms per
// process. It fails when a process does not exist (or on a system
// without /proc): a CPU figure over a process that died is meaningless.
func ProcCPU(pids []int) (time.Duration, error) {
	var ticks uint64
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return 0, fmt.Errorf("bench: cpu of pid %d: %w", pid, err)
		}
		t, err := parseStatCPU(b)
		if err != nil {
			return 0, fmt.Errorf("bench: cpu of pid %d: %w", pid, err)
		}
		ticks += t
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// parseStatCPU returns utime + stime (fields 14 and 15, in clock ticks)
// of a /proc/PID/stat line. The command name (field 2) is in parentheses
// and may itself hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStatCPU(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no ')' in /proc stat line", ErrBadStat)
	}
	// After ") " come field 3 (state) onwards; utime is field 14.
	f := bytes.Fields(b[i+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("%w: %d fields after the command name", ErrBadStat, len(f))
	}
	u, err := strconv.ParseUint(string(f[utime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: utime: %v", ErrBadStat, err)
	}
	s, err := strconv.ParseUint(string(f[stime]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: stime: %v", ErrBadStat, err)
	}
	return u + s, nil
}

// ErrBadStat is wrapped when a /proc/PID/stat line cannot be parsed.
var ErrBadStat = fmt.Errorf("bench: malformed /proc/PID/stat")
