package node

import (
	"errors"
	"fmt"
	"io"
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

// shedDiscardBytes is the largest body of a shed request whose
// connection is kept: net/http reads and discards up to 256 KiB of an
// unread body to reuse a keep-alive connection. Closing it instead makes
// every shed client dial again, and under overload those dials fill the
// listener's accept queue (the soak's dial timeouts, all on shed PUTs).
const shedDiscardBytes = 256 << 10

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
	maxReqs  int64 // the limit when it is not adaptive
	maxBytes int64
	reqs     atomic.Int64
	bytes    atomic.Int64
	// limit is the request limit now: maxReqs, or the adaptive limit's
	// latest value (aimd).
	limit atomic.Int64
	aimd  *aimdLimit // nil: the limit is maxReqs
	// elapsed reads the node's monotonic clock (Clock.Elapsed), for the
	// latencies the adaptive limit follows.
	elapsed func() time.Duration
}

func newAdmission(l LimitsConfig, elapsed func() time.Duration) *admission {
	a := &admission{maxReqs: int64(l.MaxInflight), maxBytes: l.MaxInflightBodyBytes, elapsed: elapsed}
	a.limit.Store(a.maxReqs)
	if l.InflightLatencyTarget > 0 && elapsed != nil {
		a.aimd = &aimdLimit{limit: float64(l.MaxInflight), min: float64(l.MinInflight), max: float64(l.MaxInflight), target: l.InflightLatencyTarget}
	}
	return a
}

// enter admits one request with a body of up to body bytes, or reports
// which limit refused it ("requests" or "body_bytes"). An admitted
// request must call leave(body).
func (a *admission) enter(body int64) (bool, string) {
	if a.reqs.Add(1) > a.limit.Load() {
		a.reqs.Add(-1)
		if a.aimd != nil {
			a.aimd.refused()
		}
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

// now is the time a served request's latency is measured from (0 when
// the limit is not adaptive: nothing is measured).
func (a *admission) now() time.Duration {
	if a.aimd == nil {
		return 0
	}
	return a.elapsed()
}

// served records the latency of a request served since start (a now
// reading): the adaptive limit's input.
func (a *admission) served(start time.Duration) {
	if a.aimd == nil {
		return
	}
	if l, changed := a.aimd.observe(a.elapsed() - start); changed {
		a.limit.Store(l)
	}
}

// aimdLimit is the adaptive in-flight limit (LimitsConfig's
// InflightLatencyTarget): additive increase, multiplicative decrease on
// the mean latency of each window of served requests, as TCP's congestion
// window follows loss (and Netflix's concurrency-limits follow latency).
// A mean above the target is a queue: the limit drops by a quarter. A
// mean below half the target while requests were refused (the limit is
// what held them back) grows it by a tenth. Otherwise it stays.
type aimdLimit struct {
	mu       sync.Mutex
	limit    float64
	min, max float64
	target   time.Duration
	n        int           // requests served in this window
	sum      time.Duration // and their latencies
	shed     bool          // a request was refused by the limit in this window
}

// aimdWindow is the requests a window averages over: enough that one
// slow request doesn't move the limit, few enough that a node at a few
// hundred requests/s reacts within a tenth of a second.
const aimdWindow = 32

func (l *aimdLimit) refused() {
	l.mu.Lock()
	l.shed = true
	l.mu.Unlock()
}

// observe adds one served request's latency and, at the end of a window,
// returns the new limit and whether it changed.
func (l *aimdLimit) observe(lat time.Duration) (int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	l.sum += lat
	if l.n < aimdWindow {
		return 0, false
	}
	mean, shed := l.sum/time.Duration(l.n), l.shed
	l.n, l.sum, l.shed = 0, 0, false
	old := l.limit
	switch {
	case mean > l.target:
		l.limit = max(l.min, l.limit*0.75)
	case shed && mean < l.target/2:
		l.limit = min(l.max, l.limit+max(1, l.limit/10))
	}
	return int64(l.limit), int64(l.limit) != int64(old)
}

// timedBody notes when a request's body has been read to its end: a
// served request's latency is counted from then (*start), and only for a
// request whose body was read whole (read).
type timedBody struct {
	io.ReadCloser
	start *time.Duration
	now   func() time.Duration
	read  bool
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.read {
		b.read = true
		*b.start = b.now()
	}
	return n, err
}

// errOverloaded is the answer to a shed request.
func errOverloaded(what string) *apiError {
	return &apiError{Status: http.StatusServiceUnavailable, Code: "overloaded",
		Message: fmt.Sprintf("this node is at its limit of %s in flight; retry later or use another node", what)}
}

// unshed are the routes never shed: an operator must see a loaded node,
// and profile it (with --pprof; admin-only with a token file).
func unshed(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/health" || r.URL.Path == "/metrics" || strings.HasPrefix(r.URL.Path, "/debug/pprof/"))
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
			if body > shedDiscardBytes {
				w.Header().Set("Connection", "close") // don't read the large body we refused
			}
			writeError(w, errOverloaded(why))
			return
		}
		defer n.adm.leave(body)
		// The latency the adaptive limit follows is the node's own work:
		// from admission, or from the end of the body for a request that
		// sends one (a slow uploader is not the node being slow).
		start := n.adm.now()
		if r.Body != nil && r.Body != http.NoBody {
			tb := &timedBody{ReadCloser: http.MaxBytesReader(w, r.Body, limit), start: &start, now: n.adm.now}
			r.Body = tb
			defer func() {
				if tb.read {
					n.adm.served(start)
				}
			}()
		} else {
			defer n.adm.served(start)
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

// idleUntilFirstByte makes a new HTTP connection's wait for its first byte
// idle time (Limits.IdleTimeout), as net/http already makes the wait
// between requests on a kept-alive connection, and starts the header
// timeout (Limits.ReadHeaderTimeout) at that first byte. net/http starts
// the first request's header timeout at accept, so a connection that a
// client's pool dialed ahead under a burst but did not use yet was closed
// after 10 s, and the request the client then sent on it was reset (the
// soak's resets at the start of its open loop). A client that sends
// nothing holds its connection no longer than an idle kept-alive one
// does; one that starts a request and stalls is still cut off by the
// header timeout.
func idleUntilFirstByte(ln net.Listener, idle, header time.Duration) net.Listener {
	return &firstByteListener{Listener: ln, idle: idle, header: header}
}

type firstByteListener struct {
	net.Listener
	idle, header time.Duration
}

func (l *firstByteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &firstByteConn{Conn: c, idle: l.idle, header: l.header}, nil
}

// firstByteConn holds back the read deadlines its server sets until the
// first byte arrives; until then it waits up to idle.
type firstByteConn struct {
	net.Conn
	idle, header time.Duration

	mu      sync.Mutex
	started bool      // the first byte arrived
	wanted  time.Time // the read deadline the server set before it
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	if started {
		return c.Conn.Read(p)
	}
	if c.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.started = true
		d := c.wanted
		if !d.IsZero() && c.header > 0 {
			d = time.Now().Add(c.header) // the header timeout, from this byte
		}
		_ = c.Conn.SetReadDeadline(d)
		c.mu.Unlock()
	}
	return n, err
}

func (c *firstByteConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.wanted = t
		if t.Before(time.Now()) && !t.IsZero() {
			// A deadline in the past aborts a pending read (net/http's
			// shutdown): apply it now.
			return c.Conn.SetReadDeadline(t)
		}
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *firstByteConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}
