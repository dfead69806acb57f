package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/dynago/dynago/node/api"
)

// Histogram bounds: 1 µs to 60 s at 3 significant figures (DESIGN.md §8).
const (
	histMinMicros = 1
	histMaxMicros = 60_000_000
	histSigFigs   = 3
)

// headerContext is the contract's causal context header (DESIGN.md §5).
const headerContext = api.HeaderContext

// ErrBadConfig is wrapped by Config.Validate.
var ErrBadConfig = errors.New("bench: bad config")

// Protocols a target speaks (Config.Protocol, Target.Protocol).
const (
	// ProtocolHTTP sends GET and PUT /kv/{key} (DESIGN.md §5).
	ProtocolHTTP = "http"
	// ProtocolRESP sends GET key and SET key value over the Redis
	// protocol (RESP2), to dynago's --resp front end or to redis-server.
	ProtocolRESP = "resp"
)

// Workloads are the YCSB core workloads bench offers as presets, by name,
// as their fraction of reads (updates are the rest). A: update heavy,
// B: read mostly, C: read only. YCSB's D, E and F need inserts, scans or
// read-modify-write, which a closed loop of GET and PUT does not model.
var Workloads = map[string]float64{"a": 0.5, "b": 0.95, "c": 1}

// Config describes one closed-loop run against one target.
type Config struct {
	// Protocol is ProtocolHTTP (also when empty) or ProtocolRESP.
	Protocol string
	// URLs are the target's nodes, requests go round-robin over them: base
	// URLs for HTTP ("http://127.0.0.1:8080"), host:port for RESP.
	URLs []string
	// Concurrency is the number of workers, each with one request in flight.
	Concurrency int
	// ValueSize is the size in bytes of each written value (random bytes).
	ValueSize int
	// ReadRatio is the fraction of requests that are reads, in [0, 1].
	ReadRatio float64
	// Duration is how long workers start new requests.
	Duration time.Duration
	// Keys is the size of the key space; keys are drawn uniformly.
	Keys int
	// KeyPrefix is prepended to the key number.
	KeyPrefix string
	// R and W are sent as ?r= and ?w= when not empty.
	R, W string
	// Seed seeds every worker's generator (worker i uses PCG(Seed, i)).
	Seed uint64
}

// DefaultConfig returns the defaults of `dynago bench`, each with its reason.
func DefaultConfig() Config {
	return Config{
		Concurrency: 50,               // enough in-flight requests to saturate 2 cores without measuring queueing in the generator
		ValueSize:   100,              // small values: measures request overhead, not bandwidth (YCSB-like records are 100 B fields)
		ReadRatio:   0.5,              // YCSB workload A: 50/50 update-heavy
		Duration:    10 * time.Second, // long enough for stable p99, short enough for 3 interleaved rounds
		Keys:        10000,            // small enough that reads mostly hit written keys, large enough for few write conflicts
		KeyPrefix:   "bench-",         // keeps bench keys apart from a user's data
		R:           "2",              // the node default quorum for N=3 (DESIGN.md §4)
		W:           "2",
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case len(c.URLs) == 0:
		return fmt.Errorf("%w: no target URLs", ErrBadConfig)
	case c.Concurrency < 1:
		return fmt.Errorf("%w: concurrency must be at least 1", ErrBadConfig)
	case c.ValueSize < 0:
		return fmt.Errorf("%w: value size must not be negative", ErrBadConfig)
	case c.ReadRatio < 0 || c.ReadRatio > 1 || c.ReadRatio != c.ReadRatio:
		return fmt.Errorf("%w: read ratio must be between 0 and 1", ErrBadConfig)
	case c.Duration <= 0:
		return fmt.Errorf("%w: duration must be positive", ErrBadConfig)
	case c.Keys < 1 || c.Keys > 10_000_000:
		return fmt.Errorf("%w: keys must be between 1 and 10000000", ErrBadConfig)
	case c.Protocol != "" && c.Protocol != ProtocolHTTP && c.Protocol != ProtocolRESP:
		return fmt.Errorf("%w: protocol %q is neither %s nor %s", ErrBadConfig, c.Protocol, ProtocolHTTP, ProtocolRESP)
	}
	for _, u := range c.URLs {
		if c.Protocol == ProtocolRESP {
			if h, p, err := net.SplitHostPort(u); err != nil || h == "" || p == "" {
				return fmt.Errorf("%w: RESP target %q is not host:port", ErrBadConfig, u)
			}
			continue
		}
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%w: target %q is not an http(s) base URL", ErrBadConfig, u)
		}
	}
	return nil
}

