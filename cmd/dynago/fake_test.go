package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorded is one request the fake node received.
type recorded struct {
	Method  string
	RawPath string // escaped path as sent
	Key     string // unescaped key for /kv/ requests
	Query   url.Values
	Header  http.Header
	Body    []byte
}

// fakeEntry is one key's state in the fake node: its live siblings and the
// version its context names.
type fakeEntry struct {
	values  []string
	version int
}

func (e *fakeEntry) context() string { return "ctx-" + strconv.Itoa(e.version) }

// fakeNode is a small in-memory implementation of the HTTP contract
// (DESIGN.md §5), enough to drive the CLI end to end: writes with the
// key's current context replace its siblings, blind or stale writes add a
// sibling, deletes with the current context remove every value.
type fakeNode struct {
	t *testing.T

	mu   sync.Mutex
	reqs []recorded
	kv   map[string]*fakeEntry
	// fail makes every /kv/ request for a key answer this status with a
	// contract error body.
	fail map[string]int

	members []map[string]any
	ring    map[string]any
	// aaeFail, if not 0, makes GET /debug/aae answer this status with a
	// contract error body.
	aaeFail int
	// leaveFail, if not 0, makes POST /cluster/leave answer this status
	// with code not_member.
	leaveFail int
	// transfers scripts GET /debug/transfers: poll i gets transfers[i],
	// later polls the last one; nil means fakeTransfers.
	transfers []string
	// vanish makes the node stop once transfers is used up, as when its
	// process exits: the next poll finds its connection dropped and its
	// listener closed (later connections are refused).
	vanish bool
	polls  int // GET /debug/transfers served
	srv    *httptest.Server
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	f := &fakeNode{
		t:    t,
		kv:   map[string]*fakeEntry{},
		fail: map[string]int{},
		members: []map[string]any{
			{"name": "n1", "gossip": "127.0.0.1:7946", "rpc": "127.0.0.1:8081", "http": "127.0.0.1:8080", "zone": "", "state": "valid", "alive": true},
			{"name": "n2", "gossip": "127.0.0.1:7947", "rpc": "127.0.0.1:8083", "http": "127.0.0.1:8082", "zone": "z2", "state": "leaving", "alive": false},
		},
		ring: map[string]any{"partitions": 4, "n": 2, "preflists": []map[string]any{
			{"partition": 0, "nodes": []string{"n1", "n2"}},
			{"partition": 1, "nodes": []string{"n2", "n1"}},
			{"partition": 2, "nodes": []string{"n1", "n2"}},
			{"partition": 3, "nodes": []string{"n1", "n3"}},
		}},
	}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) URL() string { return f.srv.URL }

func (f *fakeNode) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fakeNode) set(key string, version int, values ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv[key] = &fakeEntry{values: values, version: version}
}

func (f *fakeNode) entry(key string) fakeEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.kv[key]; ok {
		return fakeEntry{values: append([]string(nil), e.values...), version: e.version}
	}
	return fakeEntry{}
}

