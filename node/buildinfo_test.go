package node

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/dynago/dynago/internal/buildinfo"
	"github.com/dynago/dynago/node/api"
)

// TestBuildInfoShown: /health and /metrics say which build the node runs
// (issue 14), the same as `dynago version`.
func TestBuildInfoShown(t *testing.T) {
	cfg := testConfig(t, "n1", true)
	cfg.Ring.N, cfg.Quorum.N, cfg.Quorum.R, cfg.Quorum.W = 1, 1, 1, 1
	tn := startNode(t, cfg)
	want := buildinfo.Get()

	r := tn.do("GET", "/health", nil, nil)
	var h api.Health
	if r.status != http.StatusOK || json.Unmarshal(r.body, &h) != nil {
		t.Fatalf("/health: %d %s", r.status, r.body)
	}
	if h.Version != want.Version || h.Commit != want.Commit || h.GoVersion != want.GoVersion || h.Version == "" || h.GoVersion == "" {
		t.Errorf("/health = %s, want version %q commit %q go_version %q", r.body, want.Version, want.Commit, want.GoVersion)
	}

	m := tn.do("GET", "/metrics", nil, nil)
	line := fmt.Sprintf(`dynago_build_info{commit=%q,data_format="%d",go_version=%q,protocol_max="2",protocol_min="1",version=%q} 1`, want.Commit, DataFormat, want.GoVersion, want.Version)
	if m.status != http.StatusOK || !strings.Contains(string(m.body), line) {
		t.Errorf("/metrics lacks %s", line)
	}
}

// TestLoneNodeSaysWhy: one node started alone with the default N=3 (a new
// user's first agent) refuses a W=2 write up front, and the 503 says how
// many replicas there are of N and what to do, keeping the definite
// "unavailable" code (issue 14).
func TestLoneNodeSaysWhy(t *testing.T) {
	cfg := testConfig(t, "n1", true) // DefaultConfig: N=3, R=W=2
	tn := startNode(t, cfg)
	for _, tc := range []struct {
		name string
		r    response
	}{
		{"put", tn.put("k", "v", "")},
		{"get", tn.get("k")},
	} {
		if tc.r.status != http.StatusServiceUnavailable {
			t.Fatalf("%s: %d %s, want 503", tc.name, tc.r.status, tc.r.body)
		}
		body := tc.r.json(t)
		msg, _ := body["error"].(string)
		if body["code"] != "unavailable" || !strings.HasPrefix(msg, "1 of 3 replicas available; start more nodes or run with --n 1") {
			t.Errorf("%s: body %s, want code unavailable and the message to start with the replica count and the way out", tc.name, tc.r.body)
		}
	}
	// W=1 fits one node: it is stored.
	if r := tn.put("k", "v", "", "w=1"); r.status != http.StatusNoContent {
		t.Errorf("put w=1: %d %s", r.status, r.body)
	}
}

// TestShortRingMessage: a cluster with N members whose replicas are
// down keeps the plain message: "start more nodes" would be wrong there.
func TestShortRingMessage(t *testing.T) {
	ue := &UnavailableError{Op: opWrite, Reason: ReasonTooFewAlive, Need: 2, Alive: []string{"n1"}, Down: []string{"n2", "n3"}}
	if strings.Contains(ue.message(), "start more nodes") {
		t.Errorf("message of a full ring with nodes down: %q", ue.message())
	}
	ue.Members, ue.N = 2, 3
	if got := ue.message(); !strings.HasPrefix(got, "1 of 3 replicas available; start more nodes or run with --n 2") {
		t.Errorf("message of a 2-member ring, N=3: %q", got)
	}
}