// NewTransport returns the one transport a bench shares across workers and
// targets. It keeps at least one idle connection per worker per host, so a
// closed loop never pays for a new TCP connection per request.
func NewTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // loopback targets only; never through a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no global cap: per-host cap below governs
		MaxIdleConnsPerHost: concurrency + 1,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // measure the server, not gzip
		ForceAttemptHTTP2:   false,
	}
}

// Clients are the connections a bench reuses across runs and rounds: the
// HTTP client every HTTP target shares, and one RESP client (a pool of
// connections) per RESP address, made on first use. Close it when done.
// It is safe for concurrent use.
type Clients struct {
	// HTTP serves HTTP targets. It should use a transport from
	// NewTransport and set a per-request Timeout.
	HTTP *http.Client
	// Timeout bounds each RESP request's dial, write and read; zero means
	// 10 s (longer than a dynago node's 5 s request timeout).
	Timeout time.Duration
	// Token, if set, goes with every request: "Authorization: Bearer" over
	// HTTP, AUTH on each RESP connection (nodes started with --token-file).
	Token string

	mu struct {
		sync.Mutex
		resp map[string]*redis.Client
	}
}

// resp returns the RESP client for addr, making it with a pool of
// poolSize connections if there is none yet.
func (c *Clients) resp(addr string, poolSize int) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rc, ok := c.mu.resp[addr]; ok {
		return rc
	}
	if c.mu.resp == nil {
		c.mu.resp = map[string]*redis.Client{}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	rc := redis.NewClient(&redis.Options{
		Addr:     addr,
		Password: c.Token, // AUTH on connect when set
		Protocol: 2,       // RESP2: what every server speaks; no HELLO 3 on connect
		// No CLIENT SETINFO and no maintenance notifications on connect:
		// a connection costs one TCP handshake and nothing else.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		// A failed request is an error the report shows, never retried
		// behind the generator's back (a retried SET would count once).
		MaxRetries:            -1,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		ContextTimeoutEnabled: true, // cancelling a run interrupts requests in flight
		PoolSize:              poolSize,
		PoolTimeout:           timeout,
	})
	c.mu.resp[addr] = rc
	return rc
}

