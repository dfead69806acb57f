package faulty_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/faulty"
	"github.com/dynago/dynago/storage/memory"
	"github.com/dynago/dynago/storage/storagetest"
)

var errDisk = errors.New("injected disk error")

// With no faults the wrapper is a conforming Store.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return faulty.New(memory.New()) })
}

func setFn(v string) func([]byte, bool) ([]byte, error) {
	return func([]byte, bool) ([]byte, error) { return []byte(v), nil }
}

func TestFailOn(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	st := faulty.New(inner)
	defer st.Close()
	st.FailOn(faulty.OpUpdate, 2, errDisk)
	st.FailOn(faulty.OpGet, 1, errDisk)

	steps := []struct {
		name    string
		do      func() error
		wantErr error
	}{
		{"first update passes", func() error { return st.Update(ctx, []byte("a"), setFn("1")) }, nil},
		{"second update fails", func() error { return st.Update(ctx, []byte("b"), setFn("2")) }, errDisk},
		{"third update passes", func() error { return st.Update(ctx, []byte("c"), setFn("3")) }, nil},
		{"first get fails", func() error { _, err := st.Get(ctx, []byte("a")); return err }, errDisk},
		{"second get passes", func() error { _, err := st.Get(ctx, []byte("a")); return err }, nil},
		{"scan is untouched", func() error { return st.Scan(ctx, nil, nil, func(k, v []byte) error { return nil }) }, nil},
	}
	for _, step := range steps {
		if err := step.do(); !errors.Is(err, step.wantErr) || (step.wantErr == nil && err != nil) {
			t.Fatalf("%s: err = %v, want %v", step.name, err, step.wantErr)
		}
	}
	// The failed Update never reached the inner store.
	if _, err := inner.Get(ctx, []byte("b")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("inner Get(b) = %v, want ErrNotFound: a faulted Update must write nothing", err)
	}
	if got := st.Calls(faulty.OpUpdate); got != 3 {
		t.Fatalf("Calls(Update) = %d, want 3 (faulted calls count)", got)
	}
	// Removing a rule.
	st.FailOn(faulty.OpUpdate, 4, errDisk)
	st.FailOn(faulty.OpUpdate, 4, nil)
	if err := st.Update(ctx, []byte("d"), setFn("4")); err != nil {
		t.Fatalf("Update after removing its rule: %v", err)
	}
}

func TestInject(t *testing.T) {
	ctx := context.Background()
	st := faulty.New(memory.New())
	defer st.Close()
	type call struct {
		op  faulty.Op
		key string
	}
	var seen []call
	st.Inject(func(op faulty.Op, key []byte) error {
		seen = append(seen, call{op, string(key)})
		if bytes.HasPrefix(key, []byte("bad")) {
			return errDisk
		}
		return nil
	})
	if err := st.Update(ctx, []byte("good"), setFn("v")); err != nil {
		t.Fatalf("Update(good): %v", err)
	}
	if err := st.Update(ctx, []byte("bad1"), setFn("v")); !errors.Is(err, errDisk) {
		t.Fatalf("Update(bad1) = %v, want errDisk", err)
	}
	if err := st.Scan(ctx, []byte("bad"), nil, func(k, v []byte) error { return nil }); !errors.Is(err, errDisk) {
		t.Fatalf("Scan from bad = %v, want errDisk", err)
	}
	if err := st.Sync(); err != nil {
		t.Fatalf("Sync (memory has none): %v", err)
	}
	want := []call{{faulty.OpUpdate, "good"}, {faulty.OpUpdate, "bad1"}, {faulty.OpScan, "bad"}, {faulty.OpSync, ""}}
	if len(seen) != len(want) {
		t.Fatalf("hook saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("hook call %d = %v, want %v", i, seen[i], want[i])
		}
	}
	st.Inject(nil)
	if err := st.Update(ctx, []byte("bad2"), setFn("v")); err != nil {
		t.Fatalf("Update after removing the hook: %v", err)
	}
}

func TestCloseFaultStillClosesInner(t *testing.T) {
	inner := memory.New()
	st := faulty.New(inner)
	st.FailOn(faulty.OpClose, 1, errDisk)
	if err := st.Close(); !errors.Is(err, errDisk) {
		t.Fatalf("Close = %v, want errDisk", err)
	}
	if _, err := inner.Get(context.Background(), []byte("k")); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("inner Get after faulted Close = %v, want ErrClosed", err)
	}
}

func TestOpString(t *testing.T) {
	tests := []struct {
		op   faulty.Op
		want string
	}{
		{faulty.OpGet, "Get"}, {faulty.OpUpdate, "Update"}, {faulty.OpScan, "Scan"},
		{faulty.OpClose, "Close"}, {faulty.OpRunGC, "RunGC"}, {faulty.OpSync, "Sync"}, {faulty.Op(42), "Op(42)"},
	}
	for _, tc := range tests {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(tc.op), got, tc.want)
		}
	}
}

// gcStore is a memory Store with a RunGC that counts calls.
type gcStore struct {
	*memory.Store
	gcs int
}

func (g *gcStore) RunGC(context.Context) error { g.gcs++; return nil }

func TestRunGCForwarding(t *testing.T) {
	inner := &gcStore{Store: memory.New()}
	st := faulty.New(inner)
	defer st.Close()
	st.FailOn(faulty.OpRunGC, 2, errDisk)
	for i, want := range []error{nil, errDisk, nil} {
		if err := st.RunGC(context.Background()); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Fatalf("RunGC call %d = %v, want %v", i+1, err, want)
		}
	}
	if inner.gcs != 2 {
		t.Fatalf("inner RunGC ran %d times, want 2 (the faulted call must not reach it)", inner.gcs)
	}
	// A Store without RunGC: the wrapper's RunGC is a no-op.
	plain := faulty.New(memory.New())
	defer plain.Close()
	if err := plain.RunGC(context.Background()); err != nil {
		t.Fatalf("RunGC over a store without GC = %v, want nil", err)
	}
}

