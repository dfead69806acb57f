package badger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// Below the disk reserve a data write is refused with ErrNoSpace before
// badger sees it: nothing is written, the store does not fail (no
// ErrNotDurable), reads, deletes and metadata writes go on, and writes
// succeed again as soon as the free space is back above the reserve,
// with no reopen.
func TestReserveRefusesThenRecovers(t *testing.T) {
	const reserve = 1 << 20
	st := openInternal(t, Options{Dir: t.TempDir(), DiskReserve: reserve})
	var free atomic.Int64
	free.Store(reserve + 64<<10)
	st.space.statfs = func(string) (int64, error) { return free.Load(), nil }
	ctx := context.Background()
	data := []byte("d-key")
	if err := st.Update(ctx, data, setTo("before")); err != nil {
		t.Fatalf("Update above the reserve: %v", err)
	}
	// 32 KiB fit in the 64 KiB above the reserve; 40 KiB more do not.
	if err := st.Update(ctx, []byte("d-fits"), setTo(strings.Repeat("x", 32<<10))); err != nil {
		t.Fatalf("Update that fits above the reserve: %v", err)
	}
	err := st.Update(ctx, []byte("d-big"), setTo(strings.Repeat("x", 80<<10)))
	if !errors.Is(err, storage.ErrNoSpace) || errors.Is(err, storage.ErrNotDurable) {
		t.Fatalf("Update past the reserve = %v, want ErrNoSpace without ErrNotDurable", err)
	}
	if _, err := st.Get(ctx, []byte("d-big")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the refused write is there: Get = %v", err)
	}
	// Full now: a small write that would fit is refused too, until the
	// free space is back a quarter of the reserve above it.
	if err := st.Update(ctx, []byte("d-small"), setTo("x")); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("a small Update once full = %v, want ErrNoSpace", err)
	}
	if ds, err := st.DiskSpace(); err != nil || !ds.Full {
		t.Fatalf("DiskSpace once a write was refused = %+v, %v; want full", ds, err)
	}

	free.Store(reserve - 1) // below the reserve
	if err := st.Update(ctx, data, setTo("during")); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("Update below the reserve = %v, want ErrNoSpace", err)
	}
	if ds, err := st.DiskSpace(); err != nil || !ds.Full || ds.Free != reserve-1 || ds.Reserve != reserve {
		t.Fatalf("DiskSpace = %+v, %v; want full, free %d, reserve %d", ds, err, reserve-1, reserve)
	}
	if v, err := st.Get(ctx, data); err != nil || string(v) != "before" {
		t.Fatalf("Get below the reserve = %q, %v; want the earlier value", v, err)
	}
	if err := st.Update(ctx, []byte("m-clock"), setTo("checkpoint")); err != nil {
		t.Fatalf("metadata Update below the reserve: %v", err)
	}
	if err := st.Update(ctx, []byte("d-fits"), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
		t.Fatalf("delete below the reserve: %v", err)
	}
	if err := st.Sync(); err != nil {
		t.Fatalf("Sync below the reserve: %v", err)
	}

	free.Store(reserve + reserve/4 - 1) // some space returns, not enough
	if err := st.Update(ctx, data, setTo("after")); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("Update just below the resume mark = %v, want ErrNoSpace", err)
	}
	free.Store(reserve + reserve/4) // space returns
	if err := st.Update(ctx, data, setTo("after")); err != nil {
		t.Fatalf("Update once space returned: %v", err)
	}
	if v, err := st.Get(ctx, data); err != nil || string(v) != "after" {
		t.Fatalf("Get after = %q, %v", v, err)
	}
	if ds, err := st.DiskSpace(); err != nil || ds.Full {
		t.Fatalf("DiskSpace after = %+v, %v; want not full", ds, err)
	}
}

// A negative reserve turns the refusal off; the free space is still
// measured.
func TestReserveOff(t *testing.T) {
	st := openInternal(t, Options{Dir: t.TempDir(), DiskReserve: -1})
	st.space.statfs = func(string) (int64, error) { return 0, nil }
	if err := st.Update(context.Background(), []byte("d"), setTo("v")); err != nil {
		t.Fatalf("Update with the reserve off: %v", err)
	}
	if ds, err := st.DiskSpace(); err != nil || ds.Full || ds.Reserve != 0 {
		t.Fatalf("DiskSpace = %+v, %v", ds, err)
	}
}