// Close closes every RESP client and the HTTP client's idle connections.
func (c *Clients) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for addr, rc := range c.mu.resp {
		if err := rc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("bench: closing RESP client of %s: %w", addr, err))
		}
		delete(c.mu.resp, addr)
	}
	if c.HTTP != nil {
		c.HTTP.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// Keyspace is what a load generator remembers about its keys: whether an
// acknowledged write touched each key, and the last causal context seen
// for it. Share one Keyspace across the rounds against one target. It is
// safe for concurrent use.
type Keyspace struct {
	written []atomic.Bool
	ctx     []atomic.Pointer[string]
}

// NewKeyspace returns a Keyspace for n keys.
func NewKeyspace(n int) *Keyspace {
	return &Keyspace{written: make([]atomic.Bool, n), ctx: make([]atomic.Pointer[string], n)}
}

// Written reports whether an acknowledged write touched key i.
func (k *Keyspace) Written(i int) bool { return k.written[i].Load() }

// Result is the outcome of one run.
type Result struct {
	Requests int64
	OK       int64
	Errors   int64
	Reads    int64
	Writes   int64
	// NotFound counts OK reads of keys never written (HTTP 404, RESP nil).
	NotFound int64
	// Siblings counts OK reads answered 300 (HTTP only: a RESP GET of a
	// key with siblings is an error reply, counted as an error).
	Siblings int64
	// ErrorKinds counts errors by kind, e.g. "PUT 503", "GET timeout" or
	// "GET -UNAVAILABLE"; ErrorSamples holds the first message of each kind.
	ErrorKinds   map[string]int64
	ErrorSamples map[string]string
	// Interrupted is set when ctx was cancelled before Duration elapsed;
	// requests cut short by the cancellation are not counted.
	Interrupted bool
	// Elapsed runs from the first request to the end of the last one.
	Elapsed time.Duration
	// Hist holds the latency in microseconds of every OK request.
	Hist *hdrhistogram.Histogram
}

// Live is a progress snapshot of a run in progress, taken about once a
// second (Plan.Live).
type Live struct {
	Target string
	// Phase is "preload" or "round N".
	Phase    string
	Elapsed  time.Duration
	Requests int64
	Errors   int64
	// Rate is finished requests per second since the previous snapshot.
	Rate float64
}

// worker is one closed-loop client. Its fields are owned by its goroutine
// until Run merges them, except done and failed, which the progress
// ticker reads.
type worker struct {
	id    int
	cfg   *Config
	hc    *http.Client
	token string          // bearer token for HTTP requests, if any
	rc    []*redis.Client // per cfg.URLs entry, RESP only
	ks    *Keyspace
	keys  []string // escaped key paths (HTTP) or key names (RESP), shared read-only
	rng   *rand.Rand
	value []byte
	hist  *hdrhistogram.Histogram
	res   Result

	done, failed atomic.Int64
}

// Run drives cfg's load against cfg.URLs until Duration has elapsed or ctx
// is cancelled, and waits for every worker. ks may be nil (a fresh
// Keyspace); otherwise it must have at least cfg.Keys keys. cl.HTTP must
// be set for an HTTP target.
func Run(ctx context.Context, cfg Config, cl *Clients, ks *Keyspace) (Result, error) {
	return run(ctx, cfg, cl, ks, nil, nil)
}

// Preload writes every key of cfg's key space once, cfg.Concurrency
// writes at a time (the same closed loop and write path as Run, ignoring
// ReadRatio and Duration), and marks them written in ks, so the reads of
// later runs hit written keys. It stops early when ctx is cancelled.
func Preload(ctx context.Context, cfg Config, cl *Clients, ks *Keyspace) (Result, error) {
	var next atomic.Int64
	return run(ctx, cfg, cl, ks, &next, nil)
}

// run is Run, or Preload when next is not nil (workers take key numbers
// from it until the key space is exhausted). live, if not nil, is called
// about once a second from a goroutine run owns and waits for.
func run(ctx context.Context, cfg Config, cl *Clients, ks *Keyspace, next *atomic.Int64, live func(Live)) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if ks == nil {
		ks = NewKeyspace(cfg.Keys)
	}
	if len(ks.written) < cfg.Keys {
		return Result{}, fmt.Errorf("%w: keyspace has %d keys, config wants %d", ErrBadConfig, len(ks.written), cfg.Keys)
	}
	resp := cfg.Protocol == ProtocolRESP
	var rcs []*redis.Client
	if resp {
		for _, a := range cfg.URLs {
			rcs = append(rcs, cl.resp(a, cfg.Concurrency))
		}
	} else if cl.HTTP == nil {
		return Result{}, fmt.Errorf("%w: no HTTP client for an HTTP target", ErrBadConfig)
	}
	keys := make([]string, cfg.Keys)
	for i := range keys {
		if resp {
			keys[i] = cfg.KeyPrefix + strconv.Itoa(i)
		} else {
			keys[i] = "/kv/" + url.PathEscape(cfg.KeyPrefix+strconv.Itoa(i))
		}
	}
	ws := make([]*worker, cfg.Concurrency)
	for i := range ws {
		ws[i] = &worker{
			id: i, cfg: &cfg, hc: cl.HTTP, token: cl.Token, rc: rcs, ks: ks, keys: keys,
			rng:   rand.New(rand.NewPCG(cfg.Seed, uint64(i))),
			value: make([]byte, cfg.ValueSize),
			hist:  hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs),
			res:   Result{ErrorKinds: map[string]int64{}, ErrorSamples: map[string]string{}},
		}
	}
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	var wg sync.WaitGroup
	for _, w := range ws {
		if next != nil {
			wg.Go(func() { w.preload(ctx, next) })
		} else {
			wg.Go(func() { w.loop(ctx, deadline) })
		}
	}
	if live != nil {
		stop := make(chan struct{})
		var tg sync.WaitGroup
		tg.Go(func() { tick(ws, start, stop, live) })
		defer tg.Wait()
		defer close(stop)
	}
	wg.Wait()
	total := Result{
		Elapsed:      time.Since(start),
		ErrorKinds:   map[string]int64{},
		ErrorSamples: map[string]string{},
		Hist:         hdrhistogram.New(histMinMicros, histMaxMicros, histSigFigs),
		Interrupted:  ctx.Err() != nil,
	}
	for _, w := range ws {
		total.Requests += w.res.Requests
		total.OK += w.res.OK
		total.Errors += w.res.Errors
		total.Reads += w.res.Reads
		total.Writes += w.res.Writes
		total.NotFound += w.res.NotFound
		total.Siblings += w.res.Siblings
		for k, n := range w.res.ErrorKinds {
			total.ErrorKinds[k] += n
			if _, ok := total.ErrorSamples[k]; !ok {
				total.ErrorSamples[k] = w.res.ErrorSamples[k]
			}
		}
		if dropped := total.Hist.Merge(w.hist); dropped != 0 {
			panic(fmt.Sprintf("bench: merging histograms of equal geometry dropped %d values", dropped))
		}
	}
	return total, nil
}

