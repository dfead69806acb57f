package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/node/api"
)

// Load shedding (Config.Limits). A node refuses work it can't take
// promptly instead of queueing it: past MaxInflight requests, or past
// MaxInflightBodyBytes of request bodies in memory, a request is answered
// at once (HTTP 503 + Retry-After, RESP -BUSY), and past MaxConns a new
// connection is closed. A refused request did nothing: the client may
// retry it here later or at another node.

// retryAfterSeconds is the Retry-After of a shed request: a second is
// many times the p99 of a served one, so the queue that caused the
// refusal has drained by then.
const retryAfterSeconds = 1

// maxAdminBodyBytes bounds the body of every route but PUT /kv (JSON
// admin requests: a few hundred bytes; 1 MiB leaves room for a long
// node list and none for a flood).
const maxAdminBodyBytes = 1 << 20

// logFloodInterval is how often a repeated log line of one cause is
// written (node/internal/logflood): a flood costs one line per cause per
// 10 s, and the count of the rest comes with the next.
const logFloodInterval = 10 * time.Second

// admission counts the client requests and the body bytes in flight.
// Safe for concurrent use; never blocks.
type admission struct {
	maxReqs  int64
	maxBytes int64
	reqs     atomic.Int64
	bytes    atomic.Int64
}

func newAdmission(l LimitsConfig) *admission {
	return &admission{maxReqs: int64(l.MaxInflight), maxBytes: l.MaxInflightBodyBytes}
}

// enter admits one request with a body of up to body bytes, or reports
// which limit refused it ("requests" or "body_bytes"). An admitted
// request must call leave(body).
func (a *admission) enter(body int64) (bool, string) {
	if a.reqs.Add(1) > a.maxReqs {
		a.reqs.Add(-1)
		return false, "requests"
	}
	if body > 0 && a.bytes.Add(body) > a.maxBytes {
		a.bytes.Add(-body)
		a.reqs.Add(-1)
		return false, "body_bytes"
	}
	return true, ""
}

func (a *admission) leave(body int64) {
	if body > 0 {
		a.bytes.Add(-body)
	}
	a.reqs.Add(-1)
}

// errOverloaded is the answer to a shed request.
func errOverloaded(what string) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "overloaded",
		Message: fmt.Sprintf("this node is at its limit of %s in flight; retry later or use another node", what)}
}

// unshed are the routes never shed: an operator must see a loaded node.
func unshed(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/health" || r.URL.Path == "/metrics")
}

// shed admits an HTTP request against the node's limits: a body larger
// than its route allows is refused with 413 before it is read; past the
// in-flight limits a request is refused with 503 and Retry-After; the
// body of an admitted request is capped (http.MaxBytesReader) at what
// was reserved for it.
func (n *Node) shed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if unshed(r) {
			h.ServeHTTP(w, r)
			return
		}
		// A refusal is a response like any other: it says nothing was
		// coordinated (routes sets the same for what it serves).
		w.Header().Set(headerReport, "coordinated=false node="+n.cfg.Name)
		limit, tooBig := int64(maxAdminBodyBytes), bodyTooLarge(maxAdminBodyBytes)
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/kv/") {
			limit, tooBig = int64(n.cfg.MaxValueBytes), valueTooLarge(n.cfg.MaxValueBytes)
		}
		if r.Method == http.MethodPost && r.URL.Path == api.PathRestore {
			limit, tooBig = maxRestoreBodyBytes, bodyTooLarge(maxRestoreBodyBytes) // backupapi.go
		}
		if r.ContentLength > limit {
			n.metrics.shed.WithLabelValues("body_too_large").Inc()
			w.Header().Set("Connection", "close") // the body is never read
			writeError(w, tooBig)
			return
		}
		body := r.ContentLength // -1: unknown, 0: none
		if body < 0 {
			body = limit
		}
		ok, why := n.adm.enter(body)
		if !ok {
			n.metrics.shed.WithLabelValues(why).Inc()
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
			if body > 0 {
				w.Header().Set("Connection", "close") // don't read the body we refused
			}
			writeError(w, errOverloaded(why))
			return
		}
		defer n.adm.leave(body)
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		h.ServeHTTP(w, r)
	})
}

func valueTooLarge(limit int) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "value_too_large",
		Message: fmt.Sprintf("the value is larger than the limit of %d bytes", limit)}
}

func bodyTooLarge(limit int64) *apiError {
	return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large",
		Message: fmt.Sprintf("the request body is larger than this route's limit of %d bytes", limit)}
}

// tooLarge reports whether err is a body cut off at its MaxBytesReader
// limit.
func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// limitListener closes accepted connections past max open at once
// (golang.org/x/net/netutil.LimitListener instead blocks Accept, which
// queues the excess in the kernel where it waits unseen).
type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused func(net.Conn)
}

func newLimitListener(ln net.Listener, max int, refused func(net.Conn)) *limitListener {
	return &limitListener{Listener: ln, max: int64(max), refused: refused}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			if l.refused != nil {
				l.refused(c)
			}
			c.Close()
			continue
		}
		return &limitConn{Conn: c, l: l}, nil
	}
}

// limitConn gives its slot back when closed (once).
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// limitConns caps the connections open at once on ln (MaxConns).
func (n *Node) limitConns(ln net.Listener, name string) net.Listener {
	return newLimitListener(ln, n.cfg.Limits.MaxConns, func(c net.Conn) {
		n.metrics.shed.WithLabelValues("conns").Inc()
		n.quietLog.Warn("connection refused: at the connection limit", "listener", name, "remote", c.RemoteAddr(), "limit", n.cfg.Limits.MaxConns)
	})
}
