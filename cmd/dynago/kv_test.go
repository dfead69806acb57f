package main

import (
	"encoding/base64"
	"encoding/json"
	"github.com/urfave/cli/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/api"
)

func TestMain(m *testing.M) {
	// The CLI reads DYNAGO_* variables; a developer's own settings must not
	// leak into the tests.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "DYNAGO_") {
			os.Unsetenv(k)
		}
	}
	os.Exit(m.Run())
}

// ctxOf replaces {ctx} in each of ss with vctx.
func ctxOf(vctx string, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ReplaceAll(s, "{ctx}", vctx)
	}
	return out
}

// server is what a CLI test talks to: a real node or the scripted server.
type server interface {
	URL() string
	requests() []recorded
}

func TestGet(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(n *kvNode) // on a real node (kvNodeConfig changed by node)
		node       func(*node.Config)
		scripted   *api.Error // answer from the scripted server with this error (status 500)
		key        string     // whose context replaces {ctx}; "k" if empty
		args       []string
		wantCode   int
		wantStdout []string // substrings (exact when wantExact); {ctx} is the key's context
		wantExact  bool
		wantStderr []string
		wantQuery  map[string]string
	}{
		{
			name:       "one value prints it raw and the context on stderr",
			setup:      func(n *kvNode) { n.put("k", "hello") },
			args:       []string{"get", "k"},
			wantStdout: []string{"hello"},
			wantExact:  true,
			wantStderr: []string{"context: {ctx}"},
		},
		{
			name:       "params are sent as query",
			setup:      func(n *kvNode) { n.put("k", "v") },
			args:       []string{"get", "--r", "1", "--pr", "1", "--timeout", "1500ms", "k"},
			wantStdout: []string{"v"},
			wantExact:  true,
			wantQuery:  map[string]string{"r": "1", "pr": "1", "timeout": "1500"},
		},
		{
			name:       "symbolic quorum",
			setup:      func(n *kvNode) { n.put("k", "v") },
			args:       []string{"get", "--r", "quorum", "k"},
			wantStdout: []string{"v"},
			wantQuery:  map[string]string{"r": "quorum"},
		},
		{
			name:  "siblings are listed with the resolving context",
			setup: func(n *kvNode) { n.put("k", "left", "right") },
			args:  []string{"get", "k"},
			wantStdout: []string{"2 siblings", "--- sibling 1 (4 bytes)\nleft", "--- sibling 2 (5 bytes)\nright",
				"context: {ctx}", "dynago put --context {ctx} k VALUE"},
		},
		{
			name:       "binary sibling is shown as base64",
			setup:      func(n *kvNode) { n.put("k", "a", "\x00\x01") },
			args:       []string{"get", "k"},
			wantStdout: []string{"base64:AAE="},
		},
		{
			name:       "not found exits 1",
			args:       []string{"get", "missing"},
			wantCode:   1,
			wantStderr: []string{"get missing: not found"},
		},
		{
			name:       "tombstone context is shown for not found",
			setup:      func(n *kvNode) { n.put("gone", "v"); n.del("gone") },
			key:        "gone",
			args:       []string{"get", "gone"},
			wantCode:   1,
			wantStderr: []string{"context: {ctx}", "not found"},
		},
		{
			name:       "503 shows the server's message and exits 1",
			node:       loneN3,
			args:       []string{"get", "--r", "2", "k"},
			wantCode:   1,
			wantStderr: []string{"503 Service Unavailable", "read needs 2 replicas", "code unavailable", `alive=["n1"]`},
			wantQuery:  map[string]string{"r": "2"},
		},
		{
			name:       "500 exits 1",
			scripted:   &api.Error{Message: "http GET /kv/k: boom", Code: "internal"},
			args:       []string{"get", "k"},
			wantCode:   1,
			wantStderr: []string{"500 Internal Server Error"},
		},
		{
			name:       "verbose prints the report",
			setup:      func(n *kvNode) { n.put("k", "v") },
			args:       []string{"get", "-v", "k"},
			wantStderr: []string{"report: r=1 pr=0 replies=1 siblings=1"},
		},
		{
			name:       "verbose prints the report of a failure too",
			node:       loneN3,
			args:       []string{"get", "--verbose", "--r", "2", "k"},
			wantCode:   1,
			wantStderr: []string{"report: r=2 pr=0 replies=0"},
			wantQuery:  map[string]string{"r": "2"},
		},
		{
			name:       "key with slash and space is path-escaped",
			setup:      func(n *kvNode) { n.put("a/b c", "v") },
			args:       []string{"get", "a/b c"},
			wantStdout: []string{"v"},
			wantExact:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srv server
			vctx := ""
			if tc.scripted != nil {
				s := newAPIServer(t)
				s.fail("GET /kv/k", http.StatusInternalServerError, *tc.scripted)
				srv = s
			} else {
				n := newKVNode(t, tc.node)
				if tc.setup != nil {
					tc.setup(n)
				}
				key := tc.key
				if key == "" {
					key = "k"
				}
				if tc.node == nil {
					vctx = n.context(key)
				}
				srv = n
			}
			res := runCLI(t, "", append([]string{tc.args[0], "--addr", srv.URL()}, tc.args[1:]...)...)
			if res.code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\n%s", res.code, tc.wantCode, res)
			}
			wantStdout, wantStderr := ctxOf(vctx, tc.wantStdout), ctxOf(vctx, tc.wantStderr)
			if vctx == "" && strings.Contains(strings.Join(append(tc.wantStdout, tc.wantStderr...), ""), "{ctx}") {
				t.Fatal("the key has no context to expect")
			}
			if tc.wantExact && res.stdout != wantStdout[0] {
				t.Errorf("stdout %q, want exactly %q", res.stdout, wantStdout[0])
			}
			for _, s := range wantStdout {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("stdout lacks %q\n%s", s, res)
				}
			}
			for _, s := range wantStderr {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, res)
				}
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodGet || !strings.HasPrefix(r.RawPath, "/kv/") {
				t.Errorf("request %s %s, want GET /kv/...", r.Method, r.RawPath)
			}
			if r.RawPath == "/kv/a/b c" || strings.Contains(r.RawPath, " ") {
				t.Errorf("key not escaped: %q", r.RawPath)
			}
			for k, v := range tc.wantQuery {
				if got := r.Query.Get(k); got != v {
					t.Errorf("query %s=%q, want %q", k, got, v)
				}
			}
			if tc.wantQuery == nil && len(r.Query) != 0 {
				t.Errorf("query %v, want none (node defaults)", r.Query)
			}
		})
	}
}

