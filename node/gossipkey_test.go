package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
)

func newGossipKey(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// memberNames lists the ring members tn sees.
func memberNames(tn *testNode) []string {
	var names []string
	for _, m := range tn.members() {
		names = append(names, m.Name)
	}
	return names
}

// checkOutsider checks that x, which tried to join the cluster of nodes
// (at start and once more through POST /cluster/join, both finished),
// is not in it: no member lists it, gossip does not count it, it sees no
// one else and holds nothing of the cluster's data (key "k").
func checkOutsider(t *testing.T, nodes []*testNode, x *testNode) {
	t.Helper()
	body, _ := json.Marshal(api.JoinRequest{Seeds: []string{nodes[0].cfg.GossipAddr}})
	if resp := x.do("POST", "/cluster/join", body, nil); resp.status == 200 {
		t.Fatalf("%s joined the cluster: %s", x.cfg.Name, resp.body)
	}
	for _, tn := range nodes {
		if names := memberNames(tn); slices.Contains(names, x.cfg.Name) || len(names) != len(nodes) {
			t.Errorf("%s sees members %v", tn.cfg.Name, names)
		}
		if got := tn.node.gossip.NumMembers(); got != len(nodes) {
			t.Errorf("%s's gossip counts %d members, want %d", tn.cfg.Name, got, len(nodes))
		}
	}
	if names := memberNames(x); !slices.Equal(names, []string{x.cfg.Name}) {
		t.Errorf("the outsider %s sees members %v", x.cfg.Name, names)
	}
	if got := x.replica("k").values(); len(got) != 0 {
		t.Errorf("the outsider %s holds k: %v", x.cfg.Name, got)
	}
}

// With a gossip key, a node without it (or with another) cannot join: it
// is not seen as a member, claims nothing and receives no data; a node
// with the key but another cluster label is ignored as well.
func TestGossipKeyKeepsOutsidersOut(t *testing.T) {
	key := newGossipKey(t)
	nodes := startCluster(t, clusterOpts{n: 2, mutate: func(i int, c *Config) {
		c.GossipKey, c.ClusterLabel = key, "prod"
	}})
	if resp := nodes[0].put("k", "v", "", "w=2"); resp.status != 204 {
		t.Fatalf("put: %d %s", resp.status, resp.body)
	}
	for _, tc := range []struct {
		name  string
		key   []byte
		label string
	}{
		{"nokey", nil, "prod"},
		{"otherkey", newGossipKey(t), "prod"},
		{"otherlabel", key, "staging"},
		{"nolabel", key, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tc.name, true)
			cfg.GossipKey, cfg.ClusterLabel = tc.key, tc.label
			cfg.Join = []string{nodes[0].cfg.GossipAddr}
			x := startNode(t, cfg)
			checkOutsider(t, nodes, x)
		})
	}
}

// keyringCall runs GET (op "") or POST /cluster/keyring on tn.
func keyringCall(t *testing.T, tn *testNode, op string, key []byte) (int, api.Keyring, string) {
	t.Helper()
	var resp response
	if op == "" {
		resp = tn.do("GET", api.PathKeyring, nil, nil)
	} else {
		body, _ := json.Marshal(api.KeyringRequest{Op: op, Key: base64.StdEncoding.EncodeToString(key)})
		resp = tn.do("POST", api.PathKeyring, body, nil)
	}
	var kr api.Keyring
	if resp.status == 200 {
		if err := json.Unmarshal(resp.body, &kr); err != nil {
			t.Fatal(err)
		}
	}
	return resp.status, kr, string(resp.body)
}

// wantKeyring checks that every node of kr has keys (primary first).
func wantKeyring(t *testing.T, what string, kr api.Keyring, n int, keys ...[]byte) {
	t.Helper()
	var want []string
	for _, k := range keys {
		want = append(want, base64.StdEncoding.EncodeToString(k))
	}
	if len(kr.Nodes) != n {
		t.Fatalf("%s: %d nodes answered, want %d: %+v", what, len(kr.Nodes), n, kr)
	}
	for _, row := range kr.Nodes {
		if row.Error != "" || !slices.Equal(row.Keys, want) || row.Primary != want[0] {
			t.Fatalf("%s: %s has keys %v primary %q (err %q), want %v", what, row.Node, row.Keys, row.Primary, row.Error, want)
		}
	}
}

