package storagetest

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/storage"
)

var seedFlag = flag.Int64("storagetest.seed", 0, "seed for storagetest's randomized tests (0 = time-based)")

// Seed returns the seed for a randomized test: the -storagetest.seed flag if
// set, else a time-based one. It logs the seed so a failure can be replayed.
func Seed(t testing.TB) int64 {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed: %d (rerun with -storagetest.seed=%d)", seed, seed)
	return seed
}

// Run runs the conformance suite against the stores that open returns. open
// is called once per subtest and must return a new, empty store; Run closes it
// when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, st storage.Store)
	}{
		{"GetMissing", testGetMissing},
		{"InvalidKey", testInvalidKey},
		{"Update", nil}, // table-driven, opens a store per case
		{"FnErrorAborts", testFnErrorAborts},
		{"FnPanic", testFnPanic},
		{"ReturnedSlicesAreCopies", testCopies},
		{"ScanOrder", testScanOrder},
		{"ScanBounds", nil}, // table-driven, shares one store
		{"ScanEarlyStop", testScanEarlyStop},
		{"ScanSnapshot", testScanSnapshot},
		{"PartitionIsolation", testPartitionIsolation},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"Close", testClose},
		{"CloseDuringUse", testCloseDuringUse},
		{"CancelledContext", testCancelledContext},
		{"RandomModel", testRandomModel},
	}
	for _, tc := range tests {
		switch tc.name {
		case "Update":
			t.Run(tc.name, func(t *testing.T) { testUpdateCases(t, open) })
		case "ScanBounds":
			t.Run(tc.name, func(t *testing.T) { testScanBounds(t, openClosed(t, open)) })
		default:
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, openClosed(t, open)) })
		}
	}
}

// CheckFailStopped checks that st keeps the fail-stop contract of
// storage.ErrNotDurable once it has failed. Call it after an Update of key
// (or a Sync) returned an error wrapping storage.ErrNotDurable. It checks
// that Get of key and Scan still work; that Updates of key and of another key
// return storage.ErrNotDurable without calling fn, whatever fn would do (set,
// skip, delete, fail); that they changed nothing; and that Sync and RunGC, if
// st has them, return storage.ErrNotDurable. It does not close st.
func CheckFailStopped(t testing.TB, st storage.Store, key []byte) {
	t.Helper()
	ctx := context.Background()
	before, err := st.Get(ctx, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) on a failed store = %v; Get must keep working", key, err)
	}
	scanBefore := scanAll(t, st, nil, nil)

	keys := [][]byte{key}
	if len(key) < storage.MaxKeySize {
		keys = append(keys, append(bytes.Clone(key), 0))
	}
	fns := []struct {
		name string
		fn   func(old []byte, found bool) ([]byte, error)
	}{
		{"set", func([]byte, bool) ([]byte, error) { return []byte("written after the failure"), nil }},
		{"skip", func([]byte, bool) ([]byte, error) { return nil, storage.ErrSkipWrite }},
		{"delete", func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }},
		{"fn error", func([]byte, bool) ([]byte, error) { return nil, errors.New("fn error") }},
	}
	for _, k := range keys {
		for _, f := range fns {
			called := false
			err := st.Update(ctx, k, func(old []byte, found bool) ([]byte, error) {
				called = true
				return f.fn(old, found)
			})
			if !errors.Is(err, storage.ErrNotDurable) {
				t.Errorf("Update(%q) %s on a failed store = %v, want ErrNotDurable", k, f.name, err)
			}
			if called {
				t.Errorf("Update(%q) %s on a failed store called fn; it must refuse first", k, f.name)
			}
		}
	}
	if y, ok := st.(storage.Syncer); ok {
		if err := y.Sync(); !errors.Is(err, storage.ErrNotDurable) {
			t.Errorf("Sync on a failed store = %v, want ErrNotDurable", err)
		}
	}
	if g, ok := st.(storage.GCer); ok {
		if err := g.RunGC(ctx); !errors.Is(err, storage.ErrNotDurable) {
			t.Errorf("RunGC on a failed store = %v, want ErrNotDurable", err)
		}
	}

	after, err := st.Get(ctx, key)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) on a failed store = %v; Get must keep working", key, err)
	}
	if !bytes.Equal(after, before) {
		t.Errorf("Get(%q) on a failed store changed from %q to %q; refused Updates must write nothing", key, before, after)
	}
	if scanAfter := scanAll(t, st, nil, nil); !slices.Equal(scanAfter, scanBefore) {
		t.Errorf("Scan on a failed store changed from %q to %q; refused Updates must write nothing", scanBefore, scanAfter)
	}
}

