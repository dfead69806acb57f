// Package logflood rate-limits repeated log lines: a slog.Handler that
// passes the first line of each cause per interval and drops the rest,
// then reports how many it dropped on the next line of that cause it
// passes (attribute "suppressed").
//
// # What it is for
//
// Log lines a remote party can cause (memberlist's complaint about every
// junk UDP packet, a refused or broken connection) would otherwise let
// anyone who can reach a port fill the disk and bury the lines that
// matter. Wrap the logger of such sources only: lines of events that
// differ in their attributes alone (a member joined, another left) would
// be merged.
//
// # What it must not do
//
// It reads no clock itself (the caller passes one: the node's steady
// clock) and starts no goroutine: a count is reported when its cause next
// logs, never on a timer.
//
// # Invariants
//
//   - The cause of a line is its level and message with every run of
//     digits (ports, addresses, counts, offsets) made one '#', cut to
//     causeLen bytes.
//   - At most one line per cause per interval is passed; every dropped
//     line is counted in the next passed line of its cause.
//   - At most maxCauses causes are remembered; past that the table is
//     reset (a flood of distinct causes then passes one line each, per
//     reset), so memory stays bounded.
//
// # Use
//
//	quiet := slog.New(logflood.New(log.Handler(), 10*time.Second, clock.Steady))
package logflood

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// causeLen bounds the part of a message that names its cause: enough
	// for memberlist's and net/http's messages, short enough that a cause
	// costs little.
	causeLen = 120
	// maxCauses bounds the causes remembered.
	maxCauses = 1024
)

// Handler is a rate-limiting slog.Handler. Handlers derived from it
// (WithAttrs, WithGroup) share its table. Safe for concurrent use.
type Handler struct {
	next slog.Handler
	st   *state
}

type state struct {
	dropped  atomic.Uint64
	interval time.Duration
	now      func() time.Time
	mu       sync.Mutex
	causes   map[string]*cause
}

type cause struct {
	last       time.Time
	suppressed int
}

// New returns a handler passing to next at most one line per cause per
// interval; now is the clock it reads (monotonic readings).
func New(next slog.Handler, interval time.Duration, now func() time.Time) *Handler {
	return &Handler{next: next, st: &state{interval: interval, now: now, causes: map[string]*cause{}}}
}

// Dropped is how many lines h and the handlers derived from it dropped.
func (h *Handler) Dropped() uint64 { return h.st.dropped.Load() }

// Enabled reports whether next handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r to next unless a line of its cause was passed less than
// the interval ago.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	key := causeOf(r.Level, r.Message)
	now := h.st.now()
	h.st.mu.Lock()
	c, ok := h.st.causes[key]
	if ok && now.Sub(c.last) < h.st.interval {
		c.suppressed++
		h.st.mu.Unlock()
		h.st.dropped.Add(1)
		return nil
	}
	if !ok {
		if len(h.st.causes) >= maxCauses {
			clear(h.st.causes)
		}
		c = &cause{}
		h.st.causes[key] = c
	}
	dropped := c.suppressed
	c.last, c.suppressed = now, 0
	h.st.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("suppressed", dropped))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler with attrs that shares h's table.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), st: h.st}
}

// WithGroup returns a handler with a group that shares h's table.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), st: h.st}
}

// causeOf is the cause of a line: its level and its message with digit
// runs folded, cut to causeLen bytes.
func causeOf(level slog.Level, msg string) string {
	var b strings.Builder
	b.WriteString(level.String())
	b.WriteByte(' ')
	digits := false
	for i := 0; i < len(msg) && b.Len() < causeLen; i++ {
		ch := msg[i]
		if ch >= '0' && ch <= '9' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteByte(ch)
	}
	return b.String()
}
