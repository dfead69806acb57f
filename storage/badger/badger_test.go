package badger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/storage/storagetest"
)

func open(t testing.TB, opts badger.Options) *badger.Store {
	t.Helper()
	st, err := badger.Open(opts)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opts, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func set(t testing.TB, st storage.Store, k, v string) {
	t.Helper()
	err := st.Update(context.Background(), []byte(k), func([]byte, bool) ([]byte, error) { return []byte(v), nil })
	if err != nil {
		t.Fatalf("Update(%q): %v", k, err)
	}
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts func(t *testing.T) badger.Options
	}{
		{"disk", func(t *testing.T) badger.Options { return badger.Options{Dir: t.TempDir(), NoSync: true} }},
		{"in-memory", func(t *testing.T) badger.Options { return badger.Options{InMemory: true} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store { return open(t, tc.opts(t)) })
		})
	}
}

// TestReopen checks that data written before Close is there after reopening
// the directory, with and without synchronous writes.
func TestReopen(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			dir := t.TempDir()
			opts := badger.Options{Dir: dir, NoSync: !sync}
			st, err := badger.Open(opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			const n = 100
			for i := range n {
				set(t, st, fmt.Sprintf("k%03d", i), strconv.Itoa(i))
			}
			if err := st.Update(t.Context(), []byte("k000"), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if err := st.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			st = open(t, opts)
			if _, err := st.Get(t.Context(), []byte("k000")); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("deleted key after reopen: %v, want ErrNotFound", err)
			}
			count := 0
			err = st.Scan(t.Context(), nil, nil, func(k, v []byte) error {
				count++
				if want := strings.TrimLeft(strings.TrimPrefix(string(k), "k"), "0"); string(v) != want {
					return fmt.Errorf("after reopen %q = %q, want %q", k, v, want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if count != n-1 {
				t.Fatalf("after reopen Scan saw %d keys, want %d", count, n-1)
			}
		})
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	first, err := badger.Open(badger.Options{Dir: dir})
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	second, err := badger.Open(badger.Options{Dir: dir})
	if err == nil {
		second.Close()
		t.Fatalf("second Open of %s succeeded while the first is open", dir)
	}
	t.Logf("second Open: %v", err)
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close released the lock.
	open(t, badger.Options{Dir: dir})
}

func TestRunGC(t *testing.T) {
	t.Run("disk", func(t *testing.T) {
		// Small value-log files and values above badger's 1 MiB value
		// threshold, so values go to the value log and overwrites leave
		// garbage there.
		st := open(t, badger.Options{Dir: t.TempDir(), ValueLogFileSize: 4 << 20})
		big := bytes.Repeat([]byte("x"), 1<<20+1)
		for round := range 3 {
			for i := range 4 {
				big[0] = byte(round)
				err := st.Update(t.Context(), []byte{'k', byte(i)}, func([]byte, bool) ([]byte, error) { return big, nil })
				if err != nil {
					t.Fatalf("Update: %v", err)
				}
			}
		}
		if err := st.RunGC(t.Context()); err != nil {
			t.Fatalf("RunGC = %v, want nil", err)
		}
		if _, vlog := st.Size(); vlog < 1<<20 {
			t.Fatalf("Size vlog = %d after writing >1 MiB values, want at least 1 MiB", vlog)
		}
		v, err := st.Get(t.Context(), []byte{'k', 3})
		if err != nil || len(v) != len(big) || v[0] != 2 {
			t.Fatalf("Get after GC = %d bytes (first %v), %v; want the last write", len(v), v[:min(1, len(v))], err)
		}
	})
	t.Run("in-memory", func(t *testing.T) {
		st := open(t, badger.Options{InMemory: true})
		set(t, st, "k", "v")
		if err := st.RunGC(t.Context()); err != nil {
			t.Fatalf("RunGC in memory = %v, want nil", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		st := open(t, badger.Options{InMemory: true})
		st.Close()
		if err := st.RunGC(t.Context()); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("RunGC after Close = %v, want ErrClosed", err)
		}
	})
}

func TestSyncAndSize(t *testing.T) {
	st := open(t, badger.Options{Dir: t.TempDir()})
	for i := range 200 {
		set(t, st, fmt.Sprintf("key-%d", i), strings.Repeat("v", 200))
	}
	if err := st.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if lsm, _ := st.Size(); lsm <= 0 {
		t.Fatalf("Size lsm = %d after 40 KB of writes, want > 0", lsm)
	}
	st.Close()
	if err := st.Sync(); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Sync after Close = %v, want ErrClosed", err)
	}
	if lsm, vlog := st.Size(); lsm != 0 || vlog != 0 {
		t.Fatalf("Size after Close = %d, %d; want 0, 0", lsm, vlog)
	}
}

func TestValueLimits(t *testing.T) {
	tests := []struct {
		name    string
		opts    func(t *testing.T) badger.Options
		size    int
		wantErr bool
	}{
		{"in-memory just under 1 MiB", func(*testing.T) badger.Options { return badger.Options{InMemory: true} }, 1<<20 - 1, false},
		// Exactly 1 MiB panics badger v4.9.6's write goroutine in memory;
		// the store must refuse it first.
		{"in-memory at 1 MiB", func(*testing.T) badger.Options { return badger.Options{InMemory: true} }, 1 << 20, true},
		{"in-memory over 1 MiB", func(*testing.T) badger.Options { return badger.Options{InMemory: true} }, 1<<20 + 1, true},
		{"disk 4 MiB", func(t *testing.T) badger.Options { return badger.Options{Dir: t.TempDir()} }, 4 << 20, false},
		{"disk over value-log file size", func(t *testing.T) badger.Options {
			return badger.Options{Dir: t.TempDir(), ValueLogFileSize: 2 << 20}
		}, 2<<20 + 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t, tc.opts(t))
			v := bytes.Repeat([]byte{7}, tc.size)
			err := st.Update(t.Context(), []byte("k"), func([]byte, bool) ([]byte, error) { return v, nil })
			if gotErr := err != nil; gotErr != tc.wantErr {
				t.Fatalf("Update of %d bytes = %v, want error %v", tc.size, err, tc.wantErr)
			}
			got, getErr := st.Get(t.Context(), []byte("k"))
			if tc.wantErr {
				if !errors.Is(getErr, storage.ErrNotFound) {
					t.Fatalf("after a refused Update, Get = %d bytes, %v; want ErrNotFound", len(got), getErr)
				}
				if len(err.Error()) > 200 {
					t.Errorf("error message is %d bytes long, want a short one: %.200s", len(err.Error()), err)
				}
				return
			}
			if getErr != nil || !bytes.Equal(got, v) {
				t.Fatalf("Get = %d bytes, %v; want the %d bytes written", len(got), getErr, len(v))
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    badger.Options
		wantErr string // substring; "" = valid
	}{
		{"dir", badger.Options{Dir: "/tmp/x"}, ""},
		{"in-memory", badger.Options{InMemory: true}, ""},
		{"neither", badger.Options{}, "Dir is required"},
		{"both", badger.Options{Dir: "/tmp/x", InMemory: true}, "Dir must be empty"},
		{"one compactor", badger.Options{InMemory: true, NumCompactors: 1}, "NumCompactors"},
		{"small memtable", badger.Options{InMemory: true, MemTableSize: 4 << 20}, "MemTableSize"},
		{"stall below trigger", badger.Options{InMemory: true, NumLevelZeroTables: 8, NumLevelZeroTablesStall: 4}, "Stall"},
		{"stall default below trigger", badger.Options{InMemory: true, NumLevelZeroTables: 10}, "Stall"},
		{"vlog too small", badger.Options{InMemory: true, ValueLogFileSize: 1 << 10}, "ValueLogFileSize"},
		{"vlog too large", badger.Options{InMemory: true, ValueLogFileSize: 2 << 30}, "ValueLogFileSize"},
		{"negative cache", badger.Options{InMemory: true, BlockCacheSize: -1}, "BlockCacheSize"},
		{"negative goroutines", badger.Options{InMemory: true, NumGoroutines: -1}, "NumGoroutines"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate = %v, want an error mentioning %q", err, tc.wantErr)
			}
			if tc.wantErr != "" {
				if _, err := badger.Open(tc.opts); err == nil {
					t.Fatalf("Open accepted options that Validate rejects")
				}
			}
		})
	}
	if err := badger.DefaultOptions().Validate(); err == nil || !strings.Contains(err.Error(), "Dir is required") {
		t.Fatalf("DefaultOptions().Validate() = %v, want only the missing Dir reported", err)
	}
}

// recorder is a slog.Handler that keeps records.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func TestOpenLogsThroughSlog(t *testing.T) {
	rec := &recorder{}
	st := open(t, badger.Options{Dir: t.TempDir(), Logger: slog.New(rec)})
	set(t, st, "k", "v")
	st.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.recs) == 0 {
		t.Fatal("badger logged nothing through Options.Logger during Open and Close")
	}
	for _, r := range rec.recs {
		if strings.HasSuffix(r.Message, "\n") {
			t.Errorf("record %q keeps its trailing newline", r.Message)
		}
		if r.Level >= slog.LevelInfo && r.Level < slog.LevelWarn {
			t.Errorf("record %q at %v; badger info should be at Debug or below", r.Message, r.Level)
		}
	}
}

