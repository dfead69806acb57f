package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Header names of the HTTP contract (DESIGN.md §5).
const (
	// HeaderContext carries the opaque causal context token.
	HeaderContext = "X-Dynago-Context"
	// HeaderReport carries the consistency report of every response.
	HeaderReport = "X-Dynago-Report"
)

// MaxKeyBytes is the largest key the server accepts (DESIGN.md §2).
const MaxKeyBytes = 1024

// ErrBadKey is returned for an empty or oversized key before any request
// is sent.
var ErrBadKey = errors.New("client: a key must be 1 to 1024 bytes")

// ErrNoResponse is wrapped by the error of a request that got no complete
// HTTP response: the connection was refused, reset or timed out, or broke
// while the response was read. The node may be down. A request whose ctx
// ended wraps it too (and ctx.Err()), so check ctx first to tell them
// apart. Test with errors.Is.
var ErrNoResponse = errors.New("client: no response")

// noResponse marks err as ErrNoResponse without changing its message.
type noResponse struct{ error }

func (e noResponse) Is(target error) bool { return target == ErrNoResponse }
func (e noResponse) Unwrap() error        { return e.error }

// Error is a response the server answered with a failure status. It carries
// everything the server said, so the caller can show it in full.
type Error struct {
	Method string
	Path   string
	// Status is the HTTP status code.
	Status int
	// Message and Code are the "error" and "code" fields of the JSON body.
	// Message falls back to the raw body when it is not JSON.
	Message string
	Code    string
	// Extra holds any other fields of the JSON error body (a 503 write
	// lists how many replicas acknowledged, and which).
	Extra map[string]json.RawMessage
	// Report is the X-Dynago-Report header, if any.
	Report string
	// Body is the raw response body.
	Body []byte
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	keys := make([]string, 0, len(e.Extra))
	for k := range e.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "; %s=%s", k, e.Extra[k])
	}
	return b.String()
}

// Response is what the server answered, as far as every endpoint shares it.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Context is the X-Dynago-Context header ("" when absent).
	Context string
	// Report is the X-Dynago-Report header ("" when absent).
	Report string
	// Body is the raw response body.
	Body []byte
}

// ReadParams are the per-request parameters of a read. Empty strings and a
// zero Timeout are not sent, so the node's defaults apply.
type ReadParams struct {
	R, PR   string        // "1".."N", "one", "quorum" or "all"
	Timeout time.Duration // sent as ?timeout= in milliseconds
}

// WriteParams are the per-request parameters of a write or delete.
type WriteParams struct {
	W, PW   string
	Timeout time.Duration
}

// GetResult is the outcome of a read: one value (200), siblings (300) or
// none (404).
type GetResult struct {
	Response
	// Found is false for 404 (the key has no live value).
	Found bool
	// Values holds the one value of a 200 or the siblings of a 300, in the
	// server's order.
	Values [][]byte
}

// Member is one entry of GET /cluster/members.
type Member struct {
	Name   string `json:"name"`
	Gossip string `json:"gossip"`
	RPC    string `json:"rpc"`
	HTTP   string `json:"http"`
	Zone   string `json:"zone"`
	State  string `json:"state"`
	Alive  bool   `json:"alive"`
}

// Ring is GET /cluster/ring.
type Ring struct {
	Partitions int        `json:"partitions"`
	N          int        `json:"n"`
	Preflists  []Preflist `json:"preflists"`
}

// Preflist is one partition's preference list.
type Preflist struct {
	Partition int      `json:"partition"`
	Nodes     []string `json:"nodes"`
}

// Client talks to one dynago node. It is safe for concurrent use if its
// *http.Client is.
type Client struct {
	base string
	hc   *http.Client
}

// NormalizeAddr turns "host:port" or "http://host:port/" into a base URL
// without a trailing slash. Only http and https are accepted.
func NormalizeAddr(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("client: empty address")
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("client: address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("client: address %q: scheme must be http or https", addr)
	}
	if u.Host == "" {
		return "", fmt.Errorf("client: address %q: no host", addr)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("client: address %q: must not have a query or fragment", addr)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// New returns a client for the node at addr (see NormalizeAddr). A nil hc
// means http.DefaultClient.
func New(addr string, hc *http.Client) (*Client, error) {
	base, err := NormalizeAddr(addr)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: base, hc: hc}, nil
}

// Base returns the normalized base URL.
func (c *Client) Base() string { return c.base }

// KeyPath returns the escaped request path of key: "/kv/" + path-escaped key.
func KeyPath(key string) string { return "/kv/" + url.PathEscape(key) }

func checkKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyBytes {
		return ErrBadKey
	}
	return nil
}

