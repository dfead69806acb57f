package test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// keyringRows runs `dynago keyring list --json` at addr and returns each
// member's keys (primary first), by name.
func keyringRows(t *testing.T, addr string) map[string][]string {
	t.Helper()
	out, code := cli(t, "keyring", "list", "--addr", addr, "--json")
	if code != 0 {
		t.Fatalf("keyring list: exit %d\n%s", code, out)
	}
	var kr struct {
		Nodes []struct {
			Node string   `json:"node"`
			Keys []string `json:"keys"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &kr); err != nil {
		t.Fatalf("keyring list: %v\n%s", err, out)
	}
	rows := map[string][]string{}
	for _, n := range kr.Nodes {
		rows[n.Node] = n.Keys
	}
	return rows
}

// memberNames asks `dynago members --json` at addr for the ring members.
func memberNames(t *testing.T, addr string) []string {
	t.Helper()
	out, code := cli(t, "members", "--addr", addr, "--json")
	if code != 0 {
		t.Fatalf("members: exit %d\n%s", code, out)
	}
	var ms []member
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return names
}

// Real agents with --gossip-key: an agent started without the key, with
// --join at a member's gossip port, is not let in (its `dynago join`
// fails too, and no member lists it); then the key is rotated with the
// dynago keyring commands (install, use, remove the old key) while the
// 3-node cluster stays whole (every member acks a write and answers a
// read after each step).
func TestProcessGossipKey(t *testing.T) {
	k1, _ := cli(t, "keyring", "generate")
	k2, _ := cli(t, "keyring", "generate")
	k1, k2 = strings.TrimSpace(k1), strings.TrimSpace(k2)
	n1 := newAgent(t, "n1", "")
	n1.flags = []string{"--gossip-key", k1}
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip)
	n2.flags = []string{"--gossip-key", k1}
	n2.start(t)
	n3 := newAgent(t, "n3", n1.gossip)
	n3.flags = []string{"--gossip-key", k1}
	n3.start(t)
	waitAlive(t, n1.url(), 3)
	if out, code := cli(t, "put", "--addr", n1.url(), "k", "v"); code != 0 {
		t.Fatalf("put: %s", out)
	}

	x := newAgent(t, "x", n1.gossip) // no key
	x.start(t)                       // healthy: its join at start has been tried
	if out, code := cli(t, "join", "--addr", x.url(), n1.gossip); code == 0 {
		t.Fatalf("an agent without the gossip key joined:\n%s", out)
	}
	for _, a := range []*agent{n1, n2, n3} {
		if names := memberNames(t, a.url()); !slices.Equal(names, []string{"n1", "n2", "n3"}) {
			t.Fatalf("%s lists members %v", a.name, names)
		}
	}
	if names := memberNames(t, x.url()); !slices.Equal(names, []string{"x"}) {
		t.Fatalf("the outsider lists members %v", names)
	}
	if out, code := cli(t, "get", "--addr", x.url(), "k"); code == 0 {
		t.Fatalf("the outsider read k:\n%s", out)
	}

	for _, step := range [][]string{{"install", k2}, {"use", k2}, {"remove", k1}} {
		if out, code := cli(t, "keyring", step[0], "--addr", n2.url(), step[1]); code != 0 {
			t.Fatalf("keyring %s: exit %d\n%s", step[0], code, out)
		}
		waitAlive(t, n1.url(), 3)
		// W=3 and R=3: every member takes part, over gossip's new keys.
		if out, code := cli(t, "put", "--addr", n2.url(), "--w", "3", "k-"+step[0], step[0]); code != 0 {
			t.Fatalf("put after %s: %s", step[0], out)
		}
		if out, code := cli(t, "get", "--addr", n3.url(), "--r", "3", "k-"+step[0]); code != 0 || !strings.Contains(out, step[0]) {
			t.Fatalf("get after %s: %s", step[0], out)
		}
	}
	rows := keyringRows(t, n1.url())
	if len(rows) != 3 || !slices.Equal(rows["n1"], []string{k2}) || !slices.Equal(rows["n2"], []string{k2}) || !slices.Equal(rows["n3"], []string{k2}) {
		t.Fatalf("after the rotation: %v", rows)
	}
}

// A different agent can't take over the name of a member that is down: an
// agent named n3 at other ports exits (its name is bound to n3's
// addresses), and the real n3 comes back as itself.
func TestProcessNameTakeoverRefused(t *testing.T) {
	n1 := newAgent(t, "n1", "")
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip)
	n3 := newAgent(t, "n3", n1.gossip)
	n2.start(t)
	n3.start(t)
	waitAlive(t, n1.url(), 3)
	n3.kill()
	waitAlive(t, n1.url(), 2)

	imp := newAgent(t, "n3", n1.gossip)
	imp.launch(t)
	select {
	case <-imp.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the impostor n3 is still running")
	}
	if imp.exitErr == nil {
		t.Fatal("the impostor n3 exited 0")
	}
	if log, _ := os.ReadFile(imp.logPath); !strings.Contains(string(log), "bound to other addresses") {
		t.Fatalf("the impostor's log does not say why it stopped:\n%s", log)
	}

	n3.join = ""
	n3.start(t)
	waitAlive(t, n1.url(), 3)
	out, code := cli(t, "members", "--addr", n2.url(), "--json")
	if code != 0 || !strings.Contains(out, n3.gossip) || strings.Contains(out, imp.gossip) {
		t.Fatalf("n3's addresses after its return (real gossip %s, impostor's %s):\n%s", n3.gossip, imp.gossip, out)
	}
}
