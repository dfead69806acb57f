package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newPanicNode(t *testing.T) *Node {
	t.Helper()
	n := &Node{cfg: Config{Name: "p"}, log: testLogger(t), metrics: newMetrics()}
	n.recoverer = recoverer{log: n.log, metrics: n.metrics}
	n.web = &httpAPI{recoverer: n.recoverer, cfg: &n.cfg}
	n.bgCtx, n.bgCancel = context.WithCancel(t.Context())
	t.Cleanup(n.bgCancel)
	return n
}

// A panic in a task, a loop or a handler is recovered, logged and counted;
// it never ends the process.
func TestPanicsRecovered(t *testing.T) {
	n := newPanicNode(t)
	err := n.safely("task", func() error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("safely returned %v", err)
	}
	if got := testutil.ToFloat64(n.metrics.panics.WithLabelValues("task")); got != 1 {
		t.Fatalf("panics{task} = %v, want 1", got)
	}

	// A loop that panics twice is restarted until it returns.
	var runs atomic.Int32
	n.supervise(n.bgCtx, "loop", func() {
		if runs.Add(1) <= 2 {
			panic("loop bug")
		}
	})()
	if runs.Load() != 3 || testutil.ToFloat64(n.metrics.panics.WithLabelValues("loop")) != 2 {
		t.Fatalf("loop ran %d times, %v panics counted; want 3 and 2", runs.Load(), testutil.ToFloat64(n.metrics.panics.WithLabelValues("loop")))
	}

	h := n.web.recoverHTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("handler bug") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Fatalf("panicking handler answered %d %s", rec.Code, rec.Body)
	}
	if got := testutil.ToFloat64(n.metrics.panics.WithLabelValues("http GET /x")); got != 1 {
		t.Fatalf("panics{http} = %v", got)
	}
}
