package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynago/dynago/node/backup"
)

// Bad usage of backup and restore exits 2 and sends nothing; a file that
// is not a usable backup exits 1 before anything is sent (the process
// tests in test/backup_test.go run both against real agents).
func TestBackupRestoreUsage(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.bak")
	if err := os.WriteFile(junk, []byte("not a backup at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Framing and checksums intact, but the state is not a replica state
	// (a backup written by something else): refused before sending.
	badState := filepath.Join(dir, "badstate.bak")
	var buf bytes.Buffer
	w, err := backup.NewWriter(&buf, backup.Header{Scope: "node"})
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Write(backup.Record{Key: []byte("k"), State: []byte{0xff, 0x00}})
	_ = w.Close()
	if err := os.WriteFile(badState, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"backup without --out", []string{"backup"}, 2, "--out FILE is required"},
		{"backup with argument", []string{"backup", "--out", "x", "y"}, 2, "unexpected argument"},
		{"restore without FILE", []string{"restore"}, 2, "missing argument"},
		{"restore two files", []string{"restore", "a", "b"}, 2, "unexpected argument"},
		{"restore --addr and --data-dir", []string{"restore", "--addr", "http://127.0.0.1:1", "--data-dir", dir, junk}, 2, "exclude each other"},
		{"restore --w with --data-dir", []string{"restore", "--w", "2", "--data-dir", dir, junk}, 2, "--w applies"},
		{"restore a missing file", []string{"restore", filepath.Join(dir, "nope.bak")}, 1, "no such file"},
		{"restore junk", []string{"restore", junk}, 1, "not a usable backup, nothing was written: backup: not a dynago backup"},
		{"restore a bad state", []string{"restore", badState}, 1, "not a usable backup, nothing was written: backup: corrupt: record 1 (key \"k\")"},
		{"restore a bad state into a data dir", []string{"restore", "--data-dir", dir, badState}, 1, "backup: corrupt: record 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			args := tc.args
			if args[0] == "restore" && !strings.Contains(strings.Join(args, " "), "--addr") && !strings.Contains(strings.Join(args, " "), "--data-dir") {
				args = append([]string{args[0], "--addr", f.URL()}, args[1:]...)
			}
			res := runCLI(t, "", args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			if !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q\n%s", tc.wantErr, res)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("sent %d requests", n)
			}
		})
	}
}