func TestGetJSON(t *testing.T) {
	tests := []struct {
		name      string
		values    []string
		wantCode  int
		wantFound bool
	}{
		{"one value", []string{"v1"}, 0, true},
		{"siblings", []string{"v1", "v2"}, 0, true},
		{"not found", nil, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newKVNode(t, nil)
			f.put("k", tc.values...)
			res := runCLI(t, "", "get", "--addr", f.URL(), "--json", "k")
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.wantCode, res)
			}
			var out struct {
				Found    bool   `json:"found"`
				Context  string `json:"context"`
				Siblings []struct {
					Value string `json:"value"`
				} `json:"siblings"`
			}
			if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, res)
			}
			if out.Found != tc.wantFound {
				t.Errorf("found %v, want %v", out.Found, tc.wantFound)
			}
			var got []string
			for _, s := range out.Siblings {
				b, err := base64.StdEncoding.DecodeString(s.Value)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			if !slices.Equal(got, tc.values) {
				t.Errorf("siblings %q, want %q", got, tc.values)
			}
			if r := f.requests()[0]; r.Header.Get("Accept") != "application/json" {
				t.Errorf("Accept %q, want application/json", r.Header.Get("Accept"))
			}
		})
	}
}

func TestPut(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(n *kvNode) // on a real node (kvNodeConfig changed by node)
		node        func(*node.Config)
		scripted    *api.Error // answer from the scripted server with this error (status 503)
		stdin       string
		args        []string // {ctx} is the key's context before the run
		wantCode    int
		wantBody    string
		wantContext string // header the server got; {ctx} as in args
		wantQuery   map[string]string
		wantStdout  string   // {ctx} is the key's context after the run
		wantStderr  []string // substrings
		wantValues  []string // the node's state afterwards
	}{
		{
			name:       "value argument, blind",
			args:       []string{"k", "hello"},
			wantBody:   "hello",
			wantStdout: "stored; context: {ctx}\n",
			wantValues: []string{"hello"},
		},
		{
			name:       "value from stdin when absent",
			stdin:      "from\nstdin",
			args:       []string{"k"},
			wantBody:   "from\nstdin",
			wantValues: []string{"from\nstdin"},
		},
		{
			name:       "value from stdin with -",
			stdin:      "dash",
			args:       []string{"k", "-"},
			wantBody:   "dash",
			wantValues: []string{"dash"},
		},
		{
			name:       "empty value",
			args:       []string{"k", ""},
			wantBody:   "",
			wantValues: []string{""},
		},
		{
			name:        "context resolves siblings",
			setup:       func(n *kvNode) { n.put("k", "a", "b") },
			args:        []string{"--context", "{ctx}", "--w", "all", "--pw", "1", "--timeout", "2s", "k", "merged"},
			wantBody:    "merged",
			wantContext: "{ctx}",
			wantQuery:   map[string]string{"w": "all", "pw": "1", "timeout": "2000"},
			wantValues:  []string{"merged"},
		},
		{
			name:       "blind write makes a sibling",
			setup:      func(n *kvNode) { n.put("k", "a") },
			args:       []string{"k", "b"},
			wantBody:   "b",
			wantValues: []string{"a", "b"},
		},
		{
			name: "503 is indeterminate and exits 1",
			scripted: &api.Error{Message: "write quorum not met: 1 of w=2 acks (1 of pw=0 from primaries); the write is indeterminate: it is stored on [n1] and may appear later",
				Code: "write_indeterminate", Indeterminate: api.Ptr(true), W: api.Ptr(2), PW: api.Ptr(0), Acks: api.Ptr(1),
				Acked: []string{"n1"}, Failed: []string{}, Pending: []string{"n2"}},
			args:       []string{"k", "v"},
			wantCode:   1,
			wantBody:   "v",
			wantStderr: []string{"quorum not met", "indeterminate", "acks=1", `acked=["n1"]`},
		},
		{
			name:       "a definite 503 exits 1",
			node:       loneN3,
			args:       []string{"--w", "2", "k", "v"},
			wantCode:   1,
			wantBody:   "v",
			wantQuery:  map[string]string{"w": "2"},
			wantStderr: []string{"503 Service Unavailable", "nothing was written", "acks=0", "indeterminate=false"},
		},
		{
			name:       "409 too many siblings exits 1",
			node:       func(c *node.Config) { c.MaxSiblings = 1 },
			setup:      func(n *kvNode) { n.put("k", "a") },
			args:       []string{"k", "v"},
			wantCode:   1,
			wantBody:   "v",
			wantStderr: []string{"409 Conflict", "too_many_siblings"},
			wantValues: []string{"a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var srv server
			var n *kvNode
			if tc.scripted != nil {
				s := newAPIServer(t)
				s.fail("PUT /kv/k", http.StatusServiceUnavailable, *tc.scripted)
				srv = s
			} else {
				n = newKVNode(t, tc.node)
				if tc.setup != nil {
					tc.setup(n)
				}
				srv = n
			}
			before := ""
			if n != nil {
				before = n.context("k")
			}
			res := runCLI(t, tc.stdin, append([]string{"put", "--addr", srv.URL()}, ctxOf(before, tc.args)...)...)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.wantCode, res)
			}
			reqs := srv.requests()
			if len(reqs) != 1 {
				t.Fatalf("server got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPut || r.RawPath != "/kv/k" {
				t.Errorf("request %s %s, want PUT /kv/k", r.Method, r.RawPath)
			}
			if string(r.Body) != tc.wantBody {
				t.Errorf("body %q, want %q", r.Body, tc.wantBody)
			}
			if want := strings.ReplaceAll(tc.wantContext, "{ctx}", before); r.Header.Get("X-Dynago-Context") != want || (want == "" && tc.wantContext != "") {
				t.Errorf("context header %q, want %q", r.Header.Get("X-Dynago-Context"), want)
			}
			for k, v := range tc.wantQuery {
				if got := r.Query.Get(k); got != v {
					t.Errorf("query %s=%q, want %q", k, got, v)
				}
			}
			if tc.wantStdout != "" {
				if want := strings.ReplaceAll(tc.wantStdout, "{ctx}", n.context("k")); res.stdout != want {
					t.Errorf("stdout %q, want %q", res.stdout, want)
				}
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, res)
				}
			}
			if tc.wantValues != nil {
				if got, _ := n.state("k"); !slices.Equal(got, tc.wantValues) {
					t.Errorf("stored %q, want %q", got, tc.wantValues)
				}
			}
		})
	}
}

