package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dynago/dynago/node/api"
)

// Count is a quorum size of a request: "" for the node's default, a number
// of replicas (Replicas(2)), One, Quorum or All.
type Count string

// Symbolic counts.
const (
	Default Count = ""
	One     Count = api.CountOne
	Quorum  Count = api.CountQuorum // N/2+1
	All     Count = api.CountAll    // N
)

// Replicas returns the Count of n replicas.
func Replicas(n int) Count { return Count(strconv.Itoa(n)) }

// ReadOptions are the per-request parameters of a read. The zero value
// (and a nil *ReadOptions) uses the node's defaults.
type ReadOptions struct {
	// R is how many replicas must answer; PR how many of those must be
	// primaries (not fallbacks).
	R, PR Count
	// Timeout is the node's time limit for the read (?timeout=, in whole
	// milliseconds); 0 means the node's default. The caller's ctx bounds
	// the wait on this side.
	Timeout time.Duration
	// AcceptJSON asks the node for the JSON form of every answer (an
	// api.Object); the Result's Body then holds that JSON, for tools that
	// print the node's answer as is. The Result is the same either way.
	AcceptJSON bool
}

// WriteOptions are the per-request parameters of a write or delete. The
// zero value (and a nil *WriteOptions) is a blind write with the node's
// defaults.
type WriteOptions struct {
	// Context is the causal context of the versions the write supersedes:
	// the Context of the Get it is based on. Without it the write is
	// blind: it becomes a sibling of every value the key has.
	Context string
	// W is how many replicas must store the write; PW how many of those
	// must be primaries.
	W, PW Count
	// Timeout is the node's time limit for the write, as for ReadOptions.
	Timeout time.Duration
}

// Result is a read of a key that has live values.
type Result struct {
	Response
	// Siblings are the key's live values in the node's order: one, or
	// several that concurrent writes left (HTTP 300). A write with
	// Context resolves them.
	Siblings [][]byte
}

func checkKey(key string) error {
	if len(key) == 0 || len(key) > api.MaxKeyBytes {
		return ErrBadKey
	}
	return nil
}

func setCount(q url.Values, name string, v Count) {
	if v != "" {
		q.Set(name, string(v))
	}
}

func setTimeout(q url.Values, d time.Duration) {
	if d > 0 {
		q.Set(api.ParamTimeout, strconv.FormatInt(d.Milliseconds(), 10))
	}
}

// Get reads key. A key with no live value (never written, or deleted) is
// an *Error that matches ErrNotFound; its Context, when not empty, is what
// a write must send to supersede the key's tombstones. opts may be nil.
func (c *Client) Get(ctx context.Context, key string, opts *ReadOptions) (*Result, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &ReadOptions{}
	}
	r := request{op: opRead, method: http.MethodGet, path: api.KeyPath(key), query: url.Values{}}
	setCount(r.query, api.ParamR, opts.R)
	setCount(r.query, api.ParamPR, opts.PR)
	setTimeout(r.query, opts.Timeout)
	if opts.AcceptJSON {
		r.header = http.Header{"Accept": {"application/json"}}
	}
	resp, body, node, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	res := &Result{Response: response(node, resp, body)}
	ok, err := decodeGet(res, resp.Header.Get("Content-Type"), opts.AcceptJSON)
	if err != nil {
		return nil, fmt.Errorf("client: GET %s: %d answer: %w", r.path, resp.StatusCode, err)
	}
	if !ok {
		return nil, newError(opRead, node, r.method, r.path, resp, body)
	}
	return res, nil
}

// getBody is the JSON of a 300, and of every read answered as JSON: an
// api.Object, whose "found" a 300 without Accept: JSON lacks.
type getBody struct {
	Found    *bool         `json:"found"`
	Context  string        `json:"context"`
	Siblings []api.Sibling `json:"siblings"`
}

