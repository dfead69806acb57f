package main

import (
	"bytes"
	"encoding/base64"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dynago/dynago/node"
)

// The agent's gossip encryption flags reach node.Config: the key decoded,
// the keyring file in the data dir by default, the label; a bad key is a
// usage error (exit 2).
func TestGossipKeyFlags(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	enc := base64.StdEncoding.EncodeToString(key)
	dir := t.TempDir()
	cfg, res := agentConfig(t, "--name", "a", "--data-dir", dir, "--gossip-key", enc, "--cluster-label", "prod")
	if res.code != 0 {
		t.Fatal(res)
	}
	if !bytes.Equal(cfg.GossipKey, key) || cfg.ClusterLabel != "prod" || cfg.GossipKeyringFile != filepath.Join(dir, "gossip-keyring.json") {
		t.Fatalf("key %x label %q file %q", cfg.GossipKey, cfg.ClusterLabel, cfg.GossipKeyringFile)
	}
	cfg, res = agentConfig(t, "--name", "a", "--in-memory")
	if res.code != 0 || cfg.GossipKey != nil || cfg.GossipKeyringFile != "" || cfg.ClusterLabel != "" {
		t.Fatalf("defaults: key %x file %q label %q\n%s", cfg.GossipKey, cfg.GossipKeyringFile, cfg.ClusterLabel, res)
	}
	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, res := agentConfig(t, "--name", "a", "--in-memory", "--gossip-key", bad); res.code != 2 || !strings.Contains(res.stderr, "--gossip-key") {
			t.Errorf("--gossip-key %q: want exit 2\n%s", bad, res)
		}
	}
}

// keyringOut runs a keyring command and returns its exit code and stdout.
func keyringOut(t *testing.T, args ...string) result {
	t.Helper()
	return runCLI(t, "", append([]string{"keyring"}, args...)...)
}

// dynago keyring generate, list, install, use and remove rotate the key
// of a real node through its admin routes.
func TestKeyringCommands(t *testing.T) {
	gen := keyringOut(t, "generate")
	k1 := strings.TrimSpace(gen.stdout)
	if gen.code != 0 {
		t.Fatal(gen)
	}
	if _, err := node.ParseGossipKey(k1); err != nil {
		t.Fatalf("generate printed %q: %v", k1, err)
	}
	k2 := strings.TrimSpace(keyringOut(t, "generate").stdout)
	if k2 == k1 {
		t.Fatal("generate printed the same key twice")
	}
	key1, _ := node.ParseGossipKey(k1)
	kn := newKVNode(t, func(c *node.Config) { c.GossipKey = key1 })
	addr := []string{"--addr", kn.URL()}

	want := func(res result, code int, keys ...string) {
		t.Helper()
		if res.code != code {
			t.Fatalf("exit %d, want %d\n%s", res.code, code, res)
		}
		if code != 0 {
			return
		}
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if len(lines) != 2 || !slices.Equal(strings.Fields(lines[1]), []string{"n1", keys[0], strings.Join(keys, ",")}) {
			t.Fatalf("want n1 with primary %s and keys %v:\n%s", keys[0], keys, res)
		}
	}
	want(keyringOut(t, append([]string{"list"}, addr...)...), 0, k1)
	want(keyringOut(t, append([]string{"use"}, append(addr, k2)...)...), 1) // not installed: 409
	want(keyringOut(t, append([]string{"install"}, append(addr, k2)...)...), 0, k1, k2)
	want(keyringOut(t, append([]string{"remove"}, append(addr, k1)...)...), 1) // the primary: 409
	want(keyringOut(t, append([]string{"use"}, append(addr, k2)...)...), 0, k2, k1)
	want(keyringOut(t, append([]string{"remove"}, append(addr, k1)...)...), 0, k2)
	want(keyringOut(t, append([]string{"install"}, append(addr, "bad")...)...), 2)
	want(keyringOut(t, append([]string{"install"}, addr...)...), 2)

	// Gossip in the clear: there is no keyring to show or change.
	plain := newKVNode(t, nil)
	if res := keyringOut(t, "list", "--addr", plain.URL()); res.code != 1 || !strings.Contains(res.stderr, "encryption is off") {
		t.Fatalf("list without encryption: want exit 1\n%s", res)
	}
}