func TestPutJSON(t *testing.T) {
	f := newKVNode(t, nil)
	res := runCLI(t, "", "put", "--addr", f.URL(), "--json", "k", "v")
	if res.code != 0 {
		t.Fatal(res)
	}
	var out struct {
		Status  int    `json:"status"`
		Context string `json:"context"`
		Report  string `json:"report"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res)
	}
	if out.Status != 204 || out.Context != f.context("k") || !strings.HasPrefix(out.Report, "w=1 pw=0 acks=1") {
		t.Errorf("got %+v", out)
	}

	// A failure in --json mode prints the server's error JSON on stdout.
	lone := newKVNode(t, loneN3)
	res = runCLI(t, "", "put", "--addr", lone.URL(), "--json", "--w", "2", "bad", "v")
	if res.code != 1 {
		t.Fatal(res)
	}
	var e api.Error
	if err := json.Unmarshal([]byte(res.stdout), &e); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res)
	}
	if e.Code != "unavailable" || e.Acks == nil || *e.Acks != 0 {
		t.Errorf("got %+v", e)
	}
}

// TestReadModifyWrite drives get → put --context → get through a node,
// the way a user resolves siblings.
func TestReadModifyWrite(t *testing.T) {
	f := newKVNode(t, nil)
	for _, v := range []string{"a", "b"} {
		if res := runCLI(t, "", "put", "--addr", f.URL(), "k", v); res.code != 0 {
			t.Fatal(res)
		}
	}
	res := runCLI(t, "", "get", "--addr", f.URL(), "--json", "k")
	var g struct {
		Context  string
		Siblings []struct{ Value string }
	}
	if err := json.Unmarshal([]byte(res.stdout), &g); err != nil || len(g.Siblings) != 2 {
		t.Fatalf("want 2 siblings: %v\n%s", err, res)
	}
	if res := runCLI(t, "", "put", "--addr", f.URL(), "--context", g.Context, "k", "ab"); res.code != 0 {
		t.Fatal(res)
	}
	res = runCLI(t, "", "get", "--addr", f.URL(), "k")
	if res.code != 0 || res.stdout != "ab" {
		t.Fatalf("after resolving: %s", res)
	}
}

func TestDelete(t *testing.T) {
	t.Run("with context", func(t *testing.T) {
		f := newKVNode(t, nil)
		f.put("k", "v")
		vctx := f.context("k")
		res := runCLI(t, "", "delete", "--addr", f.URL(), "--context", vctx, "--w", "1", "k")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "deleted") {
			t.Fatal(res)
		}
		reqs := f.requests()
		if len(reqs) != 1 || reqs[0].Method != http.MethodDelete || reqs[0].RawPath != "/kv/k" {
			t.Fatalf("requests %+v, want one DELETE /kv/k", reqs)
		}
		if reqs[0].Header.Get("X-Dynago-Context") != vctx || reqs[0].Query.Get("w") != "1" {
			t.Errorf("DELETE header/query: %v %v", reqs[0].Header, reqs[0].Query)
		}
		if vs, _ := f.state("k"); len(vs) != 0 {
			t.Error("value still live")
		}
	})
	t.Run("without context reads first", func(t *testing.T) {
		f := newKVNode(t, nil)
		f.put("k", "a", "b")
		vctx := f.context("k")
		res := runCLI(t, "", "delete", "--addr", f.URL(), "--r", "all", "k")
		if res.code != 0 {
			t.Fatal(res)
		}
		reqs := f.requests()
		if len(reqs) != 2 || reqs[0].Method != http.MethodGet || reqs[1].Method != http.MethodDelete {
			t.Fatalf("requests %+v, want GET then DELETE", reqs)
		}
		if reqs[0].Query.Get("r") != "all" || reqs[1].Header.Get("X-Dynago-Context") != vctx {
			t.Errorf("GET query %v, DELETE context %q", reqs[0].Query, reqs[1].Header.Get("X-Dynago-Context"))
		}
		if vs, _ := f.state("k"); len(vs) != 0 {
			t.Error("values still live")
		}
	})
	t.Run("missing key exits 1 without deleting", func(t *testing.T) {
		f := newKVNode(t, nil)
		res := runCLI(t, "", "delete", "--addr", f.URL(), "k")
		if res.code != 1 || !strings.Contains(res.stderr, "not found") {
			t.Fatal(res)
		}
		if reqs := f.requests(); len(reqs) != 1 || reqs[0].Method != http.MethodGet {
			t.Fatalf("requests %+v, want only the GET", reqs)
		}
	})
	t.Run("bad context shows the server error", func(t *testing.T) {
		f := newKVNode(t, nil)
		f.put("k", "v")
		res := runCLI(t, "", "delete", "--addr", f.URL(), "--context", "ctx-1", "k")
		// A malformed context is bad usage, found by the node (issue 14:
		// the same mistake exits 2 wherever it is caught).
		if res.code != 2 || !strings.Contains(res.stderr, "400 Bad Request: X-Dynago-Context: ") || !strings.Contains(res.stderr, "bad_context") {
			t.Fatal(res)
		}
		if vs, _ := f.state("k"); !slices.Equal(vs, []string{"v"}) {
			t.Errorf("values %q after a refused delete", vs)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "a command is required"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"get", "--bogus", "k"}, "flag provided but not defined: -bogus"},
		{"missing KEY", []string{"get"}, "missing argument"},
		{"extra argument", []string{"get", "a", "b"}, `unexpected argument "b"`},
		{"flag after argument", []string{"get", "k", "--r", "2"}, `move "--r" before KEY`},
		{"bad --r", []string{"get", "--r", "most", "k"}, `--r "most"`},
		{"zero --r", []string{"get", "--r", "0", "k"}, `--r "0"`},
		{"negative --pr", []string{"get", "--pr", "-1", "k"}, `--pr "-1"`},
		{"bad --w", []string{"put", "--w", "x", "k", "v"}, `--w "x"`},
		{"bad duration", []string{"get", "--timeout", "soon", "k"}, "invalid value"},
		{"put missing KEY", []string{"put"}, "missing argument"},
		{"put too many", []string{"put", "k", "v", "w"}, "unexpected argument"},
		{"empty key", []string{"get", ""}, "a key must be 1 to 1024 bytes"},
		{"long key", []string{"get", strings.Repeat("k", 1025)}, "a key must be 1 to 1024 bytes"},
		{"bad addr", []string{"get", "--addr", "ftp://x", "k"}, "scheme must be http or https"},
		{"join without seeds", []string{"join"}, "missing argument"},
		{"join bad seed", []string{"join", "nohost"}, "want a gossip host:port"},
		{"remove without node", []string{"remove"}, "missing argument"},
		{"members with argument", []string{"members", "x"}, "unexpected argument"},
		{"agent without name", []string{"agent"}, "--name is required"},
		{"bench bad ratio", []string{"bench", "--read-ratio", "2"}, "read ratio"},
		{"bench zero rounds", []string{"bench", "--rounds", "0"}, "--rounds"},
		{"demo zero nodes", []string{"demo", "--nodes", "0"}, "nodes must be between"},
		{"demo overlapping ports", []string{"demo", "--base-port", "7945"}, "overlap"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newAPIServer(t)
			t.Setenv("DYNAGO_ADDR", f.URL())
			res := runCLI(t, "", tc.args...)
			if res.code != 2 {
				t.Fatalf("exit %d, want 2\n%s", res.code, res)
			}
			if !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("stderr lacks %q\n%s", tc.wantErr, res)
			}
			if !strings.Contains(res.stderr, "--help' for usage") {
				t.Errorf("stderr lacks the help hint\n%s", res)
			}
			if n := len(f.requests()); n != 0 {
				t.Errorf("bad usage sent %d requests", n)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"get", "--help"}, {"help", "put"}, {"bench", "-h"}} {
		res := runCLI(t, "", args...)
		if res.code != 0 || !strings.Contains(res.stdout, "USAGE") {
			t.Errorf("%v: %s", args, res)
		}
	}
}

func TestConnectionRefusedExits1(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	for _, args := range [][]string{{"get", "k"}, {"put", "k", "v"}, {"members"}, {"leave"}} {
		res := runCLI(t, "", append([]string{args[0], "--addr", url}, args[1:]...)...)
		if res.code != 1 || !strings.Contains(res.stderr, "connection refused") {
			t.Errorf("%v: %s", args, res)
		}
	}
}

func TestEnvAddr(t *testing.T) {
	f := newKVNode(t, nil)
	f.put("k", "v")
	t.Setenv("DYNAGO_ADDR", strings.TrimPrefix(f.URL(), "http://")) // host:port works too
	res := runCLI(t, "", "get", "k")
	if res.code != 0 || res.stdout != "v" {
		t.Fatal(res)
	}
	if len(f.requests()) != 1 {
		t.Fatal("request did not reach the DYNAGO_ADDR server")
	}
	// A flag beats the environment.
	other := newKVNode(t, nil)
	other.put("k", "other")
	res = runCLI(t, "", "get", "--addr", other.URL(), "k")
	if res.stdout != "other" {
		t.Fatal(res)
	}
}

func TestEnvParams(t *testing.T) {
	f := newKVNode(t, nil)
	f.put("k", "v")
	t.Setenv("DYNAGO_ADDR", f.URL())
	t.Setenv("DYNAGO_R", "1")
	t.Setenv("DYNAGO_JSON", "true")
	res := runCLI(t, "", "get", "k")
	if res.code != 0 || !json.Valid([]byte(res.stdout)) {
		t.Fatal(res)
	}
	if got := f.requests()[0].Query.Get("r"); got != "1" {
		t.Errorf("r=%q, want 1 from DYNAGO_R", got)
	}
	t.Setenv("DYNAGO_R", "lots")
	if res := runCLI(t, "", "get", "k"); res.code != 2 {
		t.Errorf("bad DYNAGO_R: %s", res)
	}
}

// Every flag of every command and subcommand (keyring list, cert
// create-ca, ...) reads DYNAGO_<FLAG>.
func TestEveryFlagReadsItsEnv(t *testing.T) {
	app := newApp()
	var all []*cli.Command
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			all = append(all, c)
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", app.Commands)
	subs := 0
	for _, cmd := range all {
		if len(cmd.Subcommands) > 0 {
			subs++
		}
		for _, fl := range cmd.Flags {
			name := fl.Names()[0]
			want := envName(name)
			if name == "timeout" && hasFlag(cmd, "addr") {
				// A client's wait, apart from the agent's DYNAGO_TIMEOUT.
				want = clientTimeoutEnv
			}
			ev, ok := fl.(interface{ GetEnvVars() []string })
			if !ok {
				t.Fatalf("%s --%s: no GetEnvVars", cmd.Name, name)
			}
			if got := ev.GetEnvVars(); !slices.Equal(got, []string{want}) {
				t.Errorf("%s --%s reads %v, want [%s]", cmd.Name, name, got, want)
			}
			if u, ok := fl.(interface{ GetUsage() string }); !ok || strings.TrimSpace(u.GetUsage()) == "" {
				t.Errorf("%s --%s has no usage", cmd.Name, name)
			}
		}
	}
	if subs < 3 {
		t.Errorf("%d commands with subcommands, want keyring, cert and token at least", subs)
	}
	if got := envName("data-dir"); got != "DYNAGO_DATA_DIR" {
		t.Errorf("envName(data-dir) = %q", got)
	}
}

// A subcommand's flag reads its variable through the real CLI: keyring
// list finds its node from DYNAGO_ADDR.
func TestSubcommandReadsEnv(t *testing.T) {
	f := newAPIServer(t)
	t.Setenv("DYNAGO_ADDR", f.URL())
	runCLI(t, "", "keyring", "list")
	reqs := f.requests()
	if len(reqs) == 0 || reqs[0].RawPath != "/cluster/keyring" {
		t.Fatalf("keyring list with DYNAGO_ADDR sent %v, want GET /cluster/keyring to the fake node", reqs)
	}
}