// openClosed opens a store and closes it when t ends.
func openClosed(t *testing.T, open func(t *testing.T) storage.Store) storage.Store {
	t.Helper()
	st := open(t)
	if st == nil {
		t.Fatal("open returned a nil Store")
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// put stores v under k.
func put(t testing.TB, st storage.Store, k, v []byte) {
	t.Helper()
	err := st.Update(context.Background(), k, func([]byte, bool) ([]byte, error) { return v, nil })
	if err != nil {
		t.Fatalf("Update(%q) set: %v", k, err)
	}
}

// get returns k's value and whether it was found, failing on other errors.
func get(t testing.TB, st storage.Store, k []byte) ([]byte, bool) {
	t.Helper()
	v, err := st.Get(context.Background(), k)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	if v == nil {
		t.Fatalf("Get(%q) returned a nil slice with a nil error; want non-nil", k)
	}
	return v, true
}

// wantValue fails unless k holds exactly want (want nil = absent).
func wantValue(t testing.TB, st storage.Store, k, want []byte) {
	t.Helper()
	got, found := get(t, st, k)
	switch {
	case want == nil && found:
		t.Fatalf("Get(%q) = %q, want not found", k, got)
	case want != nil && !found:
		t.Fatalf("Get(%q) not found, want %q", k, want)
	case want != nil && !bytes.Equal(got, want):
		t.Fatalf("Get(%q) = %q, want %q", k, got, want)
	}
}

type kv struct{ k, v string }

// scanAll returns every pair Scan(start, end) visits, copied.
func scanAll(t testing.TB, st storage.Store, start, end []byte) []kv {
	t.Helper()
	var out []kv
	err := st.Scan(context.Background(), start, end, func(k, v []byte) error {
		out = append(out, kv{string(k), string(v)})
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%q, %q): %v", start, end, err)
	}
	return out
}

func testGetMissing(t *testing.T, st storage.Store) {
	v, err := st.Get(t.Context(), []byte("missing"))
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(missing) = %q, %v; want ErrNotFound", v, err)
	}
	// A key that was written and deleted is missing again.
	put(t, st, []byte("gone"), []byte("v"))
	if err := st.Update(t.Context(), []byte("gone"), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
		t.Fatalf("Update delete: %v", err)
	}
	if v, err := st.Get(t.Context(), []byte("gone")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(deleted) = %q, %v; want ErrNotFound", v, err)
	}
}

func testInvalidKey(t *testing.T, st storage.Store) {
	keys := []struct {
		name string
		k    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"reserved prefix", []byte("!badger!head")},
		{"too long", bytes.Repeat([]byte{'k'}, storage.MaxKeySize+1)},
	}
	for _, tc := range keys {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := st.Get(t.Context(), tc.k); !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Get = %v, want ErrInvalidKey", err)
			}
			called := false
			err := st.Update(t.Context(), tc.k, func([]byte, bool) ([]byte, error) {
				called = true
				return []byte("v"), nil
			})
			if !errors.Is(err, storage.ErrInvalidKey) {
				t.Errorf("Update = %v, want ErrInvalidKey", err)
			}
			if called {
				t.Errorf("Update called fn for an invalid key")
			}
		})
	}
	// The longest valid key works.
	long := bytes.Repeat([]byte{'k'}, storage.MaxKeySize)
	put(t, st, long, []byte("v"))
	wantValue(t, st, long, []byte("v"))
	if got := scanAll(t, st, nil, nil); len(got) != 1 || got[0].k != string(long) {
		t.Fatalf("Scan after invalid-key calls saw %d keys, want only the long key", len(got))
	}
}