func addParam(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func addTimeout(q url.Values, d time.Duration) {
	if d > 0 {
		q.Set("timeout", strconv.FormatInt(d.Milliseconds(), 10))
	}
}

// do sends one request and reads the whole response. It returns a
// transport error, or the response whatever its status.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: %w", method, path, err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL; keep the URL, once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, noResponse{fmt.Errorf("client: %s %s: %w", method, u, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, noResponse{fmt.Errorf("client: %s %s: reading response: %w", method, path, err)}
	}
	return resp, b, nil
}

func response(resp *http.Response, body []byte) Response {
	return Response{
		Status:  resp.StatusCode,
		Context: resp.Header.Get(HeaderContext),
		Report:  resp.Header.Get(HeaderReport),
		Body:    body,
	}
}

// newError builds an *Error from a failure response, keeping whatever the
// server said even when the body is not the contract's JSON.
func newError(method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{
		Method: method,
		Path:   path,
		Status: resp.StatusCode,
		Report: resp.Header.Get(HeaderReport),
		Body:   body,
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) == nil {
		if raw, ok := fields["error"]; ok {
			_ = json.Unmarshal(raw, &e.Message)
			delete(fields, "error")
		}
		if raw, ok := fields["code"]; ok {
			_ = json.Unmarshal(raw, &e.Code)
			delete(fields, "code")
		}
		if len(fields) > 0 {
			e.Extra = fields
		}
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// getJSON is the JSON shape of a 300, and of every read answered with
// Accept: application/json.
type getJSON struct {
	Found    *bool  `json:"found"`
	Context  string `json:"context"`
	Siblings []struct {
		Value string `json:"value"`
	} `json:"siblings"`
}

func decodeSiblings(g getJSON) ([][]byte, error) {
	vals := make([][]byte, 0, len(g.Siblings))
	for i, s := range g.Siblings {
		v, err := base64.StdEncoding.DecodeString(s.Value)
		if err != nil {
			return nil, fmt.Errorf("sibling %d: value is not base64: %w", i, err)
		}
		vals = append(vals, v)
	}
	return vals, nil
}

// Get reads key. With asJSON it asks the server for the JSON form of every
// outcome (Accept: application/json); the result is decoded the same way
// and Body keeps the server's JSON.
func (c *Client) Get(ctx context.Context, key string, p ReadParams, asJSON bool) (*GetResult, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	path := KeyPath(key)
	q := url.Values{}
	addParam(q, "r", p.R)
	addParam(q, "pr", p.PR)
	addTimeout(q, p.Timeout)
	var hdr http.Header
	if asJSON {
		hdr = http.Header{"Accept": {"application/json"}}
	}
	resp, body, err := c.do(ctx, http.MethodGet, path, q, hdr, nil)
	if err != nil {
		return nil, err
	}
	res := &GetResult{Response: response(resp, body)}
	ok, err := decodeGet(res, resp.Header.Get("Content-Type"), asJSON)
	if err != nil {
		return nil, fmt.Errorf("client: GET %s: %d response: %w", path, resp.StatusCode, err)
	}
	if !ok {
		return nil, newError(http.MethodGet, path, resp, body)
	}
	return res, nil
}

// decodeGet fills res.Found and res.Values (and res.Context, when the
// header had none) from res.Status and res.Body. It returns false for a
// status that is a failure, and an error for a body that breaks the
// contract. A found result always has at least one value.
func decodeGet(res *GetResult, contentType string, asJSON bool) (bool, error) {
	isJSON := strings.HasPrefix(contentType, "application/json")
	switch st := res.Status; {
	case st == http.StatusOK && !(asJSON && isJSON):
		res.Found = true
		res.Values = [][]byte{res.Body}
	case st == http.StatusOK || st == http.StatusMultipleChoices || (st == http.StatusNotFound && asJSON && isJSON):
		var g getJSON
		if err := json.Unmarshal(res.Body, &g); err != nil {
			return true, fmt.Errorf("not the contract's JSON: %w", err)
		}
		vals, err := decodeSiblings(g)
		if err != nil {
			return true, err
		}
		res.Values = vals
		res.Found = st != http.StatusNotFound && len(vals) > 0
		if g.Found != nil {
			res.Found = *g.Found
		}
		if res.Found && len(vals) == 0 {
			return true, errors.New("found, but no values")
		}
		if res.Context == "" {
			res.Context = g.Context
		}
	case st == http.StatusNotFound:
		res.Found = false
	default:
		return false, nil
	}
	return true, nil
}

func (c *Client) write(ctx context.Context, method, key string, value []byte, vctx string, p WriteParams) (*Response, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	path := KeyPath(key)
	q := url.Values{}
	addParam(q, "w", p.W)
	addParam(q, "pw", p.PW)
	addTimeout(q, p.Timeout)
	hdr := http.Header{}
	if vctx != "" {
		hdr.Set(HeaderContext, vctx)
	}
	if method == http.MethodPut {
		hdr.Set("Content-Type", "application/octet-stream")
		if value == nil {
			value = []byte{}
		}
	}
	resp, body, err := c.do(ctx, method, path, q, hdr, value)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, newError(method, path, resp, body)
	}
	r := response(resp, body)
	return &r, nil
}

// Put writes value under key. vctx is the context of the versions this
// write supersedes ("" for a blind write, which becomes a sibling of any
// existing value). A 503 *Error means the write is indeterminate.
func (c *Client) Put(ctx context.Context, key string, value []byte, vctx string, p WriteParams) (*Response, error) {
	return c.write(ctx, http.MethodPut, key, value, vctx, p)
}

// Delete writes a tombstone that supersedes what vctx covers.
func (c *Client) Delete(ctx context.Context, key, vctx string, p WriteParams) (*Response, error) {
	return c.write(ctx, http.MethodDelete, key, nil, vctx, p)
}

// getAdmin GETs a cluster endpoint and decodes its JSON into v.
func (c *Client) getAdmin(ctx context.Context, path string, v any) (*Response, error) {
	return c.getAdminQuery(ctx, path, nil, v)
}

// getAdminQuery is getAdmin with query parameters q.
func (c *Client) getAdminQuery(ctx context.Context, path string, q url.Values, v any) (*Response, error) {
	resp, body, err := c.do(ctx, http.MethodGet, path, q, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, newError(http.MethodGet, path, resp, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("client: GET %s: response is not the contract's JSON: %w", path, err)
	}
	r := response(resp, body)
	return &r, nil
}

// Members returns GET /cluster/members.
func (c *Client) Members(ctx context.Context) ([]Member, *Response, error) {
	var ms []Member
	r, err := c.getAdmin(ctx, "/cluster/members", &ms)
	if err != nil {
		return nil, nil, err
	}
	return ms, r, nil
}

// Ring returns GET /cluster/ring.
func (c *Client) Ring(ctx context.Context) (*Ring, *Response, error) {
	var rg Ring
	r, err := c.getAdmin(ctx, "/cluster/ring", &rg)
	if err != nil {
		return nil, nil, err
	}
	return &rg, r, nil
}

func (c *Client) post(ctx context.Context, path string, v any) (*Response, error) {
	var body []byte
	hdr := http.Header{}
	if v != nil {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("client: POST %s: %w", path, err)
		}
		hdr.Set("Content-Type", "application/json")
	}
	resp, rb, err := c.do(ctx, http.MethodPost, path, nil, hdr, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, newError(http.MethodPost, path, resp, rb)
	}
	r := response(resp, rb)
	return &r, nil
}

// Join asks the node to join the cluster that seeds (gossip host:port
// addresses) belong to: POST /cluster/join {"seeds": [...]}.
func (c *Client) Join(ctx context.Context, seeds []string) (*Response, error) {
	return c.post(ctx, "/cluster/join", struct {
		Seeds []string `json:"seeds"`
	}{seeds})
}

// Leave asks the node to hand off its data and leave: POST /cluster/leave.
// The node answers 202 {"status":"leaving","node":NAME} at once, also when
// it is already leaving (the leave resumes), and 409 (code not_member)
// when it is not in the ring. Follow the handoff with Transfers.
func (c *Client) Leave(ctx context.Context) (*Response, error) {
	return c.post(ctx, "/cluster/leave", nil)
}

// Remove force-removes a dead node from the ring: POST /cluster/remove
// {"node": name}.
func (c *Client) Remove(ctx context.Context, node string) (*Response, error) {
	return c.post(ctx, "/cluster/remove", struct {
		Node string `json:"node"`
	}{node})
}

// HintTarget is one target in GET /debug/hints.
type HintTarget struct {
	Target        string  `json:"target"`
	Count         int     `json:"count"`
	Bytes         int64   `json:"bytes"`
	OldestAgeSecs float64 `json:"oldest_age_seconds"`
	State         string  `json:"state"`
	BytesPerSec   float64 `json:"bytes_per_second"`
	KeysPerSec    float64 `json:"keys_per_second"`
	Delivered     uint64  `json:"delivered"`
	Refused       uint64  `json:"refused"`
	Expired       uint64  `json:"expired"`
	TargetAlive   bool    `json:"target_alive"`
	LastError     string  `json:"last_error,omitempty"`
}

// Hints is GET /debug/hints.
type Hints struct {
	Node    string       `json:"node"`
	Total   int          `json:"total"`
	Targets []HintTarget `json:"targets"`
}

// Hints returns GET /debug/hints: the hints the node holds, per target.
func (c *Client) Hints(ctx context.Context) (*Hints, *Response, error) {
	var h Hints
	r, err := c.getAdmin(ctx, "/debug/hints", &h)
	if err != nil {
		return nil, nil, err
	}
	return &h, r, nil
}

// AAETotals are the node's anti-entropy counters since it started, in
// GET /debug/aae.
type AAETotals struct {
	Exchanges        uint64 `json:"exchanges"`
	ExchangeErrors   uint64 `json:"exchange_errors"`
	Differences      uint64 `json:"differences"`
	KeysRepaired     uint64 `json:"keys_repaired"`
	BytesSent        uint64 `json:"bytes_sent"`
	Tombstones       uint64 `json:"tombstones"`
	TombstonesReaped uint64 `json:"tombstones_reaped"`
}

// AAEPeer is the last exchange of one partition's tree with one peer. The
// counts are those of that last exchange only.
type AAEPeer struct {
	Peer string `json:"peer"`
	// LastExchange is RFC 3339 (UTC); "" (or the zero time) means never.
	// See LastExchangeTime.
	LastExchange string `json:"last_exchange"`
	// Result is "equal", "repaired" or "error".
	Result       string `json:"result"`
	KeysCompared uint64 `json:"keys_compared"`
	Differences  uint64 `json:"differences"`
	KeysRepaired uint64 `json:"keys_repaired"`
	BytesSent    uint64 `json:"bytes_sent"`
	Error        string `json:"error,omitempty"`
}

// LastExchangeTime parses LastExchange. ok is false when there was no
// exchange yet; err is set when LastExchange is not RFC 3339.
func (p AAEPeer) LastExchangeTime() (t time.Time, ok bool, err error) {
	if p.LastExchange == "" {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339, p.LastExchange)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("client: last_exchange %q: %w", p.LastExchange, err)
	}
	return t, !t.IsZero(), nil
}

