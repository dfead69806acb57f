package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProcessBindEveryInterface: an agent configured by a TOML file
// (--config) binds 0.0.0.0 and advertises 127.0.0.1 (--insecure, as a
// bind beyond loopback without TLS needs); a second agent joins it at the
// advertised gossip address, lists it at its advertised addresses, and
// writes that need both nodes succeed, so RPC reaches the advertised
// address. Nothing but loopback is dialed.
func TestProcessBindEveryInterface(t *testing.T) {
	n1 := newAgent(t, "n1", "")
	port := func(a string) string { return a[strings.LastIndex(a, ":")+1:] }
	n1.config = filepath.Join(t.TempDir(), "n1.toml")
	file := fmt.Sprintf(`# n1: every interface, advertised on loopback
name = "n1"
data-dir = %q
http = "0.0.0.0:%s"
rpc = "0.0.0.0:%s"
gossip = "0.0.0.0:%s"
advertise = "127.0.0.1"
insecure = true
`, n1.dataDir, port(n1.http), port(n1.rpc), port(n1.gossip))
	if err := os.WriteFile(n1.config, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := cli(t, "agent", "--config", n1.config, "--print-config")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("\nrpc = \"0.0.0.0:%s\"\n", port(n1.rpc))) || !strings.Contains(out, "\nadvertise = \"127.0.0.1\"\n") {
		t.Fatalf("--print-config: exit %d\n%s", code, out)
	}
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip) // the advertised gossip address
	n2.start(t)
	waitAlive(t, n2.url(), 2)

	out, code = cli(t, "members", "--addr", n2.url(), "--json")
	var ms []struct{ Name, Gossip, RPC, HTTP string }
	if code != 0 || json.Unmarshal([]byte(out), &ms) != nil {
		t.Fatalf("members: %d %s", code, out)
	}
	found := false
	for _, m := range ms {
		if m.Name == "n1" {
			found = true
			if m.Gossip != n1.gossip || m.RPC != n1.rpc || m.HTTP != n1.http {
				t.Fatalf("n2 lists n1 at gossip %s rpc %s http %s, want the advertised %s %s %s", m.Gossip, m.RPC, m.HTTP, n1.gossip, n1.rpc, n1.http)
			}
		}
	}
	if !found {
		t.Fatalf("n2 does not list n1:\n%s", out)
	}
	for i, a := range []*agent{n1, n2} {
		key := fmt.Sprintf("k%d", i)
		poll(t, "a write at w=2 via "+a.name, 20*time.Second, 200*time.Millisecond, func() (bool, string) {
			out, code := cli(t, "put", "--addr", a.url(), "--w", "2", key, "v")
			return code == 0, out
		})
		other := []*agent{n2, n1}[i]
		if out, code := cli(t, "get", "--addr", other.url(), "--r", "2", key); code != 0 || !strings.HasPrefix(out, "v") {
			t.Fatalf("get %s via %s: %d %s", key, other.name, code, out)
		}
	}
}
