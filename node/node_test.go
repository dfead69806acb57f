package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/faulty"
)

// Every R and W from 1 to N works end to end, through every node.
func TestPutGetEveryRW(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	for r := 1; r <= 3; r++ {
		for w := 1; w <= 3; w++ {
			key := fmt.Sprintf("k-r%d-w%d", r, w)
			val := fmt.Sprintf("v-%d-%d", r, w)
			writer, reader := nodes[(r+w)%3], nodes[(r+w+1)%3]
			if resp := writer.put(key, val, "", fmt.Sprintf("w=%d", w)); resp.status != 204 {
				t.Fatalf("put r=%d w=%d: %d %s", r, w, resp.status, resp.body)
			} else if !strings.Contains(resp.header.Get(headerReport), fmt.Sprintf("w=%d", w)) {
				t.Fatalf("report %q", resp.header.Get(headerReport))
			}
			// R+W<=N may legitimately miss a fresh write, so read until the
			// write is visible; with R+W>N the first read must see it.
			if r+w > 3 {
				resp := reader.get(key, fmt.Sprintf("r=%d", r))
				if resp.status != 200 || string(resp.body) != val {
					t.Fatalf("get r=%d after w=%d: %d %q", r, w, resp.status, resp.body)
				}
				if resp.header.Get(headerContext) == "" || !strings.HasPrefix(resp.header.Get(headerReport), fmt.Sprintf("r=%d", r)) {
					t.Fatalf("missing headers: %v", resp.header)
				}
				continue
			}
			waitFor(t, "visible "+key, 5*time.Second, func() (bool, string) {
				resp := reader.get(key, fmt.Sprintf("r=%d", r))
				return resp.status == 200 && string(resp.body) == val, fmt.Sprintf("%d %q", resp.status, resp.body)
			})
		}
	}
	// Named quorum values.
	for _, p := range []string{"one", "quorum", "all"} {
		if resp := nodes[0].put("named-"+p, "x", "", "w="+p); resp.status != 204 {
			t.Fatalf("w=%s: %d %s", p, resp.status, resp.body)
		}
		if resp := nodes[1].get("named-"+p, "r=all"); resp.status != 200 && p == "all" {
			t.Fatalf("r=all after w=%s: %d", p, resp.status)
		}
	}
}

// Two writes with the same stale context become siblings, whichever nodes
// coordinate them, and a write with the merged context resolves them.
func TestSiblingsAndResolution(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	if resp := nodes[0].put("cart", "base", ""); resp.status != 204 {
		t.Fatal(resp.status)
	}
	base := nodes[0].get("cart", "r=3")
	ctx := base.header.Get(headerContext)
	for i, tn := range []*testNode{nodes[1], nodes[2]} {
		if resp := tn.put("cart", fmt.Sprintf("add-%d", i), ctx, "w=3"); resp.status != 204 {
			t.Fatalf("concurrent put %d: %d %s", i, resp.status, resp.body)
		}
	}
	resp := nodes[0].get("cart", "r=3")
	if resp.status != 300 {
		t.Fatalf("want 300 Multiple Choices, got %d %s", resp.status, resp.body)
	}
	var multi struct {
		Context  string    `json:"context"`
		Siblings []sibling `json:"siblings"`
	}
	if err := json.Unmarshal(resp.body, &multi); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range multi.Siblings {
		got = append(got, string(s.Value))
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"add-0", "add-1"}) {
		t.Fatalf("siblings %v", got)
	}
	if multi.Context == "" || multi.Context != resp.header.Get(headerContext) {
		t.Fatalf("context body %q header %q", multi.Context, resp.header.Get(headerContext))
	}
	// Resolve with the context that covers both siblings.
	if resp := nodes[2].put("cart", "add-0,add-1", multi.Context, "w=3"); resp.status != 204 {
		t.Fatal(resp.status)
	}
	for _, tn := range nodes {
		if resp := tn.get("cart", "r=3"); resp.status != 200 || string(resp.body) != "add-0,add-1" {
			t.Fatalf("after resolve via %s: %d %q", tn.cfg.Name, resp.status, resp.body)
		}
	}
	// JSON form of a sibling answer.
	nodes[0].put("cart", "again", multi.Context, "w=3")
	r, kv := nodes[1].getJSON("cart", "r=3")
	if r.status != 300 || len(kv.Siblings) != 2 || !kv.Found || kv.Context == "" {
		t.Fatalf("json siblings: %d %+v", r.status, kv)
	}
}

