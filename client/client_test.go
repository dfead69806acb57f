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

	"github.com/dynago/dynago/node/api"
)

// These tests pin what the client sends and how it reads answers,
// including answers a healthy node does not give (bad JSON, a 500, a
// connection dropped mid-request), from servers that write the api
// types. cluster_test.go runs the client against real nodes.

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
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New([]string{"h:1", "ftp://x"}); err == nil {
		t.Error("New with a bad address succeeded")
	}
}

// serve returns a client for a server that answers every request with h.
func serve(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New([]string{srv.URL}, WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeAPI writes v as the node does: JSON with a trailing newline.
func writeAPI(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// deadURL is the address of a server that is no longer listening.
func deadURL(t *testing.T) string {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func TestGetOutcomes(t *testing.T) {
	sibs := func(vs ...string) []api.Sibling {
		out := []api.Sibling{}
		for _, v := range vs {
			out = append(out, api.Sibling{Value: []byte(v)})
		}
		return out
	}
	tests := []struct {
		name       string
		status     int
		body       any // api value, or string for a raw body
		asJSON     bool
		wantErr    string
		wantIs     error
		wantValues []string
		wantCtx    string
	}{
		{name: "raw 200", status: 200, body: "v", wantValues: []string{"v"}, wantCtx: "hdr"},
		{name: "raw 200 that looks like JSON stays raw", status: 200, body: `{"found":false}`, wantValues: []string{`{"found":false}`}, wantCtx: "hdr"},
		{name: "300", status: 300, body: api.Siblings{Context: "b", Siblings: sibs("a", "")}, wantValues: []string{"a", ""}, wantCtx: "hdr"},
		{name: "404", status: 404, body: api.Error{Message: "not found", Code: "not_found"}, wantIs: ErrNotFound, wantErr: "GET /kv/k: 404 Not Found: not found (code not_found)"},
		{name: "json 200", status: 200, asJSON: true, body: api.Object{Found: true, Context: "b", Siblings: sibs("x")}, wantValues: []string{"x"}, wantCtx: "hdr"},
		{name: "json 404", status: 404, asJSON: true, body: api.Object{Context: "b", Siblings: sibs()}, wantIs: ErrNotFound, wantErr: "404 Not Found: not found"},
		{name: "300 not JSON", status: 300, body: "nope", wantErr: "not the contract's JSON"},
		{name: "300 bad base64", status: 300, body: `{"siblings":[{"value":"!!"}]}`, wantErr: "not the contract's JSON"},
		{name: "300 without siblings", status: 300, body: api.Siblings{Siblings: sibs()}, wantErr: "a success without a value"},
		{name: "503", status: 503, body: api.Error{Message: "read quorum not met", Code: "read_quorum_not_met", R: api.Ptr(2), Replies: api.Ptr(1)}, wantIs: ErrUnavailable,
			wantErr: "GET /kv/k: 503 Service Unavailable: read quorum not met (code read_quorum_not_met); r=2; replies=1"},
		{name: "400", status: 400, body: api.Error{Message: "r=9", Code: "bad_param"}, wantIs: ErrBadRequest, wantErr: "400 Bad Request: r=9 (code bad_param)"},
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
				w.Header().Set(api.HeaderContext, "hdr")
				w.Header().Set(api.HeaderReport, "rep")
				if s, ok := tc.body.(string); ok {
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, s)
					return
				}
				writeAPI(w, tc.status, tc.body)
			})
			res, err := c.Get(context.Background(), "k", &ReadOptions{AcceptJSON: tc.asJSON})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("err %v does not match %v", err, tc.wantIs)
				}
				var e *Error
				if errors.As(err, &e) && (e.Report != "rep" || e.Context != "hdr") {
					t.Errorf("*Error report %q context %q", e.Report, e.Context)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range res.Siblings {
				got = append(got, string(v))
			}
			if !slices.Equal(got, tc.wantValues) || res.Context != tc.wantCtx || res.Report != "rep" || res.Status != tc.status {
				t.Errorf("got values %q ctx %q report %q status %d", got, res.Context, res.Report, res.Status)
			}
		})
	}
}

