//go:build linux || darwin

package badger

import "syscall"

// statfsFree returns the bytes an unprivileged writer may still use on the
// filesystem that holds dir (statfs's f_bavail: blocks reserved for root
// don't count, so a node running as root is not fooled by them). Bsize
// is int64 on linux and uint32 on darwin, hence the conversion.
func statfsFree(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// statfsTotal returns the size in bytes of the filesystem that holds dir.
func statfsTotal(dir string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Blocks) * int64(st.Bsize), nil
}