func testUpdateCases(t *testing.T, open func(t *testing.T) storage.Store) {
	errWrapped := func(e error) error { return fmt.Errorf("wrapped: %w", e) }
	tests := []struct {
		name      string
		initial   []byte // nil = key absent
		result    []byte
		fnErr     error
		wantOld   []byte
		wantFound bool
		want      []byte // nil = absent afterwards
	}{
		{name: "create", result: []byte("new"), want: []byte("new")},
		{name: "replace", initial: []byte("old"), result: []byte("new"), wantOld: []byte("old"), wantFound: true, want: []byte("new")},
		{name: "replace with same", initial: []byte("same"), result: []byte("same"), wantOld: []byte("same"), wantFound: true, want: []byte("same")},
		{name: "skip existing", initial: []byte("old"), fnErr: storage.ErrSkipWrite, wantOld: []byte("old"), wantFound: true, want: []byte("old")},
		{name: "skip missing", fnErr: storage.ErrSkipWrite},
		{name: "delete existing", initial: []byte("old"), fnErr: storage.ErrDeleteKey, wantOld: []byte("old"), wantFound: true},
		{name: "delete missing", fnErr: storage.ErrDeleteKey},
		{name: "wrapped skip", initial: []byte("old"), fnErr: errWrapped(storage.ErrSkipWrite), wantOld: []byte("old"), wantFound: true, want: []byte("old")},
		{name: "wrapped delete", initial: []byte("old"), fnErr: errWrapped(storage.ErrDeleteKey), wantOld: []byte("old"), wantFound: true},
		{name: "nil result stores empty value", result: nil, want: []byte{}},
		{name: "empty value is found", initial: []byte{}, result: []byte("x"), wantOld: []byte{}, wantFound: true, want: []byte("x")},
		{name: "binary value", initial: []byte{0, 0xff}, result: []byte{0xff, 0, 0}, wantOld: []byte{0, 0xff}, wantFound: true, want: []byte{0xff, 0, 0}},
		{name: "large value", result: bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16), want: bytes.Repeat([]byte("0123456789abcdef"), 64<<10/16)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openClosed(t, open)
			k := storage.DataKey(1, []byte("key"))
			if tc.initial != nil {
				put(t, st, k, tc.initial)
			}
			calls := 0
			err := st.Update(t.Context(), k, func(old []byte, found bool) ([]byte, error) {
				calls++
				if found != tc.wantFound || !bytes.Equal(old, tc.wantOld) {
					t.Errorf("fn got (%q, %v), want (%q, %v)", old, found, tc.wantOld, tc.wantFound)
				}
				if !found && old != nil {
					t.Errorf("fn got non-nil old %q with found=false", old)
				}
				if found && old == nil {
					t.Errorf("fn got nil old with found=true")
				}
				return tc.result, tc.fnErr
			})
			if err != nil {
				t.Fatalf("Update = %v, want nil", err)
			}
			if calls == 0 {
				t.Fatalf("Update never called fn")
			}
			wantValue(t, st, k, tc.want)
		})
	}
}

func testFnErrorAborts(t *testing.T, st storage.Store) {
	errBoom := errors.New("boom")
	existing := []byte("existing")
	put(t, st, existing, []byte("v1"))
	for _, k := range [][]byte{existing, []byte("absent")} {
		err := st.Update(t.Context(), k, func([]byte, bool) ([]byte, error) {
			return []byte("must not be written"), errBoom
		})
		if err != errBoom { // the error must come back unchanged, not wrapped
			t.Fatalf("Update(%q) = %v, want errBoom returned unchanged", k, err)
		}
	}
	wantValue(t, st, existing, []byte("v1"))
	wantValue(t, st, []byte("absent"), nil)
}

