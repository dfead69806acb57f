package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
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

func TestGet(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(f *fakeNode)
		args       []string
		wantCode   int
		wantStdout []string // substrings (exact when wantExact)
		wantExact  bool
		wantStderr []string
		wantQuery  map[string]string
	}{
		{
			name:       "one value prints it raw and the context on stderr",
			setup:      func(f *fakeNode) { f.set("k", 7, "hello") },
			args:       []string{"get", "k"},
			wantStdout: []string{"hello"},
			wantExact:  true,
			wantStderr: []string{"context: ctx-7"},
		},
		{
			name:       "params are sent as query",
			setup:      func(f *fakeNode) { f.set("k", 1, "v") },
			args:       []string{"get", "--r", "3", "--pr", "1", "--timeout", "1500ms", "k"},
			wantStdout: []string{"v"},
			wantExact:  true,
			wantQuery:  map[string]string{"r": "3", "pr": "1", "timeout": "1500"},
		},
		{
			name:       "symbolic quorum",
			setup:      func(f *fakeNode) { f.set("k", 1, "v") },
			args:       []string{"get", "--r", "quorum", "k"},
			wantStdout: []string{"v"},
			wantQuery:  map[string]string{"r": "quorum"},
		},
		{
			name:  "siblings are listed with the resolving context",
			setup: func(f *fakeNode) { f.set("k", 4, "left", "right") },
			args:  []string{"get", "k"},
			wantStdout: []string{"2 siblings", "--- sibling 1 (4 bytes)\nleft", "--- sibling 2 (5 bytes)\nright",
				"context: ctx-4", "dynago put --context ctx-4 k VALUE"},
		},
		{
			name:       "binary sibling is shown as base64",
			setup:      func(f *fakeNode) { f.set("k", 4, "a", "\x00\x01") },
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
			setup:      func(f *fakeNode) { f.set("gone", 9) },
			args:       []string{"get", "gone"},
			wantCode:   1,
			wantStderr: []string{"context: ctx-9", "not found"},
		},
		{
			name:       "503 shows the server's message and exits 1",
			setup:      func(f *fakeNode) { f.fail["k"] = http.StatusServiceUnavailable },
			args:       []string{"get", "k"},
			wantCode:   1,
			wantStderr: []string{"503 Service Unavailable", "quorum not met: 1 of 2", "code unavailable", "acks=1"},
		},
		{
			name:       "500 exits 1",
			setup:      func(f *fakeNode) { f.fail["k"] = http.StatusInternalServerError },
			args:       []string{"get", "k"},
			wantCode:   1,
			wantStderr: []string{"500 Internal Server Error"},
		},
		{
			name:       "verbose prints the report",
			setup:      func(f *fakeNode) { f.set("k", 1, "v") },
			args:       []string{"get", "-v", "k"},
			wantStderr: []string{"report: fake report GET"},
		},
		{
			name:       "verbose prints the report of a failure too",
			setup:      func(f *fakeNode) { f.fail["k"] = http.StatusServiceUnavailable },
			args:       []string{"get", "--verbose", "k"},
			wantCode:   1,
			wantStderr: []string{"report: fake report GET"},
		},
		{
			name:       "key with slash and space is path-escaped",
			setup:      func(f *fakeNode) { f.set("a/b c", 1, "v") },
			args:       []string{"get", "a/b c"},
			wantStdout: []string{"v"},
			wantExact:  true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			res := runCLI(t, "", append([]string{tc.args[0], "--addr", f.URL()}, tc.args[1:]...)...)
			if res.code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\n%s", res.code, tc.wantCode, res)
			}
			if tc.wantExact && res.stdout != tc.wantStdout[0] {
				t.Errorf("stdout %q, want exactly %q", res.stdout, tc.wantStdout[0])
			}
			for _, s := range tc.wantStdout {
				if !strings.Contains(res.stdout, s) {
					t.Errorf("stdout lacks %q\n%s", s, res)
				}
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, res)
				}
			}
			reqs := f.requests()
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
			f := newFakeNode(t)
			if tc.values != nil {
				f.set("k", 3, tc.values...)
			}
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
		setup       func(f *fakeNode)
		stdin       string
		args        []string
		wantCode    int
		wantBody    string
		wantContext string // header the server got
		wantQuery   map[string]string
		wantStdout  string
		wantStderr  []string
		wantValues  []string // the fake's state afterwards
	}{
		{
			name:       "value argument, blind",
			args:       []string{"k", "hello"},
			wantBody:   "hello",
			wantStdout: "stored; context: ctx-1\n",
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
			setup:       func(f *fakeNode) { f.set("k", 4, "a", "b") },
			args:        []string{"--context", "ctx-4", "--w", "all", "--pw", "1", "--timeout", "2s", "k", "merged"},
			wantBody:    "merged",
			wantContext: "ctx-4",
			wantQuery:   map[string]string{"w": "all", "pw": "1", "timeout": "2000"},
			wantValues:  []string{"merged"},
		},
		{
			name:       "blind write makes a sibling",
			setup:      func(f *fakeNode) { f.set("k", 4, "a") },
			args:       []string{"k", "b"},
			wantBody:   "b",
			wantValues: []string{"a", "b"},
		},
		{
			name:       "503 is indeterminate and exits 1",
			setup:      func(f *fakeNode) { f.fail["k"] = http.StatusServiceUnavailable },
			args:       []string{"k", "v"},
			wantCode:   1,
			wantBody:   "v",
			wantStderr: []string{"quorum not met", "indeterminate", "acks=1", `replicas=["n1"]`},
		},
		{
			name:       "409 too many siblings exits 1",
			setup:      func(f *fakeNode) { f.fail["k"] = http.StatusConflict },
			args:       []string{"k", "v"},
			wantCode:   1,
			wantBody:   "v",
			wantStderr: []string{"409 Conflict"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeNode(t)
			if tc.setup != nil {
				tc.setup(f)
			}
			res := runCLI(t, tc.stdin, append([]string{"put", "--addr", f.URL()}, tc.args...)...)
			if res.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.wantCode, res)
			}
			reqs := f.requests()
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
			if got := r.Header.Get("X-Dynago-Context"); got != tc.wantContext {
				t.Errorf("context header %q, want %q", got, tc.wantContext)
			}
			for k, v := range tc.wantQuery {
				if got := r.Query.Get(k); got != v {
					t.Errorf("query %s=%q, want %q", k, got, v)
				}
			}
			if tc.wantStdout != "" && res.stdout != tc.wantStdout {
				t.Errorf("stdout %q, want %q", res.stdout, tc.wantStdout)
			}
			for _, s := range tc.wantStderr {
				if !strings.Contains(res.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, res)
				}
			}
			if tc.wantValues != nil {
				if got := f.entry("k").values; !slices.Equal(got, tc.wantValues) {
					t.Errorf("stored %q, want %q", got, tc.wantValues)
				}
			}
		})
	}
}

