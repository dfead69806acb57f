//go:build linux || darwin || freebsd

package badger

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes badger's directory lock (an exclusive flock on the
// directory itself, as badger's acquireDirectoryLock takes it) without
// blocking: locked is false when another store holds it.
func lockDir(dir string) (unlock func(), locked bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, fmt.Errorf("badger: open %s to lock it: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("badger: lock %s: %w", dir, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, true, nil
}
