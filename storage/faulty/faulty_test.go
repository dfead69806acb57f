package faulty_test

import (
	"bytes"
	"context"
	"errors"
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
