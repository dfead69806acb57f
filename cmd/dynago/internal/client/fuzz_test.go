package client

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzDecodeGet feeds arbitrary answers to the read decoder: it must never
// panic, and a found result always has a value.
func FuzzDecodeGet(f *testing.F) {
	f.Add(200, "application/octet-stream", []byte("v"), false)
	f.Add(300, "application/json", []byte(`{"context":"c","siblings":[{"value":"YQ=="},{"value":"Yg=="}]}`), false)
	f.Add(200, "application/json", []byte(`{"found":true,"context":"c","siblings":[]}`), true)
	f.Add(404, "application/json", []byte(`{"found":false,"context":"c","siblings":[]}`), true)
	f.Add(503, "application/json", []byte(`{"error":"quorum","code":"unavailable"}`), false)
	f.Add(300, "", []byte(`{"siblings":[{"value":"!"}]}`), false)
	f.Fuzz(func(t *testing.T, status int, ctype string, body []byte, asJSON bool) {
		res := &GetResult{Response: Response{Status: status, Body: body}}
		ok, err := decodeGet(res, ctype, asJSON)
		if !ok {
			if status == http.StatusOK || status == http.StatusMultipleChoices || status == http.StatusNotFound {
				t.Fatalf("status %d reported as a failure", status)
			}
			return
		}
		if err == nil && res.Found && len(res.Values) == 0 {
			t.Fatalf("found without values: %+v", res)
		}
		if err == nil && status == http.StatusOK && !(asJSON && strings.HasPrefix(ctype, "application/json")) && string(res.Values[0]) != string(body) {
			t.Fatalf("raw value %q, body %q", res.Values[0], body)
		}
	})
}

// FuzzNewError checks that any failure body yields a printable *Error.
func FuzzNewError(f *testing.F) {
	f.Add(503, []byte(`{"error":"quorum not met","code":"unavailable","acks":1}`))
	f.Add(500, []byte("plain text"))
	f.Add(400, []byte(`{"error":5,"code":null}`))
	f.Add(409, []byte(`[]`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		resp := &http.Response{StatusCode: status, Header: http.Header{}}
		e := newError("GET", "/kv/k", resp, body)
		msg := e.Error()
		if e.Status != status || !strings.HasPrefix(msg, "GET /kv/k: ") {
			t.Fatalf("status %d message %q", e.Status, msg)
		}
		if e.Extra != nil {
			if _, ok := e.Extra["error"]; ok {
				t.Fatal("error field left in Extra")
			}
		}
	})
}
