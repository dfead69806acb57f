package logflood

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	log := slog.New(New(slog.NewTextHandler(&out, nil), 10*time.Second, func() time.Time { return now })).With("component", "x")
	for i := range 100 {
		log.Error("memberlist: msg type (" + string(rune('0'+i%10)) + ") not supported from=127.0.0.1:" + strings.Repeat("9", i%5+1))
	}
	log.Warn("another cause")
	if got := strings.Count(out.String(), "\n"); got != 2 {
		t.Fatalf("%d lines within the interval, want 2 (one per cause):\n%s", got, out.String())
	}
	now = now.Add(10 * time.Second)
	log.Error("memberlist: msg type (7) not supported from=127.0.0.1:1")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[2], "suppressed=99") || !strings.Contains(lines[2], "component=x") {
		t.Fatalf("after the interval, want one line with suppressed=99:\n%s", out.String())
	}
}

func TestCauseOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   string
		levels [2]slog.Level
		same   bool
	}{
		{"ports differ", "failed from=10.0.0.1:123", "failed from=10.0.0.2:45678", [2]slog.Level{}, true},
		{"messages differ", "failed to decode", "failed to encode", [2]slog.Level{}, false},
		{"levels differ", "x", "x", [2]slog.Level{slog.LevelWarn, slog.LevelError}, false},
		{"long tails", strings.Repeat("a", causeLen) + "1", strings.Repeat("a", causeLen) + "2", [2]slog.Level{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := causeOf(tc.levels[0], tc.a) == causeOf(tc.levels[1], tc.b); got != tc.same {
				t.Fatalf("same cause: %v, want %v (%q, %q)", got, tc.same, causeOf(tc.levels[0], tc.a), causeOf(tc.levels[1], tc.b))
			}
		})
	}
}

func TestBoundedCauses(t *testing.T) {
	h := New(slog.DiscardHandler, time.Hour, func() time.Time { return time.Unix(0, 0) })
	log := slog.New(h)
	for i := range 3 * maxCauses {
		log.Info(strings.Repeat("x", i%200) + "y" + strings.Repeat("z", i/200))
	}
	if n := len(h.st.causes); n > maxCauses {
		t.Fatalf("%d causes remembered, want at most %d", n, maxCauses)
	}
}