// The classic server-side clock lost update (two clients, same context,
// same coordinator) cannot happen: both values survive.
func TestNoLostUpdateSameCoordinator(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	nodes[0].put("k", "v0", "", "w=3")
	ctx := nodes[0].get("k", "r=3").header.Get(headerContext)
	nodes[0].put("k", "client-a", ctx, "w=3")
	nodes[0].put("k", "client-b", ctx, "w=3")
	_, kv := nodes[0].getJSON("k", "r=3")
	got := siblingValues(kv)
	slices.Sort(got)
	if !slices.Equal(got, []string{"client-a", "client-b"}) {
		t.Fatalf("want both client writes as siblings, got %v", got)
	}
}

// Concurrent blind writes through every node all survive as siblings.
func TestConcurrentWritesAllSurvive(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	var wg sync.WaitGroup
	for i := range 9 {
		wg.Go(func() {
			if resp := nodes[i%3].put("hot", fmt.Sprintf("w%d", i), "", "w=2"); resp.status != 204 {
				t.Errorf("put %d: %d %s", i, resp.status, resp.body)
			}
		})
	}
	wg.Wait()
	_, kv := nodes[0].getJSON("hot", "r=3")
	if len(kv.Siblings) != 9 {
		t.Fatalf("want 9 siblings, got %v", siblingValues(kv))
	}
}

// A replica that missed a write is repaired by a read.
func TestReadRepair(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) {
		return !nodes[0].node.peers.Alive("n3") && !nodes[1].node.peers.Alive("n3"), "n3 still alive"
	})
	if resp := nodes[0].put("repair-me", "v1", "", "w=2"); resp.status != 204 {
		t.Fatalf("put with n3 down: %d %s", resp.status, resp.body)
	}
	n3 := nodes[2].restart()
	waitMembers(t, []*testNode{nodes[0], nodes[1], n3}, 3)
	if got := n3.replica("repair-me").values(); len(got) != 0 {
		t.Fatalf("n3 has %v before any read; the test needs it stale", got)
	}
	resp := nodes[0].get("repair-me", "r=3")
	if resp.status != 200 || string(resp.body) != "v1" {
		t.Fatalf("read: %d %q", resp.status, resp.body)
	}
	if !strings.Contains(resp.header.Get(headerReport), "repaired=1") {
		t.Fatalf("report %q should count one stale replica", resp.header.Get(headerReport))
	}
	waitFor(t, "n3 repaired", 5*time.Second, func() (bool, string) {
		got := n3.replica("repair-me").values()
		return slices.Equal(got, []string{"v1"}), fmt.Sprintf("n3 has %v", got)
	})
}

// W=N is refused up front with 503 when gossip knows a replica is down:
// nothing is written, so the failure is definite. W=2 still succeeds.
func TestWriteUnavailable(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) {
		return !nodes[0].node.peers.Alive("n3") && !nodes[1].node.peers.Alive("n3"), "n3 still alive"
	})
	for _, via := range nodes[:2] {
		resp := via.put("k", "v", "", "w=3")
		if resp.status != 503 {
			t.Fatalf("w=3 with a replica down: want 503, got %d %s", resp.status, resp.body)
		}
		body := resp.json(t)
		if body["code"] != "unavailable" || body["indeterminate"] != false || body["acks"] != float64(0) {
			t.Fatalf("503 body %v", body)
		}
		if !strings.Contains(body["error"].(string), "nothing was written") {
			t.Fatalf("body %v", body)
		}
	}
	for _, tn := range nodes[:2] {
		if got := tn.replica("k").values(); len(got) != 0 {
			t.Fatalf("a refused write was stored on %s: %v", tn.cfg.Name, got)
		}
	}
	if resp := nodes[1].put("k2", "v", "", "w=2"); resp.status != 204 {
		t.Fatalf("w=2 with one replica down: %d %s", resp.status, resp.body)
	}
	if resp := nodes[1].get("k2", "r=3"); resp.status != 503 || resp.json(t)["code"] != "unavailable" {
		t.Fatalf("r=3 with a replica down: %d %s", resp.status, resp.body)
	}
	if resp := nodes[1].get("k2", "r=2"); resp.status != 200 {
		t.Fatalf("r=2: %d", resp.status)
	}
}

