package node

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/storage"
)

// clock is the node's time. It has two readings, and only one of them may
// decide anything:
//
//   - Steady is the node's own elapsed time: monotonic within a run (Go's
//     monotonic clock, which neither NTP steps nor the test skew move), and
//     carried across restarts by a checkpoint (steady and wall time, saved
//     every minute and at shutdown): a restart resumes from the checkpoint
//     plus the downtime its own wall clock measured. Every age that a
//     correctness rule reads is a difference of two Steady readings of the
//     same node: a hint's age (hint window), how long a tombstone has been
//     stored here and when exchanges confirmed it (reaping), transfer and
//     reclaim waits. No node ever compares its time with another's.
//   - Now is the wall clock plus an injectable offset (POST /debug/clock,
//     fault tests; libfaketime does not reach Go's clock). It dates logs
//     and debug views only.
//
// So correctness depends on clocks only through rates: each node's
// monotonic clock (CLOCK_BOOTTIME on Linux, which counts a suspend) runs
// at roughly the right speed, and a node's wall clock does not step
// backwards by more than reapMargin (twice --max-timeout plus a hint
// call) across the node's own downtime: the slack between the hint window
// and the least age of a reapable tombstone. A wall clock behind the last
// checkpoint is detected, and then every hint from before the restart is
// treated as past the hint window; a smaller step back while the node was
// down is not. Reaping's safety does not rest on these ages (see
// reapMinAge): they only pace it.
// It never depends on two nodes' clocks agreeing. Causality is tracked by
// dotted version vectors, never by timestamps.
type clock struct {
	src    Clock         // the time source (Config.Clock)
	offset atomic.Int64  // wall-clock skew for tests, nanoseconds
	start  time.Duration // src.Elapsed() when Steady was at base
	base   int64         // Steady at start, Unix nanoseconds
}

// Clock is where a node reads time; nothing under node reads the time
// any other way (test/arch_test.go's TestNodeWallClock). SystemClock is
// the machine's; a simulation passes one that runs on virtual time.
// Timers and tickers come from package time, which testing/synctest
// virtualizes itself.
type Clock interface {
	// Now is the wall clock. It dates logs and debug views, and measures
	// the downtime across a restart (see clock); it decides nothing else.
	Now() time.Time
	// Elapsed is monotonic time since an origin fixed for the process:
	// never steps, and counts time the machine spent suspended.
	Elapsed() time.Duration
}

// newClock returns a clock on src whose Steady starts at base.
func newClock(src Clock, base time.Time) *clock {
	return &clock{src: src, start: src.Elapsed(), base: base.UnixNano()}
}

// since is the Steady time elapsed since t (a Steady reading): for
// latencies and durations in logs.
func (c *clock) since(t time.Time) time.Duration { return c.Steady().Sub(t) }

// wallOf dates a Steady reading on the wall clock, for display.
func (c *clock) wallOf(steady time.Time) time.Time {
	return c.Now().Add(-c.Steady().Sub(steady))
}

// Now is the wall clock with the test offset: for display only.
func (c *clock) Now() time.Time { return c.src.Now().Add(time.Duration(c.offset.Load())) }

// Steady is the node's steady time (see clock): within a run it counts
// the source's Elapsed (CLOCK_BOOTTIME on Linux, which keeps counting
// through a suspend).
func (c *clock) Steady() time.Time {
	return time.Unix(0, c.base+int64(c.src.Elapsed()-c.start))
}

// metaSteady holds the steady clock's checkpoint: steady and wall time,
// Unix nanoseconds, 8 bytes each.
var metaSteady = storage.MetaKey("steady")

// steadyBase computes where Steady resumes at start from the checkpoint
// (steady, wall) and the wall clock now. gap is added when the wall clock
// is behind the checkpoint: the downtime is then unknown, and the node
// assumes it lasted longer than any window it measures (its hints from
// before are overdue, its tombstones as old as the reap wait; what keeps
// them from resurrecting anything is the reapers' confirmation, which
// reads no clock across nodes).
func steadyBase(ckptSteady, ckptWall, wallNow int64, gap time.Duration) int64 {
	down := wallNow - ckptWall
	if down < 0 {
		return ckptSteady + int64(gap)
	}
	return ckptSteady + down
}

// handleClock serves GET and POST /debug/clock (only with Config.TestClock).
// POST {"offset_ms": N} sets the skew; both answer the node's current time.
func (h *httpAPI) handleClock(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.TestClock {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "test_clock_off", Message: "start the node with --test-clock to skew its clock"})
		return
	}
	if r.Method == http.MethodPost {
		var body api.ClockRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&body); err != nil || body.OffsetMS == nil {
			writeError(w, badRequest("bad_body", `want {"offset_ms": N}`))
			return
		}
		h.clock.offset.Store(int64(time.Duration(*body.OffsetMS) * time.Millisecond))
		h.log.Warn("clock skewed for a test", "offset_ms", *body.OffsetMS)
	}
	writeJSON(w, http.StatusOK, api.Clock{
		Now:      h.clock.Now().Format(time.RFC3339Nano),
		OffsetMS: time.Duration(h.clock.offset.Load()).Milliseconds(),
	})
}

// faults are test-only fault injections (Config.TestFaults).
type faults struct {
	// dropTables makes the node ignore the ownership tables and staging
	// holds it receives through gossip and the claimant's push, as if
	// every push had been lost: it keeps placing by its own table.
	dropTables atomic.Bool
}

// syncFailer is a store that can fail its next write's sync on demand
// (storage/faulty's Store, which the agent wraps its store in with
// --test-faults).
type syncFailer interface{ FailNextSync() }

// handleFaults serves GET and POST /debug/faults (only with
// Config.TestFaults). POST {"drop_tables": bool} sets that fault, and
// {"fail_sync": true} fails the store's next write at its sync; both
// answer the current faults.
func (h *httpAPI) handleFaults(w http.ResponseWriter, r *http.Request) {
	if !h.cfg.TestFaults {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "test_faults_off", Message: "start the node with --test-faults to inject faults"})
		return
	}
	if r.Method == http.MethodPost {
		var body api.FaultsRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&body); err != nil || body.DropTables == nil && !body.FailSync {
			writeError(w, badRequest("bad_body", `want {"drop_tables": true|false} or {"fail_sync": true}`))
			return
		}
		if body.FailSync {
			f, ok := h.rep.store.(syncFailer)
			if !ok {
				writeError(w, &apiError{Status: http.StatusConflict, Code: "fault_unsupported", Message: "this node's store cannot fail a sync on demand (the agent wraps its store for that with --test-faults)"})
				return
			}
			f.FailNextSync()
			h.log.Warn("fault injected for a test: the next write fails at its sync")
		}
		if body.DropTables != nil {
			h.faults.dropTables.Store(*body.DropTables)
			h.log.Warn("fault injected for a test", "drop_tables", *body.DropTables)
		}
	}
	writeJSON(w, http.StatusOK, api.Faults{DropTables: h.faults.dropTables.Load(), StorageFailed: h.rep.storageErr.Load() != nil})
}

// faultFilter removes from a received state what an injected fault drops.
func (m *members) faultFilter(c membership.State) membership.State {
	if m.faults.dropTables.Load() {
		c.Table, c.Hold = nil, nil
	}
	return c
}
