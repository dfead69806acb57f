package storage

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestCallUpdateFn(t *testing.T) {
	errFn := errors.New("fn error")
	tests := []struct {
		name    string
		fn      func(old []byte, found bool) ([]byte, error)
		wantNV  string
		wantErr error // compared with ==: fn's own errors come back unchanged
		panics  bool
	}{
		{"result", func(old []byte, _ bool) ([]byte, error) { return append(old, '!'), nil }, "old!", nil, false},
		{"fn error unchanged", func([]byte, bool) ([]byte, error) { return nil, errFn }, "", errFn, false},
		{"skip unchanged", func([]byte, bool) ([]byte, error) { return nil, ErrSkipWrite }, "", ErrSkipWrite, false},
		{"panic", func([]byte, bool) ([]byte, error) { panic("boom") }, "", nil, true},
		{"panic with nil", func([]byte, bool) ([]byte, error) { panic(nil) }, "", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nv, err := CallUpdateFn(tc.fn, []byte("old"), true)
			if tc.panics {
				if !errors.Is(err, ErrPanic) || nv != nil {
					t.Fatalf("CallUpdateFn = %q, %v; want nil, ErrPanic", nv, err)
				}
				if !strings.Contains(err.Error(), "TestCallUpdateFn") {
					t.Errorf("ErrPanic message lacks the panicking frame:\n%s", err)
				}
				return
			}
			if err != tc.wantErr || string(nv) != tc.wantNV {
				t.Fatalf("CallUpdateFn = %q, %v; want %q, %v", nv, err, tc.wantNV, tc.wantErr)
			}
		})
	}
}

func TestPanicStack(t *testing.T) {
	frame := func(name string) string { return name + "()\n\t/src/" + name + ".go:1 +0x1\n" }
	head := "goroutine 7 [running]:\n" + frame("runtime/debug.Stack") + frame("storage.CallUpdateFn.func1") +
		"panic({0x1, 0x2})\n\t/go/src/runtime/panic.go:1 +0x1\n"
	long := strings.Repeat(frame("deep"), maxPanicStack/len(frame("deep"))+10)
	tests := []struct {
		name, in, want string
	}{
		{"from the panicking frame", head + frame("fn") + frame("caller"), strings.TrimSuffix(frame("fn")+frame("caller"), "\n")},
		{"no panic line: kept", frame("a") + frame("b"), strings.TrimSuffix(frame("a")+frame("b"), "\n")},
		{"long: cut at a line end", head + long, long[:strings.LastIndexByte(long[:maxPanicStack], '\n')] + "\n\t..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			orig := bytes.Clone(in)
			if got := string(panicStack(in)); got != tc.want {
				t.Fatalf("panicStack =\n%q\nwant\n%q", got, tc.want)
			}
			if !bytes.Equal(in, orig) {
				t.Fatalf("panicStack modified its input")
			}
		})
	}
}