// A write that starts but misses W acks (a replica fails to store it) is a
// 503 that says the write is indeterminate and lists who acked.
func TestWriteIndeterminate(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) {
		if i == 2 {
			c.test.wrap = func(s storage.Store) storage.Store {
				f := faulty.New(s)
				f.Inject(func(op faulty.Op, key []byte) error {
					if op == faulty.OpUpdate && len(key) > 0 && key[0] == storage.PrefixData {
						return errors.New("injected disk failure")
					}
					return nil
				})
				return f
			}
		}
	}})
	resp := nodes[0].put("k", "v", "", "w=3")
	if resp.status != 503 {
		t.Fatalf("want 503, got %d %s", resp.status, resp.body)
	}
	body := resp.json(t)
	if body["code"] != "write_indeterminate" || body["indeterminate"] != true || body["acks"] != float64(2) {
		t.Fatalf("503 body %v", body)
	}
	if acked := fmt.Sprint(body["acked"]); !strings.Contains(acked, "n1") || !strings.Contains(acked, "n2") {
		t.Fatalf("acked %v", acked)
	}
	if !strings.Contains(fmt.Sprint(body["failed"]), "n3") || !strings.Contains(body["error"].(string), "indeterminate") {
		t.Fatalf("body %v", body)
	}
	// Indeterminate means it may be visible: here it is, on two replicas.
	if r := nodes[1].get("k", "r=2"); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("%d %q", r.status, r.body)
	}
	if r := nodes[1].put("k2", "v", "", "w=2"); r.status != 204 {
		t.Fatalf("w=2 with a failing replica: %d %s", r.status, r.body)
	}
}

// Deletes with a context give 404 afterwards, and a re-create with the
// tombstone's context replaces the tombstone.
func TestDeleteAndRecreate(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	nodes[0].put("d", "v1", "", "w=3")
	ctx := nodes[1].get("d", "r=3").header.Get(headerContext)
	if resp := nodes[1].del("d", ctx, "w=3"); resp.status != 204 {
		t.Fatalf("delete: %d %s", resp.status, resp.body)
	}
	for _, tn := range nodes {
		resp := tn.get("d", "r=3")
		if resp.status != 404 {
			t.Fatalf("after delete via %s: %d %q", tn.cfg.Name, resp.status, resp.body)
		}
		if resp.header.Get(headerContext) == "" {
			t.Fatal("404 of a deleted key must carry the tombstone's context")
		}
	}
	tomb := nodes[2].get("d", "r=3").header.Get(headerContext)
	if resp := nodes[2].put("d", "v2", tomb, "w=3"); resp.status != 204 {
		t.Fatal(resp.status)
	}
	for _, tn := range nodes {
		if resp := tn.get("d", "r=3"); resp.status != 200 || string(resp.body) != "v2" {
			t.Fatalf("re-created via %s: %d %q", tn.cfg.Name, resp.status, resp.body)
		}
		if rep := tn.replica("d"); len(rep.Versions) != 1 || rep.Versions[0].Deleted {
			t.Fatalf("%s keeps %+v; the tombstone should be superseded", tn.cfg.Name, rep.Versions)
		}
	}
	// A delete without context removes nothing it didn't see: the value stays
	// as a sibling of the tombstone and is still readable.
	nodes[0].del("d", "", "w=3")
	if resp := nodes[0].get("d", "r=3"); resp.status != 200 || string(resp.body) != "v2" {
		t.Fatalf("blind delete: %d %q", resp.status, resp.body)
	}
}

