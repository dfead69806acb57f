package client

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzDecodeGet feeds arbitrary answers to the read decoder: it must never
// panic, and a success always has a value.
func FuzzDecodeGet(f *testing.F) {
	f.Add(200, "application/octet-stream", []byte("v"), false)
	f.Add(300, "application/json", []byte(`{"context":"c","siblings":[{"value":"YQ=="},{"value":"Yg=="}]}`), false)
	f.Add(200, "application/json", []byte(`{"found":true,"context":"c","siblings":[]}`), true)
	f.Add(404, "application/json", []byte(`{"found":false,"context":"c","siblings":[]}`), true)
	f.Add(503, "application/json", []byte(`{"error":"quorum","code":"unavailable"}`), false)
	f.Add(300, "", []byte(`{"siblings":[{"value":"!"}]}`), false)
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte, asJSON bool) {
		res := &Result{Response: Response{Status: status, Body: body}}
		ok, err := decodeGet(res, ctype, asJSON)
		if !ok {
			if status == http.StatusOK || status == http.StatusMultipleChoices {
				t.Fatalf("status %d reported as a failure", status)
			}
			return
		}
		if err == nil && len(res.Siblings) == 0 {
			t.Fatalf("a success without values: %+v", res)
		}
		if err == nil && status == http.StatusOK && !(asJSON && strings.HasPrefix(ctype, "application/json")) && string(res.Siblings[0]) != string(body) {
			t.Fatalf("raw value %q, body %q", res.Siblings[0], body)
		}
	})
}

// FuzzNewError checks that any failure body yields a printable *Error of
// the right kind.
func FuzzNewError(f *testing.F) {
	f.Add(503, []byte(`{"error":"quorum not met","code":"unavailable","indeterminate":false,"acks":1}`), true)
	f.Add(503, []byte(`{"error":"quorum not met","code":"write_indeterminate","indeterminate":true}`), true)
	f.Add(500, []byte("plain text"), false)
	f.Add(400, []byte(`{"error":5,"code":null,"acks":"x"}`), true)
	f.Add(409, []byte(`[]`), false)
	f.Fuzz(func(t *testing.T, status int, body []byte, write bool) {
		o := opRead
		if write {
			o = opWrite
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		e := newError(o, "http://n", "GET", "/kv/k", resp, body)
		msg := e.Error()
		if e.Status != status || !strings.HasPrefix(msg, "GET /kv/k: ") {
			t.Fatalf("status %d message %q", e.Status, msg)
		}
		if _, ok := e.Extra["error"]; ok {
			t.Fatal("error field left in Extra")
		}
		if write && status >= 500 && !errors.Is(e, ErrUnavailable) && !errors.Is(e, ErrIndeterminate) {
			t.Fatalf("a write's %d is neither definite nor indeterminate", status)
		}
		if errors.Is(e, ErrUnavailable) && errors.Is(e, ErrIndeterminate) {
			t.Fatal("both definite and indeterminate")
		}
	})
}
