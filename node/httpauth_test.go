package node

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dynago/dynago/node/auth"
	"github.com/dynago/dynago/node/internal/logflood"
)

// Tokens of testAuth's table.
const (
	tokRead  = "read-token-1"
	tokWrite = "write-token-2"
	tokAdmin = "admin-token-3"
)

// testAuth is an Authenticator with one token of each role.
func testAuth(t testing.TB) *auth.Authenticator {
	t.Helper()
	tab, err := auth.Parse([]byte(auth.Line(tokRead, auth.RoleRead, "dash") + "\n" +
		auth.Line(tokWrite, auth.RoleWrite, "app") + "\n" + auth.Line(tokAdmin, auth.RoleAdmin, "ops") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return auth.New(tab)
}

// logBuffer collects a node's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the log records whose attributes include every one of
// want (compared as JSON values).
func (b *logBuffer) lines(t testing.TB, want map[string]any) []map[string]any {
	t.Helper()
	b.mu.Lock()
	text := b.buf.String()
	b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		match := true
		for k, v := range want {
			if m[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, m)
		}
	}
	return out
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// authNode starts a node of one with authentication on (testAuth) and
// RESP, logging JSON into the returned buffer.
func authNode(t *testing.T, mutate func(*Config)) (*testNode, *logBuffer) {
	logs := &logBuffer{}
	nodes := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, resp: true, mutate: func(i int, c *Config) {
		alone(i, c)
		c.Auth = testAuth(t)
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		if mutate != nil {
			mutate(c)
		}
	}})
	return nodes[0], logs
}

func bearer(tok string) map[string]string {
	if tok == "" {
		return nil
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

// TestHTTPAuthRoles: with a token file, a request without a valid token
// gets 401, one whose role does not allow it 403, and the right role
// gets through; /health and /metrics stay open.
func TestHTTPAuthRoles(t *testing.T) {
	tn, logs := authNode(t, nil)
	for _, tc := range []struct {
		name, method, path, token string
		body                      string
		want                      int
	}{
		{"no token reads", "GET", "/kv/a", "", "", http.StatusUnauthorized},
		{"wrong token reads", "GET", "/kv/a", "nope", "", http.StatusUnauthorized},
		{"basic auth", "GET", "/kv/a", "", "", http.StatusUnauthorized},
		{"no token admin", "GET", "/cluster/members", "", "", http.StatusUnauthorized},
		{"no token unknown route", "GET", "/nowhere", "", "", http.StatusUnauthorized},
		{"read reads", "GET", "/kv/a", tokRead, "", http.StatusNotFound},
		{"read writes", "PUT", "/kv/a", tokRead, "x", http.StatusForbidden},
		{"read deletes", "DELETE", "/kv/a", tokRead, "", http.StatusForbidden},
		{"write writes", "PUT", "/kv/a", tokWrite, "x", http.StatusNoContent},
		{"write reads", "GET", "/kv/a", tokWrite, "", http.StatusOK},
		{"write lists members", "GET", "/cluster/members", tokWrite, "", http.StatusForbidden},
		{"write stages", "POST", "/cluster/stage", tokWrite, "{}", http.StatusForbidden},
		{"write debug", "GET", "/debug/replica/a", tokWrite, "", http.StatusForbidden},
		{"write unknown route", "GET", "/nowhere", tokWrite, "", http.StatusForbidden},
		{"admin lists members", "GET", "/cluster/members", tokAdmin, "", http.StatusOK},
		{"admin debug", "GET", "/debug/replica/a", tokAdmin, "", http.StatusOK},
		{"admin writes", "PUT", "/kv/b", tokAdmin, "y", http.StatusNoContent},
		{"admin unknown route", "GET", "/nowhere", tokAdmin, "", http.StatusNotFound},
		{"health open", "GET", "/health", "", "", http.StatusOK},
		{"metrics open", "GET", "/metrics", "", "", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := bearer(tc.token)
			if tc.name == "basic auth" {
				hdr = map[string]string{"Authorization": "Basic b3BzOmFkbWluLXRva2VuLTM="}
			}
			r := tn.do(tc.method, tc.path, []byte(tc.body), hdr)
			if r.status == http.StatusOK && tc.want == http.StatusNoContent {
				r.status = http.StatusNoContent // a PUT may answer either
			}
			if r.status != tc.want {
				t.Fatalf("%s %s with %q: %d %s, want %d", tc.method, tc.path, tc.token, r.status, r.body, tc.want)
			}
			switch tc.want {
			case http.StatusUnauthorized:
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", r.header.Get("WWW-Authenticate"))
				}
				if code := r.json(t)["code"]; code != "unauthenticated" {
					t.Errorf("401 body code %v", code)
				}
			case http.StatusForbidden:
				if code := r.json(t)["code"]; code != "forbidden" {
					t.Errorf("403 body code %v", code)
				}
			}
		})
	}

	m := tn.node.metrics.authRefused
	if got := testutil.ToFloat64(m.WithLabelValues("http", "unauthenticated")); got != 5 {
		t.Errorf("dynago_auth_refused_total{reason=unauthenticated} = %v, want 5", got)
	}
	if got := testutil.ToFloat64(m.WithLabelValues("http", "forbidden")); got != 6 {
		t.Errorf("dynago_auth_refused_total{reason=forbidden} = %v, want 6", got)
	}
	metrics := tn.do("GET", "/metrics", nil, nil)
	if !strings.Contains(string(metrics.body), `dynago_auth_refused_total{api="http",reason="forbidden"} 6`) {
		t.Error("/metrics does not show the 6 refusals")
	}
	// Refusals are logged with the principal and the route, never a token.
	if got := logs.lines(t, map[string]any{"msg": "request refused", "principal": "dash", "route": "PUT /kv/{key...}", "status": 403.0}); len(got) != 1 {
		t.Errorf("%d log lines of dash's refused PUT, want 1:\n%s", len(got), logs)
	}
	for _, tok := range []string{tokRead, tokWrite, tokAdmin, "nope"} {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("a log line holds the token %q", tok)
		}
	}
}

