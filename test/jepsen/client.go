package jepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Params are a request's quorum parameters; zero fields are left to the
// node's defaults.
type Params struct {
	R, W, PR, PW int
	// Strict keeps the request on the key's primaries (sloppy=false); the
	// default is the node's (sloppy quorum, with fallbacks and hints).
	Strict bool
	// TimeoutMS is the server-side request timeout.
	TimeoutMS int
}

func (p Params) read() url.Values {
	q := url.Values{}
	if p.Strict {
		q.Set("sloppy", "false")
	}
	if p.R > 0 {
		q.Set("r", fmt.Sprint(p.R))
	}
	if p.PR > 0 {
		q.Set("pr", fmt.Sprint(p.PR))
	}
	if p.TimeoutMS > 0 {
		q.Set("timeout", fmt.Sprint(p.TimeoutMS))
	}
	return q
}

func (p Params) write() url.Values {
	q := url.Values{}
	if p.Strict {
		q.Set("sloppy", "false")
	}
	if p.W > 0 {
		q.Set("w", fmt.Sprint(p.W))
	}
	if p.PW > 0 {
		q.Set("pw", fmt.Sprint(p.PW))
	}
	if p.TimeoutMS > 0 {
		q.Set("timeout", fmt.Sprint(p.TimeoutMS))
	}
	return q
}

// KV is one logical client's connection to one node: its own http.Client
// and transport, so clients never share connections or timeouts.
type KV struct {
	Node string
	base string
	hc   *http.Client
}

// NewKV returns a client of the node at httpAddr; timeout bounds every
// request end to end (a request that hits it is indeterminate).
func NewKV(node, httpAddr string, timeout time.Duration) *KV {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &KV{Node: node, base: "http://" + httpAddr, hc: &http.Client{Timeout: timeout, Transport: tr}}
}

// Close drops the client's idle connections.
func (c *KV) Close() { c.hc.CloseIdleConnections() }

// Outcome classifies an answer as history.OK, Fail (definitely did not
// happen) or Info (may have happened).
type Outcome struct {
	Type   history.Type
	Status int
	Code   string // the API's error code, or a client-side reason
	Report string // X-Dynago-Report
}

func (o Outcome) Error() string {
	if o.Type == history.OK {
		return ""
	}
	if o.Status != 0 {
		return fmt.Sprintf("%d %s", o.Status, o.Code)
	}
	return o.Code
}

// ReadResult is an OK read's answer.
type ReadResult struct {
	Found    bool
	Siblings []string
	Context  string
}

// Get reads key (JSON answers for every outcome).
func (c *KV) Get(ctx context.Context, key string, p Params) (ReadResult, Outcome) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url(key, p.read()), nil)
	if err != nil {
		return ReadResult{}, Outcome{Type: history.Fail, Code: err.Error()}
	}
	req.Header.Set("Accept", "application/json")
	resp, body, out := c.do(req)
	if resp == nil {
		return ReadResult{}, out
	}
	switch resp.StatusCode {
	case 200, 300, 404:
		var kv struct {
			Found    bool   `json:"found"`
			Context  string `json:"context"`
			Siblings []struct {
				Value []byte `json:"value"`
			} `json:"siblings"`
		}
		if err := json.Unmarshal(body, &kv); err != nil {
			return ReadResult{}, Outcome{Type: history.Fail, Status: resp.StatusCode, Code: "bad_json: " + err.Error(), Report: out.Report}
		}
		res := ReadResult{Found: kv.Found, Context: kv.Context}
		for _, s := range kv.Siblings {
			res.Siblings = append(res.Siblings, string(s.Value))
		}
		out.Type, out.Status = history.OK, resp.StatusCode
		return res, out
	}
	out.Type, out.Status, out.Code = history.Fail, resp.StatusCode, errorCode(body)
	return ReadResult{}, out
}

// Put writes value with a causal context ("" for a blind write) and returns
// the context of the answer.
func (c *KV) Put(ctx context.Context, key, value, causal string, p Params) (string, Outcome) {
	return c.write(ctx, "PUT", key, strings.NewReader(value), causal, p)
}

// Delete writes a tombstone superseding what causal covers.
func (c *KV) Delete(ctx context.Context, key, causal string, p Params) (string, Outcome) {
	return c.write(ctx, "DELETE", key, nil, causal, p)
}

func (c *KV) write(ctx context.Context, method, key string, body io.Reader, causal string, p Params) (string, Outcome) {
	req, err := http.NewRequestWithContext(ctx, method, c.url(key, p.write()), body)
	if err != nil {
		return "", Outcome{Type: history.Fail, Code: err.Error()}
	}
	if causal != "" {
		req.Header.Set("X-Dynago-Context", causal)
	}
	resp, b, out := c.do(req)
	if resp == nil {
		return "", out
	}
	out.Status = resp.StatusCode
	if resp.StatusCode == 204 || resp.StatusCode == 200 {
		out.Type = history.OK
		return resp.Header.Get("X-Dynago-Context"), out
	}
	out.Code = errorCode(b)
	out.Type = WriteOutcome(resp.StatusCode, out.Code)
	return "", out
}

// WriteOutcome classifies a write's error answer. Only answers that promise
// nothing was written are Fail: 503 unavailable (refused up front by the
// failure detector) and the 4xx refusals. A write that started and missed
// W acks, or any other server error, is Info.
func WriteOutcome(status int, code string) history.Type {
	switch {
	case status == 503 && (code == "unavailable" || code == "write_quorum_unreachable"):
		return history.Fail
	case status >= 400 && status < 500:
		return history.Fail
	}
	return history.Info
}

// do sends the request. A nil response means a transport error, classified
// in the Outcome: a failed dial sent nothing (Fail); anything later, such as
// a timeout or a reset, is Info.
func (c *KV) do(req *http.Request) (*http.Response, []byte, Outcome) {
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, nil, transportOutcome(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	out := Outcome{Report: resp.Header.Get("X-Dynago-Report")}
	if err != nil {
		out.Type, out.Code = history.Info, "read body: "+err.Error()
		return nil, nil, out
	}
	return resp, b, out
}

func transportOutcome(err error) Outcome {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return Outcome{Type: history.Fail, Code: "dial: " + op.Err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout") {
		return Outcome{Type: history.Info, Code: "client timeout"}
	}
	if errors.Is(err, context.Canceled) {
		return Outcome{Type: history.Info, Code: "canceled"}
	}
	return Outcome{Type: history.Info, Code: err.Error()}
}

func (c *KV) url(key string, q url.Values) string {
	u := c.base + "/kv/" + url.PathEscape(key)
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func errorCode(body []byte) string {
	var e struct {
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Code != "" {
		return e.Code
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}