// panicky is an Update fn that panics with v after depth nested calls, so
// the stack in the ErrPanic error is as deep as the test wants.
func panicky(v any, depth int) func([]byte, bool) ([]byte, error) {
	return func(old []byte, found bool) ([]byte, error) {
		if depth > 0 {
			return panicky(v, depth-1)(old, found)
		}
		panic(v)
	}
}

func testFnPanic(t *testing.T, st storage.Store) {
	existing := []byte("existing")
	put(t, st, existing, []byte("v1"))
	// maxMsg bounds the error message: the stack in it is trimmed.
	const maxMsg = 8 << 10
	tests := []struct {
		name  string
		key   []byte
		value any
		depth int
	}{
		{"existing key", existing, "boom", 0},
		{"absent key", []byte("absent"), "boom", 0},
		{"error value", existing, errors.New("boom error"), 0},
		{"deep stack", existing, "boom deep", 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := st.Update(t.Context(), tc.key, panicky(tc.value, tc.depth))
			if !errors.Is(err, storage.ErrPanic) {
				t.Fatalf("Update with a panicking fn = %v, want ErrPanic", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, fmt.Sprint(tc.value)) {
				t.Errorf("error %q does not carry the panic value %q", msg, tc.value)
			}
			if !strings.Contains(msg, "panicky") {
				t.Errorf("error does not carry the panicking frame (panicky):\n%s", msg)
			}
			if len(msg) > maxMsg {
				t.Errorf("error message is %d bytes, want at most %d (trimmed stack)", len(msg), maxMsg)
			}
			wantValue(t, st, existing, []byte("v1"))
			wantValue(t, st, []byte("absent"), nil)
		})
	}

	// Concurrent Updates, some panicking: the others land (in a group-
	// committing store they share a batch with the panics).
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			k := []byte("concurrent-" + strconv.Itoa(i))
			fn := func([]byte, bool) ([]byte, error) { return []byte(strconv.Itoa(i)), nil }
			if i%3 == 0 {
				fn = panicky(i, 0)
			}
			errs[i] = st.Update(context.Background(), k, fn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		k := []byte("concurrent-" + strconv.Itoa(i))
		if i%3 == 0 {
			if !errors.Is(err, storage.ErrPanic) {
				t.Errorf("concurrent panicking Update %d = %v, want ErrPanic", i, err)
			}
			wantValue(t, st, k, nil)
			continue
		}
		if err != nil {
			t.Errorf("concurrent Update %d alongside panics = %v, want nil", i, err)
		}
		wantValue(t, st, k, []byte(strconv.Itoa(i)))
	}

	// The store keeps working.
	put(t, st, existing, []byte("v2"))
	wantValue(t, st, existing, []byte("v2"))
}

func testCopies(t *testing.T, st storage.Store) {
	k := []byte("key")
	put(t, st, k, []byte("value"))

	// Mutating Get's result.
	v, _ := get(t, st, k)
	copy(v, "XXXXX")
	wantValue(t, st, k, []byte("value"))

	// Mutating old inside fn, then skipping.
	err := st.Update(t.Context(), k, func(old []byte, _ bool) ([]byte, error) {
		copy(old, "YYYYY")
		return nil, storage.ErrSkipWrite
	})
	if err != nil {
		t.Fatalf("Update skip: %v", err)
	}
	wantValue(t, st, k, []byte("value"))

	// Mutating fn's result and the key after Update returns.
	res := []byte("second")
	key := []byte("key2")
	put(t, st, key, res)
	copy(res, "ZZZZZZ")
	copy(key, "kez2")
	wantValue(t, st, []byte("key2"), []byte("second"))
	wantValue(t, st, []byte("kez2"), nil)

	// Returning old itself (aliasing the copy fn got) is fine.
	err = st.Update(t.Context(), k, func(old []byte, _ bool) ([]byte, error) { return append(old, '!'), nil })
	if err != nil {
		t.Fatalf("Update append: %v", err)
	}
	wantValue(t, st, k, []byte("value!"))
}