// A key rotation across a running 3-node cluster (install the new key,
// use it, remove the old one) keeps it whole: writes and reads work
// after every step, all members stay alive, and a restarted node comes
// back with the rotated keyring from its keyring file.
func TestGossipKeyRotation(t *testing.T) {
	k1, k2 := newGossipKey(t), newGossipKey(t)
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(i int, c *Config) {
		c.GossipKey = k1
		c.GossipKeyringFile = filepath.Join(t.TempDir(), "gossip-keyring.json")
	}})
	step := 0
	whole := func(what string) {
		t.Helper()
		step++
		k, v := fmt.Sprint("k", step), fmt.Sprint(step)
		if resp := nodes[step%3].put(k, v, "", "w=3"); resp.status != 204 {
			t.Fatalf("%s: put: %d %s", what, resp.status, resp.body)
		}
		if resp := nodes[(step+1)%3].get(k, "r=3"); resp.status != 200 || string(resp.body) != v {
			t.Fatalf("%s: get: %d %s", what, resp.status, resp.body)
		}
		waitMembers(t, nodes, 3)
	}
	status, kr, _ := keyringCall(t, nodes[0], "", nil)
	if status != 200 {
		t.Fatal(status)
	}
	wantKeyring(t, "before", kr, 3, k1)

	// use and remove are refused while they would cut a member off.
	if status, _, body := keyringCall(t, nodes[1], api.KeyringUse, k2); status != 409 {
		t.Fatalf("use of a key installed nowhere: %d %s", status, body)
	}
	if status, _, body := keyringCall(t, nodes[1], api.KeyringRemove, k1); status != 409 {
		t.Fatalf("remove of the primary key: %d %s", status, body)
	}

	status, kr, body := keyringCall(t, nodes[1], api.KeyringInstall, k2)
	if status != 200 {
		t.Fatalf("install: %d %s", status, body)
	}
	wantKeyring(t, "after install", kr, 3, k1, k2)
	whole("after install")

	status, kr, body = keyringCall(t, nodes[2], api.KeyringUse, k2)
	if status != 200 {
		t.Fatalf("use: %d %s", status, body)
	}
	wantKeyring(t, "after use", kr, 3, k2, k1)
	whole("after use")

	status, kr, body = keyringCall(t, nodes[0], api.KeyringRemove, k1)
	if status != 200 {
		t.Fatalf("remove: %d %s", status, body)
	}
	wantKeyring(t, "after remove", kr, 3, k2)
	whole("after remove")

	// A node still holding only the old key is now an outsider.
	old := testConfig(t, "old", true)
	old.GossipKey, old.Join = k1, []string{nodes[0].cfg.GossipAddr}
	checkOutsider(t, nodes, startNode(t, old))

	// The rotated keyring survives a restart (its file, 0600), although the
	// node is started with the removed key again.
	fi, err := os.Stat(nodes[2].cfg.GossipKeyringFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keyring file: %v %v", fi, err)
	}
	nodes[2] = nodes[2].restart()
	if got := nodes[2].node.gossip.Keyring().GetKeys(); len(got) != 1 || !bytes.Equal(got[0], k2) {
		t.Fatalf("restarted with keys %x, want only the rotated one", got)
	}
	waitMembers(t, nodes, 3) // it rejoined with the rotated key
	whole("after a restart")
}

// takeoversRefused is dynago_name_takeover_refused_total on tn's /metrics
// (it must be there from the start, at zero).
func takeoversRefused(t *testing.T, tn *testNode) float64 {
	t.Helper()
	r := tn.do("GET", "/metrics", nil, nil)
	for line := range strings.Lines(string(r.body)) {
		if v, ok := strings.CutPrefix(line, "dynago_name_takeover_refused_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: %q", tn.cfg.Name, line)
			}
			return f
		}
	}
	t.Fatalf("%s: /metrics (%d) lacks dynago_name_takeover_refused_total", tn.cfg.Name, r.status)
	return 0
}

// refusedSum is takeoversRefused over nodes.
func refusedSum(t *testing.T, nodes []*testNode) float64 {
	var sum float64
	for _, tn := range nodes {
		sum += takeoversRefused(t, tn)
	}
	return sum
}