// TestErrorKinds: what each failure answer means to a read and to a write.
func TestErrorKinds(t *testing.T) {
	definite := api.Error{Message: "write needs 3 replicas", Code: "unavailable", Indeterminate: api.Ptr(false), W: api.Ptr(3), PW: api.Ptr(0), Acks: api.Ptr(0),
		Alive: []string{"n1", "n2"}, Down: []string{"n3"}}
	indeterminate := api.Error{Message: "write quorum not met", Code: "write_indeterminate", Indeterminate: api.Ptr(true), W: api.Ptr(2), PW: api.Ptr(0),
		Acks: api.Ptr(1), Acked: []string{"n1"}, Failed: []string{}, Pending: []string{"n2"}}
	tests := []struct {
		name      string
		status    int
		body      api.Error
		write     bool
		want, not []error
	}{
		{"definite write 503", 503, definite, true, []error{ErrUnavailable}, []error{ErrIndeterminate, ErrNotFound, ErrBadRequest, ErrDiskFull}},
		{"definite disk full 507", 507, api.Error{Message: "disk full on [n1]", Code: "disk_full", Indeterminate: api.Ptr(false), DiskFull: []string{"n1"}}, true,
			[]error{ErrDiskFull, ErrUnavailable}, []error{ErrIndeterminate}},
		{"indeterminate disk full 507", 507, api.Error{Message: "disk full on [n2 n3]", Code: "disk_full", Indeterminate: api.Ptr(true), Acks: api.Ptr(1),
			Acked: []string{"n1"}, DiskFull: []string{"n2", "n3"}}, true, []error{ErrDiskFull, ErrIndeterminate}, []error{ErrUnavailable}},
		{"indeterminate write 503", 503, indeterminate, true, []error{ErrIndeterminate}, []error{ErrUnavailable}},
		{"write 503 without details", 503, api.Error{Message: "m", Code: "write_failed"}, true, []error{ErrIndeterminate}, []error{ErrUnavailable}},
		{"write 500", 500, api.Error{Message: "panic", Code: "internal"}, true, []error{ErrIndeterminate}, []error{ErrUnavailable}},
		{"write 400", 400, api.Error{Message: "m", Code: "bad_context"}, true, []error{ErrBadRequest}, []error{ErrIndeterminate}},
		{"write 409", 409, api.Error{Message: "m", Code: "too_many_siblings"}, true, nil, []error{ErrIndeterminate, ErrUnavailable, ErrBadRequest}},
		{"read 503", 503, api.Error{Message: "m", Code: "unavailable", Indeterminate: api.Ptr(false)}, false, []error{ErrUnavailable}, []error{ErrIndeterminate}},
		{"read 404", 404, api.Error{Message: "not found", Code: "not_found"}, false, []error{ErrNotFound}, []error{ErrUnavailable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(api.HeaderReport, "w=2 acks=1")
				writeAPI(w, tc.status, tc.body)
			})
			var err error
			if tc.write {
				_, err = c.Put(context.Background(), "k", []byte("v"), &WriteOptions{W: Replicas(2)})
			} else {
				_, err = c.Get(context.Background(), "k", nil)
			}
			for _, s := range tc.want {
				if !errors.Is(err, s) {
					t.Errorf("%v does not match %v", err, s)
				}
			}
			for _, s := range tc.not {
				if errors.Is(err, s) {
					t.Errorf("%v matches %v", err, s)
				}
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err %T %v, want *Error", err, err)
			}
			if e.Status != tc.status || e.Code != tc.body.Code || e.Message != tc.body.Message || e.Report != "w=2 acks=1" || !reflect.DeepEqual(e.Details, tc.body) {
				t.Errorf("%+v", e)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		writeAPI(w, 503, api.Error{Message: "quorum not met", Code: "write_indeterminate", Acks: api.Ptr(1), Acked: []string{"n1"}})
	})
	_, err := c.Put(context.Background(), "k", []byte("v"), &WriteOptions{Context: "ctx", W: "2"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("err %T %v, want *Error", err, err)
	}
	if string(e.Extra["acks"]) != "1" || string(e.Extra["acked"]) != `["n1"]` || len(e.Extra) != 2 {
		t.Errorf("extra %v", e.Extra)
	}
	if want := `PUT /kv/k: 503 Service Unavailable: quorum not met (code write_indeterminate); acked=["n1"]; acks=1`; e.Error() != want {
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
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.Header.Get(api.HeaderContext), string(b), r.Header.Get("Content-Type"), q})
		w.Header().Set(api.HeaderContext, "new")
		w.WriteHeader(http.StatusNoContent)
	})
	ctx := context.Background()
	res, err := c.Put(ctx, "a/b", nil, &WriteOptions{W: All, PW: Replicas(1), Timeout: 1500 * time.Millisecond})
	if err != nil || res.Context != "new" || res.Status != 204 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := c.Delete(ctx, "a/b", &WriteOptions{Context: "old"}); err != nil {
		t.Fatal(err)
	}
	want := []seen{
		{"PUT", "/kv/a%2Fb", "", "", "application/octet-stream", map[string]string{"w": "all", "pw": "1", "timeout": "1500"}},
		{"DELETE", "/kv/a%2Fb", "old", "", "", map[string]string{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n%+v\nwant\n%+v", got, want)
	}
}

func TestBadKeySendsNothing(t *testing.T) {
	var sent atomic.Int64
	c := serve(t, func(w http.ResponseWriter, r *http.Request) { sent.Add(1) })
	for _, k := range []string{"", strings.Repeat("x", api.MaxKeyBytes+1)} {
		if _, err := c.Get(context.Background(), k, nil); !errors.Is(err, ErrBadKey) {
			t.Errorf("Get(%d bytes) err %v", len(k), err)
		}
		if _, err := c.Put(context.Background(), k, nil, nil); !errors.Is(err, ErrBadKey) {
			t.Errorf("Put(%d bytes) err %v", len(k), err)
		}
	}
	if n := sent.Load(); n != 0 {
		t.Errorf("%d requests sent for bad keys", n)
	}
	if _, err := c.Get(context.Background(), strings.Repeat("x", api.MaxKeyBytes), nil); errors.Is(err, ErrBadKey) || sent.Load() != 1 {
		t.Errorf("a 1024-byte key: %v, %d requests", err, sent.Load())
	}
}

// TestFailover: key requests go to the next node when one does not answer,
// and then stay with the one that did; an HTTP error answer is final.
func TestFailover(t *testing.T) {
	var hits atomic.Int64
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/kv/bad" {
			writeAPI(w, 400, api.Error{Message: "m", Code: "bad_key"})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer good.Close()
	dead := deadURL(t)
	c, err := New([]string{dead, good.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A refused connection: the write was never sent, so it moves on.
	res, err := c.Put(ctx, "k", []byte("v"), nil)
	if err != nil || res.Node != good.URL {
		t.Fatalf("Put = %+v, %v; want an answer from %s", res, err, good.URL)
	}
	// Sticky: the next request starts at the node that answered.
	if _, err := c.Put(ctx, "k", []byte("v"), nil); err != nil || hits.Load() != 2 {
		t.Fatalf("second Put: %v, %d hits", err, hits.Load())
	}
	// An error answer does not fail over.
	c2, _ := New([]string{good.URL, dead})
	if _, err := c2.Get(ctx, "bad", nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Get of a refused key: %v", err)
	}
	// Every node down: ErrNoResponse, each attempt's error kept.
	c3, _ := New([]string{dead, dead + "/x"})
	_, err = c3.Get(ctx, "k", nil)
	if !errors.Is(err, ErrNoResponse) || errors.Is(err, ErrIndeterminate) || strings.Count(err.Error(), "connection refused") != 2 {
		t.Errorf("all down: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "client: GET "+dead+"/kv/k: ") {
		t.Errorf("message %q", err)
	}
	// Admin calls talk to the first node only.
	if _, _, err := c.Members(ctx); !errors.Is(err, ErrNoResponse) {
		t.Errorf("Members with the first node down: %v", err)
	}
}

// TestWriteSentIsNotResent: a write whose connection broke after it was
// sent may have been stored; it is not sent to the next node.
func TestWriteSentIsNotResent(t *testing.T) {
	drop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	}))
	defer drop.Close()
	var other atomic.Int64
	next := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Add(1)
		w.Header().Set(api.HeaderContext, "c")
		_, _ = io.WriteString(w, "v")
	}))
	defer next.Close()
	c, err := New([]string{drop.URL, next.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Put(context.Background(), "k", []byte("v"), nil)
	if !errors.Is(err, ErrIndeterminate) || !errors.Is(err, ErrNoResponse) || other.Load() != 0 {
		t.Fatalf("Put through a dropped connection: %v; %d requests to the next node", err, other.Load())
	}
	// A read has no effect: it moves on.
	c, _ = New([]string{drop.URL, next.URL})
	res, err := c.Get(context.Background(), "k", nil)
	if err != nil || string(res.Siblings[0]) != "v" || other.Load() != 1 {
		t.Fatalf("Get: %+v, %v", res, err)
	}
}

func TestContextEnds(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c, _ := New([]string{srv.URL, srv.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Get(ctx, "k", nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrNoResponse) || strings.Count(err.Error(), "client: GET") != 1 {
		t.Errorf("Get past its deadline: %v (one attempt, no failover)", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Put(ctx, "k", nil, nil); !errors.Is(err, ErrIndeterminate) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put past its deadline: %v, want indeterminate", err)
	}
}

// TestUpdateAgainstScript drives Update through a scripted node: a
// concurrent sibling after the first write makes it read and write again.
func TestUpdateAgainstScript(t *testing.T) {
	var puts []string
	var ctxs []string
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set(api.HeaderContext, "read"+string(rune('0'+len(puts))))
			if len(puts) == 0 {
				writeAPI(w, 404, api.Error{Message: "not found", Code: "not_found"})
				return
			}
			writeAPI(w, 300, api.Siblings{Context: "x", Siblings: []api.Sibling{{Value: []byte(puts[0])}, {Value: []byte("other")}}})
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			puts = append(puts, string(b))
			ctxs = append(ctxs, r.Header.Get(api.HeaderContext))
			if r.URL.Query().Get("returnbody") != "true" {
				t.Error("Update's write does not ask for the state after it")
			}
			sibs := []api.Sibling{{Value: b}}
			if len(puts) == 1 {
				sibs = append(sibs, api.Sibling{Value: []byte("other")})
			}
			writeAPI(w, 200, api.Object{Found: true, Context: "after", Siblings: sibs})
		}
	})
	var calls [][]string
	err := c.Update(context.Background(), "k", func(s [][]byte) ([]byte, error) {
		var in []string
		for _, v := range s {
			in = append(in, string(v))
		}
		calls = append(calls, in)
		return []byte(strings.Join(append(in, "+"), "")), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]string{nil, {"+", "other"}}; !reflect.DeepEqual(calls, want) {
		t.Errorf("resolve calls %q, want %q", calls, want)
	}
	if want := []string{"read0", "read1"}; !slices.Equal(ctxs, want) {
		t.Errorf("write contexts %q, want %q (the 404's tombstone context, then the second read's)", ctxs, want)
	}
}

func TestAdmin(t *testing.T) {
	var queries []url.Values
	c := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /cluster/members":
			writeAPI(w, 200, []api.Member{{Name: "n1", Gossip: "g", RPC: "r", HTTP: "h", Zone: "z", State: "valid", Alive: true}})
		case "GET /cluster/ring":
			writeAPI(w, 200, api.Ring{Partitions: 2, N: 1, Preflists: []api.Preflist{{Partition: 0, Nodes: []string{"n1"}}, {Partition: 1, Nodes: []string{"n1"}}}})
		case "POST /cluster/join":
			var j api.JoinRequest
			if json.NewDecoder(r.Body).Decode(&j) != nil || !slices.Equal(j.Seeds, []string{"a:1", "b:2"}) || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("join request %+v", j)
			}
			writeAPI(w, 200, api.JoinResult{Status: "joined", Members: 3})
		case "POST /cluster/remove":
			var rm api.RemoveRequest
			if json.NewDecoder(r.Body).Decode(&rm) != nil || rm.Node != "n3" {
				t.Errorf("remove request %+v", rm)
			}
			writeAPI(w, 200, api.RemoveResult{Status: "removed", Node: rm.Node})
		case "POST /cluster/leave":
			writeAPI(w, 202, api.LeaveResult{Status: "leaving", Node: "n1"})
		case "GET /cluster/plan":
			queries = append(queries, r.URL.Query())
			writeAPI(w, 200, api.Plan{Change: api.PlanChange{Op: "join", Node: "n4"}})
		case "GET /health":
			writeAPI(w, 200, api.Health{Status: api.StatusOK})
		case "GET /debug/aae":
			_, _ = io.WriteString(w, `[1,2]`)
		default:
			writeAPI(w, 404, api.Error{Message: "no route", Code: "no_route"})
		}
	})
	ctx := context.Background()
	ms, _, err := c.Members(ctx)
	if err != nil || len(ms) != 1 || ms[0] != (api.Member{Name: "n1", Gossip: "g", RPC: "r", HTTP: "h", Zone: "z", State: "valid", Alive: true}) {
		t.Errorf("members %+v %v", ms, err)
	}
	rg, _, err := c.Ring(ctx)
	if err != nil || rg.Partitions != 2 || rg.N != 1 || len(rg.Preflists) != 2 || rg.Preflists[1].Partition != 1 {
		t.Errorf("ring %+v %v", rg, err)
	}
	if j, _, err := c.Join(ctx, []string{"a:1", "b:2"}); err != nil || j.Members != 3 {
		t.Errorf("join %+v %v", j, err)
	}
	if rm, _, err := c.Remove(ctx, "n3"); err != nil || rm.Node != "n3" || rm.Status != "removed" {
		t.Errorf("remove %+v %v", rm, err)
	}
	if l, res, err := c.Leave(ctx); err != nil || res.Status != http.StatusAccepted || l.Node != "n1" {
		t.Errorf("leave %+v %+v %v", l, res, err)
	}
	if h, _, err := c.Health(ctx); err != nil || h.Status != "ok" {
		t.Errorf("health %+v %v", h, err)
	}
	for _, ch := range []api.PlanChange{{Op: api.PlanJoin, Node: "n4", Zone: "b"}, {Op: api.PlanLeave, Node: "n2", Zone: "ignored"}, {Op: api.PlanRemove, Node: "n 3"}, {Op: api.PlanPending}} {
		if _, _, err := c.Plan(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	want := []url.Values{{"join": {"n4"}, "zone": {"b"}}, {"leave": {"n2"}}, {"remove": {"n 3"}}, {}}
	if !reflect.DeepEqual(queries, want) {
		t.Errorf("plan queries %v, want %v", queries, want)
	}
	if a, res, err := c.AAE(ctx); a != nil || res != nil || err == nil || !strings.Contains(err.Error(), "GET /debug/aae: response is not the contract's JSON") {
		t.Errorf("AAE of a body not in the contract's shape = %v, %v, %v", a, res, err)
	}
	tr, res, err := c.Transfers(ctx)
	var e *Error
	if tr != nil || res != nil || !errors.As(err, &e) || e.Status != 404 || e.Code != "no_route" || errors.Is(err, ErrNotFound) {
		t.Errorf("Transfers = %v, %v, %v; want a 404 *Error that is not ErrNotFound", tr, res, err)
	}
}
