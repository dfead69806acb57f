package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNormalizeAddr(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"host:port", "127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"url", "http://127.0.0.1:8080", "http://127.0.0.1:8080", false},
		{"trailing slash", "http://127.0.0.1:8080/", "http://127.0.0.1:8080", false},
		{"https", "https://example.test", "https://example.test", false},
		{"path prefix kept", "http://h:1/dynago/", "http://h:1/dynago", false},
		{"spaces trimmed", "  h:1 ", "http://h:1", false},
		{"empty", "", "", true},
		{"other scheme", "ftp://h:1", "", true},
		{"no host", "http://", "", true},
		{"query", "http://h:1/?x=1", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeAddr(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("NormalizeAddr(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestKeyPath(t *testing.T) {
	for in, want := range map[string]string{
		"k":      "/kv/k",
		"a/b":    "/kv/a%2Fb",
		"a b":    "/kv/a%20b",
		"x?y#z%": "/kv/x%3Fy%23z%25",
	} {
		if got := KeyPath(in); got != want {
			t.Errorf("KeyPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// serve returns a client for a server that answers every request with h.
func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGetOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		ctype      string
		body       string
		asJSON     bool
		wantErr    string
		wantFound  bool
		wantValues []string
		wantCtx    string
	}{
		{name: "raw 200", status: 200, body: "v", wantFound: true, wantValues: []string{"v"}, wantCtx: "hdr"},
		{name: "raw 200 that looks like JSON stays raw", status: 200, ctype: "application/octet-stream", body: `{"found":false}`, wantFound: true, wantValues: []string{`{"found":false}`}, wantCtx: "hdr"},
		{name: "300", status: 300, ctype: "application/json", body: `{"context":"b","siblings":[{"value":"YQ=="},{"value":""}]}`, wantFound: true, wantValues: []string{"a", ""}, wantCtx: "hdr"},
		{name: "404", status: 404, ctype: "application/json", body: `{"error":"not found","code":"not_found"}`, wantCtx: "hdr"},
		{name: "json 200", status: 200, ctype: "application/json", asJSON: true, body: `{"found":true,"context":"b","siblings":[{"value":"eA=="}]}`, wantFound: true, wantValues: []string{"x"}, wantCtx: "hdr"},
		{name: "json 404", status: 404, ctype: "application/json", asJSON: true, body: `{"found":false,"context":"b","siblings":[]}`, wantCtx: "hdr"},
		{name: "300 not JSON", status: 300, body: "nope", wantErr: "not the contract's JSON"},
		{name: "300 bad base64", status: 300, ctype: "application/json", body: `{"siblings":[{"value":"!!"}]}`, wantErr: "not base64"},
		{name: "503", status: 503, ctype: "application/json", body: `{"error":"quorum not met","code":"unavailable","replies":1}`, wantErr: "GET /kv/k: 503 Service Unavailable: quorum not met (code unavailable); replies=1"},
		{name: "500 plain text", status: 500, body: "boom\n", wantErr: "500 Internal Server Error: boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodGet || r.URL.EscapedPath() != "/kv/k" {
					t.Errorf("%s %s", r.Method, r.URL.EscapedPath())
				}
				if got, want := r.Header.Get("Accept") == "application/json", tc.asJSON; got != want {
					t.Errorf("Accept JSON %v, want %v", got, want)
				}
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				}
				w.Header().Set(HeaderContext, "hdr")
				w.Header().Set(HeaderReport, "rep")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			res, err := c.Get(context.Background(), "k", ReadParams{}, tc.asJSON)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range res.Values {
				got = append(got, string(v))
			}
			if res.Found != tc.wantFound || !slices.Equal(got, tc.wantValues) || res.Context != tc.wantCtx || res.Report != "rep" || res.Status != tc.status {
				t.Errorf("got found %v values %q ctx %q report %q status %d", res.Found, got, res.Context, res.Report, res.Status)
			}
		})
	}
}

func TestErrorFields(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderReport, "w=2 acks=1")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"quorum not met","code":"unavailable","acked":["n1"],"acks":1}`)
	})
	_, err := c.Put(context.Background(), "k", []byte("v"), "ctx", WriteParams{W: "2"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %T %v, want *Error", err, err)
	}
	if e.Status != 503 || e.Method != "PUT" || e.Message != "quorum not met" || e.Code != "unavailable" || e.Report != "w=2 acks=1" {
		t.Errorf("%+v", e)
	}
	if string(e.Extra["acks"]) != "1" || string(e.Extra["acked"]) != `["n1"]` {
		t.Errorf("extra %v", e.Extra)
	}
	if want := `PUT /kv/k: 503 Service Unavailable: quorum not met (code unavailable); acked=["n1"]; acks=1`; e.Error() != want {
		t.Errorf("Error() = %q\nwant      %q", e.Error(), want)
	}
}

func TestWriteRequests(t *testing.T) {
	type seen struct {
		method, path, ctx, body, ctype string
		query                          map[string]string
	}
	var got []seen
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		q := map[string]string{}
		for k := range r.URL.Query() {
			q[k] = r.URL.Query().Get(k)
		}
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.Header.Get(HeaderContext), string(b), r.Header.Get("Content-Type"), q})
		w.Header().Set(HeaderContext, "new")
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()
	res, err := c.Put(ctx, "a/b", nil, "", WriteParams{W: "all", PW: "1", Timeout: 1500 * time.Millisecond})
	if err != nil || res.Context != "new" || res.Status != 204 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := c.Delete(ctx, "a/b", "old", WriteParams{}); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"PUT", "/kv/a%2Fb", "", "", "application/octet-stream", map[string]string{"w": "all", "pw": "1", "timeout": "1500"}},
		{"DELETE", "/kv/a%2Fb", "old", "", "", map[string]string{}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d requests", len(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.method != w.method || g.path != w.path || g.ctx != w.ctx || g.body != w.body || g.ctype != w.ctype || len(g.query) != len(w.query) {
			t.Errorf("request %d: %+v, want %+v", i, g, w)
		}
		for k, v := range w.query {
			if g.query[k] != v {
				t.Errorf("request %d: query %s=%q, want %q", i, k, g.query[k], v)
			}
		}
	}
}

func TestBadKeySendsNothing(t *testing.T) {
	var sent atomic.Int64
	c := serve(t, func(w http.ResponseWriter, r *http.Request) { sent.Add(1) })
	for _, k := range []string{"", strings.Repeat("x", MaxKeyBytes+1)} {
		if _, err := c.Get(context.Background(), k, ReadParams{}, false); !errors.Is(err, ErrBadKey) {
			t.Errorf("Get(%d bytes) err %v", len(k), err)
		}
		if _, err := c.Put(context.Background(), k, nil, "", WriteParams{}); !errors.Is(err, ErrBadKey) {
			t.Errorf("Put(%d bytes) err %v", len(k), err)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d requests sent for bad keys", n)
	}
	if _, err := c.Get(context.Background(), strings.Repeat("x", MaxKeyBytes), ReadParams{}, false); errors.Is(err, ErrBadKey) || sent.Load() != 1 {
		t.Errorf("a 1024-byte key: %v, %d requests", err, sent.Load())
	}
}

func TestAdmin(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /cluster/members":
			_, _ = io.WriteString(w, `[{"name":"n1","gossip":"g","rpc":"r","http":"h","zone":"z","state":"valid","alive":true}]`)
		case "GET /cluster/ring":
			_, _ = io.WriteString(w, `{"partitions":2,"n":1,"preflists":[{"partition":0,"nodes":["n1"]},{"partition":1,"nodes":["n1"]}]}`)
		case "POST /cluster/join", "POST /cluster/remove":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(b) // echo
		case "POST /cluster/leave":
			w.WriteHeader(http.StatusAccepted)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
	ctx := context.Background()
	ms, _, err := c.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0] != (Member{"n1", "g", "r", "h", "z", "valid", true}) {
		t.Errorf("members %+v %v", ms, err)
	}
	rg, _, err := c.Ring(ctx)
	if err != nil || rg.Partitions != 2 || rg.N != 1 || len(rg.Preflists) != 2 || rg.Preflists[1].Partition != 1 {
		t.Errorf("ring %+v %v", rg, err)
	}
	res, err := c.Join(ctx, []string{"a:1", "b:2"})
	var j struct{ Seeds []string }
	if err != nil || json.Unmarshal(res.Body, &j) != nil || !slices.Equal(j.Seeds, []string{"a:1", "b:2"}) {
		t.Errorf("join echo %q %v", res.Body, err)
	}
	res, err = c.Remove(ctx, "n3")
	var rm struct{ Node string }
	if err != nil || json.Unmarshal(res.Body, &rm) != nil || rm.Node != "n3" {
		t.Errorf("remove echo %q %v", res.Body, err)
	}
	if res, err := c.Leave(ctx); err != nil || res.Status != http.StatusAccepted {
		t.Errorf("leave %+v %v", res, err)
	}
}

func TestAAE(t *testing.T) {
	const body = `{"node":"n1","enabled":true,"interval_seconds":10,"rate_factor":1.0,"foreground_p99_ms":12.5,
"tombstone_grace_seconds":3600,
"totals":{"exchanges":9,"exchange_errors":1,"differences":4,"keys_repaired":3,"bytes_sent":2048,"tombstones":5,"tombstones_reaped":2},
"partitions":[
 {"partition":7,"keys":100,"depth":3,"root":"0123456789abcdef","tree_age_seconds":61.5,"tombstones":5,
  "peers":[{"peer":"n2","last_exchange":"2026-11-22T02:00:00Z","result":"repaired","keys_compared":100,"differences":4,"keys_repaired":3,"bytes_sent":2048,"error":""},
           {"peer":"n3","last_exchange":"2026-11-22T01:59:50Z","result":"error","keys_compared":0,"differences":0,"keys_repaired":0,"bytes_sent":0,"error":"timeout"},
           {"peer":"n4","last_exchange":"","result":""}]}
]}`
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/debug/aae" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderReport, "rep")
		_, _ = io.WriteString(w, body)
	})
	a, res, err := c.AAE(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != body || res.Report != "rep" || res.Status != http.StatusOK {
		t.Errorf("response %d %q, body kept: %v", res.Status, res.Report, string(res.Body) == body)
	}
	want := AAE{
		Node: "n1", Enabled: true, IntervalSecs: 10, RateFactor: 1, ForegroundP99Millis: 12.5, TombstoneGraceSecs: 3600,
		Totals: AAETotals{Exchanges: 9, ExchangeErrors: 1, Differences: 4, KeysRepaired: 3, BytesSent: 2048, Tombstones: 5, TombstonesReaped: 2},
		Partitions: []AAEPartition{{
			Partition: 7, Keys: 100, Depth: 3, Root: "0123456789abcdef", TreeAgeSecs: 61.5, Tombstones: 5,
			Peers: []AAEPeer{
				{Peer: "n2", LastExchange: "2026-11-22T02:00:00Z", Result: "repaired", KeysCompared: 100, Differences: 4, KeysRepaired: 3, BytesSent: 2048},
				{Peer: "n3", LastExchange: "2026-11-22T01:59:50Z", Result: "error", Error: "timeout"},
				{Peer: "n4"},
			},
		}},
	}
	if got, _ := json.Marshal(a); string(got) != mustJSON(t, want) {
		t.Errorf("decoded\n%s\nwant\n%s", got, mustJSON(t, want))
	}
	at, ok, err := a.Partitions[0].Peers[0].LastExchangeTime()
	if !ok || err != nil || !at.Equal(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("LastExchangeTime = %v, %v, %v", at, ok, err)
	}
	if _, ok, err := a.Partitions[0].Peers[2].LastExchangeTime(); ok || err != nil {
		t.Errorf("no exchange: ok %v, err %v; want never", ok, err)
	}
	if _, _, err := (AAEPeer{LastExchange: "soon"}).LastExchangeTime(); err == nil {
		t.Error("a bad last_exchange parsed")
	}
}

func TestAAEErrors(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
		status              int
	}{
		{"server error", `{"error":"boom","code":"internal"}`, "GET /debug/aae: 500 Internal Server Error: boom (code internal)", 500},
		{"not the contract", `[1,2]`, "GET /debug/aae: response is not the contract's JSON", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			a, res, err := c.AAE(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || a != nil || res != nil {
				t.Errorf("AAE = %v, %v, %v; want error %q", a, res, err, tc.wantErr)
			}
			var e *Error
			if tc.status != 200 && (!errors.As(err, &e) || e.Status != tc.status) {
				t.Errorf("err %T %v, want *Error with status %d", err, err, tc.status)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTransfers(t *testing.T) {
	const body = `{
 "node":"n3","status":"leaving",
 "partitions_ready":200,"partitions_pending":56,"rate_bytes_per_sec":8388608,
 "jobs":[{"partition":7,"sources":["n1","n2"],"done":["n1"],"state":"running","keys":1200,"bytes":150000,"error":""},
         {"partition":9,"sources":["n2"],"done":[],"state":"error","keys":0,"bytes":0,"error":"dial refused"}],
 "totals":{"keys":123,"bytes":4567,"partitions":12},
 "leaving":{"partitions_total":64,"partitions_handed_off":20,"keys_total":10000,"keys_remaining":7000,"bytes_total":1500000,"bytes_remaining":1050000,"done":false}
}`
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/debug/transfers" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderReport, "rep")
		_, _ = io.WriteString(w, body)
	})
	tr, res, err := c.Transfers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != body || res.Report != "rep" || res.Status != http.StatusOK {
		t.Errorf("response %d %q, body kept: %v", res.Status, res.Report, string(res.Body) == body)
	}
	want := Transfers{
		Node: "n3", Status: "leaving", PartitionsReady: 200, PartitionsPending: 56, RateBytesPerSec: 8 << 20,
		Jobs: []TransferJob{
			{Partition: 7, Sources: []string{"n1", "n2"}, Done: []string{"n1"}, State: "running", Keys: 1200, Bytes: 150000},
			{Partition: 9, Sources: []string{"n2"}, Done: []string{}, State: "error", Error: "dial refused"},
		},
		Totals: TransferTotals{Keys: 123, Bytes: 4567, Partitions: 12},
		Leaving: &LeaveProgress{PartitionsTotal: 64, PartitionsHandedOff: 20, KeysTotal: 10000, KeysRemaining: 7000,
			BytesTotal: 1500000, BytesRemaining: 1050000},
	}
	if got := mustJSON(t, tr); got != mustJSON(t, want) {
		t.Errorf("decoded\n%s\nwant\n%s", got, mustJSON(t, want))
	}
	if got := tr.Leaving.BytesDone(); got != 450000 {
		t.Errorf("BytesDone = %d, want 450000", got)
	}
}

func TestTransfersNotLeaving(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"node":"n1","status":"valid","partitions_ready":256,"partitions_pending":0,"rate_bytes_per_sec":1,"jobs":[],"totals":{"keys":0,"bytes":0,"partitions":0}}`)
	})
	tr, _, err := c.Transfers(context.Background())
	if err != nil || tr.Leaving != nil || tr.Status != "valid" || tr.PartitionsReady != 256 || tr.Jobs == nil {
		t.Errorf("Transfers = %+v, %v; want valid, no leaving section", tr, err)
	}
}