func TestPutJSON(t *testing.T) {
	f := newFakeNode(t)
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
	if out.Status != 204 || out.Context != "ctx-1" || out.Report != "fake report PUT" {
		t.Errorf("got %+v", out)
	}

	// A failure in --json mode prints the server's error JSON on stdout.
	f.fail["bad"] = http.StatusServiceUnavailable
	res = runCLI(t, "", "put", "--addr", f.URL(), "--json", "bad", "v")
	if res.code != 1 {
		t.Fatal(res)
	}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"code"`
		Acks  int    `json:"acks"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &e); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, res)
	}
	if e.Code != "unavailable" || e.Acks != 1 {
		t.Errorf("got %+v", e)
	}
}

// TestReadModifyWrite drives get → put --context → get through the fake,
// the way a user resolves siblings.
func TestReadModifyWrite(t *testing.T) {
	f := newFakeNode(t)
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
		f := newFakeNode(t)
		f.set("k", 5, "v")
		res := runCLI(t, "", "delete", "--addr", f.URL(), "--context", "ctx-5", "--w", "2", "k")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "deleted") {
			t.Fatal(res)
		}
		reqs := f.requests()
		if len(reqs) != 1 || reqs[0].Method != http.MethodDelete || reqs[0].RawPath != "/kv/k" {
			t.Fatalf("requests %+v, want one DELETE /kv/k", reqs)
		}
		if reqs[0].Header.Get("X-Dynago-Context") != "ctx-5" || reqs[0].Query.Get("w") != "2" {
			t.Errorf("DELETE header/query: %v %v", reqs[0].Header, reqs[0].Query)
		}
		if len(f.entry("k").values) != 0 {
			t.Error("value still live")
		}
	})
	t.Run("without context reads first", func(t *testing.T) {
		f := newFakeNode(t)
		f.set("k", 6, "a", "b")
		res := runCLI(t, "", "delete", "--addr", f.URL(), "--r", "all", "k")
		if res.code != 0 {
			t.Fatal(res)
		}
		reqs := f.requests()
		if len(reqs) != 2 || reqs[0].Method != http.MethodGet || reqs[1].Method != http.MethodDelete {
			t.Fatalf("requests %+v, want GET then DELETE", reqs)
		}
		if reqs[0].Query.Get("r") != "all" || reqs[1].Header.Get("X-Dynago-Context") != "ctx-6" {
			t.Errorf("GET query %v, DELETE context %q", reqs[0].Query, reqs[1].Header.Get("X-Dynago-Context"))
		}
		if len(f.entry("k").values) != 0 {
			t.Error("values still live")
		}
	})
	t.Run("missing key exits 1 without deleting", func(t *testing.T) {
		f := newFakeNode(t)
		res := runCLI(t, "", "delete", "--addr", f.URL(), "k")
		if res.code != 1 || !strings.Contains(res.stderr, "not found") {
			t.Fatal(res)
		}
		if reqs := f.requests(); len(reqs) != 1 || reqs[0].Method != http.MethodGet {
			t.Fatalf("requests %+v, want only the GET", reqs)
		}
	})
	t.Run("stale context shows the server error", func(t *testing.T) {
		f := newFakeNode(t)
		f.set("k", 7, "v")
		res := runCLI(t, "", "delete", "--addr", f.URL(), "--context", "ctx-1", "k")
		if res.code != 1 || !strings.Contains(res.stderr, "stale or missing context") || !strings.Contains(res.stderr, "bad_context") {
			t.Fatal(res)
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
			f := newFakeNode(t)
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
	f := newFakeNode(t)
	f.set("k", 1, "v")
	t.Setenv("DYNAGO_ADDR", strings.TrimPrefix(f.URL(), "http://")) // host:port works too
	res := runCLI(t, "", "get", "k")
	if res.code != 0 || res.stdout != "v" {
		t.Fatal(res)
	}
	if len(f.requests()) != 1 {
		t.Fatal("request did not reach the DYNAGO_ADDR server")
	}
	// A flag beats the environment.
	other := newFakeNode(t)
	other.set("k", 1, "other")
	res = runCLI(t, "", "get", "--addr", other.URL(), "k")
	if res.stdout != "other" {
		t.Fatal(res)
	}
}

func TestEnvParams(t *testing.T) {
	f := newFakeNode(t)
	f.set("k", 1, "v")
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

func TestEveryFlagReadsItsEnv(t *testing.T) {
	app := newApp()
	for _, cmd := range app.Commands {
		for _, fl := range cmd.Flags {
			name := fl.Names()[0]
			want := envName(name)
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
	if got := envName("data-dir"); got != "DYNAGO_DATA_DIR" {
		t.Errorf("envName(data-dir) = %q", got)
	}
}
