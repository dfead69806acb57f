package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/dynago/dynago/node/api"
)

// DefaultUpdateAttempts is how many times Update writes before it gives up
// with ErrConflict: enough to get past a short burst of concurrent
// writers, few enough that a key written in a tight loop by others fails
// in a bounded time.
const DefaultUpdateAttempts = 5

// Client talks to a dynago cluster through the HTTP API of its nodes. It
// is safe for concurrent use (if its *http.Client is).
type Client struct {
	nodes    []string // normalized base URLs
	hc       *http.Client
	attempts int
	token    string // WithToken
	// cur is the index in nodes of the node key requests go to first: the
	// last one that answered.
	cur atomic.Int64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the client send its requests with hc (its timeout,
// transport, TLS). The default is http.DefaultClient.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithToken makes the client send token as "Authorization: Bearer
// <token>" with every request, for nodes that require authentication
// (their token file maps it to a role). Empty sends none.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithTLS makes the client speak to https:// nodes with cfg: the CA it
// trusts (RootCAs) and the certificate it presents to a node that requires
// one (Certificates). It replaces the HTTP client with one whose transport
// is http.DefaultTransport's settings with cfg; a later WithHTTPClient
// overrides it.
func WithTLS(cfg *tls.Config) Option {
	return func(c *Client) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = cfg
		c.hc = &http.Client{Transport: tr}
	}
}

// WithUpdateAttempts sets how many writes Update makes at most before it
// returns ErrConflict (DefaultUpdateAttempts; n < 1 means 1).
func WithUpdateAttempts(n int) Option { return func(c *Client) { c.attempts = max(1, n) } }

// New returns a client for the cluster whose nodes are at nodes: base
// URLs or host:port (see NormalizeAddr). Key requests go to one node and
// fail over to the next on connection errors; admin calls go to the first
// node only.
func New(nodes []string, opts ...Option) (*Client, error) {
	if len(nodes) == 0 {
		return nil, errors.New("client: no node address")
	}
	c := &Client{hc: http.DefaultClient, attempts: DefaultUpdateAttempts}
	for _, a := range nodes {
		u, err := NormalizeAddr(a)
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, u)
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		c.hc = http.DefaultClient
	}
	return c, nil
}

// Nodes returns the nodes' base URLs, in the order given to New.
func (c *Client) Nodes() []string { return append([]string(nil), c.nodes...) }

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

// Response is what a node answered, as far as every endpoint shares it.
type Response struct {
	// Node is the base URL of the node that answered.
	Node string
	// Status is the HTTP status code.
	Status int
	// Context is the X-Dynago-Context header ("" when absent).
	Context string
	// Report is the X-Dynago-Report consistency header ("" when absent).
	Report string
	// Body is the raw response body.
	Body []byte
}

// request is one HTTP request of the contract.
type request struct {
	op     op
	method string
	path   string // escaped
	query  url.Values
	header http.Header
	body   []byte
}

// do sends r to the nodes in turn until one answers (see op for which
// failures fail over), and reads the whole answer, whatever its status.
// A request that got no answer returns a *transportError.
func (c *Client) do(ctx context.Context, r request) (*http.Response, []byte, string, error) {
	start := 0
	if r.op != opAdmin {
		start = int(c.cur.Load())
	}
	var errs []error
	indeterminate := false
	for i := range c.nodes {
		if i > 0 && r.op == opAdmin {
			break
		}
		idx := (start + i) % len(c.nodes)
		node := c.nodes[idx]
		resp, body, err := c.once(ctx, node, r)
		if err == nil {
			if r.op != opAdmin {
				c.cur.Store(int64(idx))
			}
			return resp, body, node, nil
		}
		errs = append(errs, err)
		if r.op == opWrite && !notSent(err) {
			// It may have reached the node: sending it again elsewhere
			// could store it twice.
			indeterminate = true
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, "", &transportError{errs: errs, indeterminate: indeterminate}
}

// once sends r to one node.
func (c *Client) once(ctx context.Context, node string, r request) (*http.Response, []byte, error) {
	u := node + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: %w", r.method, r.path, err)
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// *url.Error repeats the method and URL; keep the URL, once.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, fmt.Errorf("client: %s %s: %w", r.method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("client: %s %s: reading the answer: %w", r.method, u, err)
	}
	return resp, b, nil
}

func response(node string, resp *http.Response, body []byte) Response {
	return Response{
		Node:    node,
		Status:  resp.StatusCode,
		Context: resp.Header.Get(api.HeaderContext),
		Report:  resp.Header.Get(api.HeaderReport),
		Body:    body,
	}
}

// call sends r and returns the answer if its status is 2xx (or, with
// okStatus, one of those), else an *Error.
func (c *Client) call(ctx context.Context, r request, okStatus ...int) (*Response, error) {
	resp, body, node, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	ok := resp.StatusCode/100 == 2
	for _, s := range okStatus {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return nil, newError(r.op, node, r.method, r.path, resp, body)
	}
	res := response(node, resp, body)
	return &res, nil
}

// getJSON GETs an admin path and decodes its JSON into v.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) (*Response, error) {
	res, err := c.call(ctx, request{op: opAdmin, method: http.MethodGet, path: path, query: q})
	if err != nil {
		return nil, err
	}
	if res.Status != http.StatusOK {
		return nil, fmt.Errorf("client: GET %s: %d answer, want 200", path, res.Status)
	}
	if err := json.Unmarshal(res.Body, v); err != nil {
		return nil, &DecodeError{Op: "GET " + path, Response: res, Err: err}
	}
	return res, nil
}

// postJSON POSTs in (nil: no body) to an admin path and decodes the
// answer's JSON into out (an empty answer leaves out as it is).
func (c *Client) postJSON(ctx context.Context, path string, in, out any) (*Response, error) {
	r := request{op: opAdmin, method: http.MethodPost, path: path}
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("client: POST %s: %w", path, err)
		}
		r.body = b
		r.header = http.Header{"Content-Type": {"application/json"}}
	}
	res, err := c.call(ctx, r)
	if err != nil {
		return nil, err
	}
	if len(res.Body) > 0 {
		if err := json.Unmarshal(res.Body, out); err != nil {
			return res, &DecodeError{Op: "POST " + path, Response: res, Err: err}
		}
	}
	return res, nil
}