// TestFailSyncAfterWrite: the chosen Update writes, then fails with
// ErrNotDurable, and the wrapper is fail-stop from then on: a retry that
// finds its write already present must not be acknowledged.
func TestFailSyncAfterWrite(t *testing.T) {
	ctx := context.Background()
	inner := memory.New()
	st := faulty.New(inner)
	defer st.Close()
	st.FailSyncAfterWrite(2)
	k := []byte("k")

	if err := st.Update(ctx, k, setFn("v1")); err != nil {
		t.Fatalf("Update #1: %v", err)
	}
	if err := st.Update(ctx, k, setFn("v2")); !errors.Is(err, storage.ErrNotDurable) {
		t.Fatalf("Update #2 = %v, want ErrNotDurable", err)
	}
	// The write landed, on the inner store and through the wrapper.
	for name, s := range map[string]storage.Store{"inner": inner, "wrapper": st} {
		if v, err := s.Get(ctx, k); err != nil || string(v) != "v2" {
			t.Fatalf("%s Get after Update #2 = %q, %v; want %q (the write lands)", name, v, err, "v2")
		}
	}
	// The retry sees v2 and would skip; it must fail without running.
	called := false
	err := st.Update(ctx, k, func(old []byte, _ bool) ([]byte, error) {
		called = true
		return nil, storage.ErrSkipWrite
	})
	if !errors.Is(err, storage.ErrNotDurable) || called {
		t.Fatalf("retry after the failure = %v (fn called: %v), want ErrNotDurable without calling fn", err, called)
	}
	storagetest.CheckFailStopped(t, st, k)
	if v, _ := inner.Get(ctx, k); string(v) != "v2" {
		t.Fatalf("inner Get = %q after refused Updates, want %q: they must not reach it", v, "v2")
	}
	if got := st.Calls(faulty.OpUpdate); got != 11 { // 3 here, 8 in CheckFailStopped
		t.Fatalf("Calls(Update) = %d, want 11 (refused calls count)", got)
	}
}

func TestFailSyncAfterWriteCases(t *testing.T) {
	errBoom := errors.New("boom")
	notDurable := fmt.Errorf("%w: injected", storage.ErrNotDurable)
	tests := []struct {
		name  string
		setup func(t *testing.T, st *faulty.Store)
		fn    func([]byte, bool) ([]byte, error)
		// want* describe the first Update.
		wantErrs   []error
		wantStored bool // its write landed on the inner store
		wantFailed bool // later Updates fail
	}{
		{
			name:       "write lands, store fails",
			setup:      func(_ *testing.T, st *faulty.Store) { st.FailSyncAfterWrite(1) },
			fn:         setFn("v"),
			wantErrs:   []error{storage.ErrNotDurable},
			wantStored: true, wantFailed: true,
		},
		{
			name:     "fn error is wrapped too",
			setup:    func(_ *testing.T, st *faulty.Store) { st.FailSyncAfterWrite(1) },
			fn:       func([]byte, bool) ([]byte, error) { return nil, errBoom },
			wantErrs: []error{storage.ErrNotDurable, errBoom}, wantFailed: true,
		},
		{
			name:     "a FailOn rule fires first",
			setup:    func(_ *testing.T, st *faulty.Store) { st.FailSyncAfterWrite(1); st.FailOn(faulty.OpUpdate, 1, errDisk) },
			fn:       setFn("v"),
			wantErrs: []error{errDisk},
		},
		{
			name:       "rule removed",
			setup:      func(_ *testing.T, st *faulty.Store) { st.FailSyncAfterWrite(1); st.FailSyncAfterWrite(0) },
			fn:         setFn("v"),
			wantStored: true,
		},
		{
			name:     "an injected ErrNotDurable fails the store",
			setup:    func(_ *testing.T, st *faulty.Store) { st.FailOn(faulty.OpUpdate, 1, notDurable) },
			fn:       setFn("v"),
			wantErrs: []error{storage.ErrNotDurable}, wantFailed: true,
		},
		{
			name: "an injected ErrNotDurable on Sync fails the store",
			setup: func(t *testing.T, st *faulty.Store) {
				st.FailOn(faulty.OpSync, 1, notDurable)
				if err := st.Sync(); !errors.Is(err, storage.ErrNotDurable) {
					t.Fatalf("Sync = %v, want ErrNotDurable", err)
				}
			},
			fn:       setFn("v"),
			wantErrs: []error{storage.ErrNotDurable}, wantFailed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			inner := memory.New()
			st := faulty.New(inner)
			defer st.Close()
			k := []byte("k")
			tc.setup(t, st)
			err := st.Update(ctx, k, tc.fn)
			if len(tc.wantErrs) == 0 && err != nil {
				t.Fatalf("Update = %v, want nil", err)
			}
			for _, want := range tc.wantErrs {
				if !errors.Is(err, want) {
					t.Fatalf("Update = %v, want it to wrap %v", err, want)
				}
			}
			if _, err := inner.Get(ctx, k); (err == nil) != tc.wantStored {
				t.Fatalf("inner Get = %v, want stored = %v", err, tc.wantStored)
			}
			if tc.wantFailed {
				storagetest.CheckFailStopped(t, st, k)
				return
			}
			if err := st.Update(ctx, k, setFn("w")); err != nil {
				t.Fatalf("later Update = %v, want nil (the store did not fail)", err)
			}
		})
	}
}
