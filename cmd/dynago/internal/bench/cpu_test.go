package bench

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want uint64
		err  bool
	}{
		{"plain", "42 (dynago) S 1 42 42 0 -1 4194560 100 0 0 0 250 35 0 0 20 0 9 0 1000 1 1", 285, false},
		{"name with spaces and parens", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1", 7, false},
		{"truncated", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 3", 0, true},
		{"no name", "7 x R", 0, true},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u 4 0", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.line))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("parseStatCPU(%q) = %d, %v; want %d, error %v", tc.line, got, err, tc.want, tc.err)
			}
			if err != nil && !errors.Is(err, ErrBadStat) {
				t.Fatalf("error %v does not wrap ErrBadStat", err)
			}
		})
	}
}

// TestProcCPUGrows reads this process's own CPU time around a busy loop
// of at least 100 ms of CPU (10 clock ticks), so the reading must grow.
func TestProcCPUGrows(t *testing.T) {
	pids := []int{os.Getpid()}
	before, err := ProcCPU(pids)
	if err != nil {
		if os.Getenv("CI") != "" || runtime.GOOS == "linux" {
			t.Fatalf("reading /proc: %v", err) // CI runs on Linux: /proc is there
		}
		t.Skipf("no /proc here: %v", err)
	}
	// Spin until the process's own reading has moved at least 50 ms, or
	// fail after 10 s of wall time: a reading that never moves is the bug.
	deadline := time.Now().Add(10 * time.Second)
	var after time.Duration
	x := uint64(1)
	for {
		for i := 0; i < 1_000_000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if after, err = ProcCPU(pids); err != nil {
			t.Fatal(err)
		}
		if after-before >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU reading did not grow by 50ms in 10s of busy loop: %v -> %v (x=%d)", before, after, x)
		}
	}
	if _, err := ProcCPU([]int{os.Getpid(), 1 << 30}); err == nil {
		t.Fatal("ProcCPU of a pid that does not exist: no error")
	}
}