// liveInterval is how often the progress callback runs: often enough to
// see a stall, rarely enough to cost nothing.
const liveInterval = time.Second

// tick calls live every liveInterval with the workers' counts until stop
// is closed.
func tick(ws []*worker, start time.Time, stop <-chan struct{}, live func(Live)) {
	t := time.NewTicker(liveInterval)
	defer t.Stop()
	var last int64
	lastAt := start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			var l Live
			for _, w := range ws {
				l.Requests += w.done.Load()
				l.Errors += w.failed.Load()
			}
			l.Elapsed = now.Sub(start)
			if d := now.Sub(lastAt).Seconds(); d > 0 {
				l.Rate = float64(l.Requests-last) / d
			}
			last, lastAt = l.Requests, now
			live(l)
		}
	}
}

func (w *worker) loop(ctx context.Context, deadline time.Time) {
	n := len(w.cfg.URLs)
	for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
		t := (w.id + i) % n
		key := w.rng.IntN(w.cfg.Keys)
		if w.rng.Float64() < w.cfg.ReadRatio {
			w.read(ctx, t, key)
		} else {
			w.write(ctx, t, key)
		}
	}
}

func (w *worker) preload(ctx context.Context, next *atomic.Int64) {
	n := len(w.cfg.URLs)
	for ctx.Err() == nil {
		key := int(next.Add(1) - 1)
		if key >= w.cfg.Keys {
			return
		}
		w.write(ctx, key%n, key)
	}
}

func (w *worker) read(ctx context.Context, t, key int) {
	if w.rc != nil {
		w.respRead(ctx, t, key)
	} else {
		w.httpRead(ctx, w.cfg.URLs[t], key)
	}
}

func (w *worker) write(ctx context.Context, t, key int) {
	if w.rc != nil {
		w.respWrite(ctx, t, key)
	} else {
		w.httpWrite(ctx, w.cfg.URLs[t], key)
	}
}

// authorize adds the bearer token, if any, to an HTTP request.
func (w *worker) authorize(req *http.Request) {
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
}

// record counts one finished request.
func (w *worker) record(isRead bool, lat time.Duration, errKind, errMsg string) {
	w.res.Requests++
	w.done.Add(1)
	if isRead {
		w.res.Reads++
	} else {
		w.res.Writes++
	}
	if errKind != "" {
		w.failed.Add(1)
		w.res.Errors++
		w.res.ErrorKinds[errKind]++
		if _, ok := w.res.ErrorSamples[errKind]; !ok {
			w.res.ErrorSamples[errKind] = errMsg
		}
		return
	}
	w.res.OK++
	us := lat.Microseconds()
	us = max(histMinMicros, min(us, histMaxMicros))
	if err := w.hist.RecordValue(us); err != nil {
		panic(fmt.Sprintf("bench: recording a clamped value %d: %v", us, err))
	}
}

func (w *worker) respRead(ctx context.Context, t, key int) {
	wasWritten := w.ks.written[key].Load()
	start := time.Now()
	err := w.rc[t].Get(ctx, w.keys[key]).Err()
	lat := time.Since(start)
	switch {
	case err == nil:
		w.record(true, lat, "", "")
	case errors.Is(err, redis.Nil):
		if wasWritten {
			w.record(true, lat, "GET nil after acked write", fmt.Sprintf("GET %s at %s: nil although a SET of this key was acknowledged before the read began", w.keys[key], w.cfg.URLs[t]))
			return
		}
		w.res.NotFound++
		w.record(true, lat, "", "")
	default:
		if ctx.Err() != nil {
			return // interrupted: not a server failure, not counted
		}
		w.record(true, lat, "GET "+respKind(err), fmt.Sprintf("GET %s at %s: %v", w.keys[key], w.cfg.URLs[t], err))
	}
}

