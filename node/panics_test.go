package node

import (
	"context"
	"fmt"
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
	// Panics on many paths and methods: each answered 500 naming its
	// request, all counted under one series (a client's paths must not
	// grow the metric).
	before := testutil.CollectAndCount(n.metrics.panics)
	for i, method := range []string{"GET", "PUT", "FROB"} {
		rec := httptest.NewRecorder()
		path := fmt.Sprintf("/kv/key-%d", i)
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || !strings.Contains(rec.Body.String(), method+" "+path) {
			t.Fatalf("panicking handler answered %d %s", rec.Code, rec.Body)
		}
	}
	if got := testutil.ToFloat64(n.metrics.panics.WithLabelValues("http")); got != 3 {
		t.Fatalf("panics{http} = %v, want 3", got)
	}
	if got := testutil.CollectAndCount(n.metrics.panics); got != before+1 {
		t.Fatalf("3 HTTP panics on 3 paths made %d series of dynago_panics_total, want 1", got-before)
	}
}
