package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
)

// apiServer is a scripted node: each route answers a value of the node/api
// types, encoded as the node encodes it, so it can't drift from the
// contract. It serves the admin views with fixed numbers (a real node's
// depend on timing) and the faults a real node can't be made to answer on
// demand. It records every request and every body it sent.
type apiServer struct {
	recorder
	t   *testing.T
	srv *httptest.Server

	mu     sync.Mutex
	routes map[string]func(r *http.Request) (int, any) // "METHOD /path"
	sent   [][]byte
	// transfers scripts GET /debug/transfers: poll i gets transfers[i],
	// later polls the last one; nil means fixtureTransfers.
	transfers []any
	// vanish makes the node stop once transfers is used up, as when its
	// process exits: the next poll finds its connection dropped and its
	// listener closed (later connections are refused).
	vanish bool
	polls  int
}

// newAPIServer returns a server with the fixture routes: members, ring,
// hints, aae, transfers, plan, stage, commit, join, leave and remove of a
// cluster of n1, n2 (leaving, down) and n3 (down).
func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	s := &apiServer{t: t, routes: map[string]func(*http.Request) (int, any){
		"GET /cluster/members": func(*http.Request) (int, any) { return 200, fixtureMembers },
		"GET /cluster/ring":    func(*http.Request) (int, any) { return 200, fixtureRing },
		"GET /debug/hints":     func(*http.Request) (int, any) { return 200, fixtureHints },
		"GET /debug/aae":       func(*http.Request) (int, any) { return 200, fixtureAAE(time.Now()) },
		"GET /cluster/plan":    func(r *http.Request) (int, any) { return plan(r.URL.Query()) },
		"POST /cluster/stage": func(*http.Request) (int, any) {
			return 200, api.Staging{Staged: true, Pending: []api.PlanChange{}, Told: 2, Acknowledged: 2}
		},
		"POST /cluster/commit": func(*http.Request) (int, any) {
			return 200, api.Staging{Pending: []api.PlanChange{{Op: "join", Node: "n4"}, {Op: "leave", Node: "n2"}}, Told: 2, Acknowledged: 1}
		},
		"POST /cluster/join": func(r *http.Request) (int, any) {
			var req api.JoinRequest
			if json.NewDecoder(r.Body).Decode(&req) != nil || len(req.Seeds) == 0 {
				return 400, api.Error{Message: `want {"seeds": ["host:port", ...]}`, Code: "bad_body"}
			}
			if req.Seeds[0] == "127.0.0.1:1" {
				return 503, api.Error{Message: "no seed answered", Code: "join_failed"}
			}
			return 200, api.JoinResult{Status: "joined", Members: 3}
		},
		"POST /cluster/leave": func(*http.Request) (int, any) { return 202, api.LeaveResult{Status: "leaving", Node: "n3"} },
		"POST /cluster/remove": func(r *http.Request) (int, any) {
			var req api.RemoveRequest
			if json.NewDecoder(r.Body).Decode(&req) != nil || req.Node == "" {
				return 400, api.Error{Message: `want {"node": "name"}`, Code: "bad_body"}
			}
			if req.Node != "n2" {
				return 404, api.Error{Message: req.Node + " is not in the ring", Code: "unknown_node"}
			}
			return 200, api.RemoveResult{Status: "removed", Node: req.Node}
		},
	}}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *apiServer) URL() string { return s.srv.URL }

// handle makes route ("METHOD /path") answer h.
func (s *apiServer) handle(route string, h func(r *http.Request) (int, any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[route] = h
}

// fail makes route answer status with an error body.
func (s *apiServer) fail(route string, status int, e api.Error) {
	s.handle(route, func(*http.Request) (int, any) { return status, e })
}

// script sets the GET /debug/transfers script (see transfers and vanish).
func (s *apiServer) script(vanish bool, bodies ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transfers, s.vanish = bodies, vanish
}

// bodies returns the bodies the server sent, in order.
func (s *apiServer) bodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.sent...)
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	w.Header().Set("X-Dynago-Report", "scripted report "+r.Method)
	s.mu.Lock()
	defer s.mu.Unlock()
	var status int
	var v any
	switch h, ok := s.routes[r.Method+" "+r.URL.Path]; {
	case r.Method == http.MethodGet && r.URL.Path == api.PathTransfers:
		if status, v = s.pollLocked(); status == 0 {
			s.dropLocked(w)
			return
		}
	case ok:
		status, v = h(r)
	default:
		status, v = 404, api.Error{Message: "no route " + r.Method + " " + r.URL.Path, Code: "no_route"}
	}
	var body []byte
	switch v := v.(type) {
	case nil:
	case json.RawMessage:
		body = v // a body that breaks the contract
	default:
		b, err := json.Marshal(v)
		if err != nil {
			s.t.Errorf("api server: %v", err)
		}
		body = append(b, '\n') // as the node's json.Encoder writes it
	}
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	s.sent = append(s.sent, body)
}