func testScanOrder(t *testing.T, st storage.Store) {
	// Insert in a scrambled order; keys differ in length and use 0x00/0xff.
	keys := []string{"b", "a\x00", "aa", "a", "\xff", "a\xff", "\x00", "ab", "b\x00\x00", "\xff\xff"}
	for i, k := range keys {
		put(t, st, []byte(k), []byte(strconv.Itoa(i)))
	}
	want := slices.Clone(keys)
	slices.Sort(want)
	got := scanAll(t, st, nil, nil)
	if len(got) != len(want) {
		t.Fatalf("Scan(nil, nil) visited %d keys, want %d: %q", len(got), len(want), got)
	}
	for i, p := range got {
		if p.k != want[i] {
			t.Fatalf("Scan position %d = %q, want %q (all: %q)", i, p.k, want[i], got)
		}
		if wantV := strconv.Itoa(slices.Index(keys, p.k)); p.v != wantV {
			t.Fatalf("Scan value of %q = %q, want %q", p.k, p.v, wantV)
		}
	}
	// Deleted and overwritten keys are reflected.
	if err := st.Update(t.Context(), []byte("aa"), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
		t.Fatal(err)
	}
	put(t, st, []byte("b"), []byte("new"))
	got = scanAll(t, st, []byte("aa"), []byte("b\x00"))
	if wantKV := []kv{{"ab", "7"}, {"a\xff", "5"}, {"b", "new"}}; !slices.Equal(got, wantKV) {
		t.Fatalf("Scan after delete/overwrite = %q, want %q", got, wantKV)
	}
}

func testScanBounds(t *testing.T, st storage.Store) {
	for _, k := range []string{"a", "b", "ba", "c", "d"} {
		put(t, st, []byte(k), []byte("v"+k))
	}
	tests := []struct {
		name       string
		start, end []byte
		want       []string
	}{
		{"all", nil, nil, []string{"a", "b", "ba", "c", "d"}},
		{"empty start", []byte{}, nil, []string{"a", "b", "ba", "c", "d"}},
		{"start inclusive", []byte("b"), nil, []string{"b", "ba", "c", "d"}},
		{"end exclusive", nil, []byte("c"), []string{"a", "b", "ba"}},
		{"between keys", []byte("a\x00"), []byte("bb"), []string{"b", "ba"}},
		{"single key", []byte("c"), []byte("c\x00"), []string{"c"}},
		{"start equals end", []byte("b"), []byte("b"), nil},
		{"start after end", []byte("d"), []byte("a"), nil},
		{"past the last key", []byte("e"), nil, nil},
		{"before the first key", nil, []byte("a"), nil},
		{"empty end means no upper bound", []byte("c"), []byte{}, []string{"c", "d"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := scanAll(t, st, tc.start, tc.end)
			var keys []string
			for _, p := range got {
				keys = append(keys, p.k)
				if p.v != "v"+p.k {
					t.Errorf("value of %q = %q, want %q", p.k, p.v, "v"+p.k)
				}
			}
			if !slices.Equal(keys, tc.want) {
				t.Fatalf("Scan(%q, %q) = %q, want %q", tc.start, tc.end, keys, tc.want)
			}
		})
	}
}

func testScanEarlyStop(t *testing.T, st storage.Store) {
	for i := range 10 {
		put(t, st, []byte{'k', byte(i)}, []byte{byte(i)})
	}
	errStop := errors.New("stop")
	var seen int
	err := st.Scan(t.Context(), nil, nil, func(k, v []byte) error {
		seen++
		if seen == 3 {
			return errStop
		}
		return nil
	})
	if err != errStop { // the error must come back unchanged, not wrapped
		t.Fatalf("Scan = %v, want errStop returned unchanged", err)
	}
	if seen != 3 {
		t.Fatalf("fn called %d times after returning an error at call 3", seen)
	}
}

