package badger_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynago/dynago/storage/badger"
)

// A table file (.sst) the MANIFEST lists whose footer is garbled or cut
// short made badger v4.9.6 panic in a goroutine of its Open (a slice out
// of range in table.initIndex), killing the process with a stack trace:
// the node neither served nor said what was wrong. Open now refuses such a
// store with an error naming the file and what to do; a store whose
// tables are whole still opens.
func TestOpenRefusesCorruptTable(t *testing.T) {
	corruptions := []struct {
		name string
		mess func(b []byte) []byte
	}{
		{"garbled footer", func(b []byte) []byte {
			for i := len(b) - 4; i < len(b); i++ {
				b[i] = 0xff
			}
			return b
		}},
		{"garbled index", func(b []byte) []byte {
			for i := len(b) / 2; i < len(b)-8; i++ {
				b[i] ^= 0x5a
			}
			return b
		}},
		{"cut in half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"all garbage", func(b []byte) []byte {
			for i := range b {
				b[i] = byte(i*7 + 3)
			}
			return b
		}},
		{"empty", func([]byte) []byte { return nil }},
	}
	for _, tc := range corruptions {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := badger.Open(badger.Options{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				set(t, st, strings.Repeat("k", i%50+1)+string(rune('a'+i%26)), strings.Repeat("v", 100))
			}
			if err := st.Close(); err != nil { // flushes the memtable to a table
				t.Fatal(err)
			}
			tables, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
			if len(tables) == 0 {
				t.Fatal("no table file after Close")
			}
			// Whole tables: the store opens.
			st, err = badger.Open(badger.Options{Dir: dir})
			if err != nil {
				t.Fatalf("Open of a whole store: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(tables[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tables[0], tc.mess(b), 0o644); err != nil {
				t.Fatal(err)
			}
			st, err = badger.Open(badger.Options{Dir: dir})
			if err == nil {
				st.Close()
				t.Fatalf("Open with %s %s succeeded", tc.name, tables[0])
			}
			if msg := err.Error(); !strings.Contains(msg, filepath.Base(tables[0])) || !strings.Contains(msg, "corrupt") {
				t.Fatalf("Open with %s: %v; want an error naming %s and saying it is corrupt", tc.name, err, filepath.Base(tables[0]))
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}