// pollLocked answers GET /debug/transfers from the script; status 0 means
// drop the connection (vanish).
func (s *apiServer) pollLocked() (int, any) {
	i := s.polls
	s.polls++
	switch {
	case s.transfers == nil:
		return 200, fixtureTransfers
	case i >= len(s.transfers) && s.vanish:
		return 0, nil
	}
	return 200, s.transfers[min(i, len(s.transfers)-1)]
}

// dropLocked closes the listener and the request's connection, as a node
// that exits does.
func (s *apiServer) dropLocked(w http.ResponseWriter) {
	_ = s.srv.Listener.Close()
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		s.t.Errorf("api server: hijack: %v", err)
		return
	}
	_ = conn.Close()
}

var fixtureMembers = []api.Member{
	{Name: "n1", Gossip: "127.0.0.1:7946", RPC: "127.0.0.1:8081", HTTP: "127.0.0.1:8080", Zone: "", State: "valid", Alive: true, Protocol: &api.Protocol{Min: 1, Max: 2}},
	{Name: "n2", Gossip: "127.0.0.1:7947", RPC: "127.0.0.1:8083", HTTP: "127.0.0.1:8082", Zone: "z2", State: "leaving", Alive: false},
}

var fixtureRing = api.Ring{Partitions: 4, N: 2, Preflists: []api.Preflist{
	{Partition: 0, Nodes: []string{"n1", "n2"}},
	{Partition: 1, Nodes: []string{"n2", "n1"}},
	{Partition: 2, Nodes: []string{"n1", "n2"}},
	{Partition: 3, Nodes: []string{"n1", "n3"}},
}}

var fixtureHints = api.Hints{Node: "n1", Total: 3, Targets: []api.HintTarget{{
	Target: "n4", Count: 3, Bytes: 120, OldestAgeSecs: 42, State: "backing-off", Delivered: 7, Refused: 1,
	TargetAlive: false, LastError: "dial refused",
}}}

// fixtureTransfers is a joining node pulling two partitions, one of them
// failing.
var fixtureTransfers = api.Transfers{
	Node: "n3", Status: "joining", PartitionsReady: 200, PartitionsPending: 56, RateBytesPerSec: 8388608,
	Jobs: []api.TransferJob{
		{Partition: 7, Sources: []string{"n1", "n2"}, Done: []string{"n1"}, State: "running", Keys: 1200, Bytes: 150000},
		{Partition: 12, Sources: []string{"n2"}, Done: []string{}, State: "error", Error: "dial tcp 127.0.0.1:8083: connection refused"},
	},
	Totals: api.TransferTotals{Keys: 123, Bytes: 4567, Partitions: 12, StaleKeysDropped: 900, StaleKeysPushed: 2},
}

// leaving is GET /debug/transfers of n3 leaving: handedOff of 64
// partitions and bytesLeft of 1500000 bytes to go, done when both are
// through. status overrides "leaving" when not "".
func leaving(handedOff int, bytesLeft int64, status string) api.Transfers {
	if status == "" {
		status = "leaving"
	}
	return api.Transfers{
		Node: "n3", Status: status, PartitionsReady: 64, RateBytesPerSec: 8388608, Jobs: []api.TransferJob{},
		Leaving: &api.LeaveProgress{PartitionsTotal: 64, PartitionsHandedOff: handedOff, KeysTotal: 10000, KeysRemaining: bytesLeft / 150,
			BytesTotal: 1500000, BytesRemaining: bytesLeft, Done: handedOff == 64 && bytesLeft == 0},
	}
}

