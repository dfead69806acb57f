package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
)

// Issue 14's CLI consistency: the same kind of failure gets the same exit
// code and the same JSON, whatever finds it.

// TestBadParamExitsTwoWhereverFound: a quorum the node refuses (r=5 with
// N=1: 400 bad_param) is bad usage, exit 2, as a quorum the CLI refuses
// before sending (-r x).
func TestBadParamExitsTwoWhereverFound(t *testing.T) {
	f := newKVNode(t, nil) // N=1
	f.put("k", "v")
	for _, args := range [][]string{
		{"get", "--r", "x", "k"},
		{"get", "--r", "5", "k"},
		{"get", "-r", "5", "k"},
		{"put", "--w", "x", "k", "v"},
		{"put", "--w", "5", "k", "v"},
		{"delete", "--w", "5", "k"},
		{"get", "--pr", "5", "k"},
	} {
		res := runCLI(t, "", append([]string{args[0], "--addr", f.URL()}, args[1:]...)...)
		if res.code != 2 || !strings.Contains(res.stderr, "--help' for usage") {
			t.Errorf("%v: %s\nwant exit 2 and the help hint", args, res)
		}
	}
}

// TestJSONForEveryOutcome: with --json, stdout is one JSON document
// whatever happened: found, not found, a delete of nothing, a refused
// write, bad usage found after the flags were read, no node listening.
func TestJSONForEveryOutcome(t *testing.T) {
	f := newKVNode(t, nil)
	f.put("k", "v")
	lone := newKVNode(t, loneN3)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	tests := []struct {
		name     string
		args     []string
		code     int
		wantCode string // the JSON's "code", if any
	}{
		{"get found", []string{"get", "--addr", f.URL(), "k"}, 0, ""},
		{"get missing", []string{"get", "--addr", f.URL(), "nope"}, 1, ""},
		{"delete missing", []string{"delete", "--addr", f.URL(), "nope"}, 1, "not_found"},
		{"put refused", []string{"put", "--addr", lone.URL(), "--w", "2", "k", "v"}, 1, "unavailable"},
		{"bad key", []string{"get", "--addr", f.URL(), strings.Repeat("k", 1025)}, 2, "bad_usage"},
		{"bad quorum at the node", []string{"get", "--addr", f.URL(), "--r", "5", "k"}, 2, "bad_param"},
		{"no node", []string{"get", "--addr", downURL, "k"}, 1, "no_response"},
		{"members, no node", []string{"members", "--addr", downURL}, 1, "no_response"},
		{"version", []string{"version"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{tc.args[0], "--json"}, tc.args[1:]...)
			res := runCLI(t, "", args...)
			if res.code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", res.code, tc.code, res)
			}
			var v map[string]any
			dec := json.NewDecoder(strings.NewReader(res.stdout))
			if err := dec.Decode(&v); err != nil || dec.More() {
				t.Fatalf("stdout is not one JSON document (%v)\n%s", err, res)
			}
			if tc.wantCode != "" && v["code"] != tc.wantCode {
				t.Errorf("code %v, want %q\n%s", v["code"], tc.wantCode, res)
			}
		})
	}
}

// TestPutTellsDefiniteFromIndeterminate: a 503 unavailable (nothing
// written) is reported as definite, a 503 write_indeterminate as
// indeterminate; put --help explains both.
func TestPutTellsDefiniteFromIndeterminate(t *testing.T) {
	lone := newKVNode(t, loneN3) // a real node: 1 of 3 replicas
	res := runCLI(t, "", "put", "--addr", lone.URL(), "--w", "2", "k", "v")
	if res.code != 1 || !strings.Contains(res.stderr, "(definite)") || strings.Contains(res.stderr, "the write is indeterminate") {
		t.Errorf("definite 503: %s", res)
	}

	f := newAPIServer(t)
	f.fail("PUT /kv/k", http.StatusServiceUnavailable, api.Error{Code: "write_indeterminate", Message: "1 of 2 acks", Indeterminate: api.Ptr(true)})
	res = runCLI(t, "", "put", "--addr", f.URL(), "k", "v")
	if res.code != 1 || !strings.Contains(res.stderr, "the write is indeterminate") || strings.Contains(res.stderr, "(definite)") {
		t.Errorf("indeterminate 503: %s", res)
	}

	help := runCLI(t, "", "put", "--help")
	for _, w := range []string{"definite", "indeterminate", "unavailable", "write_indeterminate"} {
		if !strings.Contains(help.stdout, w) {
			t.Errorf("put --help lacks %q:\n%s", w, help.stdout)
		}
	}
}

