package badger

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// removeEmptyLogs removes the empty (0-byte) memtable logs (.mem) and
// value logs (.vlog) of dir, which a crash between a log's creation and
// its first write leaves behind (the soak found one after a SIGKILL):
// they hold nothing, and badger v4.9.6 refuses to open a directory that
// has one (its z.NewFile sentinel taken for an error: badger issue #2207,
// fix proposed in PR #2331), so the node could not restart. It holds
// badger's directory lock while it looks (lockDir), so it never touches
// the files of a store another process has open: then it does nothing and
// badger's own open reports the lock.
func removeEmptyLogs(dir string, log *slog.Logger) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // missing: badger creates it; unreadable: badger says why
	}
	var empty []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(name, ".mem") && !strings.HasSuffix(name, ".vlog") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.Size() == 0 {
			empty = append(empty, name)
		}
	}
	if len(empty) == 0 {
		return nil
	}
	unlock, locked, err := lockDir(dir)
	if err != nil || !locked {
		return err
	}
	defer unlock()
	removed := 0
	for _, name := range empty {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
			continue // gone, or written since the listing
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("badger: remove the empty log %s a crash left: %w", path, err)
		}
		removed++
		if log != nil {
			log.Warn("removed an empty log file a crash left behind (it held nothing; badger would refuse to open the store)", "file", path)
		}
	}
	if removed > 0 {
		return syncDir(dir)
	}
	return nil
}

// syncDir makes dir's entries (a removal) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("badger: sync %s: %w", dir, err)
	}
	return nil
}