// AAEPartition is one partition the node holds a Merkle tree for, in
// GET /debug/aae. Peers are sorted by name.
type AAEPartition struct {
	Partition   int       `json:"partition"`
	Keys        int       `json:"keys"`
	Depth       int       `json:"depth"`
	Root        string    `json:"root"`
	TreeAgeSecs float64   `json:"tree_age_seconds"`
	Tombstones  int       `json:"tombstones"`
	Peers       []AAEPeer `json:"peers"`
}

// AAE is GET /debug/aae: the node's anti-entropy state. Partitions are
// sorted by number.
type AAE struct {
	Node                string         `json:"node"`
	Enabled             bool           `json:"enabled"`
	IntervalSecs        float64        `json:"interval_seconds"`
	RateFactor          float64        `json:"rate_factor"`
	ForegroundP99Millis float64        `json:"foreground_p99_ms"`
	TombstoneGraceSecs  float64        `json:"tombstone_grace_seconds"`
	Totals              AAETotals      `json:"totals"`
	Partitions          []AAEPartition `json:"partitions"`
}

// AAE returns GET /debug/aae: the node's anti-entropy totals and, per
// partition it holds a tree for, the last exchange with each peer.
func (c *Client) AAE(ctx context.Context) (*AAE, *Response, error) {
	var a AAE
	r, err := c.getAdmin(ctx, "/debug/aae", &a)
	if err != nil {
		return nil, nil, err
	}
	return &a, r, nil
}

