package badger

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestSlogAdapter(t *testing.T) {
	tests := []struct {
		name      string
		call      func(a slogAdapter)
		wantLevel string
		wantMsg   string
	}{
		{"error", func(a slogAdapter) { a.Errorf("disk %s\n", "full") }, "ERROR", "disk full"},
		{"warning", func(a slogAdapter) { a.Warningf("slow %d", 3) }, "WARN", "slow 3"},
		{"info goes to debug", func(a slogAdapter) { a.Infof("All %d tables opened\n\n", 0) }, "DEBUG", "All 0 tables opened"},
		{"debug goes below debug", func(a slogAdapter) { a.Debugf("compaction %v\n", true) }, "DEBUG-4", "compaction true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug - 4,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			tc.call(slogAdapter{slog.New(h)})
			want := "level=" + tc.wantLevel + " msg=" + quoteIfNeeded(tc.wantMsg) + "\n"
			if buf.String() != want {
				t.Fatalf("logged %q, want %q", buf.String(), want)
			}
		})
	}
}

func TestSlogAdapterHonoursLevel(t *testing.T) {
	var buf bytes.Buffer
	a := slogAdapter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	a.Infof("quiet")
	a.Debugf("quieter")
	if buf.Len() != 0 {
		t.Fatalf("an Info-level logger printed badger info/debug lines: %q", buf.String())
	}
	a.Warningf("loud")
	if !strings.Contains(buf.String(), "msg=loud") {
		t.Fatalf("warning missing: %q", buf.String())
	}
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " =\"") {
		return `"` + s + `"`
	}
	return s
}
