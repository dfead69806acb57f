package node

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestAdvertised(t *testing.T) {
	for _, tc := range []struct {
		name, bound, own, host, want, err string
	}{
		{"bound as is", "127.0.0.1:8080", "", "", "127.0.0.1:8080", ""},
		{"common host, bound port", "0.0.0.0:8080", "", "10.0.0.1", "10.0.0.1:8080", ""},
		{"a name", "[::]:8081", "", "db1.example.internal", "db1.example.internal:8081", ""},
		{"own beats host", "0.0.0.0:8080", "203.0.113.9:18080", "10.0.0.1", "203.0.113.9:18080", ""},
		{"own port 0: the bound one", "0.0.0.0:8080", "203.0.113.9:0", "", "203.0.113.9:8080", ""},
		{"IPv6 host", "[::]:7946", "", "fd00::5", "[fd00::5]:7946", ""},
		{"every interface, nothing advertised", "0.0.0.0:8080", "", "", "", "advertise"},
		{"[::], nothing advertised", "[::]:8080", "", "", "", "advertise"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := advertised(tc.bound, tc.own, tc.host)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("advertised = %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("advertised = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// Validate's address rules: host names and every-interface binds are
// accepted, the latter only with something to advertise.
func TestValidateAddresses(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.Name, c.Insecure = "a", true
		c.HTTPAddr, c.RPCAddr, c.GossipAddr = "127.0.0.1:8080", "127.0.0.1:8081", "127.0.0.1:7946"
		return c
	}
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		err  string // "": valid
	}{
		{"loopback", func(*Config) {}, ""},
		{"host names", func(c *Config) { c.HTTPAddr, c.RPCAddr = "localhost:8080", "db1.example.internal:8081" }, ""},
		{"every interface with advertise", func(c *Config) {
			c.HTTPAddr, c.RPCAddr, c.GossipAddr, c.Advertise = ":8080", "0.0.0.0:8081", "[::]:7946", "10.0.0.1"
		}, ""},
		{"every interface with its own advertise", func(c *Config) { c.RPCAddr, c.AdvertiseRPC = "0.0.0.0:8081", "db1:8081" }, ""},
		{"every interface without", func(c *Config) { c.RPCAddr = "0.0.0.0:8081" }, "rpc address \"0.0.0.0:8081\" binds every interface"},
		{"empty host without", func(c *Config) { c.HTTPAddr = ":8080" }, "--advertise-http"},
		{"advertise unspecified", func(c *Config) { c.Advertise = "::" }, "not an address a peer can dial"},
		{"advertise with a port", func(c *Config) { c.Advertise = "10.0.0.1:80" }, "advertise host"},
		{"advertise-gossip without a port", func(c *Config) { c.AdvertiseGossip = "10.0.0.1" }, "advertise-gossip address"},
		{"bad port", func(c *Config) { c.HTTPAddr = "127.0.0.1:99999" }, "port"},
		{"bad name", func(c *Config) { c.RPCAddr = "-bad-.example:1" }, "want an IP address or a host name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mut(&c)
			err := c.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("got %v, want an error containing %q", err, tc.err)
			}
		})
	}
	// Every interface is beyond loopback: without --insecure it needs
	// every protection (secure.go).
	c := base()
	c.Insecure = false
	c.RPCAddr, c.Advertise = "0.0.0.0:8081", "127.0.0.1"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "listening beyond loopback (0.0.0.0:8081)") {
		t.Fatalf("0.0.0.0 without security: %v", err)
	}
}

// A node bound on every interface advertises the address given, and its
// peers reach it there: its record carries the advertised addresses, and
// a write needing both nodes' acks succeeds (RPC to the advertised
// address). Only loopback is ever dialed.
func TestBindEveryInterfaceAdvertiseLoopback(t *testing.T) {
	cfg := testConfig(t, "n1", true)
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	advHTTP, advRPC, advGossip := cfg.HTTPAddr, cfg.RPCAddr, cfg.GossipAddr
	cfg.HTTPAddr, cfg.RPCAddr, cfg.GossipAddr = "0.0.0.0:"+port(advHTTP), "0.0.0.0:"+port(advRPC), "0.0.0.0:"+port(advGossip)
	cfg.Advertise, cfg.Insecure = "127.0.0.1", true
	n1 := startNode(t, cfg)
	bh, br, bg := n1.node.BoundAddrs()
	for _, b := range []struct{ got, want string }{{bh, cfg.HTTPAddr}, {br, cfg.RPCAddr}, {bg, cfg.GossipAddr}} {
		host, p, _ := net.SplitHostPort(b.got)
		if !unspecifiedHost(host) || p != port(b.want) { // Go reports a 0.0.0.0 listener as [::]
			t.Fatalf("bound at %s, want %s", b.got, b.want)
		}
	}
	if n1.node.HTTPAddr() != advHTTP || n1.node.RPCAddr() != advRPC || n1.node.GossipAddr() != advGossip {
		t.Fatalf("advertises %s %s %s, want %s %s %s", n1.node.HTTPAddr(), n1.node.RPCAddr(), n1.node.GossipAddr(), advHTTP, advRPC, advGossip)
	}
	c2 := testConfig(t, "n2", true)
	c2.Join = []string{advGossip}
	n2 := startNode(t, c2)
	nodes := []*testNode{n1, n2}
	waitMembers(t, nodes, 2)
	for _, m := range n2.members() {
		if m.Name == "n1" && (m.Gossip != advGossip || m.RPC != advRPC || m.HTTP != advHTTP) {
			t.Fatalf("n2 lists n1 at %s %s %s, want the advertised %s %s %s", m.Gossip, m.RPC, m.HTTP, advGossip, advRPC, advHTTP)
		}
	}
	for i, tn := range nodes {
		key := "k" + tn.cfg.Name
		if r := tn.put(key, "v", "", "w=2"); r.status != 204 {
			t.Fatalf("put via %s: %d %s", tn.cfg.Name, r.status, r.body)
		}
		if r := nodes[1-i].get(key, "r=2"); r.status != 200 || string(r.body) != "v" {
			t.Fatalf("get via %s: %d %s", nodes[1-i].cfg.Name, r.status, r.body)
		}
	}
}

// ipv6Loopback reports whether [::1] can be bound here; under CI (which
// enables it, .ci/run) its absence is a failure, not a skip.
func ipv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err == nil {
		ln.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("IPv6 loopback unavailable under CI: %v", err)
	}
	t.Skipf("IPv6 loopback unavailable: %v", err)
}

// Two nodes on IPv6 loopback form a cluster and replicate.
func TestIPv6Cluster(t *testing.T) {
	ipv6Loopback(t)
	nodes := startCluster(t, clusterOpts{n: 2, inMemory: true, mutate: func(i int, c *Config) {
		for _, a := range []*string{&c.HTTPAddr, &c.RPCAddr, &c.GossipAddr} {
			_, p, _ := net.SplitHostPort(*a)
			*a = "[::1]:" + p
		}
		if len(c.Join) > 0 {
			_, p, _ := net.SplitHostPort(c.Join[0])
			c.Join = []string{"[::1]:" + p}
		}
	}})
	waitMembers(t, nodes, 2)
	for _, m := range nodes[0].members() {
		if !strings.HasPrefix(m.Gossip, "[::1]:") || !strings.HasPrefix(m.RPC, "[::1]:") {
			t.Fatalf("member %s at %s %s, want [::1]", m.Name, m.Gossip, m.RPC)
		}
	}
	if r := nodes[0].put("k", "v6", "", "w=2"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	if r := nodes[1].get("k", "r=2"); r.status != 200 || string(r.body) != "v6" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
}