// fixtureAAE is GET /debug/aae. Partition 0's exchange with n2 happened
// 2h0m30s before now, so the CLI shows "2h0m ago" however long the test
// takes (within half a minute); n3 never exchanged.
func fixtureAAE(now time.Time) api.AAE {
	last := now.Add(-2*time.Hour - 30*time.Second).UTC().Format(time.RFC3339)
	return api.AAE{
		Node: "n1", Enabled: true, IntervalSecs: 10, RateFactor: 0.5, ForegroundP99Millis: 12.5, TombstoneGraceSecs: 3600,
		Totals: api.AAETotals{Exchanges: 12, ExchangeErrors: 1, Differences: 7, KeysRepaired: 6, BytesSent: 4096, Tombstones: 3, TombstonesReaped: 2},
		Partitions: []api.AAEPartition{
			{Partition: 0, Keys: 120, Depth: 4, Root: "0123456789abcdef", TreeAgeSecs: 42, Tombstones: 2, Peers: []api.AAEPeer{
				{Peer: "n2", LastExchange: last, Result: "repaired", KeysCompared: 120, Differences: 3, KeysRepaired: 3, BytesSent: 512},
				{Peer: "n3"},
			}},
			{Partition: 3, Keys: 7, Depth: 2, Root: "fedcba9876543210", TreeAgeSecs: 3725, Tombstones: 1, Peers: []api.AAEPeer{
				{Peer: "n2", LastExchange: last, Result: "error", Error: "dial tcp 127.0.0.1:8083: connection refused"},
			}},
		},
	}
}

// plan answers GET /cluster/plan like a node of n1, n2 (both in the ring)
// and n3 (down): exactly one of join, leave and remove, else 400 bad_plan;
// a join of a member is 409 already_member, a leave or remove of a node
// not in the ring 404 unknown_node; no change: the pending join of n4. A
// join of n4 moves data; a leave or remove of n2 leaves lists short of n.
func plan(q url.Values) (int, any) {
	var op, name string
	for _, o := range []string{api.PlanJoin, api.PlanLeave, api.PlanRemove} {
		if q.Has(o) {
			if op != "" {
				return 400, api.Error{Message: "want exactly one change", Code: "bad_plan"}
			}
			op, name = o, q.Get(o)
		}
	}
	member := name == "n1" || name == "n2"
	n1 := api.PlanNode{Node: "n1", PartitionsBefore: 8, PartitionsAfter: 6, Gain: []int{}, Lose: []int{1, 4}}
	n2 := api.PlanNode{Node: "n2", Zone: "z2", PartitionsBefore: 8, PartitionsAfter: 6, Gain: []int{}, Lose: []int{2, 6}}
	switch {
	case op == "" && !q.Has(api.ParamZone):
		return 200, api.Plan{Change: api.PlanChange{Op: api.PlanPending}, Partitions: 8, N: 2, TransferRate: 8388608,
			Nodes: []api.PlanNode{n1, n2, {Node: "n4", PartitionsAfter: 4, Gain: []int{1, 2, 4, 6}, Lose: []int{}}},
			Moves: api.PlanMoves{Partitions: 4, Keys: 1000, Bytes: 100000, Seconds: 0.5}, Balance: api.PlanBalance{MaxShare: 1.1, Bound: 1.25},
			Warnings: []string{}, Staged: true, Pending: []api.PlanChange{{Op: "join", Node: "n4"}}}
	case op == "" || name == "" || (q.Has(api.ParamZone) && op != api.PlanJoin):
		return 400, api.Error{Message: "want exactly one change", Code: "bad_plan"}
	case op == api.PlanJoin && member:
		return 409, api.Error{Message: name + " is already in the ring (valid)", Code: "already_member"}
	case op != api.PlanJoin && !member:
		return 404, api.Error{Message: name + " is not in the ring", Code: "unknown_node"}
	case op == api.PlanJoin:
		zone := q.Get(api.ParamZone)
		return 200, api.Plan{Change: api.PlanChange{Op: op, Node: name, Zone: zone}, Partitions: 8, N: 2, TransferRate: 8388608,
			Nodes: []api.PlanNode{n1, {Node: name, Zone: zone, PartitionsAfter: 4, Gain: []int{1, 2, 4, 6}, Lose: []int{}}, n2},
			Moves: api.PlanMoves{Partitions: 4, Keys: 123456, Bytes: 31457280, Seconds: 3.75}, Balance: api.PlanBalance{MaxShare: 1.1, Bound: 1.25},
			Warnings: []string{"n3 (valid) is down: transfers from and to it wait until it is back or removed"}}
	}
	return 200, api.Plan{Change: api.PlanChange{Op: op, Node: name, Zone: "z2"}, Partitions: 8, N: 2, TransferRate: 8388608,
		Nodes: []api.PlanNode{
			{Node: "n1", PartitionsBefore: 8, PartitionsAfter: 8, Gain: []int{}, Lose: []int{}},
			{Node: "n2", Zone: "z2", PartitionsBefore: 8, Gain: []int{}, Lose: []int{0, 1, 2, 3, 4, 5, 6, 7}},
		},
		Balance: api.PlanBalance{MaxShare: 1, Bound: 1.25},
		Warnings: []string{"n=2 but only 1 member: all 8 partitions would have 1 replica, not 2",
			"n3 (valid) is down: transfers from and to it wait"}}
}