// Bad input gets its documented 4xx with a JSON body, and the node keeps serving.
func TestBadInput(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) { c.MaxValueBytes = 1024 }})
	tn := nodes[0]
	long := strings.Repeat("k", 1025)
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    map[string]string
		status int
		code   string
	}{
		{"malformed context", "PUT", "/kv/a", "v", map[string]string{headerContext: "!!not-a-token"}, 400, "bad_context"},
		{"truncated context", "PUT", "/kv/a", "v", map[string]string{headerContext: "AQ"}, 400, "bad_context"},
		{"r zero", "GET", "/kv/a?r=0", "", nil, 400, "bad_param"},
		{"r above n", "GET", "/kv/a?r=4", "", nil, 400, "bad_param"},
		{"w above n", "PUT", "/kv/a?w=9", "v", nil, 400, "bad_param"},
		{"w words", "PUT", "/kv/a?w=most", "v", nil, 400, "bad_param"},
		{"pw above n", "PUT", "/kv/a?pw=4", "v", nil, 400, "bad_param"},
		{"timeout not numeric", "GET", "/kv/a?timeout=soon", "", nil, 400, "bad_param"},
		{"timeout negative", "GET", "/kv/a?timeout=-5", "", nil, 400, "bad_param"},
		{"returnbody junk", "PUT", "/kv/a?returnbody=maybe", "v", nil, 400, "bad_param"},
		{"key too long", "GET", "/kv/" + long, "", nil, 414, "key_too_long"},
		{"key too long put", "PUT", "/kv/" + long, "v", nil, 414, "key_too_long"},
		{"value too large", "PUT", "/kv/a", strings.Repeat("x", 1025), nil, 413, "value_too_large"},
		{"empty key", "GET", "/kv/", "", nil, 400, "bad_key"},
		{"unknown route", "GET", "/nope", "", nil, 404, "no_route"},
		{"wrong method", "POST", "/kv/a", "v", nil, 405, "method_not_allowed"},
		{"join bad body", "POST", "/cluster/join", "{", nil, 400, "bad_body"},
		{"remove unknown", "POST", "/cluster/remove", `{"node":"zz"}`, nil, 404, "unknown_node"},
		{"remove alive", "POST", "/cluster/remove", `{"node":"n2"}`, nil, 409, "node_alive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := tn.do(tc.method, tc.path, []byte(tc.body), tc.hdr)
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.status, tc.status, resp.body)
			}
			body := resp.json(t)
			if body["code"] != tc.code || body["error"] == "" {
				t.Fatalf("body %v, want code %s", body, tc.code)
			}
			if resp.header.Get(headerReport) == "" {
				t.Fatal("no consistency report header")
			}
		})
	}
	if resp := tn.put("a", strings.Repeat("x", 1024), ""); resp.status != 204 {
		t.Fatalf("a value at the limit: %d %s", resp.status, resp.body)
	}
	if resp := tn.do("GET", "/health", nil, nil); resp.status != 200 {
		t.Fatalf("health after bad input: %d", resp.status)
	}
}

// A write past the sibling cap is refused with 409 and nothing is stored.
func TestSiblingCap(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) { c.MaxSiblings = 3 }})
	for i := range 3 {
		if resp := nodes[0].put("many", fmt.Sprint(i), "", "w=3"); resp.status != 204 {
			t.Fatal(resp.status)
		}
	}
	resp := nodes[0].put("many", "one-too-many", "", "w=3")
	if resp.status != 409 || resp.json(t)["code"] != "too_many_siblings" {
		t.Fatalf("want 409 too_many_siblings, got %d %s", resp.status, resp.body)
	}
	_, kv := nodes[1].getJSON("many", "r=3")
	if len(kv.Siblings) != 3 {
		t.Fatalf("refused write was stored: %v", siblingValues(kv))
	}
	// Resolving with the context is always allowed.
	if resp := nodes[0].put("many", "merged", kv.Context, "w=3"); resp.status != 204 {
		t.Fatalf("resolve: %d", resp.status)
	}
}

// returnbody answers with the stored siblings and a context covering them.
func TestReturnBody(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	nodes[0].put("rb", "a", "", "w=3")
	resp := nodes[1].put("rb", "b", "", "w=3", "returnbody=true")
	if resp.status != 200 {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	var kv kvJSON
	if err := json.Unmarshal(resp.body, &kv); err != nil {
		t.Fatal(err)
	}
	got := siblingValues(kv)
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b"}) || kv.Context != resp.header.Get(headerContext) {
		t.Fatalf("returnbody %v ctx %q/%q", got, kv.Context, resp.header.Get(headerContext))
	}
}

// The context returned by a plain PUT covers the client's own write, so a
// follow-up write with it replaces rather than siblings it.
func TestPutContextChains(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	ctx := ""
	for i := range 5 {
		resp := nodes[i%3].put("chain", fmt.Sprint(i), ctx, "w=3")
		if resp.status != 204 {
			t.Fatal(resp.status)
		}
		ctx = resp.header.Get(headerContext)
	}
	if resp := nodes[0].get("chain", "r=3"); resp.status != 200 || string(resp.body) != "4" {
		t.Fatalf("%d %q", resp.status, resp.body)
	}
}

// New fails cleanly (no panic, resources released) when a port is taken.
func TestNewFailsCleanlyOnPortClash(t *testing.T) {
	first := startNode(t, testConfig(t, "a", true))
	cfg := testConfig(t, "b", false)
	cfg.HTTPAddr = first.node.HTTPAddr()
	if _, err := New(cfg, openTestStore(t, cfg), nil); err == nil || !strings.Contains(err.Error(), "http listen") {
		t.Fatalf("want an http listen error, got %v", err)
	}
	// The data dir was released: a node can open it now.
	cfg.HTTPAddr = "127.0.0.1:0"
	startNode(t, cfg)
}

// With blocking read repair the stale replicas among the R replies hold the
// merged state before the read is answered (monotonic quorum reads).
func TestBlockingReadRepair(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) { c.ReadRepair = ReadRepairBlocking }})
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n3"), "" })
	if resp := nodes[0].put("k", "v1", "", "w=2"); resp.status != 204 {
		t.Fatal(resp.status)
	}
	n3 := nodes[2].restart()
	waitMembers(t, []*testNode{nodes[0], nodes[1], n3}, 3)
	if resp := nodes[0].get("k", "r=3"); resp.status != 200 {
		t.Fatal(resp.status)
	}
	// No waiting: the answer came after the repair.
	if got := n3.replica("k").values(); !slices.Equal(got, []string{"v1"}) {
		t.Fatalf("n3 not repaired before the answer: %v", got)
	}
}

// The test clock can be skewed only when enabled.
func TestTestClock(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 2, mutate: func(i int, c *Config) { c.TestClock = i == 0 }})
	resp := nodes[0].do("POST", "/debug/clock", []byte(`{"offset_ms": 3600000}`), nil)
	if resp.status != 200 {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	now, err := time.Parse(time.RFC3339Nano, resp.json(t)["now"].(string))
	if err != nil || time.Until(now) < 59*time.Minute {
		t.Fatalf("clock not skewed: %v %v", now, err)
	}
	if resp := nodes[1].do("POST", "/debug/clock", []byte(`{"offset_ms": 1}`), nil); resp.status != 403 {
		t.Fatalf("clock skew without --test-clock: %d", resp.status)
	}
	// Skew changes nothing about causality: writes through the skewed node
	// and the other are ordered by their contexts, not by time.
	r := nodes[0].put("k", "from-skewed", "", "w=2")
	nodes[1].put("k", "later", r.header.Get(headerContext), "w=2")
	if got := nodes[0].get("k", "r=2"); string(got.body) != "later" {
		t.Fatalf("got %q", got.body)
	}
}

// /metrics counts requests per operation and outcome, with latency
// histograms, in Prometheus text format.
func TestMetrics(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	nodes[0].put("m", "v", "", "w=2")
	nodes[0].get("m")
	nodes[0].get("missing")
	nodes[0].get("m", "r=9")
	resp := nodes[0].do("GET", "/metrics", nil, nil)
	if resp.status != 200 {
		t.Fatal(resp.status)
	}
	for _, want := range []string{
		`dynago_requests_total{op="put",outcome="204"} 1`,
		`dynago_requests_total{op="get",outcome="200"} 1`,
		`dynago_requests_total{op="get",outcome="404"} 1`,
		`dynago_requests_total{op="get",outcome="400"} 1`,
		`dynago_request_duration_seconds_count{op="put",outcome="204"} 1`,
		`dynago_ring_members 3`,
		`dynago_peers_alive 2`,
	} {
		if !strings.Contains(string(resp.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// failAfterFn is a store whose data writes run their fn and then fail
// without storing anything, as a commit that fails after the merge was
// computed.
type failAfterFn struct{ storage.Store }

func (f failAfterFn) Update(ctx context.Context, key []byte, fn func([]byte, bool) ([]byte, error)) error {
	if len(key) == 0 || key[0] != storage.PrefixData {
		return f.Store.Update(ctx, key, fn)
	}
	old, err := f.Store.Get(ctx, key)
	_, _ = fn(old, err == nil)
	return errors.New("injected: commit failed")
}

// A coordinator that cannot store a write locally sends it nowhere: its
// new dot must never reach another replica unrecorded, or its next write
// would issue the same dot again (kv679).
func TestCoordinatorLocalFailureSendsNothing(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) {
		if i == 0 {
			c.test.wrap = func(s storage.Store) storage.Store { return failAfterFn{s} }
		}
	}})
	r := nodes[0].put("k", "v", "", "w=2")
	if r.status != 503 || r.json(t)["code"] != "write_failed" {
		t.Fatalf("want 503 write_failed, got %d %s", r.status, r.body)
	}
	for _, tn := range nodes[1:] {
		if got := tn.replica("k").values(); len(got) != 0 {
			t.Fatalf("%s received a write its coordinator never stored: %v", tn.cfg.Name, got)
		}
	}
}

// TestTestFaults: /debug/faults needs --test-faults, refuses a bad body,
// and with drop_tables the node ignores pushed ownership tables.
func TestTestFaults(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 2, inMemory: true, mutate: func(i int, c *Config) { c.TestFaults = i == 1 }})
	if r := nodes[0].do("POST", "/debug/faults", []byte(`{"drop_tables": true}`), nil); r.status != 403 {
		t.Fatalf("faults without --test-faults: %d %s", r.status, r.body)
	}
	if r := nodes[1].do("POST", "/debug/faults", []byte(`{"drop": 1}`), nil); r.status != 400 {
		t.Fatalf("bad body: %d %s", r.status, r.body)
	}
	if r := nodes[1].do("POST", "/debug/faults", []byte(`{"drop_tables": true}`), nil); r.status != 200 || r.json(t)["drop_tables"] != true {
		t.Fatalf("set fault: %d %s", r.status, r.body)
	}
	before := nodes[1].node.members.clusterSnapshot().Table.Version
	c := nodes[0].node.members.clusterSnapshot()
	next := *c.Table
	next.Version = before + 5
	c.Table = &next
	if err := nodes[1].node.members.receiveState(c.Marshal(), ""); err != nil {
		t.Fatal(err)
	}
	if got := nodes[1].node.members.clusterSnapshot().Table.Version; got != before {
		t.Fatalf("a dropped push changed the table: version %d, want %d", got, before)
	}
	nodes[1].do("POST", "/debug/faults", []byte(`{"drop_tables": false}`), nil)
	if err := nodes[1].node.members.receiveState(c.Marshal(), ""); err != nil {
		t.Fatal(err)
	}
	if got := nodes[1].node.members.clusterSnapshot().Table.Version; got != before+5 {
		t.Fatalf("after the fault cleared the push was not adopted: version %d, want %d", got, before+5)
	}
}

// The profiler is served only when asked for: it shows memory and costs
// CPU while it runs.
func TestPprofOnlyWhenEnabled(t *testing.T) {
	off := startNode(t, testConfig(t, "n1", true))
	if r := off.do("GET", "/debug/pprof/", nil, nil); r.status != 404 {
		t.Fatalf("GET /debug/pprof/ without --pprof: %d, want 404", r.status)
	}
	cfg := testConfig(t, "n2", true)
	cfg.Pprof = true
	on := startNode(t, cfg)
	r := on.do("GET", "/debug/pprof/", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), "goroutine") {
		t.Fatalf("GET /debug/pprof/ with --pprof: %d %.200s", r.status, r.body)
	}
	if r := on.do("GET", "/debug/pprof/goroutine?debug=1", nil, nil); r.status != 200 || !strings.Contains(string(r.body), "goroutine profile") {
		t.Fatalf("GET /debug/pprof/goroutine: %d %.200s", r.status, r.body)
	}
}

// A group-committing store's writes and commits are exported, so writes
// per fsync can be read off /metrics.
func TestStoreCommitMetrics(t *testing.T) {
	tn := startNode(t, testConfig(t, "n1", true))
	for i := range 5 {
		// Retried: this test is about the counts, and a loaded CI machine
		// can time a first write out (CI saw one 503 here under -race).
		waitFor(t, fmt.Sprintf("put k%d", i), 20*time.Second, func() (bool, string) {
			r := tn.put(fmt.Sprintf("k%d", i), "v", "", "w=1")
			return r.status == 204, fmt.Sprintf("%d %s", r.status, r.body)
		})
	}
	body := string(tn.do("GET", "/metrics", nil, nil).body)
	for _, name := range []string{"dynago_store_writes_total", "dynago_store_commits_total"} {
		var v float64
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, name+" ") {
				v, _ = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, name)), 64)
			}
		}
		if v < 1 {
			t.Fatalf("%s = %v after 5 writes\n%s", name, v, body)
		}
	}
}
