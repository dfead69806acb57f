package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
)

// testNode is one in-process node of a test cluster, driven through its
// HTTP API as a user would.
type testNode struct {
	t      testing.TB
	cfg    Config
	node   *Node
	cancel context.CancelFunc
	done   chan error
	url    string
	hc     *http.Client // nil: httpClient; set for a node serving HTTPS (tls_test.go)
}

type clusterOpts struct {
	n        int
	mutate   func(i int, c *Config)
	noJoin   bool
	inMemory bool
	// resp turns each node's Redis protocol front end on, on a loopback
	// port (testNode.redis connects to it).
	resp bool
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("DYNAGO_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func testConfig(t testing.TB, name string, inMemory bool) Config {
	c := DefaultConfig()
	c.Name = name
	if !inMemory {
		c.DataDir = t.TempDir()
	}
	// Fixed ports below the ephemeral range: a restarted node rebinds
	// them, and an ephemeral port may meanwhile be some connection's
	// source port.
	c.HTTPAddr, c.RPCAddr, c.GossipAddr = freeAddr(t), freeAddr(t), freeAddr(t)
	c.Logger = testLogger(t).With("test", t.Name())
	// Fast failure detection for tests, tolerant of a loaded CI machine.
	c.Gossip = GossipConfig{ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4, GossipInterval: 50 * time.Millisecond}
	c.RequestTimeout = 2 * time.Second
	return c
}

// openTestStore opens a test node's store as cmd/dynago would: badger in
// cfg.DataDir (in memory when empty), without fsync unless the test asks
// (cfg.test.sync), wrapped by cfg.test.wrap.
func openTestStore(t testing.TB, cfg Config) storage.Store {
	t.Helper()
	st, err := badger.Open(badger.Options{Dir: cfg.DataDir, InMemory: cfg.DataDir == "", NoSync: !cfg.test.sync, Logger: cfg.Logger})
	if err != nil {
		t.Fatalf("open store of %s: %v", cfg.Name, err)
	}
	if cfg.test.wrap != nil {
		return cfg.test.wrap(st)
	}
	return st
}

// startNode creates and runs a node; it is stopped at test cleanup.
func startNode(t testing.TB, cfg Config) *testNode {
	t.Helper()
	n, err := New(cfg, openTestStore(t, cfg), nil)
	if err != nil {
		t.Fatalf("new node %s: %v", cfg.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{t: t, cfg: n.cfg, node: n, cancel: cancel, done: make(chan error, 1), url: "http://" + n.HTTPAddr()}
	if cfg.TLS.Client != nil {
		tn.url, tn.hc = "https://"+n.HTTPAddr(), harnessHTTPS(cfg.TLS.Client, cfg.test.clientCert)
	}
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-tn.done:
		t.Fatalf("node %s stopped at start: %v", cfg.Name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("node %s not ready", cfg.Name)
	}
	t.Cleanup(tn.stop)
	return tn
}

// stop shuts the node down cleanly and waits (idempotent).
func (tn *testNode) stop() {
	tn.cancel()
	if tn.done != nil {
		select {
		case <-tn.done:
		case <-time.After(20 * time.Second):
			tn.t.Errorf("node %s did not stop", tn.cfg.Name)
		}
		tn.done = nil
	}
}

// restart starts the node again on the same data dir and addresses.
func (tn *testNode) restart() *testNode {
	tn.stop()
	cfg := tn.cfg
	cfg.Join = nil
	return startNode(tn.t, cfg)
}

func startCluster(t testing.TB, o clusterOpts) []*testNode {
	t.Helper()
	var nodes []*testNode
	for i := range o.n {
		cfg := testConfig(t, fmt.Sprintf("n%d", i+1), o.inMemory)
		if i > 0 && !o.noJoin {
			cfg.Join = []string{nodes[0].cfg.GossipAddr}
		}
		if o.resp {
			cfg.RESPAddr = freeAddr(t)
		}
		if o.mutate != nil {
			o.mutate(i, &cfg)
		}
		nodes = append(nodes, startNode(t, cfg))
	}
	if !o.noJoin {
		waitMembers(t, nodes, o.n)
	}
	return nodes
}

// waitFor polls cond every 50 ms until it holds; the test fails if
// timeout passes or the test's context ends first.
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	waitForEvery(t, what, timeout, 50*time.Millisecond, cond)
}

// waitForEvery is waitFor polling every interval.
func waitForEvery(t testing.TB, what string, timeout, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		case <-tick.C:
		}
	}
}

// loop names a loop's count of completed rounds on one node: count
// returns how many rounds have ended (each is counted at its end).
type loop struct {
	name  string // "n1 claim", for messages
	count func() uint64
}

// waitRounds waits until k rounds of each loop have run wholly after the
// call: until each count has advanced by k+1 (the round in flight at the
// call, which may have looked at the state from before, ends first). An
// assertion after it that something did not happen then says that k
// rounds of the loop that would have done it did not, rather than that
// the test looked too early. A count may fail the test itself (when
// what it guards against is visible before any count).
func waitRounds(t testing.TB, k uint64, loops ...loop) {
	t.Helper()
	start := make([]uint64, len(loops))
	for i, l := range loops {
		start[i] = l.count()
	}
	waitFor(t, fmt.Sprintf("%d more rounds of %d loops", k, len(loops)), 60*time.Second, func() (bool, string) {
		var behind []string
		for i, l := range loops { // every count, each time: one may fail the test
			if got := l.count() - start[i]; got < k+1 {
				behind = append(behind, fmt.Sprintf("%s: %d rounds ended since", l.name, got))
			}
		}
		return len(behind) == 0, strings.Join(behind, "; ")
	})
}