// TransferJob is one partition the node is pulling, in GET
// /debug/transfers: from which nodes (Sources), which of them it has
// finished (Done), and what it has copied so far.
type TransferJob struct {
	Partition int      `json:"partition"`
	Sources   []string `json:"sources"`
	Done      []string `json:"done"`
	// State is "running", "waiting" or "error".
	State string `json:"state"`
	Keys  int64  `json:"keys"`
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"`
}

// TransferTotals are what the node has pulled since it started, in GET
// /debug/transfers: keys, bytes, and partitions whose transfer finished;
// and the keys of partitions it no longer holds that it deleted (every
// current primary had them) or keeps (a primary has no state for them).
type TransferTotals struct {
	Keys             int64 `json:"keys"`
	Bytes            int64 `json:"bytes"`
	Partitions       int64 `json:"partitions"`
	StaleKeysDropped int64 `json:"stale_keys_dropped"`
	StaleKeysPushed  int64 `json:"stale_keys_pushed"`
}

// LeaveProgress is the handoff of a leaving node's partitions to their new
// owners, in GET /debug/transfers.
type LeaveProgress struct {
	PartitionsTotal     int   `json:"partitions_total"`
	PartitionsHandedOff int   `json:"partitions_handed_off"`
	KeysTotal           int64 `json:"keys_total"`
	KeysRemaining       int64 `json:"keys_remaining"`
	BytesTotal          int64 `json:"bytes_total"`
	BytesRemaining      int64 `json:"bytes_remaining"`
	// Done is true once every partition is handed off; the node exits soon
	// after.
	Done bool `json:"done"`
}