// TestAuditLog: every admin action is one log line with audit=true
// naming who, what and the outcome, refused ones included; key requests
// are not audited.
func TestAuditLog(t *testing.T) {
	tn, logs := authNode(t, nil)
	tn.do("GET", "/cluster/members", nil, bearer(tokAdmin))
	tn.do("POST", "/cluster/stage", []byte("{}"), bearer(tokWrite))
	tn.do("GET", "/debug/hints", nil, nil)
	tn.do("PUT", "/kv/k", []byte("v"), bearer(tokAdmin))

	audit := logs.lines(t, map[string]any{"audit": true})
	if len(audit) != 3 {
		t.Fatalf("%d audit lines, want 3:\n%s", len(audit), logs)
	}
	for i, want := range []map[string]any{
		{"principal": "ops", "role": "admin", "method": "GET", "route": "GET /cluster/members", "status": 200.0},
		{"principal": "app", "role": "write", "method": "POST", "route": "POST /cluster/stage", "status": 403.0},
		{"principal": "anonymous", "method": "GET", "route": "GET /debug/hints", "status": 401.0},
	} {
		for k, v := range want {
			if audit[i][k] != v {
				t.Errorf("audit line %d: %s = %v, want %v (%v)", i, k, audit[i][k], v, audit[i])
			}
		}
		if audit[i]["time"] == nil || audit[i]["remote"] == "" {
			t.Errorf("audit line %d has no time or remote address: %v", i, audit[i])
		}
	}
}

