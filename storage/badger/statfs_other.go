//go:build !linux && !darwin

package badger

import "errors"

// statfsFree is not available here: the disk reserve is off.
func statfsFree(string) (int64, error) {
	return 0, errors.New("badger: free space is not measurable on this system")
}

// statfsTotal is not available here: the size is reported as unknown (0).
func statfsTotal(string) (int64, error) { return 0, nil }
