package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/dynago/dynago/node/api"
)

// Sentinel errors. Test with errors.Is; the error itself is an *Error when
// a node answered, so errors.As gives the status, code and details.
var (
	// ErrNotFound: the key has no live value (a 404 read). The *Error's
	// Context is the key's causal context when it has tombstones; write
	// with it to supersede them.
	ErrNotFound = errors.New("client: not found")
	// ErrUnavailable: a definite failure, nothing happened. A read or an
	// admin call answered 503, or a write answered 503 with
	// "indeterminate": false (not enough replicas alive: nothing was
	// written). Retrying is safe.
	ErrUnavailable = errors.New("client: unavailable")
	// ErrIndeterminate: a write that may have happened. The node answered
	// a 5xx without saying nothing was written (a write quorum not met:
	// the value may be stored on some replicas and may appear later), or
	// the request was sent and no answer came back. Read before retrying
	// a write that must not be applied twice.
	ErrIndeterminate = errors.New("client: indeterminate")
	// ErrBadRequest: the node refused the request as malformed (400): a
	// bad parameter, context or body. Nothing happened.
	ErrBadRequest = errors.New("client: bad request")
	// ErrNoResponse: no node of the list gave a complete HTTP answer (the
	// connection was refused, reset or timed out, or the request's ctx
	// ended). It is wrapped together with the errors of each attempt, so
	// errors.Is also finds context.DeadlineExceeded or a syscall errno.
	ErrNoResponse = errors.New("client: no response")
	// ErrBadKey: an empty key or one longer than api.MaxKeyBytes; nothing
	// was sent.
	ErrBadKey = errors.New("client: a key must be 1 to 1024 bytes")
	// ErrConflict: Update wrote its resolution, but every one of its
	// attempts found that a concurrent write had made a new sibling. The
	// last write is stored (as one of the siblings); Update again, or
	// leave it to the next reader.
	ErrConflict = errors.New("client: update conflict: concurrent writes kept making siblings")
	// ErrUnauthorized: the node requires a token and got none or one it
	// does not know (401). Nothing happened; give a token (WithToken).
	ErrUnauthorized = errors.New("client: unauthorized: the node needs a valid token")
	// ErrForbidden: the token's role does not allow the request (403):
	// read only reads keys, write also writes them, admin does cluster
	// and debug calls. Nothing happened.
	ErrForbidden = errors.New("client: forbidden: the token's role does not allow this")
	// ErrDiskFull: a write refused because replicas' disks are full
	// (507 disk_full; Details.DiskFull names them). It is matched
	// together with ErrUnavailable (nothing was written) or
	// ErrIndeterminate (another replica stored it). Writes succeed again
	// once the operator frees space; reads go on meanwhile.
	ErrDiskFull = errors.New("client: disk full")
)

// Error is an answer with a failure status (4xx or 5xx). It carries
// everything the node said, so a caller can show it in full, and matches
// the sentinel its status means (errors.Is): ErrNotFound, ErrBadRequest,
// ErrUnauthorized, ErrForbidden, ErrUnavailable or ErrIndeterminate, and
// ErrDiskFull too for a 507.
type Error struct {
	// Node is the base URL of the node that answered.
	Node string
	// Method and Path are the request's (Path without the query).
	Method string
	Path   string
	// Status is the HTTP status code.
	Status int
	// Message and Code are the body's "error" and "code". Message falls
	// back to the raw body when it is not the contract's JSON.
	Message string
	Code    string
	// Details is the whole body decoded: the quorum details of a 503
	// (acks, which replicas acked, failed, were pending, alive or down).
	Details api.Error
	// Extra holds every other field of the JSON body as sent, known to
	// api.Error or not; Error() lists them.
	Extra map[string]json.RawMessage
	// Context is the X-Dynago-Context header: set on a 404 read of a key
	// with tombstones.
	Context string
	// Report is the X-Dynago-Report header.
	Report string
	// Body is the raw response body.
	Body []byte

	kind error // the sentinel the status means, or nil
}

// Error implements error: "PUT /kv/k: 503 Service Unavailable: message
// (code c); acks=1; acked=["n1"]", the extra fields sorted by name.
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
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "; %s=%s", k, e.Extra[k])
	}
	return b.String()
}

// Is reports whether target is the sentinel e's status means, or
// ErrDiskFull for a 507.
func (e *Error) Is(target error) bool {
	if target == ErrDiskFull {
		return e.Status == http.StatusInsufficientStorage
	}
	return e.kind != nil && target == e.kind
}

// op is what a request does, which decides failover and what its
// failures mean.
type op int

const (
	opRead  op = iota // a key read: no effect, fails over freely
	opWrite           // a key write: fails over only when surely not sent
	opAdmin           // about one node: no failover
)

// newError builds the *Error of a failure answer, keeping whatever the
// node said even when the body is not the contract's JSON.
func newError(o op, node, method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{
		Node:    node,
		Method:  method,
		Path:    path,
		Status:  resp.StatusCode,
		Context: resp.Header.Get(api.HeaderContext),
		Report:  resp.Header.Get(api.HeaderReport),
		Body:    body,
	}
	var fields map[string]json.RawMessage
	switch {
	case json.Unmarshal(body, &fields) == nil && fields != nil && hasErrorField(fields):
		_ = json.Unmarshal(body, &e.Details) // best effort: a detail of another type stays in Extra only
		_ = json.Unmarshal(fields["error"], &e.Message)
		_ = json.Unmarshal(fields["code"], &e.Code)
		delete(fields, "error")
		delete(fields, "code")
		if len(fields) > 0 {
			e.Extra = fields
		}
	case o == opRead && e.Status == http.StatusNotFound:
		// The JSON form of a read of nothing ({"found": false, ...}).
		e.Message = "not found"
	default:
		e.Message = strings.TrimSpace(string(body))
	}
	e.kind = kindOf(o, e)
	return e
}

func hasErrorField(fields map[string]json.RawMessage) bool {
	_, ok := fields["error"]
	return ok
}

// kindOf is the sentinel e means for a request of kind o.
func kindOf(o op, e *Error) error {
	st := e.Status
	switch {
	case st == http.StatusBadRequest:
		return ErrBadRequest
	case st == http.StatusUnauthorized:
		return ErrUnauthorized
	case st == http.StatusForbidden:
		return ErrForbidden
	case o == opRead && st == http.StatusNotFound:
		return ErrNotFound
	case o == opWrite && st >= 500:
		// Only the node's explicit "nothing was written" is definite.
		if d := e.Details.Indeterminate; d != nil && !*d {
			return ErrUnavailable
		}
		return ErrIndeterminate
	case st == http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}

// transportError is the failure of a request that got no complete answer
// from any node it tried: the error of each attempt, in order.
type transportError struct {
	errs []error
	// indeterminate: a write that may have reached a node.
	indeterminate bool
}

func (e *transportError) Error() string {
	msgs := make([]string, len(e.errs))
	for i, err := range e.errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e *transportError) Unwrap() []error { return e.errs }

func (e *transportError) Is(target error) bool {
	return target == ErrNoResponse || (e.indeterminate && target == ErrIndeterminate)
}

// notSent reports whether err shows that the request never reached the
// node: the connection was never made.
func notSent(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}

// DecodeError is a successful answer to an admin request whose body is not
// the contract's JSON: from a dynago node of another release, or from a
// server that is not dynago at all (then Response.Report is empty: dynago
// sets its report header on every answer).
type DecodeError struct {
	Op       string // the request, e.g. "GET /cluster/members"
	Response *Response
	Err      error // the JSON decoder's error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("client: %s: response is not the contract's JSON: %v", e.Op, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }
