package node

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
)

func TestBucketQuantile(t *testing.T) {
	bounds := []float64{0.001, 0.002, 0.004, 0.008}
	for _, tc := range []struct {
		name  string
		q     float64
		cumul []uint64
		total uint64
		want  float64
	}{
		{"empty", 0.5, []uint64{0, 0, 0, 0}, 0, 0},
		{"all in the first bucket: interpolated from 0", 0.5, []uint64{10, 10, 10, 10}, 10, 0.0005},
		{"median in the second bucket", 0.5, []uint64{2, 8, 10, 10}, 10, 0.001 + 0.001*3.0/6},
		{"p99 in the last bucket", 0.99, []uint64{0, 0, 0, 100}, 100, 0.004 + 0.004*0.99},
		{"above every bound: the last bound", 0.99, []uint64{0, 0, 0, 50}, 100, 0.008},
		{"rank on a bucket's edge", 0.5, []uint64{5, 10, 10, 10}, 10, 0.001},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bucketQuantile(tc.q, bounds, tc.cumul, tc.total); math.Abs(got-tc.want) > 1e-12 {
				t.Fatalf("bucketQuantile(%v, %v, %d) = %v, want %v", tc.q, tc.cumul, tc.total, got, tc.want)
			}
		})
	}
}

// TestStatsHistory: the node samples its request rates and latencies;
// GET /metrics/history shows the puts and gets made, with a rate and
// quantiles, and keeps no more than its window's samples.
func TestStatsHistory(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: func(i int, c *Config) {
		alone(i, c)
		c.StatsInterval, c.StatsWindow = 50*time.Millisecond, 10*time.Second
	}})
	n := nodes[0]
	// The sampler counts what happens after its first reading: a request
	// before it is in no sample's difference. Once a sample exists, that
	// reading was taken.
	waitFor(t, "the sampler's first sample", 10*time.Second, func() (bool, string) {
		r := n.do("GET", "/metrics/history", nil, nil)
		var h api.StatsHistory
		if err := json.Unmarshal(r.body, &h); err != nil {
			t.Fatalf("%d %s: %v", r.status, r.body, err)
		}
		return len(h.Samples) > 0, string(r.body)
	})
	for i := range 5 {
		if r := n.put(fmt.Sprintf("k%d", i), "v", ""); r.status != 204 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	if r := n.get("k0"); r.status != 200 {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	var puts, gets uint64
	var h api.StatsHistory
	waitFor(t, "the samples to hold the 5 puts and the get", 10*time.Second, func() (bool, string) {
		r := n.do("GET", "/metrics/history", nil, nil)
		h = api.StatsHistory{}
		if err := json.Unmarshal(r.body, &h); err != nil {
			t.Fatalf("%d %s: %v", r.status, r.body, err)
		}
		for _, s := range h.Samples {
			if o, ok := s.Ops["put"]; ok {
				puts += o.Count
				if o.Rate <= 0 || o.P50MS <= 0 || o.P99MS < o.P50MS || o.Errors != 0 {
					t.Fatalf("put figures %+v: want a rate, 0 < p50 <= p99, no errors", o)
				}
			}
			gets += s.Ops["get"].Count
		}
		done := puts == 5 && gets == 1
		if !done {
			puts, gets = 0, 0 // the samples may still be coming
		}
		return done, string(r.body)
	})
	if h.Node != "n1" || h.IntervalSecs != 0.05 || h.WindowSecs != 10 || len(h.Samples) > 200 {
		t.Fatalf("history %+v: want node n1, interval 0.05 s, window 10 s, at most 200 samples", h)
	}
}

// TestStatsHistoryWindow: the history keeps the window's samples, the
// newest, oldest first.
func TestStatsHistoryWindow(t *testing.T) {
	s := &statsHistory{keep: 4}
	for i := range 10 {
		s.add(api.StatsSample{Time: fmt.Sprint(i)})
		got := s.snapshot()
		want := min(i+1, 4)
		if len(got) != want || got[0].Time != fmt.Sprint(i+1-want) || got[len(got)-1].Time != fmt.Sprint(i) {
			t.Fatalf("after %d samples: %v, want the last %d", i+1, got, want)
		}
	}
}

// TestConsoleServed: /ui/ serves the embedded console with a same-origin
// CSP, open even with authentication on; /auth/whoami answers the
// caller's role (401 without a token); the console's data routes keep
// their roles.
func TestConsoleServed(t *testing.T) {
	n, _ := authNode(t, nil)
	for path, want := range map[string]string{"/ui/": "<title>dynago console</title>", "/ui/console.js": "sessionStorage", "/ui/console.css": "--accent"} {
		r := n.do("GET", path, nil, nil)
		if r.status != 200 || !strings.Contains(string(r.body), want) {
			t.Fatalf("GET %s without a token: %d, body lacks %q", path, r.status, want)
		}
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Fatalf("GET %s: CSP %q", path, csp)
		}
	}
	if r := n.do("GET", "/ui", nil, nil); r.status != 200 || !strings.Contains(string(r.body), "dynago console") {
		t.Fatalf("GET /ui: %d (redirect not followed to the console)", r.status)
	}
	if r := n.do("GET", "/ui/nope.js", nil, nil); r.status != 404 {
		t.Fatalf("GET /ui/nope.js: %d, want 404", r.status)
	}
	for _, tc := range []struct {
		tok        string
		status     int
		role, name string
	}{
		{"", 401, "", ""},
		{"bad", 401, "", ""},
		{tokRead, 200, "read", "dash"},
		{tokWrite, 200, "write", "app"},
		{tokAdmin, 200, "admin", "ops"},
	} {
		r := n.do("GET", "/auth/whoami", nil, bearer(tc.tok))
		if r.status != tc.status {
			t.Fatalf("whoami with %q: %d %s, want %d", tc.tok, r.status, r.body, tc.status)
		}
		if tc.status != 200 {
			continue
		}
		var w api.WhoAmI
		if err := json.Unmarshal(r.body, &w); err != nil || !w.Auth || w.Role != tc.role || w.Principal != tc.name || w.Node != "n1" {
			t.Fatalf("whoami with %q: %s (%v), want %s/%s", tc.tok, r.body, err, tc.name, tc.role)
		}
	}
	for path, need := range map[string]string{"/cluster/nodes": tokAdmin, "/debug/replicas/k": tokAdmin, "/metrics/history": ""} {
		if need != "" {
			if r := n.do("GET", path, nil, bearer(tokRead)); r.status != 403 {
				t.Fatalf("GET %s with a read token: %d, want 403", path, r.status)
			}
		}
		if r := n.do("GET", path, nil, bearer(need)); r.status != 200 {
			t.Fatalf("GET %s with %q: %d %s", path, need, r.status, r.body)
		}
	}
}