// BytesDone is how many of BytesTotal have been handed off.
func (l LeaveProgress) BytesDone() int64 { return l.BytesTotal - l.BytesRemaining }

// Transfers is GET /debug/transfers: the partitions the node pulls (it
// joined, or the ring changed) and, while it leaves, the handoff of its
// own. Jobs are sorted by partition.
type Transfers struct {
	Node string `json:"node"`
	// Status is the node's ring status: "joining", "valid", "leaving",
	// "left" or "removed".
	Status            string         `json:"status"`
	PartitionsReady   int            `json:"partitions_ready"`
	PartitionsPending int            `json:"partitions_pending"`
	RateBytesPerSec   int64          `json:"rate_bytes_per_sec"`
	Jobs              []TransferJob  `json:"jobs"`
	Totals            TransferTotals `json:"totals"`
	// Leaving is nil unless the node is leaving (or has left and is about
	// to exit).
	Leaving *LeaveProgress `json:"leaving,omitempty"`
}

// Transfers returns GET /debug/transfers: the node's partition transfers
// and, while it leaves, its handoff progress.
func (c *Client) Transfers(ctx context.Context) (*Transfers, *Response, error) {
	var t Transfers
	r, err := c.getAdmin(ctx, "/debug/transfers", &t)
	if err != nil {
		return nil, nil, err
	}
	return &t, r, nil
}

// Plan operations: the membership changes GET /cluster/plan can plan.
const (
	PlanJoin   = "join"
	PlanLeave  = "leave"
	PlanRemove = "remove"
)

// PlanChange is the membership change a plan is for.
type PlanChange struct {
	// Op is PlanJoin, PlanLeave or PlanRemove.
	Op   string `json:"op"`
	Node string `json:"node"`
	// Zone is the joining node's zone (sent only for a join, and only when
	// not empty); in a plan, the zone of the node that leaves or is removed.
	Zone string `json:"zone"`
}