// decodeGet fills res.Siblings (and res.Context, when the header had none)
// from res.Status and res.Body. It returns false when the answer is a
// failure (404 included) and an error when a success breaks the contract.
// A true result has at least one sibling.
func decodeGet(res *Result, contentType string, asJSON bool) (bool, error) {
	isJSON := strings.HasPrefix(contentType, "application/json")
	switch st := res.Status; {
	case st == http.StatusOK && !(asJSON && isJSON):
		res.Siblings = [][]byte{res.Body}
		return true, nil
	case st == http.StatusOK || st == http.StatusMultipleChoices:
		var g getBody
		if err := json.Unmarshal(res.Body, &g); err != nil {
			return true, fmt.Errorf("not the contract's JSON: %w", err)
		}
		if g.Found != nil && !*g.Found || len(g.Siblings) == 0 {
			return true, errors.New("a success without a value")
		}
		res.Siblings = make([][]byte, len(g.Siblings))
		for i, s := range g.Siblings {
			res.Siblings[i] = s.Value
			if s.Value == nil {
				res.Siblings[i] = []byte{}
			}
		}
		if res.Context == "" {
			res.Context = g.Context
		}
		return true, nil
	}
	return false, nil
}

// Put writes value under key, superseding the versions opts.Context covers
// (nil opts: a blind write, with the node's defaults). The answer's
// Context is the causal context of the new state. A failure that matches
// ErrIndeterminate may have stored the value; ErrUnavailable and
// ErrBadRequest did not.
func (c *Client) Put(ctx context.Context, key string, value []byte, opts *WriteOptions) (*Response, error) {
	return c.write(ctx, http.MethodPut, key, value, opts, false)
}

// Delete writes a tombstone that supersedes the versions opts.Context
// covers: pass the Context of a Get. Without a context it supersedes
// nothing, and the key's values stay.
func (c *Client) Delete(ctx context.Context, key string, opts *WriteOptions) (*Response, error) {
	return c.write(ctx, http.MethodDelete, key, nil, opts, false)
}

func (c *Client) write(ctx context.Context, method, key string, value []byte, opts *WriteOptions, returnBody bool) (*Response, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if opts == nil {
		opts = &WriteOptions{}
	}
	r := request{op: opWrite, method: method, path: api.KeyPath(key), query: url.Values{}, header: http.Header{}}
	setCount(r.query, api.ParamW, opts.W)
	setCount(r.query, api.ParamPW, opts.PW)
	setTimeout(r.query, opts.Timeout)
	if returnBody {
		r.query.Set(api.ParamReturnBody, "true")
	}
	if opts.Context != "" {
		r.header.Set(api.HeaderContext, opts.Context)
	}
	if method == http.MethodPut {
		r.header.Set("Content-Type", "application/octet-stream")
		r.body = value
		if r.body == nil {
			r.body = []byte{}
		}
	}
	return c.call(ctx, r)
}

// Update reads key, gives its live values to resolve (nil when the key has
// none) and writes resolve's answer back with the read's context, so the
// write supersedes exactly what resolve saw. If the write's answer shows a
// sibling that resolve did not see (a concurrent write landed between the
// read and the write), Update reads and resolves again, up to
// DefaultUpdateAttempts writes (WithUpdateAttempts) in all; after the last
// it returns an error matching ErrConflict, the last write stored as one
// of the siblings.
//
// resolve may be called several times, and must compute its answer from
// its input alone (a merge, not a side effect). An error from resolve
// stops Update before it writes. Update does not retry a write that fails:
// an error matching ErrIndeterminate may have stored it. The node's
// default R and W apply.
func (c *Client) Update(ctx context.Context, key string, resolve func(siblings [][]byte) ([]byte, error)) error {
	for range c.attempts {
		var siblings [][]byte
		var vctx string
		res, err := c.Get(ctx, key, nil)
		var e *Error
		switch {
		case err == nil:
			siblings, vctx = res.Siblings, res.Context
		case errors.Is(err, ErrNotFound) && errors.As(err, &e):
			vctx = e.Context
		default:
			return fmt.Errorf("client: update %q: %w", key, err)
		}
		v, err := resolve(siblings)
		if err != nil {
			return fmt.Errorf("client: update %q: %w", key, err)
		}
		wr, err := c.write(ctx, http.MethodPut, key, v, &WriteOptions{Context: vctx}, true)
		if err != nil {
			return fmt.Errorf("client: update %q: %w", key, err)
		}
		var after api.Object
		if err := json.Unmarshal(wr.Body, &after); err != nil {
			return fmt.Errorf("client: update %q: the write's answer is not the contract's JSON: %w", key, err)
		}
		if len(after.Siblings) <= 1 {
			return nil
		}
	}
	return fmt.Errorf("client: update %q: %d attempts: %w", key, c.attempts, ErrConflict)
}