// TestNotDynago: an --addr that answers but is not dynago (a web server's
// 404 page, a 200 to anything) exits 3 and says so, instead of "not found"
// or printing the page as a value.
func TestNotDynago(t *testing.T) {
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html><body>404 Not Found</body></html>"))
	}))
	t.Cleanup(notFound.Close)
	anything := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("welcome"))
	}))
	t.Cleanup(anything.Close)
	for _, tc := range []struct {
		srv  *httptest.Server
		args []string
	}{
		{notFound, []string{"get", "k"}},
		{notFound, []string{"delete", "k"}},
		{notFound, []string{"put", "k", "v"}},
		{notFound, []string{"members"}},
		{anything, []string{"get", "k"}},
		{anything, []string{"put", "k", "v"}},
		// A 200 that is not the contract's JSON, to admin commands.
		{anything, []string{"members"}},
		{anything, []string{"ring"}},
		{anything, []string{"hints"}},
	} {
		res := runCLI(t, "", append([]string{tc.args[0], "--addr", tc.srv.URL}, tc.args[1:]...)...)
		if res.code != 3 || !strings.Contains(res.stderr, "is not a dynago node") || strings.Contains(res.stderr, ": not found") || res.stdout != "" {
			t.Errorf("%v against %s: %s\nwant exit 3 and 'is not a dynago node'", tc.args, tc.srv.URL, res)
		}
	}
	// A real node's "not found" stays exit 1.
	f := newKVNode(t, nil)
	if res := runCLI(t, "", "get", "--addr", f.URL(), "nope"); res.code != 1 || !strings.Contains(res.stderr, "not found") {
		t.Errorf("missing key on a node: %s", res)
	}
}

// TestClientTimeoutEnv: the client commands' --timeout reads
// DYNAGO_CLIENT_TIMEOUT; the agent's DYNAGO_TIMEOUT does not change what
// the CLI asks for.
func TestClientTimeoutEnv(t *testing.T) {
	f := newKVNode(t, nil)
	f.put("k", "v")
	t.Setenv("DYNAGO_TIMEOUT", "3s") // an agent's setting
	if res := runCLI(t, "", "get", "--addr", f.URL(), "k"); res.code != 0 {
		t.Fatal(res)
	}
	t.Setenv("DYNAGO_CLIENT_TIMEOUT", "1500ms")
	if res := runCLI(t, "", "get", "--addr", f.URL(), "k"); res.code != 0 {
		t.Fatal(res)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].Query.Has("timeout") || reqs[1].Query.Get("timeout") != "1500" {
		t.Errorf("timeout params %v, %v: want none (DYNAGO_TIMEOUT is the agent's), then 1500 (DYNAGO_CLIENT_TIMEOUT)", reqs[0].Query, reqs[1].Query)
	}
	if got, want := kvHTTPTimeout(0), defaultServerTimeout+clientMargin; got != want || got > 15*time.Second {
		t.Errorf("kvHTTPTimeout(0) = %v, want %v (the node's default plus the margin)", got, want)
	}
}

// TestClientGivesUpNearTheNodesTimeout: a node that never answers is
// reported after the node's default timeout plus the margin (10 s), not
// after the 65 s the CLI used to wait.
func TestClientGivesUpNearTheNodesTimeout(t *testing.T) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	start := time.Now()
	res := runCLI(t, "", "get", "--addr", hang.URL, "k")
	took := time.Since(start)
	want := defaultServerTimeout + clientMargin
	if res.code != 1 || took < want || took > want+10*time.Second || !strings.Contains(res.stderr, "did not answer in time") {
		t.Errorf("after %v: %s\nwant exit 1 after about %v saying the node did not answer in time", took, res, want)
	}
}

// TestOneNodeStoreFlags: `dynago agent --n 1` alone is a one-node store
// (the way out a lone node's 503 names): the default R and W follow N
// down; an R or W given explicitly is still checked.
func TestOneNodeStoreFlags(t *testing.T) {
	cfg, res := agentConfig(t, "--name", "n1", "--in-memory", "--n", "1")
	if res.code != 0 || cfg.Ring.N != 1 || cfg.Quorum.R != 1 || cfg.Quorum.W != 1 {
		t.Errorf("--n 1: N=%d R=%d W=%d\n%s", cfg.Ring.N, cfg.Quorum.R, cfg.Quorum.W, res)
	}
	if cfg, res := agentConfig(t, "--name", "n1", "--in-memory"); res.code != 0 || cfg.Quorum.R != 2 || cfg.Quorum.W != 2 {
		t.Errorf("defaults: R=%d W=%d\n%s", cfg.Quorum.R, cfg.Quorum.W, res)
	}
	if _, res := agentConfig(t, "--name", "n1", "--in-memory", "--n", "1", "--w", "2"); res.code != 2 {
		t.Errorf("--n 1 --w 2: %s, want bad usage", res)
	}
}