func writeErr(w http.ResponseWriter, status int, msg, code string, extra map[string]any) {
	body := map[string]any{"error": msg, "code": code}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func validQuorum(v string) bool {
	switch v {
	case "", "one", "quorum", "all", "1", "2", "3":
		return true
	}
	return false
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, RawPath: r.URL.EscapedPath(), Query: r.URL.Query(), Header: r.Header.Clone(), Body: body}
	if k, ok := strings.CutPrefix(r.URL.Path, "/kv/"); ok {
		rec.Key = k
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, rec)
	w.Header().Set("X-Dynago-Report", "fake report "+r.Method)

	switch {
	case strings.HasPrefix(r.URL.Path, "/kv/"):
		f.serveKV(w, r, rec)
	case r.URL.Path == "/cluster/members" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.members)
	case r.URL.Path == "/debug/hints" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"node":"n1","total":3,"targets":[{"target":"n4","count":3,"bytes":120,"oldest_age_seconds":42,"state":"backing-off","bytes_per_second":0,"delivered":7,"refused":1,"expired":0,"target_alive":false,"last_error":"dial refused"}]}`))
	case r.URL.Path == "/debug/aae" && r.Method == http.MethodGet:
		if f.aaeFail != 0 {
			writeErr(w, f.aaeFail, "anti-entropy state unavailable", "internal", nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, fakeAAE(time.Now()))
	case r.URL.Path == "/cluster/ring" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(f.ring)
	case r.URL.Path == "/cluster/join" && r.Method == http.MethodPost:
		var req struct{ Seeds []string }
		if json.Unmarshal(body, &req) != nil || len(req.Seeds) == 0 {
			writeErr(w, http.StatusBadRequest, "want {\"seeds\": [...]}", "bad_request", nil)
			return
		}
		if req.Seeds[0] == "127.0.0.1:1" {
			writeErr(w, http.StatusBadGateway, "no seed answered", "join_failed", nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"members":3}`)
	case r.URL.Path == "/debug/transfers" && r.Method == http.MethodGet:
		f.serveTransfers(w)
	case r.URL.Path == "/cluster/plan" && r.Method == http.MethodGet:
		servePlan(w, r.URL.Query())
	case r.URL.Path == "/cluster/stage" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"staged":true,"pending":[],"told":2,"acknowledged":2}`)
	case r.URL.Path == "/cluster/commit" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"staged":false,"pending":[{"op":"join","node":"n4"},{"op":"leave","node":"n2"}],"told":2,"acknowledged":1}`)
	case r.URL.Path == "/cluster/leave" && r.Method == http.MethodPost:
		if f.leaveFail != 0 {
			writeErr(w, f.leaveFail, "this node is not in the ring", "not_member", nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"leaving","node":"n3"}`)
	case r.URL.Path == "/cluster/remove" && r.Method == http.MethodPost:
		var req struct{ Node string }
		if json.Unmarshal(body, &req) != nil || req.Node == "" {
			writeErr(w, http.StatusBadRequest, "want {\"node\": NAME}", "bad_request", nil)
			return
		}
		if req.Node != "n2" {
			writeErr(w, http.StatusNotFound, "no member "+req.Node, "not_found", nil)
			return
		}
		w.WriteHeader(http.StatusOK)
	default:
		writeErr(w, http.StatusNotFound, "no such endpoint", "not_found", nil)
	}
}

// serveTransfers answers GET /debug/transfers from the script (see
// fakeNode.transfers); f.mu is held.
func (f *fakeNode) serveTransfers(w http.ResponseWriter) {
	i := f.polls
	f.polls++
	if f.transfers == nil {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, fakeTransfers)
		return
	}
	if i >= len(f.transfers) && f.vanish {
		_ = f.srv.Listener.Close()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			f.t.Errorf("fake node: hijack: %v", err)
			return
		}
		_ = conn.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, f.transfers[min(i, len(f.transfers)-1)])
}

// script sets the GET /debug/transfers script (see fakeNode.transfers and
// vanish).
func (f *fakeNode) script(vanish bool, bodies ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.transfers, f.vanish = bodies, vanish
}

// fakeTransfers is the fake's default GET /debug/transfers body: a joining
// node pulling two partitions, one of them failing.
const fakeTransfers = `{"node":"n3","status":"joining",
"partitions_ready":200,"partitions_pending":56,"rate_bytes_per_sec":8388608,
"jobs":[{"partition":7,"sources":["n1","n2"],"done":["n1"],"state":"running","keys":1200,"bytes":150000,"error":""},
        {"partition":12,"sources":["n2"],"done":[],"state":"error","keys":0,"bytes":0,"error":"dial tcp 127.0.0.1:8083: connection refused"}],
"totals":{"keys":123,"bytes":4567,"partitions":12,"stale_keys_dropped":900,"stale_keys_pushed":2}}`

// leaving is a GET /debug/transfers body of n3 leaving: handedOff of 64
// partitions and bytesLeft of 1500000 bytes to go, done when both are
// through. status overrides "leaving" when not "".
func leaving(handedOff int, bytesLeft int64, status string) string {
	done := handedOff == 64 && bytesLeft == 0
	if status == "" {
		status = "leaving"
	}
	return fmt.Sprintf(`{"node":"n3","status":%q,"partitions_ready":64,"partitions_pending":0,"rate_bytes_per_sec":8388608,
"jobs":[],"totals":{"keys":0,"bytes":0,"partitions":0},
"leaving":{"partitions_total":64,"partitions_handed_off":%d,"keys_total":10000,"keys_remaining":%d,
"bytes_total":1500000,"bytes_remaining":%d,"done":%v}}`, status, handedOff, bytesLeft/150, bytesLeft, done)
}

// fakeAAE is the fake's GET /debug/aae body (CONTRACT shape). Partition 0's
// exchange with n2 happened 2h0m30s before now, so the CLI shows "2h0m ago"
// however long the test takes (within half a minute); n3 never exchanged.
func fakeAAE(now time.Time) string {
	last := now.Add(-2*time.Hour - 30*time.Second).UTC().Format(time.RFC3339)
	return `{"node":"n1","enabled":true,"interval_seconds":10,"rate_factor":0.5,"foreground_p99_ms":12.5,
"tombstone_grace_seconds":3600,
"totals":{"exchanges":12,"exchange_errors":1,"differences":7,"keys_repaired":6,"bytes_sent":4096,"tombstones":3,"tombstones_reaped":2},
"partitions":[
 {"partition":0,"keys":120,"depth":4,"root":"0123456789abcdef","tree_age_seconds":42,"tombstones":2,
  "peers":[{"peer":"n2","last_exchange":"` + last + `","result":"repaired","keys_compared":120,"differences":3,"keys_repaired":3,"bytes_sent":512,"error":""},
           {"peer":"n3","last_exchange":"","result":"","keys_compared":0,"differences":0,"keys_repaired":0,"bytes_sent":0}]},
 {"partition":3,"keys":7,"depth":2,"root":"fedcba9876543210","tree_age_seconds":3725,"tombstones":1,
  "peers":[{"peer":"n2","last_exchange":"` + last + `","result":"error","keys_compared":0,"differences":0,"keys_repaired":0,"bytes_sent":0,"error":"dial tcp 127.0.0.1:8083: connection refused"}]}
]}`
}

// serveKV implements /kv/{key}; f.mu is held.
func (f *fakeNode) serveKV(w http.ResponseWriter, r *http.Request, rec recorded) {
	key := rec.Key
	if st, ok := f.fail[key]; ok {
		extra := map[string]any{}
		if st == http.StatusServiceUnavailable {
			extra["acks"] = 1
			extra["replicas"] = []string{"n1"}
		}
		writeErr(w, st, "quorum not met: 1 of 2", "unavailable", extra)
		return
	}
	q := r.URL.Query()
	for _, p := range []string{"r", "w", "pr", "pw"} {
		if !validQuorum(q.Get(p)) {
			writeErr(w, http.StatusBadRequest, "bad "+p, "bad_request", nil)
			return
		}
	}
	e := f.kv[key]
	switch r.Method {
	case http.MethodGet:
		if e != nil {
			w.Header().Set("X-Dynago-Context", e.context())
		}
		asJSON := r.Header.Get("Accept") == "application/json"
		if e == nil || len(e.values) == 0 {
			if asJSON {
				writeGetJSON(w, http.StatusNotFound, false, e, nil)
				return
			}
			writeErr(w, http.StatusNotFound, "not found", "not_found", nil)
			return
		}
		if len(e.values) == 1 && !asJSON {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.WriteString(w, e.values[0])
			return
		}
		status := http.StatusOK
		if len(e.values) > 1 {
			status = http.StatusMultipleChoices
		}
		writeGetJSON(w, status, true, e, e.values)
	case http.MethodPut:
		if e == nil {
			e = &fakeEntry{}
			f.kv[key] = e
		}
		if c := r.Header.Get("X-Dynago-Context"); c != "" && c == e.context() {
			e.values = []string{string(rec.Body)}
		} else {
			e.values = append(e.values, string(rec.Body))
		}
		e.version++
		w.Header().Set("X-Dynago-Context", e.context())
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		if e == nil || r.Header.Get("X-Dynago-Context") != e.context() {
			writeErr(w, http.StatusBadRequest, "stale or missing context", "bad_context", nil)
			return
		}
		e.values = nil
		e.version++
		w.Header().Set("X-Dynago-Context", e.context())
		w.WriteHeader(http.StatusNoContent)
	default:
		writeErr(w, http.StatusMethodNotAllowed, "method not allowed", "bad_request", nil)
	}
}

func writeGetJSON(w http.ResponseWriter, status int, found bool, e *fakeEntry, values []string) {
	type sib struct {
		Value string `json:"value"`
	}
	out := struct {
		Found    bool   `json:"found"`
		Context  string `json:"context"`
		Siblings []sib  `json:"siblings"`
	}{Found: found, Siblings: []sib{}}
	if e != nil {
		out.Context = e.context()
	}
	for _, v := range values {
		out.Siblings = append(out.Siblings, sib{base64.StdEncoding.EncodeToString([]byte(v))})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(out)
}

// result is what one CLI run produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the app with args (without the program name) and stdin.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Reader = strings.NewReader(stdin)
	app.Writer = &out
	app.ErrWriter = &errOut
	code := run(context.Background(), app, append([]string{"dynago"}, args...))
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// servePlan answers GET /cluster/plan like a node of n1, n2 (both in the
// ring) and n3 (down): exactly one of join, leave and remove, else 400
// bad_plan; a join of a member is 409 already_member, a leave or remove of
// a node not in the ring 404 unknown_node. A join of n4 moves data; a
// remove of n2 leaves lists short of n.
func servePlan(w http.ResponseWriter, q url.Values) {
	var op, node string
	for _, o := range []string{"join", "leave", "remove"} {
		if q.Has(o) {
			if op != "" {
				writeErr(w, http.StatusBadRequest, "want exactly one change", "bad_plan", nil)
				return
			}
			op, node = o, q.Get(o)
		}
	}
	member := node == "n1" || node == "n2"
	if op == "" && !q.Has("zone") {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"change":{"op":"pending","node":"","zone":""},"partitions":8,"n":2,"transfer_rate_bytes_per_sec":8388608,
"nodes":[{"node":"n1","zone":"","partitions_before":8,"partitions_after":6,"gain":[],"lose":[1,4]},
         {"node":"n2","zone":"z2","partitions_before":8,"partitions_after":6,"gain":[],"lose":[2,6]},
         {"node":"n4","zone":"","partitions_before":0,"partitions_after":4,"gain":[1,2,4,6],"lose":[]}],
"moves":{"partitions":4,"keys":1000,"bytes":100000,"seconds":0.5},
"balance":{"max_share":1.1,"bound":1.25},"warnings":[],
"staged":true,"pending":[{"op":"join","node":"n4","zone":""}]}`)
		return
	}
	switch {
	case op == "" || node == "" || (q.Has("zone") && op != "join"):
		writeErr(w, http.StatusBadRequest, "want exactly one change", "bad_plan", nil)
		return
	case op == "join" && member:
		writeErr(w, http.StatusConflict, node+" is already in the ring (valid)", "already_member", nil)
		return
	case op != "join" && !member:
		writeErr(w, http.StatusNotFound, node+" is not in the ring", "unknown_node", nil)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if op == "join" {
		_, _ = fmt.Fprintf(w, `{"change":{"op":"join","node":%q,"zone":%q},"partitions":8,"n":2,"transfer_rate_bytes_per_sec":8388608,
"nodes":[{"node":"n1","zone":"","partitions_before":8,"partitions_after":6,"gain":[],"lose":[1,4]},
         {"node":%q,"zone":%q,"partitions_before":0,"partitions_after":4,"gain":[1,2,4,6],"lose":[]},
         {"node":"n2","zone":"z2","partitions_before":8,"partitions_after":6,"gain":[],"lose":[2,6]}],
"moves":{"partitions":4,"keys":123456,"bytes":31457280,"seconds":3.75},
"balance":{"max_share":1.1,"bound":1.25},
"warnings":["n3 (valid) is down: transfers from and to it wait until it is back or removed"]}`, node, q.Get("zone"), node, q.Get("zone"))
		return
	}
	_, _ = fmt.Fprintf(w, `{"change":{"op":%q,"node":%q,"zone":"z2"},"partitions":8,"n":2,"transfer_rate_bytes_per_sec":8388608,
"nodes":[{"node":"n1","zone":"","partitions_before":8,"partitions_after":8,"gain":[],"lose":[]},
         {"node":"n2","zone":"z2","partitions_before":8,"partitions_after":0,"gain":[],"lose":[0,1,2,3,4,5,6,7]}],
"moves":{"partitions":0,"keys":0,"bytes":0,"seconds":0},
"balance":{"max_share":1,"bound":1.25},
"warnings":["n=2 but only 1 member: all 8 partitions would have 1 replica, not 2","n3 (valid) is down: transfers from and to it wait"]}`, op, node)
}
