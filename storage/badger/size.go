package badger

import (
	"os"
	"path/filepath"
)

// dirUsage sums the space used by badger's files in dir: tables (.sst) and
// memtable write-ahead logs (.mem) count as lsm, value-log files (.vlog) as
// vlog. Errors (a file removed mid-walk) just leave that file out.
func dirUsage(dir string) (lsm, vlog int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0
	}
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if ext != ".sst" && ext != ".mem" && ext != ".vlog" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		n := allocated(fi)
		if ext == ".vlog" {
			vlog += n
		} else {
			lsm += n
		}
	}
	return lsm, vlog
}
