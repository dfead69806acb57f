package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/storage/memory"
)

// makeCerts runs `dynago cert` to make a CA, a node certificate for each
// name and a client certificate for alice in a new directory.
func makeCerts(t *testing.T, nodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	if r := runCLI(t, "", "cert", "create-ca", "--dir", dir); r.code != 0 {
		t.Fatalf("create-ca: %d %s", r.code, r.stderr)
	}
	for _, n := range nodes {
		if r := runCLI(t, "", "cert", "create-node", "--dir", dir, "--ip", "127.0.0.1", n); r.code != 0 {
			t.Fatalf("create-node %s: %d %s", n, r.code, r.stderr)
		}
	}
	if r := runCLI(t, "", "cert", "create-client", "--dir", dir, "--role", "admin", "alice"); r.code != 0 {
		t.Fatalf("create-client: %d %s", r.code, r.stderr)
	}
	return dir
}

func TestCertCommands(t *testing.T) {
	dir := makeCerts(t, "n1")
	for _, f := range []string{"ca", "n1", "client.alice"} {
		key, err := os.Stat(filepath.Join(dir, f+".key"))
		if err != nil {
			t.Fatal(err)
		}
		if key.Mode().Perm() != 0o600 {
			t.Errorf("%s.key has mode %v, want 0600", f, key.Mode().Perm())
		}
		if _, err := os.Stat(filepath.Join(dir, f+".crt")); err != nil {
			t.Error(err)
		}
	}
	before, _ := os.ReadFile(filepath.Join(dir, "n1.key"))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"CA again", []string{"cert", "create-ca", "--dir", dir}, "exists"},
		{"node again", []string{"cert", "create-node", "--dir", dir, "n1"}, "exists"},
		{"client again", []string{"cert", "create-client", "--dir", dir, "--role", "read", "alice"}, "exists"},
		{"client without a role", []string{"cert", "create-client", "--dir", dir, "bob"}, "needs --role"},
		{"client with an unknown role", []string{"cert", "create-client", "--dir", dir, "--role", "root", "bob"}, "needs --role"},
		{"no CA", []string{"cert", "create-node", "--dir", t.TempDir(), "n2"}, "create-ca"},
		{"bad IP", []string{"cert", "create-node", "--dir", dir, "--ip", "nope", "n2"}, "not an IP"},
		{"no name", []string{"cert", "create-node", "--dir", dir}, "missing argument"},
		{"path in name", []string{"cert", "create-client", "--dir", dir, "--role", "read", "../x"}, "path separator"},
		{"no subcommand", []string{"cert"}, "subcommand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "n1.key")); string(after) != string(before) {
		t.Fatal("n1.key was overwritten")
	}
}

func TestAgentTLSFlags(t *testing.T) {
	dir := makeCerts(t, "n1", "n2")
	p := func(f string) string { return filepath.Join(dir, f) }
	base := []string{"--name", "n1", "--in-memory"}
	cfg, r := agentConfig(t, append(base, "--tls-cert", p("n1.crt"), "--tls-key", p("n1.key"), "--tls-client-ca", p("ca.crt"),
		"--cluster-ca", p("ca.crt"), "--node-cert", p("n1.crt"), "--node-key", p("n1.key"))...)
	if r.code != 0 || cfg.TLS.Client == nil || cfg.TLS.Client.ClientCAs == nil || cfg.TLS.Internode == nil || cfg.TLS.Internode.Name() != "n1" {
		t.Fatalf("exit %d (%s), TLS %+v", r.code, r.stderr, cfg.TLS)
	}
	if cfg, r := agentConfig(t, base...); r.code != 0 || cfg.TLS != (node.TLSConfig{}) {
		t.Fatalf("no TLS flags: exit %d, TLS %+v", r.code, cfg.TLS)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--tls-cert", p("n1.crt")}, "go together"},
		{"client CA without cert", []string{"--tls-client-ca", p("ca.crt")}, "needs --tls-cert"},
		{"node cert without CA", []string{"--node-cert", p("n1.crt"), "--node-key", p("n1.key")}, "go together"},
		{"another node's certificate", []string{"--cluster-ca", p("ca.crt"), "--node-cert", p("n2.crt"), "--node-key", p("n2.key")}, `"n2"`},
		{"client certificate as node's", []string{"--cluster-ca", p("ca.crt"), "--node-cert", p("client.alice.crt"), "--node-key", p("client.alice.key")}, "not a node certificate"},
		{"missing file", []string{"--tls-cert", p("nope.crt"), "--tls-key", p("n1.key")}, "nope.crt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := agentConfig(t, append(base, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestCLIOverHTTPS: certificates made by `dynago cert`, a node configured
// by the agent's flags serving HTTPS with client certificates required,
// and the CLI's put and get over https:// with --ca-cert, --client-cert
// and --client-key. Without the client certificate, without the CA, or
// over plain http:// the request fails (exit 1).
func TestCLIOverHTTPS(t *testing.T) {
	dir := makeCerts(t, "n1")
	p := func(f string) string { return filepath.Join(dir, f) }
	cfg, r := agentConfig(t, "--name", "n1", "--in-memory", "--http", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--gossip", "127.0.0.1:0",
		"--n", "1", "--r", "1", "--w", "1", "--partitions", "8", "--log-level", "error",
		"--tls-cert", p("n1.crt"), "--tls-key", p("n1.key"), "--tls-client-ca", p("ca.crt"),
		"--cluster-ca", p("ca.crt"), "--node-cert", p("n1.crt"), "--node-key", p("n1.key"))
	if r.code != 0 {
		t.Fatalf("agent flags: %d %s", r.code, r.stderr)
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
	addr := "https://" + n.HTTPAddr()
	tlsArgs := []string{"--ca-cert", p("ca.crt"), "--client-cert", p("client.alice.crt"), "--client-key", p("client.alice.key")}
	if r := runCLI(t, "", append(append([]string{"put", "--addr", addr}, tlsArgs...), "k", "v1")...); r.code != 0 {
		t.Fatalf("put over https: %d %s", r.code, r.stderr)
	}
	if r := runCLI(t, "", append(append([]string{"get", "--addr", addr}, tlsArgs...), "k")...); r.code != 0 || strings.TrimSpace(r.stdout) != "v1" {
		t.Fatalf("get over https: %d %q %s", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"no client certificate", []string{"get", "--addr", addr, "--ca-cert", p("ca.crt"), "k"}},
		{"CA not trusted", []string{"get", "--addr", addr, "--client-cert", p("client.alice.crt"), "--client-key", p("client.alice.key"), "k"}},
		{"plain http", append(append([]string{"get", "--addr", "http://" + n.HTTPAddr()}, tlsArgs...), "k")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := runCLI(t, "", tc.args...); r.code != 1 || strings.Contains(r.stdout, "v1") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want a failed request (1)", r.code, r.stdout, r.stderr)
			}
		})
	}
	if r := runCLI(t, "", "get", "--addr", addr, "--ca-cert", p("ca.crt"), "--client-cert", p("client.alice.crt"), "k"); r.code != 2 {
		t.Fatalf("--client-cert without --client-key: exit %d, want 2", r.code)
	}
}