// TestAuditLogWithoutAuth: with authentication off, admin actions that
// change something are still audited (as anonymous); reads are not.
func TestAuditLogWithoutAuth(t *testing.T) {
	logs := &logBuffer{}
	tn := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: func(i int, c *Config) {
		alone(i, c)
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}})[0]
	if r := tn.do("GET", "/cluster/members", nil, nil); r.status != http.StatusOK {
		t.Fatalf("GET /cluster/members without auth: %d", r.status)
	}
	tn.do("POST", "/cluster/commit", []byte("{}"), nil)
	audit := logs.lines(t, map[string]any{"audit": true})
	if len(audit) != 1 || audit[0]["route"] != "POST /cluster/commit" || audit[0]["principal"] != "anonymous" || audit[0]["status"] == 0.0 {
		t.Fatalf("audit lines %v, want one of POST /cluster/commit by anonymous", audit)
	}
}

// TestMetricsAuth: --metrics-auth makes /metrics admin-only; /health
// stays open.
func TestMetricsAuth(t *testing.T) {
	tn, _ := authNode(t, func(c *Config) { c.MetricsAuth = true })
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", tokWrite, http.StatusForbidden},
		{"/metrics", tokAdmin, http.StatusOK},
		{"/health", "", http.StatusOK},
	} {
		if r := tn.do("GET", tc.path, nil, bearer(tc.token)); r.status != tc.want {
			t.Errorf("GET %s with %q: %d, want %d", tc.path, tc.token, r.status, tc.want)
		}
	}
}

// TestAuthPrincipalHook: Config.AuthPrincipal (where a verified client
// certificate will map to a principal) is asked before the token.
func TestAuthPrincipalHook(t *testing.T) {
	tn, _ := authNode(t, func(c *Config) {
		c.AuthPrincipal = func(r *http.Request) (auth.Principal, bool) {
			if r.Header.Get("X-Test-Cert") == "ops" {
				return auth.Principal{Name: "cert-ops", Role: auth.RoleAdmin}, true
			}
			return auth.Principal{}, false
		}
	})
	if r := tn.do("GET", "/cluster/members", nil, map[string]string{"X-Test-Cert": "ops"}); r.status != http.StatusOK {
		t.Fatalf("admin by the hook: %d %s", r.status, r.body)
	}
	if r := tn.do("GET", "/cluster/members", nil, bearer(tokRead)); r.status != http.StatusForbidden {
		t.Fatalf("read token when the hook says no: %d", r.status)
	}
}

// Anyone can send requests without credentials, so their refusals must
// not let them fill the log: 200 unauthenticated requests cost a few
// refusal lines, each later one saying how many it stands for, while
// every refusal is still counted, and each of the 100 to an admin route
// still has its audit line. A refusal of a principal for its role is logged each
// time (TestHTTPAuthRoles). Before, each request wrote its own lines.
func TestUnauthenticatedRefusalsDoNotFloodTheLog(t *testing.T) {
	tn, logs := authNode(t, nil)
	dropped := tn.node.quietLog.Handler().(*logflood.Handler).Dropped
	before := dropped()
	const requests = 200
	for i := range requests {
		path := "/kv/k"
		if i%2 == 1 {
			path = "/cluster/members"
		}
		if r := tn.do("GET", path, nil, bearer("not-a-token")); r.status != http.StatusUnauthorized {
			t.Fatalf("GET %s with a bad token: %d %s", path, r.status, r.body)
		}
	}
	lines := len(logs.lines(t, map[string]any{"msg": "request refused", "status": 401.0}))
	if lines > 5 {
		t.Fatalf("%d requests without valid credentials wrote %d refusal lines", requests, lines)
	}
	// Each request is one refusal line: logged or counted as dropped.
	if got := uint64(lines) + dropped() - before; got < requests {
		t.Fatalf("%d refusal lines logged or dropped, want %d", got, requests)
	}
	// The audit log keeps every admin request, refusals included.
	if got := len(logs.lines(t, map[string]any{"msg": "admin action", "status": 401.0})); got != requests/2 {
		t.Fatalf("%d audit lines for %d refused admin requests", got, requests/2)
	}
	if got := testutil.ToFloat64(tn.node.metrics.authRefused.WithLabelValues("http", "unauthenticated")); got != requests {
		t.Fatalf("unauthenticated refusals counted %v, want %d", got, requests)
	}
}
