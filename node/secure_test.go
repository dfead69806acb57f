package node

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/auth"
)

// A node that would listen beyond loopback refuses a configuration that
// lacks any protection, naming each missing one, unless Insecure; with
// every protection on, or on loopback, nothing is required. (Validate
// runs before any socket is opened: 192.0.2.1 is a documentation address
// that this test never binds.)
func TestSecureByDefault(t *testing.T) {
	exposed := func(c *Config) { c.HTTPAddr = "192.0.2.1:8080" }
	pki := newTestPKI(t, "ca")
	tokens, err := auth.Parse([]byte("sha256:" + strings.Repeat("ab", 32) + " read r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		mutate  func(*Config)
		missing []string // "" entries: valid
	}{
		{"loopback, nothing on", func(*Config) {}, nil},
		{"exposed, nothing on", exposed, []string{"TLS for the HTTP API", "mutual TLS between nodes", "a gossip key", "client authentication"}},
		{"exposed, --insecure", func(c *Config) { exposed(c); c.Insecure = true }, nil},
		{"exposed, everything but a gossip key", func(c *Config) { exposed(c); pki.secure(c) }, []string{"a gossip key"}},
		{"exposed, TLS without client certificates and no tokens", func(c *Config) {
			exposed(c)
			pki.secure(c)
			c.TLS.Client.ClientAuth = 0
			c.GossipKey = bytes.Repeat([]byte{1}, 32)
		}, []string{"client authentication"}},
		{"exposed, TLS without client certificates, tokens", func(c *Config) {
			exposed(c)
			pki.secure(c)
			c.TLS.Client.ClientAuth = 0
			c.GossipKey = bytes.Repeat([]byte{1}, 32)
			c.Auth = auth.New(tokens)
		}, nil},
		{"exposed gossip only", func(c *Config) { c.GossipAddr = "0.0.0.0:7946" }, []string{"a gossip key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t, "n1", true)
			tc.mutate(&c)
			err := c.Validate()
			if len(tc.missing) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "--insecure") {
				t.Fatalf("Validate: %v, want a refusal that mentions --insecure", err)
			}
			for _, m := range tc.missing {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("refusal %q does not name %q", err, m)
				}
			}
		})
	}
}

// An insecure node says so: a banner in its log at start and on /health.
func TestInsecureBanner(t *testing.T) {
	var logs lockedBuffer
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: func(_ int, c *Config) {
		alone(0, c)
		c.Insecure = true
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	}})
	resp, err := http.Get(nodes[0].url + api.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h api.Health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	if !h.Insecure || !strings.HasPrefix(h.Warning, "INSECURE") {
		t.Fatalf("/health %+v, want insecure with a warning", h)
	}
	if logs.count("INSECURE") == 0 {
		t.Fatal("no banner in the log")
	}

	// Without --insecure, /health says nothing of it.
	plain := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: alone})
	resp2, err := http.Get(plain[0].url + api.PathHealth)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var h2 api.Health
	if err := json.NewDecoder(resp2.Body).Decode(&h2); err != nil || h2.Insecure || h2.Warning != "" {
		t.Fatalf("/health of a node without --insecure: %+v, %v", h2, err)
	}
}
