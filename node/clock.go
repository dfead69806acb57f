package node

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// clock is the node's wall clock with an injectable offset, so fault tests
// can skew one node's clock (libfaketime does not reach Go's clock). No
// correctness decision in dynago reads the wall clock: causality is tracked
// by dotted version vectors, never by timestamps; the clock dates logs and
// ages (of hints and tombstones, in later versions).
type clock struct{ offset atomic.Int64 } // nanoseconds

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// handleClock serves GET and POST /debug/clock (only with Config.TestClock).
// POST {"offset_ms": N} sets the skew; both answer the node's current time.
func (n *Node) handleClock(w http.ResponseWriter, r *http.Request) {
	if !n.cfg.TestClock {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "test_clock_off", Message: "start the node with --test-clock to skew its clock"})
		return
	}
	if r.Method == http.MethodPost {
		var body struct {
			OffsetMS *int64 `json:"offset_ms"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&body); err != nil || body.OffsetMS == nil {
			writeError(w, badRequest("bad_body", `want {"offset_ms": N}`))
			return
		}
		n.clock.offset.Store(int64(time.Duration(*body.OffsetMS) * time.Millisecond))
		n.log.Warn("clock skewed for a test", "offset_ms", *body.OffsetMS)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"now":       n.clock.Now().Format(time.RFC3339Nano),
		"offset_ms": time.Duration(n.clock.offset.Load()).Milliseconds(),
	})
}

// faults are test-only fault injections (Config.TestFaults).
type faults struct {
	// dropTables makes the node ignore the ownership tables and staging
	// holds it receives through gossip and the claimant's push, as if
	// every push had been lost: it keeps placing by its own table.
	dropTables atomic.Bool
}

// handleFaults serves GET and POST /debug/faults (only with
// Config.TestFaults). POST {"drop_tables": bool} sets the fault; both
// answer the current faults.
func (n *Node) handleFaults(w http.ResponseWriter, r *http.Request) {
	if !n.cfg.TestFaults {
		writeError(w, &apiError{Status: http.StatusForbidden, Code: "test_faults_off", Message: "start the node with --test-faults to inject faults"})
		return
	}
	if r.Method == http.MethodPost {
		var body struct {
			DropTables *bool `json:"drop_tables"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<10)).Decode(&body); err != nil || body.DropTables == nil {
			writeError(w, badRequest("bad_body", `want {"drop_tables": true|false}`))
			return
		}
		n.faults.dropTables.Store(*body.DropTables)
		n.log.Warn("fault injected for a test", "drop_tables", *body.DropTables)
	}
	writeJSON(w, http.StatusOK, map[string]any{"drop_tables": n.faults.dropTables.Load()})
}

// faultFilter removes from a received state what an injected fault drops.
func (n *Node) faultFilter(c clusterState) clusterState {
	if n.faults.dropTables.Load() {
		c.Table, c.Hold = nil, nil
	}
	return c
}
