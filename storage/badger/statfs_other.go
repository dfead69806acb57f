//go:build !linux && !darwin

package badger

import "errors"

// statfsFree is not available here: the disk reserve is off.
func statfsFree(string) (int64, error) {
	return 0, errors.New("badger: free space is not measurable on this system")
}