func TestTransfersErrors(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"error":"no route GET /debug/transfers","code":"no_route"}`)
	})
	tr, res, err := c.Transfers(context.Background())
	var e *Error
	if tr != nil || res != nil || !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != "no_route" {
		t.Errorf("Transfers = %v, %v, %v; want a 404 *Error", tr, res, err)
	}
}

// planBody is a GET /cluster/plan body in the contract's shape.
const planBody = `{
 "change":{"op":"join","node":"n4","zone":"b"},
 "partitions":8,"n":2,"transfer_rate_bytes_per_sec":8388608,
 "nodes":[{"node":"n1","zone":"a","partitions_before":8,"partitions_after":5,"gain":[],"lose":[1,4,6]},
          {"node":"n4","zone":"b","partitions_before":0,"partitions_after":3,"gain":[1,4,6],"lose":[]}],
 "moves":{"partitions":3,"keys":1200,"bytes":180000,"seconds":0.021},
 "balance":{"max_share":1.25,"bound":1.25},
 "warnings":["n2 (valid) is down: transfers from and to it wait until it is back or removed"]
}`

func TestPlan(t *testing.T) {
	var queries []url.Values
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/cluster/plan" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		queries = append(queries, r.URL.Query())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderReport, "rep")
		_, _ = io.WriteString(w, planBody)
	})
	ctx := context.Background()
	p, res, err := c.Plan(ctx, PlanChange{Op: PlanJoin, Node: "n4", Zone: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != planBody || res.Report != "rep" || res.Status != http.StatusOK {
		t.Errorf("response %d %q, body kept: %v", res.Status, res.Report, string(res.Body) == planBody)
	}
	want := Plan{
		Change: PlanChange{Op: "join", Node: "n4", Zone: "b"}, Partitions: 8, N: 2, TransferRate: 8 << 20,
		Nodes: []PlanNode{
			{Node: "n1", Zone: "a", PartitionsBefore: 8, PartitionsAfter: 5, Gain: []int{}, Lose: []int{1, 4, 6}},
			{Node: "n4", Zone: "b", PartitionsBefore: 0, PartitionsAfter: 3, Gain: []int{1, 4, 6}, Lose: []int{}},
		},
		Moves:    PlanMoves{Partitions: 3, Keys: 1200, Bytes: 180000, Seconds: 0.021},
		Balance:  PlanBalance{MaxShare: 1.25, Bound: 1.25},
		Warnings: []string{"n2 (valid) is down: transfers from and to it wait until it is back or removed"},
	}
	if got := mustJSON(t, p); got != mustJSON(t, want) {
		t.Errorf("decoded\n%s\nwant\n%s", got, mustJSON(t, want))
	}
	// The change goes in the query; a zone only with a join that has one.
	for _, ch := range []PlanChange{{Op: PlanJoin, Node: "n5"}, {Op: PlanLeave, Node: "n2", Zone: "ignored"}, {Op: PlanRemove, Node: "n 3"}} {
		if _, _, err := c.Plan(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []url.Values{
		{"join": {"n4"}, "zone": {"b"}},
		{"join": {"n5"}},
		{"leave": {"n2"}},
		{"remove": {"n 3"}},
	} {
		if !reflect.DeepEqual(queries[i], want) {
			t.Errorf("request %d: query %v, want %v", i, queries[i], want)
		}
	}
}

func TestPlanErrors(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Has("join") {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error":"n1 is already in the ring (valid)","code":"already_member"}`)
			return
		}
		_, _ = io.WriteString(w, `{"change":"not an object"}`)
	})
	p, res, err := c.Plan(context.Background(), PlanChange{Op: PlanJoin, Node: "n1"})
	var e *Error
	if p != nil || res != nil || !errors.As(err, &e) || e.Status != http.StatusConflict || e.Code != "already_member" {
		t.Errorf("Plan = %v, %v, %v; want a 409 *Error", p, res, err)
	}
	if p, _, err := c.Plan(context.Background(), PlanChange{Op: PlanLeave, Node: "n1"}); p != nil || err == nil || !strings.Contains(err.Error(), "not the contract's JSON") {
		t.Errorf("Plan of a body not in the contract's shape = %v, %v", p, err)
	}
}