// A different process can't take over the name of a node that is down:
// an agent named n3 at other addresses is refused (its Run ends with
// membership.ErrNameTaken), the cluster keeps n3's addresses, and the real
// n3 comes back with them.
func TestNameTakeoverRefused(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	if resp := nodes[0].put("k", "v", "", "w=3"); resp.status != 204 {
		t.Fatalf("put: %d %s", resp.status, resp.body)
	}
	if got := refusedSum(t, nodes); got != 0 {
		t.Fatalf("%v name takeovers refused before any was tried", got)
	}
	real3 := nodes[2].cfg
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n3"), "" })

	cfg := testConfig(t, "n3", true) // other addresses
	cfg.Join = []string{nodes[0].cfg.GossipAddr}
	impostor, err := New(cfg, openTestStore(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := impostor.Run(ctx); !errors.Is(err, membership.ErrNameTaken) {
		t.Fatalf("the impostor's Run ended with %v, want ErrNameTaken", err)
	}
	addrs := func(tn *testNode) string {
		for _, m := range tn.members() {
			if m.Name == "n3" {
				return m.Gossip + " " + m.RPC + " " + m.HTTP
			}
		}
		return "none"
	}
	// Counted where it was refused (the impostor's join is refused by the
	// node it contacted).
	if got := refusedSum(t, nodes[:2]); got < 1 {
		t.Fatalf("dynago_name_takeover_refused_total sums to %v on n1 and n2 after the impostor was refused", got)
	}
	want := real3.GossipAddr + " " + real3.RPCAddr + " " + real3.HTTPAddr
	for _, tn := range nodes[:2] {
		if got := addrs(tn); got != want {
			t.Fatalf("%s has n3 at %s, want %s", tn.cfg.Name, got, want)
		}
		if tn.node.peers.Alive("n3") {
			t.Fatalf("%s sees n3 alive while it is down", tn.cfg.Name)
		}
	}
	nodes[2] = nodes[2].restart()
	waitMembers(t, nodes, 3)
	for _, tn := range nodes {
		if got := addrs(tn); got != want {
			t.Fatalf("%s has n3 at %s after its return, want %s", tn.cfg.Name, got, want)
		}
	}
	if resp := nodes[2].get("k", "r=3"); resp.status != 200 || string(resp.body) != "v" {
		t.Fatalf("get: %d %s", resp.status, resp.body)
	}
}

// The name of a removed node is bound as well: memberlist would let a
// left member's name move to another address at once, but the name-takeover
// rule refuses it, and the removed record keeps n3's addresses.
func TestNameTakeoverOfRemovedNodeRefused(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3})
	real3 := nodes[2].cfg
	nodes[2].stop()
	waitFor(t, "n3 down", 10*time.Second, func() (bool, string) { return !nodes[0].node.peers.Alive("n3"), "" })
	if r := nodes[0].do("POST", "/cluster/remove", []byte(`{"node":"n3"}`), nil); r.status != 200 {
		t.Fatalf("remove: %d %s", r.status, r.body)
	}
	waitFor(t, "n3 removed everywhere", 10*time.Second, func() (bool, string) {
		for _, tn := range nodes[:2] {
			if st := tn.node.members.clusterView().Members["n3"].Status; st != membership.StatusRemoved {
				return false, tn.cfg.Name + " has n3 " + st
			}
		}
		return true, ""
	})

	before := refusedSum(t, nodes[:2])
	cfg := testConfig(t, "n3", true) // other addresses
	cfg.Join = []string{nodes[1].cfg.GossipAddr}
	impostor, err := New(cfg, openTestStore(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := impostor.Run(ctx); !errors.Is(err, membership.ErrNameTaken) {
		t.Fatalf("the impostor's Run ended with %v, want ErrNameTaken", err)
	}
	if got := refusedSum(t, nodes[:2]); got <= before {
		t.Fatalf("dynago_name_takeover_refused_total on n1 and n2 stayed at %v after the impostor was refused", got)
	}
	for _, tn := range nodes[:2] {
		r := tn.node.members.clusterView().Members["n3"]
		if r.Gossip != real3.GossipAddr || r.RPC != real3.RPCAddr || r.Status != membership.StatusRemoved {
			t.Fatalf("%s has n3 %+v, want it removed at %s", tn.cfg.Name, r, real3.GossipAddr)
		}
		if tn.node.peers.Alive("n3") {
			t.Fatalf("%s sees n3 alive", tn.cfg.Name)
		}
	}
}