// PlanNode is one node in a plan: its primary partitions (the partitions
// it holds a replica of) before and after the change, and which partitions
// it gains and loses (partition numbers, ascending).
type PlanNode struct {
	Node             string `json:"node"`
	Zone             string `json:"zone"`
	PartitionsBefore int    `json:"partitions_before"`
	PartitionsAfter  int    `json:"partitions_after"`
	Gain             []int  `json:"gain"`
	Lose             []int  `json:"lose"`
}

// PlanMoves is what a change moves: (partition, new primary) pairs, and the
// keys and bytes those new primaries pull (estimates). Seconds is the
// estimated time of the busiest node's pull at the transfer rate (each node
// pulls its own partitions, all at once).
type PlanMoves struct {
	Partitions int     `json:"partitions"`
	Keys       int64   `json:"keys"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
}

// PlanBalance is the largest share of partitions any node would hold after
// the change, as a multiple of the fair share, and the bound it should stay
// within (DESIGN.md §2).
type PlanBalance struct {
	MaxShare float64 `json:"max_share"`
	Bound    float64 `json:"bound"`
}

// Plan is GET /cluster/plan: what a pending join, leave or remove would
// change. Nodes are sorted by name.
type Plan struct {
	Change       PlanChange  `json:"change"`
	Partitions   int         `json:"partitions"`
	N            int         `json:"n"`
	TransferRate int64       `json:"transfer_rate_bytes_per_sec"`
	Nodes        []PlanNode  `json:"nodes"`
	Moves        PlanMoves   `json:"moves"`
	Balance      PlanBalance `json:"balance"`
	Warnings     []string    `json:"warnings"`
	// Staged is whether the cluster stages changes; Pending lists the
	// changes made but not placed yet.
	Staged  bool         `json:"staged"`
	Pending []PlanChange `json:"pending"`
}

// PlanPending is the Op of a plan without a change: what the pending
// changes would move together.
const PlanPending = "pending"

// Staging is the answer of POST /cluster/stage and /cluster/commit.
type Staging struct {
	Staged       bool         `json:"staged"`
	Pending      []PlanChange `json:"pending"`
	Told         int          `json:"told"`
	Acknowledged int          `json:"acknowledged"`
}

// Stage turns staging on (POST /cluster/stage): joins, leaves and removes
// made from now on are placed only at the next Commit.
func (c *Client) Stage(ctx context.Context) (*Staging, *Response, error) {
	return c.staging(ctx, "/cluster/stage")
}

// Commit turns staging off (POST /cluster/commit): the pending changes are
// placed together.
func (c *Client) Commit(ctx context.Context) (*Staging, *Response, error) {
	return c.staging(ctx, "/cluster/commit")
}

func (c *Client) staging(ctx context.Context, path string) (*Staging, *Response, error) {
	r, err := c.post(ctx, path, struct{}{})
	if err != nil {
		return nil, nil, err
	}
	var s Staging
	if err := json.Unmarshal(r.Body, &s); err != nil {
		return nil, r, fmt.Errorf("%s: decode answer: %w", path, err)
	}
	return &s, r, nil
}

// Plan returns GET /cluster/plan for ch: ?join=NODE[&zone=ZONE],
// ?leave=NODE or ?remove=NODE; for Op PlanPending, no query: the pending
// changes together. Nothing changes on the cluster. The node
// answers 400 (code bad_plan) for a malformed change, 404 (unknown_node)
// for a leave or remove of a node not in the ring and 409 (already_member)
// for a join of one that is.
func (c *Client) Plan(ctx context.Context, ch PlanChange) (*Plan, *Response, error) {
	q := url.Values{}
	if ch.Op != PlanPending {
		q.Set(ch.Op, ch.Node)
	}
	if ch.Op == PlanJoin && ch.Zone != "" {
		q.Set("zone", ch.Zone)
	}
	var p Plan
	r, err := c.getAdminQuery(ctx, "/cluster/plan", q, &p)
	if err != nil {
		return nil, nil, err
	}
	return &p, r, nil
}
