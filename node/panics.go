package node

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// Panics. A panic is a bug, but one request or one background task must
// not take the node (and every replica it holds) down with it, and it must
// never pass silently: every goroutine node starts runs its work through
// safely or supervise, which recover the panic, log it with its stack and
// count it (dynago_panics_total{where}). The storage writer recovers panics
// in update functions itself (storage.ErrPanic); net/http's own recovery
// is replaced by the same middleware (http.go), so HTTP panics are counted
// too and answer 500 with a JSON body.

// recoverer logs and counts recovered panics; the node and each of its
// services embed one.
type recoverer struct {
	log     *slog.Logger
	metrics *metrics
}

// supervise returns a function that runs loop until the node stops,
// restarting it a second after a panic (logged and counted), so a bug in
// one background loop neither kills the process nor silently stops the
// loop's work for good.
func (g *recoverer) supervise(ctx context.Context, where string, loop func()) func() {
	return func() {
		for {
			ok := g.safely(where, func() error { loop(); return nil }) == nil
			if ok || ctx.Err() != nil {
				return
			}
			if sleepCtx(ctx, time.Second) != nil {
				return
			}
		}
	}
}

// recovered logs and counts a recovered panic and returns it as an error.
// where is a fixed name (a loop, a service): it is the metric's label.
func (g *recoverer) recovered(where string, v any) error { return g.recoveredAs(where, where, v) }

// recoveredAs is recovered for a panic whose where names what a client
// sent (an HTTP path, a command): label, from a fixed set, is what the
// metric counts it under, so a client cannot grow the metric's series;
// where, logged and returned, says exactly what it was.
func (g *recoverer) recoveredAs(label, where string, v any) error {
	g.metrics.panics.WithLabelValues(label).Inc()
	g.log.Error("BUG: recovered from a panic; please report it", "where", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	return fmt.Errorf("node: %s: recovered from a panic: %v", where, v)
}

// safely runs f, turning a panic into an error (logged and counted).
func (g *recoverer) safely(where string, f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = g.recovered(where, v)
		}
	}()
	return f()
}

// guard, deferred at the top of a goroutine with no result to return,
// recovers a panic (logged and counted) so the goroutine ends alone.
func (g *recoverer) guard(where string) {
	if v := recover(); v != nil {
		_ = g.recovered(where, v)
	}
}