func benchStore(b *testing.B, sync bool) *badger.Store {
	return open(b, badger.Options{Dir: b.TempDir(), NoSync: !sync})
}

func BenchmarkUpdate(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) { storagetest.BenchUpdate(b, benchStore(b, sync)) })
	}
}

func BenchmarkUpdateParallel(b *testing.B) {
	for _, sync := range []bool{false, true} {
		b.Run(fmt.Sprintf("sync=%v", sync), func(b *testing.B) { storagetest.BenchUpdateParallel(b, benchStore(b, sync)) })
	}
}

func BenchmarkGet(b *testing.B) {
	storagetest.BenchGet(b, benchStore(b, false))
}

// CommitStats counts the Updates that wrote and the commits that made them
// durable: concurrent Updates share commits, skipped ones count in neither.
func TestCommitStats(t *testing.T) {
	st := open(t, badger.Options{InMemory: true})
	var _ storage.Committer = st
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { set(t, st, fmt.Sprintf("k%d", i), "v") })
	}
	wg.Wait()
	err := st.Update(context.Background(), []byte("k0"), func([]byte, bool) ([]byte, error) { return nil, storage.ErrSkipWrite })
	if err != nil {
		t.Fatal(err)
	}
	s := st.CommitStats()
	if s.Updates != n || s.Commits < 1 || s.Commits > n {
		t.Fatalf("after %d writing updates and a skipped one: %+v", n, s)
	}
	t.Logf("%d updates in %d commits", s.Updates, s.Commits)
}

// DiskSpace reports the filesystem of the store's directory (what the
// disk-filling alert watches); an in-memory store has none.
func TestDiskSpace(t *testing.T) {
	dir := t.TempDir()
	st := open(t, badger.Options{Dir: dir})
	var _ storage.DiskReporter = st
	sp, err := st.DiskSpace()
	if err != nil || sp.Total == 0 || sp.Free < 0 || sp.Free > sp.Total {
		t.Fatalf("DiskSpace of %s = %+v, %v; want a filesystem with 0 <= free <= total > 0", dir, sp, err)
	}
	mem := open(t, badger.Options{InMemory: true})
	if sp, err := mem.DiskSpace(); err == nil {
		t.Fatalf("in-memory store: DiskSpace = %+v, nil; want an error", sp)
	}
}
