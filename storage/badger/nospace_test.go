package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/dynago/dynago/storage"
)

// A commit that meets a full disk (badger wraps ENOSPC) is reported as
// storage.ErrNoSpace, so the node answers 507, and fails the store as any
// failed commit does (its write may be partly applied).
func TestCommitNoSpace(t *testing.T) {
	st := openInternal(t, Options{Dir: t.TempDir()})
	st.testFault = func(op string) error {
		if op == "commit" {
			return fmt.Errorf("write vlog: %w", syscall.ENOSPC)
		}
		return nil
	}
	err := st.Update(context.Background(), []byte("k"), setTo("v"))
	if !errors.Is(err, storage.ErrNoSpace) || !errors.Is(err, storage.ErrNotDurable) {
		t.Fatalf("Update on a full disk = %v, want ErrNoSpace and ErrNotDurable", err)
	}
	if errors.Is(err, syscall.ENOSPC) {
		t.Errorf("%v wraps the engine's error; it must carry only its message", err)
	}
}

func TestOpenRefusesForeignDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string
		foreign bool
	}{
		{"empty", nil, false},
		{"lost+found and dotfiles", []string{"lost+found/", ".keep"}, false},
		{"someone's files", []string{"notes.txt", "photos/"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				p := filepath.Join(dir, f)
				if strings.HasSuffix(f, "/") {
					if err := os.Mkdir(p, 0o755); err != nil {
						t.Fatal(err)
					}
				} else if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			st, err := Open(Options{Dir: dir})
			if err == nil {
				st.Close()
			}
			if got := errors.Is(err, ErrForeignDir); got != tc.foreign {
				t.Fatalf("Open: %v; foreign %v, want %v", err, got, tc.foreign)
			}
			if !tc.foreign && err != nil {
				t.Fatal(err)
			}
		})
	}
	// A store reopens: its MANIFEST is there.
	dir := t.TempDir()
	for range 2 {
		st, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatalf("reopen a store: %v", err)
		}
		st.Close()
	}
}