func (w *worker) respWrite(ctx context.Context, t, key int) {
	fill(w.rng, w.value)
	start := time.Now()
	err := w.rc[t].Set(ctx, w.keys[key], w.value, 0).Err()
	lat := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		w.record(false, lat, "SET "+respKind(err), fmt.Sprintf("SET %s at %s: %v", w.keys[key], w.cfg.URLs[t], err))
		return
	}
	w.ks.written[key].Store(true)
	w.record(false, lat, "", "")
}

// respKind names a RESP failure for the error table: an error reply by
// its first word ("-UNAVAILABLE"), anything else as transportKind does.
func respKind(err error) string {
	var re redis.Error
	if errors.As(err, &re) {
		word, _, _ := strings.Cut(re.Error(), " ")
		return "-" + word
	}
	return transportKind(err)
}

func (w *worker) storeContext(key int, h http.Header) {
	if c := h.Get(headerContext); c != "" {
		w.ks.ctx[key].Store(&c)
	}
}

func (w *worker) httpRead(ctx context.Context, base string, key int) {
	u := base + w.keys[key]
	if w.cfg.R != "" {
		u += "?r=" + url.QueryEscape(w.cfg.R)
	}
	wasWritten := w.ks.written[key].Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		panic(fmt.Sprintf("bench: building a request for a validated URL: %v", err))
	}
	w.authorize(req)
	start := time.Now()
	resp, err := w.hc.Do(req)
	var body []byte
	if err == nil {
		body, err = drain(resp)
	}
	lat := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return // interrupted: not a server failure, not counted
		}
		w.record(true, lat, "GET "+transportKind(err), err.Error())
		return
	}
	switch resp.StatusCode {
	case http.StatusOK:
		w.storeContext(key, resp.Header)
		w.record(true, lat, "", "")
	case http.StatusMultipleChoices:
		w.res.Siblings++
		w.storeContext(key, resp.Header)
		w.record(true, lat, "", "")
	case http.StatusNotFound:
		w.storeContext(key, resp.Header)
		if wasWritten {
			w.record(true, lat, "GET 404 after acked write", fmt.Sprintf("GET %s: 404 although a write of this key was acknowledged before the read began", u))
			return
		}
		w.res.NotFound++
		w.record(true, lat, "", "")
	default:
		w.record(true, lat, "GET "+strconv.Itoa(resp.StatusCode), fmt.Sprintf("GET %s: %s: %s", u, resp.Status, sample(body)))
	}
}

func (w *worker) httpWrite(ctx context.Context, base string, key int) {
	u := base + w.keys[key]
	if w.cfg.W != "" {
		u += "?w=" + url.QueryEscape(w.cfg.W)
	}
	fill(w.rng, w.value)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(w.value))
	if err != nil {
		panic(fmt.Sprintf("bench: building a request for a validated URL: %v", err))
	}
	w.authorize(req)
	req.Header.Set("Content-Type", "application/octet-stream")
	if c := w.ks.ctx[key].Load(); c != nil {
		req.Header.Set(headerContext, *c)
	}
	start := time.Now()
	resp, err := w.hc.Do(req)
	var body []byte
	if err == nil {
		body, err = drain(resp)
	}
	lat := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		w.record(false, lat, "PUT "+transportKind(err), err.Error())
		return
	}
	if resp.StatusCode/100 != 2 {
		w.record(false, lat, "PUT "+strconv.Itoa(resp.StatusCode), fmt.Sprintf("PUT %s: %s: %s", u, resp.Status, sample(body)))
		return
	}
	w.ks.written[key].Store(true)
	w.storeContext(key, resp.Header)
	w.record(false, lat, "", "")
}

// drain reads and closes the body so the connection is reused.
func drain(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func fill(r *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		x := r.Uint64()
		for j := i; j < len(b) && j < i+8; j++ {
			b[j] = byte(x)
			x >>= 8
		}
	}
}

// sample returns at most 200 bytes of a response body for an error message.
func sample(b []byte) string {
	const n = 200
	b = bytes.TrimSpace(b)
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	if len(b) == 0 {
		return "(empty body)"
	}
	return string(b)
}

// transportKind names a transport failure for the error table.
func transportKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	default:
		return "transport error"
	}
}
