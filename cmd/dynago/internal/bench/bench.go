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
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

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

// Config describes one closed-loop run against one target.
type Config struct {
	// URLs are the base URLs of the target's nodes; requests go round-robin
	// over them.
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
	}
	for _, u := range c.URLs {
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
	// NotFound counts OK reads answered 404 (keys never written).
	NotFound int64
	// Siblings counts OK reads answered 300.
	Siblings int64
	// ErrorKinds counts errors by kind, e.g. "PUT 503" or "GET timeout";
	// ErrorSamples holds the first message of each kind.
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

// worker is one closed-loop client. Its fields are owned by its goroutine
// until Run merges them.
type worker struct {
	id    int
	cfg   *Config
	hc    *http.Client
	ks    *Keyspace
	keys  []string // escaped key paths, shared read-only
	rng   *rand.Rand
	value []byte
	hist  *hdrhistogram.Histogram
	res   Result
}

// Run drives cfg's load against cfg.URLs until Duration has elapsed or ctx
// is cancelled, and waits for every worker. ks may be nil (a fresh
// Keyspace); otherwise it must have at least cfg.Keys keys. hc should use
// a transport from NewTransport and a per-request Timeout.
func Run(ctx context.Context, cfg Config, hc *http.Client, ks *Keyspace) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	if ks == nil {
		ks = NewKeyspace(cfg.Keys)
	}
	if len(ks.written) < cfg.Keys {
		return Result{}, fmt.Errorf("%w: keyspace has %d keys, config wants %d", ErrBadConfig, len(ks.written), cfg.Keys)
	}
	keys := make([]string, cfg.Keys)
	for i := range keys {
		keys[i] = "/kv/" + url.PathEscape(cfg.KeyPrefix+strconv.Itoa(i))
	}
	ws := make([]*worker, cfg.Concurrency)
	for i := range ws {
		ws[i] = &worker{
			id: i, cfg: &cfg, hc: hc, ks: ks, keys: keys,
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
		wg.Go(func() { w.loop(ctx, deadline) })
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

func (w *worker) loop(ctx context.Context, deadline time.Time) {
	n := len(w.cfg.URLs)
	for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
		base := w.cfg.URLs[(w.id+i)%n]
		key := w.rng.IntN(w.cfg.Keys)
		if w.rng.Float64() < w.cfg.ReadRatio {
			w.read(ctx, base, key)
		} else {
			w.write(ctx, base, key)
		}
	}
}

// record counts one finished request.
func (w *worker) record(isRead bool, lat time.Duration, errKind, errMsg string) {
	w.res.Requests++
	if isRead {
		w.res.Reads++
	} else {
		w.res.Writes++
	}
	if errKind != "" {
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

func (w *worker) storeContext(key int, h http.Header) {
	if c := h.Get(headerContext); c != "" {
		w.ks.ctx[key].Store(&c)
	}
}

func (w *worker) read(ctx context.Context, base string, key int) {
	u := base + w.keys[key]
	if w.cfg.R != "" {
		u += "?r=" + url.QueryEscape(w.cfg.R)
	}
	wasWritten := w.ks.written[key].Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		panic(fmt.Sprintf("bench: building a request for a validated URL: %v", err))
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

func (w *worker) write(ctx context.Context, base string, key int) {
	u := base + w.keys[key]
	if w.cfg.W != "" {
		u += "?w=" + url.QueryEscape(w.cfg.W)
	}
	fill(w.rng, w.value)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(w.value))
	if err != nil {
		panic(fmt.Sprintf("bench: building a request for a validated URL: %v", err))
	}
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
