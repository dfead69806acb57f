package demo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestLayout(t *testing.T) {
	got, err := Layout(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := []Addrs{
		{"n1", "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:7946"},
		{"n2", "127.0.0.1:8082", "127.0.0.1:8083", "127.0.0.1:7947"},
		{"n3", "127.0.0.1:8084", "127.0.0.1:8085", "127.0.0.1:7948"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Layout = %+v\nwant %+v", got, want)
	}
	if got[1].URL() != "http://127.0.0.1:8082" {
		t.Errorf("URL %q", got[1].URL())
	}
	c := DefaultConfig()
	c.Nodes, c.BasePort, c.GossipBasePort = 5, 20000, 30000
	got, err = Layout(c)
	if err != nil || len(got) != 5 || got[4] != (Addrs{"n5", "127.0.0.1:20008", "127.0.0.1:20009", "127.0.0.1:30004"}) {
		t.Errorf("5 nodes: %+v %v", got, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(c *Config)
		wantOK bool
	}{
		{"defaults", func(c *Config) {}, true},
		{"one node", func(c *Config) { c.Nodes = 1 }, true},
		{"zero nodes", func(c *Config) { c.Nodes = 0 }, false},
		{"too many nodes", func(c *Config) { c.Nodes = 65 }, false},
		{"ports past 65535", func(c *Config) { c.BasePort = 65532 }, false},
		{"gossip past 65535", func(c *Config) { c.GossipBasePort = 65534 }, false},
		{"gossip inside http range", func(c *Config) { c.GossipBasePort = 8083 }, false},
		{"http range reaches gossip", func(c *Config) { c.BasePort = 7942 }, false},
		{"adjacent ranges", func(c *Config) { c.BasePort = 7940 }, true},
		{"zero wait", func(c *Config) { c.ReadyTimeout = 0 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if (err == nil) != tc.wantOK {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.wantOK)
			}
			if err != nil && !errors.Is(err, ErrBadConfig) {
				t.Errorf("error %v does not wrap ErrBadConfig", err)
			}
		})
	}
}

func TestNodeConfig(t *testing.T) {
	c := DefaultConfig()
	c.Sync = false
	layout, _ := Layout(c)
	n1 := NodeConfig(c, layout, 0, "/tmp/d")
	n3 := NodeConfig(c, layout, 2, "/tmp/d")
	if n1.Name != "n1" || n1.DataDir != "/tmp/d/n1" || n1.HTTPAddr != "127.0.0.1:8080" || n1.Join != nil || !StoreOptions(c, n1).NoSync {
		t.Errorf("n1 %+v", n1)
	}
	if n3.Name != "n3" || n3.GossipAddr != "127.0.0.1:7948" || !slices.Equal(n3.Join, []string{"127.0.0.1:7946"}) {
		t.Errorf("n3 %+v", n3)
	}
	if n1.Ring.N != 3 || n1.Quorum.R != 2 || n1.Quorum.W != 2 {
		t.Errorf("quorum %+v ring %+v", n1.Quorum, n1.Ring)
	}
	for _, cfg := range []struct{ nodes, n, rw int }{{1, 1, 1}, {2, 2, 2}, {5, 3, 2}} {
		c.Nodes = cfg.nodes
		layout, _ := Layout(c)
		nc := NodeConfig(c, layout, 0, "/tmp/d")
		if nc.Ring.N != cfg.n || nc.Quorum.N != cfg.n || nc.Quorum.R != cfg.rw || nc.Quorum.W != cfg.rw {
			t.Errorf("%d nodes: N %d R %d W %d, want %d %d %d", cfg.nodes, nc.Ring.N, nc.Quorum.R, nc.Quorum.W, cfg.n, cfg.rw, cfg.rw)
		}
		if err := nc.Validate(); err != nil {
			t.Errorf("%d nodes: %v", cfg.nodes, err)
		}
	}
}

// membersServer answers GET /cluster/members with the nth list of lists
// on the nth call (the last list from then on).
func membersServer(t *testing.T, lists ...[]map[string]any) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/cluster/members" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		i := min(int(calls.Add(1))-1, len(lists)-1)
		if lists[i] == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"starting","code":"unavailable"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(lists[i])
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func member(name string, alive bool) map[string]any {
	return map[string]any{"name": name, "alive": alive, "state": "valid"}
}

func TestWaitMembers(t *testing.T) {
	names := []string{"n1", "n2", "n3"}
	srv, calls := membersServer(t,
		nil, // not serving yet
		[]map[string]any{member("n1", true)},
		[]map[string]any{member("n1", true), member("n2", true), member("n3", false)},
		[]map[string]any{member("n1", true), member("n2", true), member("n3", true)},
	)
	if err := WaitMembers(context.Background(), srv.URL, names, 10*time.Second, srv.Client()); err != nil {
		t.Fatal(err)
	}
	if got := calls.Load(); got != 4 {
		t.Errorf("%d polls, want 4 (returns at the first complete list)", got)
	}
}

func TestWaitMembersTimeout(t *testing.T) {
	srv, _ := membersServer(t, []map[string]any{member("n1", true), member("n2", false)})
	err := WaitMembers(context.Background(), srv.URL, []string{"n1", "n2", "n3"}, 250*time.Millisecond, srv.Client())
	if err == nil {
		t.Fatal("want a timeout error")
	}
	for _, s := range []string{"1 of 3 nodes alive", "[n1]", "missing or down: [n2 n3]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

func TestWaitMembersCancelled(t *testing.T) {
	srv, _ := membersServer(t, []map[string]any{member("n1", true)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := WaitMembers(ctx, srv.URL, []string{"n1", "n2"}, time.Minute, srv.Client())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}