func testScanSnapshot(t *testing.T, st storage.Store) {
	for _, k := range []string{"a", "b", "c"} {
		put(t, st, []byte(k), []byte("old"))
	}
	// fn writes while the scan runs: it overwrites a key not yet visited,
	// adds a key ahead of the cursor and deletes one. None of it is visible to
	// this scan, and none of it deadlocks.
	var got []kv
	err := st.Scan(t.Context(), nil, nil, func(k, v []byte) error {
		got = append(got, kv{string(k), string(v)})
		if string(k) != "a" {
			return nil
		}
		ctx := context.Background()
		if err := st.Update(ctx, []byte("b"), func([]byte, bool) ([]byte, error) { return []byte("new"), nil }); err != nil {
			return err
		}
		if err := st.Update(ctx, []byte("bb"), func([]byte, bool) ([]byte, error) { return []byte("new"), nil }); err != nil {
			return err
		}
		if err := st.Update(ctx, []byte("c"), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
			return err
		}
		if v, err := st.Get(ctx, []byte("b")); err != nil || string(v) != "new" {
			return fmt.Errorf("Get(b) inside Scan = %q, %v; want new", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Scan with writes in fn: %v", err)
	}
	if want := []kv{{"a", "old"}, {"b", "old"}, {"c", "old"}}; !slices.Equal(got, want) {
		t.Fatalf("Scan saw %q, want the snapshot %q", got, want)
	}
	if got, want := scanAll(t, st, nil, nil), []kv{{"a", "old"}, {"b", "new"}, {"bb", "new"}}; !slices.Equal(got, want) {
		t.Fatalf("Scan after the writes = %q, want %q", got, want)
	}
}

func testPartitionIsolation(t *testing.T, st storage.Store) {
	userKeys := [][]byte{{0}, {0, 0}, {0xff}, {0xff, 0xff, 0xff, 0xff, 0xff}, []byte("k"), []byte("\xff\xff\xff\xffz")}
	parts := []uint32{0, 1, 2, 0xffffffff}
	for _, p := range parts {
		for _, uk := range userKeys {
			put(t, st, storage.DataKey(p, uk), []byte(fmt.Sprintf("%d/%x", p, uk)))
		}
	}
	// Neighbouring keyspaces must stay out of partition scans too.
	put(t, st, storage.MetaKey("epoch"), []byte("7"))
	put(t, st, []byte{storage.PrefixHint, 0, 0, 0, 1}, []byte("hint"))
	put(t, st, []byte{'c', 0xff, 0xff, 0xff, 0xff, 0xff}, []byte("before data"))
	put(t, st, []byte{'e'}, []byte("after data"))

	for _, p := range parts {
		start, end := storage.PartitionRange(p)
		got := scanAll(t, st, start, end)
		if len(got) != len(userKeys) {
			t.Errorf("partition %d: scan visited %d keys, want %d: %q", p, len(got), len(userKeys), got)
			continue
		}
		for i, pr := range got {
			gp, uk, ok := storage.SplitDataKey([]byte(pr.k))
			if !ok || gp != p {
				t.Errorf("partition %d: scan returned key %x of partition %d (ok=%v)", p, pr.k, gp, ok)
				continue
			}
			if want := fmt.Sprintf("%d/%x", p, uk); pr.v != want {
				t.Errorf("partition %d: value of %x = %q, want %q", p, uk, pr.v, want)
			}
			if i > 0 && pr.k <= got[i-1].k {
				t.Errorf("partition %d: keys out of order at %d", p, i)
			}
		}
	}
	// An empty partition between populated ones scans empty.
	start, end := storage.PartitionRange(3)
	if got := scanAll(t, st, start, end); len(got) != 0 {
		t.Errorf("empty partition 3: scan returned %q", got)
	}
}

func testConcurrentIncrements(t *testing.T, st storage.Store) {
	const writers, perWriter = 8, 200
	key := []byte("counter")
	incr := func(old []byte, found bool) ([]byte, error) {
		n := 0
		if found {
			var err error
			if n, err = strconv.Atoi(string(old)); err != nil {
				return nil, fmt.Errorf("corrupt counter %q: %w", old, err)
			}
		}
		return strconv.AppendInt(nil, int64(n+1), 10), nil
	}
	// A writer on another key runs alongside to exercise unrelated traffic.
	other := []byte("other")

	done := make(chan struct{})
	var readers sync.WaitGroup
	// Readers check that the counter never goes backwards while writers run,
	// and scans keep seeing well-formed values. They stop when the writers
	// finish or after a bounded number of reads, so they don't starve the
	// writers of CPU.
	for range 2 {
		readers.Go(func() {
			last := 0
			for range writers * perWriter / 8 {
				select {
				case <-done:
					return
				default:
				}
				v, err := st.Get(context.Background(), key)
				if errors.Is(err, storage.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Errorf("Get during increments: %v", err)
					return
				}
				n, err := strconv.Atoi(string(v))
				if err != nil || n < last {
					t.Errorf("Get = %q after %d: counter went backwards or is corrupt", v, last)
					return
				}
				last = n
				err = st.Scan(context.Background(), nil, nil, func(k, v []byte) error {
					if _, err := strconv.Atoi(string(v)); err != nil {
						return fmt.Errorf("scan saw corrupt %q=%q", k, v)
					}
					return nil
				})
				if err != nil {
					t.Errorf("Scan during increments: %v", err)
					return
				}
			}
		})
	}
	var writersWG sync.WaitGroup
	for range writers {
		writersWG.Go(func() {
			for range perWriter {
				if err := st.Update(context.Background(), key, incr); err != nil {
					t.Errorf("Update: %v", err)
					return
				}
			}
		})
	}
	writersWG.Go(func() {
		for range perWriter {
			if err := st.Update(context.Background(), other, incr); err != nil {
				t.Errorf("Update other: %v", err)
				return
			}
		}
	})
	writersWG.Wait()
	close(done)
	readers.Wait()
	wantValue(t, st, key, []byte(strconv.Itoa(writers*perWriter)))
	wantValue(t, st, other, []byte(strconv.Itoa(perWriter)))
}

func testClose(t *testing.T, st storage.Store) {
	put(t, st, []byte("k"), []byte("v"))
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil (idempotent)", err)
	}
	if _, err := st.Get(t.Context(), []byte("k")); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Get after Close = %v, want ErrClosed", err)
	}
	called := false
	err := st.Update(t.Context(), []byte("k"), func([]byte, bool) ([]byte, error) {
		called = true
		return nil, nil
	})
	if !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Update after Close = %v, want ErrClosed", err)
	}
	err = st.Scan(t.Context(), nil, nil, func(k, v []byte) error {
		called = true
		return nil
	})
	if !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Scan after Close = %v, want ErrClosed", err)
	}
	if called {
		t.Errorf("a callback ran after Close")
	}
}

