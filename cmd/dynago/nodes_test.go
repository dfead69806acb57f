package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/storage/memory"
)

// The CLI's tests run it against real nodes started in this process
// (kvNode) wherever a node can give the answer the test needs, and against
// apiServer (apiserver_test.go), a scripted server that answers with the
// node/api types, for the views whose exact numbers a test prints (a
// leaving node's progress, a plan, a peer's last exchange) and for faults
// a healthy node does not produce on demand.

// recorded is one request a test server received.
type recorded struct {
	Method  string
	RawPath string // escaped path as sent
	Query   url.Values
	Header  http.Header
	Body    []byte
}

// recorder keeps the requests a test server received.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

// record reads r's body, keeps the request, and puts the body back.
func (rc *recorder) record(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reqs = append(rc.reqs, recorded{Method: r.Method, RawPath: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// kvNode is a real one-node cluster in this process, in memory, behind a
// proxy that records what the CLI sends. Tests set up keys and check the
// outcome through direct, not through the proxy, so only the CLI's own
// requests are recorded.
type kvNode struct {
	recorder
	t      *testing.T
	proxy  *httptest.Server
	direct *client.Client
}

// kvNodeConfig is the test node's configuration: N=1, R=W=1, so every
// symbolic quorum (one, quorum, all) is 1.
func kvNodeConfig(name string) node.Config {
	c := node.DefaultConfig()
	c.Name = name
	c.HTTPAddr, c.RPCAddr, c.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Logger = slog.New(slog.DiscardHandler)
	c.Ring.Partitions, c.Ring.N = 8, 1
	c.Quorum.N, c.Quorum.R, c.Quorum.W = 1, 1, 1
	return c
}

// newKVNode starts a node with kvNodeConfig changed by mutate (if not nil)
// and the recording proxy in front of it; both stop at the test's end.
func newKVNode(t *testing.T, mutate func(*node.Config)) *kvNode {
	t.Helper()
	cfg := kvNodeConfig("n1")
	if mutate != nil {
		mutate(&cfg)
	}
	n, err := node.New(cfg, memory.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("node stopped at start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("node not ready in 20s")
	}
	target, _ := url.Parse("http://" + n.HTTPAddr())
	kn := &kvNode{t: t}
	rp := httputil.NewSingleHostReverseProxy(target)
	kn.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kn.record(r)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(kn.proxy.Close)
	if kn.direct, err = client.New([]string{target.String()}); err != nil {
		t.Fatal(err)
	}
	return kn
}

// URL is where the CLI talks to the node (through the proxy).
func (kn *kvNode) URL() string { return kn.proxy.URL }

// put writes values under key as blind writes: several make siblings.
func (kn *kvNode) put(key string, values ...string) {
	kn.t.Helper()
	for _, v := range values {
		if _, err := kn.direct.Put(context.Background(), key, []byte(v), nil); err != nil {
			kn.t.Fatal(err)
		}
	}
}

// state returns key's live values and its causal context (of its
// tombstones when it has no live value).
func (kn *kvNode) state(key string) (values []string, vctx string) {
	kn.t.Helper()
	res, err := kn.direct.Get(context.Background(), key, nil)
	var e *client.Error
	switch {
	case errors.Is(err, client.ErrNotFound) && errors.As(err, &e):
		return nil, e.Context
	case err != nil:
		kn.t.Fatal(err)
	}
	for _, s := range res.Siblings {
		values = append(values, string(s))
	}
	return values, res.Context
}

// context returns key's causal context.
func (kn *kvNode) context(key string) string {
	_, c := kn.state(key)
	return c
}

// del deletes what key holds.
func (kn *kvNode) del(key string) {
	kn.t.Helper()
	if _, err := kn.direct.Delete(context.Background(), key, &client.WriteOptions{Context: kn.context(key)}); err != nil {
		kn.t.Fatal(err)
	}
}

// loneN3 configures a node alone in a cluster of N=3 (R=W=1): a request
// that asks for 2 replicas is refused with a definite 503 (only 1 alive).
func loneN3(c *node.Config) {
	c.Ring.N, c.Quorum.N = 3, 3
}

// result is what one CLI run produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the app with args (without the program name) and stdin.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Reader = strings.NewReader(stdin)
	app.Writer = &out
	app.ErrWriter = &errOut
	code := run(context.Background(), app, append([]string{"dynago"}, args...))
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}
