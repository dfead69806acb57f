package badger

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// levelBadgerDebug is where badger's Debugf lines go: below slog.LevelDebug,
// because badger's debug output is per-table and per-compaction chatter.
const levelBadgerDebug = slog.LevelDebug - 4

// slogAdapter routes badger's Logger interface to a *slog.Logger. Infof goes
// to Debug so a node at Info level stays quiet; trailing newlines (badger adds
// them) are trimmed.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Errorf(format string, args ...any) { a.log(slog.LevelError, format, args) }

func (a slogAdapter) Warningf(format string, args ...any) { a.log(slog.LevelWarn, format, args) }

func (a slogAdapter) Infof(format string, args ...any) { a.log(slog.LevelDebug, format, args) }

func (a slogAdapter) Debugf(format string, args ...any) { a.log(levelBadgerDebug, format, args) }

func (a slogAdapter) log(level slog.Level, format string, args []any) {
	ctx := context.Background()
	if !a.l.Enabled(ctx, level) {
		return // skip formatting what nobody will see
	}
	a.l.Log(ctx, level, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}