func testCloseDuringUse(t *testing.T, st storage.Store) {
	// Writers and scanners run while Close happens: each call either succeeds
	// or returns ErrClosed, and once Close has returned every call fails.
	started := make(chan struct{})
	var wg sync.WaitGroup
	var startOnce sync.Once
	for w := range 4 {
		wg.Go(func() {
			defer startOnce.Do(func() { close(started) }) // never leave the main goroutine waiting
			k := []byte{'w', byte(w)}
			for i := 0; ; i++ {
				err := st.Update(context.Background(), k, func([]byte, bool) ([]byte, error) {
					return []byte(strconv.Itoa(i)), nil
				})
				if i == 10 {
					startOnce.Do(func() { close(started) })
				}
				if errors.Is(err, storage.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Update during Close: %v", err)
					return
				}
				err = st.Scan(context.Background(), nil, nil, func(k, v []byte) error { return nil })
				if errors.Is(err, storage.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Scan during Close: %v", err)
					return
				}
			}
		})
	}
	<-started
	if err := st.Close(); err != nil {
		t.Fatalf("Close during use: %v", err)
	}
	wg.Wait()
	if _, err := st.Get(t.Context(), []byte{'w', 0}); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Get after Close = %v, want ErrClosed", err)
	}
}

func testCancelledContext(t *testing.T, st storage.Store) {
	put(t, st, []byte("a"), []byte("1"))
	put(t, st, []byte("b"), []byte("2"))
	put(t, st, []byte("c"), []byte("3"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	if _, err := st.Get(ctx, []byte("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled ctx = %v, want context.Canceled", err)
	}
	err := st.Update(ctx, []byte("a"), func([]byte, bool) ([]byte, error) { return []byte("written"), nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with cancelled ctx = %v, want context.Canceled", err)
	}
	wantValue(t, st, []byte("a"), []byte("1"))
	err = st.Scan(ctx, nil, nil, func(k, v []byte) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan with cancelled ctx = %v, want context.Canceled", err)
	}

	// Cancelling during a scan stops it before the next key.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	seen := 0
	err = st.Scan(ctx, nil, nil, func(k, v []byte) error {
		seen++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan cancelled mid-way = %v, want context.Canceled", err)
	}
	if seen != 1 {
		t.Errorf("Scan called fn %d times after ctx was cancelled in the first call, want 1", seen)
	}
}

// testRandomModel applies a seeded random mix of operations to the store and
// to a map, and checks that every Get and Scan agree.
func testRandomModel(t *testing.T, st storage.Store) {
	rng := rand.New(rand.NewPCG(uint64(Seed(t)), 0))
	model := map[string]string{}
	// A small alphabet makes collisions, deletes of existing keys and
	// prefix-related keys common.
	randKey := func() []byte {
		n := 1 + rng.IntN(3)
		k := make([]byte, n)
		for i := range k {
			k[i] = []byte{'a', 'b', 0, 0xff}[rng.IntN(4)]
		}
		return k
	}
	for i := range 600 {
		k := randKey()
		switch op := rng.IntN(10); {
		case op < 4: // set
			v := fmt.Sprintf("v%d", i)
			put(t, st, k, []byte(v))
			model[string(k)] = v
		case op < 5: // delete
			if err := st.Update(t.Context(), k, func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey }); err != nil {
				t.Fatalf("op %d delete %q: %v", i, k, err)
			}
			delete(model, string(k))
		case op < 6: // skip, checking old on the way
			err := st.Update(t.Context(), k, func(old []byte, found bool) ([]byte, error) {
				if mv, ok := model[string(k)]; ok != found || string(old) != mv {
					return nil, fmt.Errorf("fn saw (%q, %v), model has (%q, %v)", old, found, mv, ok)
				}
				return nil, storage.ErrSkipWrite
			})
			if err != nil {
				t.Fatalf("op %d skip %q: %v", i, k, err)
			}
		case op < 8: // get
			got, found := get(t, st, k)
			if mv, ok := model[string(k)]; ok != found || string(got) != mv {
				t.Fatalf("op %d Get(%q) = (%q, %v), model has (%q, %v)", i, k, got, found, mv, ok)
			}
		default: // scan a random range
			var start, end []byte
			if rng.IntN(3) > 0 {
				start = randKey()
			}
			switch rng.IntN(4) {
			case 0: // nil: unbounded
			case 1:
				end = []byte{} // empty: unbounded too
			default:
				end = randKey()
			}
			var want []kv
			for mk, mv := range model {
				if mk >= string(start) && (len(end) == 0 || mk < string(end)) {
					want = append(want, kv{mk, mv})
				}
			}
			slices.SortFunc(want, func(a, b kv) int { return bytes.Compare([]byte(a.k), []byte(b.k)) })
			if got := scanAll(t, st, start, end); !slices.Equal(got, want) {
				t.Fatalf("op %d Scan(%q, %q) = %q, model has %q", i, start, end, got, want)
			}
		}
	}
}