// waitMembers waits until every node sees want ring members, all alive and
// valid (a joining node has pulled its partitions).
func waitMembers(t testing.TB, nodes []*testNode, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d alive members everywhere", want), 30*time.Second, func() (bool, string) {
		for _, tn := range nodes {
			ms := tn.members()
			alive, valid := 0, 0
			for _, m := range ms {
				if m.Alive {
					alive++
				}
				if m.State == "valid" {
					valid++
				}
			}
			if len(ms) != want || alive != want || valid != want {
				return false, fmt.Sprintf("%s sees %d members, %d alive, %d valid (joined, partitions transferred)", tn.cfg.Name, len(ms), alive, valid)
			}
			if st := tn.transfers(); st.Pending != 0 {
				return false, fmt.Sprintf("%s has %d partitions to pull", tn.cfg.Name, st.Pending)
			}
		}
		// Replicas refuse requests made on another ownership table
		// (view.go): wait until all have the same one.
		for _, tn := range nodes[1:] {
			if a, b := nodes[0].node.members.currentView().id, tn.node.members.currentView().id; a != b {
				return false, fmt.Sprintf("%s has table %d, %s has %d", nodes[0].cfg.Name, a.Version, tn.cfg.Name, b.Version)
			}
		}
		// And until every member has said it is ready for that table: a
		// change claimed before would carry older owners as transfer
		// sources (claim.go), which a test stopping a node then waits on.
		c := nodes[0].node.members.clusterSnapshot()
		if c.Table != nil {
			for _, tn := range nodes {
				if m := c.Members[tn.cfg.Name]; m.ReadyAt != c.Table.Version+1 {
					return false, fmt.Sprintf("%s is ready for table %d, not %d", tn.cfg.Name, int64(m.ReadyAt)-1, c.Table.Version)
				}
			}
		}
		return true, ""
	})
}

func (tn *testNode) members() []memberJSON {
	var ms []memberJSON
	resp := tn.do("GET", "/cluster/members", nil, nil)
	if resp.status != 200 {
		tn.t.Fatalf("members: %d %s", resp.status, resp.body)
	}
	if err := json.Unmarshal(resp.body, &ms); err != nil {
		tn.t.Fatal(err)
	}
	return ms
}

type response struct {
	status int
	body   []byte
	header http.Header
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func (tn *testNode) do(method, path string, body []byte, hdr map[string]string) response {
	tn.t.Helper()
	req, err := http.NewRequest(method, tn.url+path, bytes.NewReader(body))
	if err != nil {
		tn.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := httpClient
	if tn.hc != nil {
		hc = tn.hc
	}
	resp, err := hc.Do(req)
	if err != nil {
		tn.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: b, header: resp.Header}
}

func kvPath(key string, params ...string) string {
	p := "/kv/" + url.PathEscape(key)
	if len(params) > 0 {
		p += "?" + strings.Join(params, "&")
	}
	return p
}

func (tn *testNode) put(key, value, ctx string, params ...string) response {
	tn.t.Helper()
	return tn.do("PUT", kvPath(key, params...), []byte(value), map[string]string{headerContext: ctx})
}

func (tn *testNode) get(key string, params ...string) response {
	tn.t.Helper()
	return tn.do("GET", kvPath(key, params...), nil, nil)
}

func (tn *testNode) getJSON(key string, params ...string) (response, kvJSON) {
	tn.t.Helper()
	r := tn.do("GET", kvPath(key, params...), nil, map[string]string{"Accept": "application/json"})
	var kv kvJSON
	if r.status == 200 || r.status == 300 || r.status == 404 {
		if err := json.Unmarshal(r.body, &kv); err != nil {
			tn.t.Fatalf("get %s: %v (%s)", key, err, r.body)
		}
	}
	return r, kv
}

func (tn *testNode) del(key, ctx string, params ...string) response {
	tn.t.Helper()
	return tn.do("DELETE", kvPath(key, params...), nil, map[string]string{headerContext: ctx})
}

// replica returns the node's own stored versions of key.
func (tn *testNode) replica(key string) replicaJSON {
	tn.t.Helper()
	r := tn.do("GET", "/debug/replica/"+url.PathEscape(key), nil, nil)
	if r.status != 200 {
		tn.t.Fatalf("replica %s: %d %s", key, r.status, r.body)
	}
	var rep replicaJSON
	if err := json.Unmarshal(r.body, &rep); err != nil {
		tn.t.Fatal(err)
	}
	return rep
}

type replicaJSON struct {
	Key      string        `json:"key"`
	Versions []versionJSON `json:"versions"`
}

func (r replicaJSON) values() []string {
	var out []string
	for _, v := range r.Versions {
		if !v.Deleted {
			out = append(out, string(v.Value))
		}
	}
	return out
}

func siblingValues(kv kvJSON) []string {
	var out []string
	for _, s := range kv.Siblings {
		out = append(out, string(s.Value))
	}
	return out
}

// freeAddr returns 127.0.0.1:port for a port below Linux's ephemeral range
// (32768+) that was free a moment ago (TCP and UDP, for gossip).
// usedPorts are the ports freeAddr handed out in this process: a port is
// never handed out twice, since a node may not have bound it yet (birthday
// collisions among a dozen random draws were a real flake).
var (
	usedPortsMu sync.Mutex
	usedPorts   = map[int]bool{}
)

func freeAddr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(6000) // 20000-25999; test/ uses 26000-31999
		usedPortsMu.Lock()
		taken := usedPorts[port]
		usedPorts[port] = true
		usedPortsMu.Unlock()
		if taken {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return addr
	}
	t.Fatal("no free port")
	return ""
}
