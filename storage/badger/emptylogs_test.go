package badger_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dynago/dynago/storage/badger"
)

// A crash between the creation of a memtable log or a value log and its
// first write leaves an empty file (the soak's SIGKILL did); badger
// v4.9.6 then refuses to open the directory ("while opening memtables
// err: while opening fid: 33 err: Create a new file"), so the node could
// not restart. Open removes such files (they hold nothing) and opens the
// store with its data; it touches nothing while another store has the
// directory open.
func TestOpenAfterCrashAtLogCreation(t *testing.T) {
	for _, name := range []string{"00099.mem", "000099.vlog"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := badger.Open(badger.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"a", "b", "c"} {
				set(t, st, k, "v"+k)
			}
			// Another store has the directory open: the empty file stays.
			empty := filepath.Join(dir, name)
			if err := os.WriteFile(empty, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if second, err := badger.Open(badger.Options{Dir: dir}); err == nil {
				second.Close()
				t.Fatal("a second Open succeeded while the first is open")
			}
			if _, err := os.Stat(empty); err != nil {
				t.Fatalf("the empty %s of an open store was touched: %v", name, err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			// The crash: the file is still empty (Close did not write it).
			if fi, err := os.Stat(empty); err != nil || fi.Size() != 0 {
				t.Fatalf("%s after Close: %v %v", name, fi, err)
			}
			st = open(t, badger.Options{Dir: dir})
			for _, k := range []string{"a", "b", "c"} {
				if v, err := st.Get(t.Context(), []byte(k)); err != nil || string(v) != "v"+k {
					t.Fatalf("Get(%q) after the reopen: %q %v", k, v, err)
				}
			}
			set(t, st, "d", "vd")
		})
	}
}
