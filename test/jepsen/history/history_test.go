package history

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
)

func TestCompletePairs(t *testing.T) {
	ops := []Op{
		{Index: 0, Type: Invoke, Process: 1, F: Write, Key: "k", Value: "a", Time: 10},
		{Index: 1, Type: Invoke, Process: 2, F: Read, Key: "k", Time: 11},
		{Index: 2, Type: OK, Process: 2, F: Read, Key: "k", Siblings: []string{"a"}, Context: "c", Time: 12},
		{Index: 3, Type: OK, Process: 1, F: Write, Key: "k", Value: "a", Context: "c2", Time: 13},
		{Index: 4, Type: Invoke, Process: 1, F: Write, Key: "k", Value: "b", Covered: []string{"a"}, Time: 14},
		{Index: 5, Type: Info, Process: 1, F: Write, Key: "k", Value: "b", Error: "timeout", Time: 15},
		{Index: 6, Type: Invoke, Process: 2, F: Delete, Key: "k", Covered: []string{"a"}, Time: 16},
	}
	got, err := Complete(ops)
	if err != nil {
		t.Fatal(err)
	}
	want := []Operation{
		{Process: 1, F: Write, Key: "k", Value: "a", Type: OK, Invoke: 10, Complete: 13, Returned: 13, InvokeIndex: 0, CompleteIndex: 3, Context: "c2"},
		{Process: 2, F: Read, Key: "k", Type: OK, Invoke: 11, Complete: 12, Returned: 12, InvokeIndex: 1, CompleteIndex: 2, Siblings: []string{"a"}, Context: "c"},
		{Process: 1, F: Write, Key: "k", Value: "b", Covered: []string{"a"}, Type: Info, Invoke: 14, Complete: Forever, Returned: 15, InvokeIndex: 4, CompleteIndex: 5, Error: "timeout"},
		{Process: 2, F: Delete, Key: "k", Covered: []string{"a"}, Type: Info, Invoke: 16, Complete: Forever, InvokeIndex: 6, CompleteIndex: -1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Complete:\n got %+v\nwant %+v", got, want)
	}
}

func TestCompleteMalformed(t *testing.T) {
	cases := []struct {
		name string
		ops  []Op
	}{
		{"completion without invoke", []Op{{Type: OK, Process: 1, F: Read}}},
		{"double invoke", []Op{{Type: Invoke, Process: 1, F: Read}, {Index: 1, Type: Invoke, Process: 1, F: Read}}},
		{"unknown type", []Op{{Type: "done", Process: 1, F: Read}}},
		{"completes before invoke", []Op{{Type: Invoke, Process: 1, F: Read, Time: 5}, {Index: 1, Type: OK, Process: 1, F: Read, Time: 4}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Complete(tc.ops); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Complete = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	ops := []Op{
		{Index: 0, Type: Invoke, Process: 1, F: Add, Key: "s", Value: "c1-1|3", Element: 3, Covered: []string{"c0-1|"}, Time: 1},
		{Index: 1, Type: Info, Process: NemesisProcess, F: Nemesis, Fault: "partition", Nodes: []string{"n1", "n2"}, Phase: "start", Time: 2},
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, ops); err != nil {
		t.Fatal(err)
	}
	got, err := ReadJSONL(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, ops)
	}
	if _, err := ReadJSONL(bytes.NewBufferString("{not json}\n")); err == nil {
		t.Fatal("ReadJSONL accepted a bad line")
	}
}

func TestSetValue(t *testing.T) {
	cases := []struct {
		name  string
		id    string
		elems []int64
		want  string
	}{
		{"empty", "c1-1", nil, "c1-1|"},
		{"sorted and deduplicated", "c2-5", []int64{9, 1, 5, 1}, "c2-5|1,5,9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := SetValue(tc.id, tc.elems)
			if v != tc.want {
				t.Fatalf("SetValue = %q, want %q", v, tc.want)
			}
			got, ok := ParseSetValue(v)
			if !ok {
				t.Fatalf("ParseSetValue(%q) failed", v)
			}
			if len(got) != len(uniq(tc.elems)) {
				t.Fatalf("ParseSetValue(%q) = %v", v, got)
			}
		})
	}
	for _, bad := range []string{"no-bar", "x|1,a"} {
		if _, ok := ParseSetValue(bad); ok {
			t.Errorf("ParseSetValue(%q) accepted", bad)
		}
	}
}

func uniq(s []int64) map[int64]bool {
	m := map[int64]bool{}
	for _, e := range s {
		m[e] = true
	}
	return m
}

// Concurrent appends get distinct indexes and strictly increasing times,
// and the file holds exactly what Ops returns.
func TestRecorderConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.jsonl")
	r, err := NewRecorder(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for range 100 {
				inv := r.Append(Op{Type: Invoke, Process: p, F: Read, Key: "k"})
				r.Append(inv.Completion(OK))
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	ops := r.Ops()
	if len(ops) != 1600 {
		t.Fatalf("%d ops, want 1600", len(ops))
	}
	for i, op := range ops {
		if op.Index != i || (i > 0 && op.Time <= ops[i-1].Time) {
			t.Fatalf("op %d: index %d time %d after %d", i, op.Index, op.Time, ops[max(i-1, 0)].Time)
		}
	}
	if _, err := Complete(ops); err != nil {
		t.Fatal(err)
	}
	f, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f, ops) {
		t.Fatal("file and memory histories differ")
	}
}
