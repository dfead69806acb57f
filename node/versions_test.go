package node

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/storage"
)

// setMeta writes one metadata entry of a stopped node's data dir (delete:
// removes it).
func setMeta(t *testing.T, cfg Config, key []byte, v string, del bool) {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	err := st.Update(context.Background(), key, func([]byte, bool) ([]byte, error) {
		if del {
			return nil, storage.ErrDeleteKey
		}
		return []byte(v), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getMeta(t *testing.T, cfg Config, key []byte) (string, error) {
	t.Helper()
	st := openTestStore(t, cfg)
	defer st.Close()
	b, err := st.Get(context.Background(), key)
	return string(b), err
}

// The data dir's format: recorded at the first start; a dir from before
// formats were recorded (the same layout) is read and gets the record; a
// dir in a newer format, or an unreadable record, is refused at start
// with a message naming both versions and what to do.
func TestDataFormat(t *testing.T) {
	a := testConfig(t, "n1", false)
	alone(0, &a)
	n1 := startNode(t, a)
	if r := n1.put("k", "v", ""); r.status != 204 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	n1.stop()
	if v, err := getMeta(t, a, metaFormat); err != nil || v != strconv.Itoa(DataFormat) {
		t.Fatalf("recorded format %q, %v; want %d", v, err, DataFormat)
	}

	// From before formats were recorded: read, and recorded.
	setMeta(t, a, metaFormat, "", true)
	a.Join = nil
	n1 = startNode(t, a)
	if r := n1.get("k"); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("GET on a dir from before formats: %d %s", r.status, r.body)
	}
	n1.stop()
	if v, err := getMeta(t, a, metaFormat); err != nil || v != strconv.Itoa(DataFormat) {
		t.Fatalf("format after a start on an old dir: %q, %v", v, err)
	}

	for _, tc := range []struct{ stored, want string }{
		{strconv.Itoa(DataFormat + 1), "is in data format " + strconv.Itoa(DataFormat+1) + ", and this dynago"},
		{"x", `data format "x" is not a version number`},
	} {
		setMeta(t, a, metaFormat, tc.stored, false)
		_, err := New(a, openTestStore(t, a), nil)
		if !errors.Is(err, ErrDataFormat) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), a.DataDir) {
			t.Fatalf("format %q: New: %v; want ErrDataFormat saying %q and naming the dir", tc.stored, err, tc.want)
		}
		t.Logf("format %q: %v", tc.stored, err)
	}
	// The refusal changed nothing: the record is the newer format still.
	if v, _ := getMeta(t, a, metaFormat); v != "x" {
		t.Fatalf("a refused start rewrote the format to %q", v)
	}
}

// FuzzParseDataFormat: the data format record's decoder never panics, and
// accepts only what it would write for some version.
func FuzzParseDataFormat(f *testing.F) {
	for _, s := range []string{"1", "2", "0", "01", "-1", "999999999", "1000000000", "x", "", "+1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseDataFormat(b)
		if err != nil {
			return
		}
		if v < 1 || strconv.Itoa(v) != string(b) {
			t.Fatalf("%q parsed as %d", b, v)
		}
	})
}

// A node's versions on /health, /cluster/members (its own and each alive
// peer's, from gossip), and /metrics; a node pinned to the legacy
// protocol (Config.ProtocolVersion 1) shows it, and the two still serve
// each other's requests over the protocol they share.
func TestVersionsShown(t *testing.T) {
	two := func(c *Config) { c.Ring.N, c.Quorum.N, c.Quorum.R, c.Quorum.W = 2, 2, 1, 1 }
	a := testConfig(t, "n1", true)
	two(&a)
	n1 := startNode(t, a)
	b := testConfig(t, "n2", true)
	two(&b)
	b.Join = []string{n1.node.GossipAddr()}
	b.ProtocolVersion = rpc.ProtocolLegacy
	n2 := startNode(t, b)
	waitMembers(t, []*testNode{n1, n2}, 2)

	r := n1.do("GET", "/health", nil, nil)
	var h api.Health
	if err := json.Unmarshal(r.body, &h); err != nil || h.Versions == nil {
		t.Fatalf("/health: %s (%v)", r.body, err)
	}
	want := api.Versions{Software: softwareVersion(), Protocol: api.Protocol{Min: 1, Max: int(rpc.MaxProtocol)}, DataFormat: DataFormat}
	if *h.Versions != want {
		t.Fatalf("/health versions %+v, want %+v", *h.Versions, want)
	}
	waitFor(t, "n2's pinned protocol in n1's members", 10*time.Second, func() (bool, string) {
		for _, m := range n1.members() {
			if m.Name == "n2" {
				return m.Protocol != nil && *m.Protocol == (api.Protocol{Min: 1, Max: 1}) && !m.Incompatible, string(n1.do("GET", "/cluster/members", nil, nil).body)
			}
		}
		return false, "no n2"
	})
	for _, m := range n2.members() {
		if m.Name == "n2" && (m.Protocol == nil || m.Protocol.Max != 1) {
			t.Fatalf("n2 shows itself as %+v", m.Protocol)
		}
	}
	metrics := string(n1.do("GET", "/metrics", nil, nil).body)
	if !strings.Contains(metrics, `",protocol_max="2",protocol_min="1",version=`) || !strings.Contains(metrics, `dynago_build_info{commit=`) {
		t.Fatalf("/metrics has no build info:\n%s", grepLines(metrics, "dynago_build"))
	}
	// Both write through each other (W=2 spans both nodes).
	for i, n := range []*testNode{n1, n2} {
		if r := n.put("k"+strconv.Itoa(i), "v", "", "w=2"); r.status != 204 {
			t.Fatalf("PUT via %s: %d %s", n.cfg.Name, r.status, r.body)
		}
	}

	// n2 comes back speaking versions n1 does not: gossip refuses it
	// (node/internal/gossip's TestIncompatibleProtocolRefused), and n1
	// lists it as incompatible with what it gossiped, and counts it.
	n2.stop()
	n1.node.incompatible.refused(n1.node.metrics)("n2", gossip.Meta{ProtoMin: 5, ProtoMax: 6, Version: "v9"})
	waitFor(t, "n2 shown incompatible", 10*time.Second, func() (bool, string) {
		for _, m := range n1.members() {
			if m.Name == "n2" {
				return !m.Alive && m.Incompatible && m.Protocol != nil && *m.Protocol == (api.Protocol{Min: 5, Max: 6}) && m.Version == "v9",
					string(n1.do("GET", "/cluster/members", nil, nil).body)
			}
		}
		return false, "no n2"
	})
	if m := string(n1.do("GET", "/metrics", nil, nil).body); !strings.Contains(m, `dynago_protocol_refused_total{side="gossip"} 1`) {
		t.Fatalf("refusal not counted:\n%s", grepLines(m, "refused"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