// TestWhoAmIWithoutAuth: without authentication every caller is admin.
func TestWhoAmIWithoutAuth(t *testing.T) {
	n := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: alone})[0]
	var w api.WhoAmI
	if r := n.do("GET", "/auth/whoami", nil, nil); r.status != 200 || json.Unmarshal(r.body, &w) != nil || w.Auth || w.Role != "admin" {
		t.Fatalf("whoami: %d %s; want auth false, role admin", r.status, r.body)
	}
}

// TestClusterNodesAndReplicas: GET /cluster/nodes has every node's own
// /health answer and store size (over MethodStatus); GET
// /debug/replicas/{key} every replica's stored versions, siblings
// included.
func TestClusterNodesAndReplicas(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	n := nodes[0]
	for _, v := range []string{"left", "right"} { // no context: two siblings
		if r := n.put("conflict", v, ""); r.status != 204 {
			t.Fatalf("put: %d %s", r.status, r.body)
		}
	}
	var ns api.Nodes
	r := n.do("GET", "/cluster/nodes", nil, nil)
	if err := json.Unmarshal(r.body, &ns); err != nil || len(ns.Nodes) != 3 {
		t.Fatalf("/cluster/nodes: %d %s (%v); want 3 nodes", r.status, r.body, err)
	}
	for i, s := range ns.Nodes {
		var hl api.Health
		if s.Node != fmt.Sprintf("n%d", i+1) || s.Error != "" || json.Unmarshal(s.Health, &hl) != nil || hl.Status != api.StatusOK || s.DiskBytes == nil || *s.DiskBytes <= 0 {
			t.Fatalf("/cluster/nodes row %d: %+v (health %s); want n%d, health ok, a disk size", i, s, s.Health, i+1)
		}
	}
	var kr api.KeyReplicas
	waitFor(t, "every replica to hold both siblings", 10*time.Second, func() (bool, string) {
		r := n.do("GET", "/debug/replicas/conflict", nil, nil)
		kr = api.KeyReplicas{}
		if err := json.Unmarshal(r.body, &kr); err != nil {
			t.Fatalf("%d %s: %v", r.status, r.body, err)
		}
		if len(kr.Replicas) != 3 {
			return false, string(r.body)
		}
		for _, rep := range kr.Replicas {
			var vals []string
			for _, v := range rep.Versions {
				vals = append(vals, string(v.Value))
			}
			if !rep.Primary || !rep.Alive || rep.Error != "" || strings.Join(vals, ",") != "left,right" {
				return false, string(r.body)
			}
		}
		return true, ""
	})
	if kr.N != 3 || kr.Key != "conflict" {
		t.Fatalf("replicas: %+v", kr)
	}
}

func FuzzDecodeNodeStatus(f *testing.F) {
	f.Add([]byte(`{"node":"n1","health":{"status":"ok","version":"v1"},"disk_bytes":42}`))
	f.Add([]byte(`{"node":"n1"}`))
	f.Add([]byte(`{"node":"n2","disk_bytes":-1}`))
	f.Add([]byte(`{"node":"n1","health":[1,2`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeNodeStatus("n1", b)
		if err != nil {
			return
		}
		if st.Node != "n1" || st.Error != "" || st.DiskBytes != nil && *st.DiskBytes < 0 {
			t.Fatalf("decoded %+v from %q", st, b)
		}
		if len(st.Health) > 0 && !json.Valid(st.Health) {
			t.Fatalf("health %q is not JSON", st.Health)
		}
		if _, err := json.Marshal(st); err != nil {
			t.Fatalf("re-encoding %+v: %v", st, err)
		}
	})
}

// TestStatsHistoryMetricsAuth: --metrics-auth closes /metrics/history
// to all but admins, as it does /metrics.
func TestStatsHistoryMetricsAuth(t *testing.T) {
	n, _ := authNode(t, func(c *Config) { c.MetricsAuth = true })
	for tok, want := range map[string]int{"": 401, tokRead: 403, tokAdmin: 200} {
		if r := n.do("GET", "/metrics/history", nil, bearer(tok)); r.status != want {
			t.Fatalf("GET /metrics/history with %q: %d, want %d", tok, r.status, want)
		}
	}
}
