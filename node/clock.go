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
