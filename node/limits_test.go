package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/faulty"
)

// oneNode starts a node alone in its cluster (N=1) with its limits
// changed by mutate.
func oneNode(t *testing.T, mutate func(c *Config)) *testNode {
	t.Helper()
	return startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, mutate: func(i int, c *Config) {
		alone(i, c)
		if mutate != nil {
			mutate(c)
		}
	}})[0]
}

// rawConn opens a TCP connection to tn's HTTP API, closed at cleanup.
func rawConn(t *testing.T, tn *testNode) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", tn.node.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reads c until the server closes it and fails the test if
// that takes longer than within (what it read is returned).
func closedWithin(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server had not closed the connection after %v (read %q)", within, b)
	}
	return string(b)
}

func TestHTTPSlowClientsCutOff(t *testing.T) {
	tn := oneNode(t, func(c *Config) {
		c.Limits.ReadHeaderTimeout = 300 * time.Millisecond
		c.Limits.ReadTimeout = 600 * time.Millisecond
		c.Limits.IdleTimeout = 2 * time.Second
	})
	// A connection a client's pool dialed ahead and uses later is idle,
	// not slow: its first request, sent after the header timeout, is
	// answered (net/http alone closed it at the header timeout).
	t.Run("unused then used", func(t *testing.T) {
		c := rawConn(t, tn)
		time.Sleep(900 * time.Millisecond) // three header timeouts, under the idle timeout
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("a connection's first request after %v unused: %v", 900*time.Millisecond, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	// One that never sends anything is closed at the idle timeout.
	t.Run("silent", func(t *testing.T) {
		closedWithin(t, rawConn(t, tn), 10*time.Second)
	})
	t.Run("slow header", func(t *testing.T) {
		c := rawConn(t, tn)
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: x\r\n"); err != nil { // and never the blank line
			t.Fatal(err)
		}
		got := closedWithin(t, c, 5*time.Second)
		if strings.Contains(got, "200 OK") {
			t.Fatalf("a request with unfinished headers was answered: %q", got)
		}
	})
	t.Run("slow body", func(t *testing.T) {
		c := rawConn(t, tn)
		if _, err := io.WriteString(c, "PUT /kv/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
			t.Fatal(err)
		}
		got := closedWithin(t, c, 5*time.Second)
		if strings.Contains(got, "204") {
			t.Fatalf("a write with an unfinished body was stored: %q", got)
		}
		if r := tn.get("slow"); r.status != http.StatusNotFound {
			t.Fatalf("GET slow: %d %s, want 404", r.status, r.body)
		}
	})
}

func TestHTTPOversizedRejectedUnread(t *testing.T) {
	tn := oneNode(t, func(c *Config) { c.MaxValueBytes = 1 << 10 })
	t.Run("header 431", func(t *testing.T) {
		req, _ := http.NewRequest("GET", tn.url+"/health", nil)
		req.Header.Set("X-Big", strings.Repeat("x", 200<<10)) // under Go's default 1 MB, over ours
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	// A body larger than the route allows is refused from its
	// Content-Length, before any of it is read: the client sends only the
	// headers and still gets its answer.
	for _, tc := range []struct {
		name, req, code string
	}{
		{"value", "PUT /kv/big HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n", "value_too_large"},
		{"admin", "POST /cluster/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n", "body_too_large"},
	} {
		t.Run(tc.name+" 413", func(t *testing.T) {
			c := rawConn(t, tn)
			if _, err := io.WriteString(c, tc.req); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("no answer before the body was sent: %v", err)
			}
			var e api.Error
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Code != tc.code {
				t.Fatalf("got %d %+v, want 413 %s", resp.StatusCode, e, tc.code)
			}
		})
	}
	t.Run("chunked value 413", func(t *testing.T) {
		r := tn.do("PUT", "/kv/big", []byte(strings.Repeat("x", 2<<10)), map[string]string{"Transfer-Encoding": "chunked"})
		if r.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d %s, want 413", r.status, r.body)
		}
	})
}

// stallPUT opens a connection that sends a PUT's headers and part of its
// body, then stalls: a handler holding an in-flight slot (and, while it
// waits for the rest, its reservation of body bytes).
func stallPUT(t *testing.T, tn *testNode, key string, length, send int) net.Conn {
	t.Helper()
	c := rawConn(t, tn)
	if _, err := fmt.Fprintf(c, "PUT /kv/%s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", key, length); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(make([]byte, send)); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHTTPOverloadSheds(t *testing.T) {
	tn := oneNode(t, func(c *Config) {
		c.Limits.MaxInflight = 4
		c.RESPAddr = freeAddr(t)
		c.Pprof = true
	})
	var stalled []net.Conn
	for i := range 4 {
		stalled = append(stalled, stallPUT(t, tn, fmt.Sprintf("s%d", i), 10, 1))
	}
	waitFor(t, "4 requests in flight", 10*time.Second, func() (bool, string) {
		got := tn.node.adm.reqs.Load()
		return got == 4, fmt.Sprintf("%d in flight", got)
	})
	r := tn.put("k", "v", "")
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Fatalf("PUT past the limit: %d %s (Retry-After %q), want 503 with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	if code := r.json(t)["code"]; code != "overloaded" {
		t.Fatalf("code %v, want overloaded", code)
	}
	// A small refused body is discarded and the connection kept: closing
	// it would make every shed client dial again, into a full accept
	// queue. The same connection then serves /health.
	raw := rawConn(t, tn)
	br := bufio.NewReader(raw)
	if _, err := fmt.Fprintf(raw, "PUT /kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nv"); err != nil {
		t.Fatal(err)
	}
	shedResp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, shedResp.Body)
	shedResp.Body.Close()
	if shedResp.StatusCode != http.StatusServiceUnavailable || shedResp.Close {
		t.Fatalf("raw PUT past the limit: %d, close=%v; want 503 on a kept connection", shedResp.StatusCode, shedResp.Close)
	}
	if _, err := fmt.Fprintf(raw, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if hr, err := http.ReadResponse(br, nil); err != nil || hr.StatusCode != http.StatusOK {
		t.Fatalf("/health on the shed request's connection: %v %v", hr, err)
	}
	if r := tn.do("GET", "/health", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/health while overloaded: %d %s", r.status, r.body)
	}
	// An operator can profile the loaded node (--pprof).
	if r := tn.do("GET", "/debug/pprof/heap", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/debug/pprof/heap while overloaded: %d %s", r.status, r.body)
	}
	// RESP data commands share the limit.
	err = tn.redis().Get(t.Context(), "k").Err()
	if err == nil || !strings.HasPrefix(err.Error(), "BUSY ") {
		t.Fatalf("RESP GET past the limit: %v, want a BUSY error", err)
	}
	if err := tn.redis().Ping(t.Context()).Err(); err != nil {
		t.Fatalf("RESP PING while overloaded: %v", err)
	}
	for _, c := range stalled {
		c.Close()
	}
	waitFor(t, "writes accepted again", 10*time.Second, func() (bool, string) {
		r := tn.put("k", "v", "")
		return r.status == http.StatusNoContent, fmt.Sprintf("%d %s", r.status, r.body)
	})
	if err := tn.redis().Get(t.Context(), "k").Err(); err != nil {
		t.Fatalf("RESP GET after the load: %v", err)
	}
}

// TestHTTPStalledUploadsBounded: 200 clients each send 4 MiB of a
// 4 MiB + 1 value and stall. Unbounded, the node buffered every one
// (~1 GB measured); with the body budget it holds at most
// MaxInflightBodyBytes and refuses the rest with 503.
func TestHTTPStalledUploadsBounded(t *testing.T) {
	tn := oneNode(t, func(c *Config) { c.MaxValueBytes = 4<<20 + 1 })
	const clients, size = 200, 4 << 20
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	var peak uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	chunk := make([]byte, 64<<10)
	for i := range clients {
		c := rawConn(t, tn)
		wg.Go(func() {
			// Each client writes its body until done, or until the node
			// answered (a refusal) and closed the connection.
			if _, err := fmt.Fprintf(c, "PUT /kv/u%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", i, size+1); err != nil {
				return
			}
			answered := make(chan int, 1)
			go func() {
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					answered <- 0
					return
				}
				resp.Body.Close()
				answered <- resp.StatusCode
			}()
			for sent := 0; sent < size; sent += len(chunk) {
				_ = c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				if _, err := c.Write(chunk); err != nil {
					break
				}
			}
			select {
			case st := <-answered:
				if st == http.StatusServiceUnavailable {
					mu.Lock()
					refused++
					mu.Unlock()
				}
			default:
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(90 * time.Second)
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			sample()
		case <-deadline:
			t.Fatal("the uploads did not finish sending in 90 s")
		}
	}
	sample()
	grew := int64(peak) - int64(before.HeapAlloc)
	budget := tn.cfg.Limits.MaxInflightBodyBytes
	t.Logf("%d stalled 4 MiB uploads: heap grew by at most %d MiB (budget %d MiB; %d refused with 503)",
		clients, grew>>20, budget>>20, refused)
	if bound := 3 * budget; grew > bound {
		t.Fatalf("heap grew by %d MiB, want at most %d MiB (3x the body budget)", grew>>20, bound>>20)
	}
	if r := tn.do("GET", "/health", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/health after the uploads: %d %s", r.status, r.body)
	}
}

// TestAIMDLimit: the adaptive limit falls by a quarter for each window
// whose mean latency is over the target, down to its floor; grows by a
// tenth (at least 1) for each fast window in which the limit refused a
// request, up to MaxInflight; and stays where it is otherwise.
func TestAIMDLimit(t *testing.T) {
	l := &aimdLimit{limit: 100, min: 10, max: 100, target: 100 * time.Millisecond}
	window := func(lat time.Duration, shed bool) int64 {
		t.Helper()
		if shed {
			l.refused()
		}
		var got int64
		for i := range aimdWindow {
			v, _ := l.observe(lat)
			if i == aimdWindow-1 {
				got = v
			}
		}
		return got
	}
	if got := window(200*time.Millisecond, false); got != 75 {
		t.Fatalf("after a slow window: %d, want 75", got)
	}
	for range 20 {
		window(time.Second, true)
	}
	if got := window(time.Second, true); got != 10 {
		t.Fatalf("after slow windows: %d, want the floor 10", got)
	}
	if got := window(80*time.Millisecond, true); got != 10 {
		t.Fatalf("a window under the target but over half of it: %d, want 10 (unchanged)", got)
	}
	if got := window(time.Millisecond, false); got != 10 {
		t.Fatalf("a fast window that refused nothing: %d, want 10 (unchanged)", got)
	}
	if got := window(time.Millisecond, true); got != 11 {
		t.Fatalf("a fast window that refused: %d, want 11", got)
	}
	for range 100 {
		window(time.Millisecond, true)
	}
	if got := window(time.Millisecond, true); got != 100 {
		t.Fatalf("after fast windows: %d, want the ceiling 100", got)
	}
}

// TestHTTPInflightLimitAdapts: while the node's store is slow (each
// write 50 ms, one at a time: a disk at its limit), the served requests' mean latency
// is over the target and the in-flight limit falls to its floor, so past
// a few requests the node answers 503 overloaded at once instead of
// admitting what it can't serve in time; once the store is fast again,
// the limit grows back while requests are being refused. Without the
// adaptive limit all 64 requests would be admitted and each would wait.
func TestHTTPInflightLimitAdapts(t *testing.T) {
	var slow atomic.Bool
	slow.Store(true)
	tn := oneNode(t, func(c *Config) {
		c.Limits.MaxInflight, c.Limits.MinInflight = 64, 4
		c.Limits.InflightLatencyTarget = 40 * time.Millisecond
		c.test.wrap = func(st storage.Store) storage.Store {
			fs := faulty.New(st)
			fs.Inject(func(op faulty.Op, key []byte) error {
				if op == faulty.OpUpdate && slow.Load() {
					time.Sleep(50 * time.Millisecond)
				}
				return nil
			})
			return fs
		}
	})
	limit := func() float64 {
		t.Helper()
		r := tn.do("GET", "/metrics", nil, nil)
		for line := range strings.Lines(string(r.body)) {
			if v, ok := strings.CutPrefix(line, "dynago_inflight_limit "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					t.Fatalf("%q", line)
				}
				return f
			}
		}
		t.Fatalf("/metrics (%d) lacks dynago_inflight_limit", r.status)
		return 0
	}
	if got := limit(); got != 64 {
		t.Fatalf("limit at start %v, want MaxInflight 64", got)
	}
	// Writers, each writing its own keys until told to stop.
	load := func(writers int, stop <-chan struct{}) (overloaded *atomic.Int64, wg *sync.WaitGroup) {
		overloaded, wg = new(atomic.Int64), new(sync.WaitGroup)
		for w := range writers {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					r := tn.put(fmt.Sprintf("w%d-%d", w, i), "v", "")
					switch {
					case r.status == http.StatusServiceUnavailable && r.header.Get("Retry-After") != "":
						overloaded.Add(1)
					case r.status == http.StatusServiceUnavailable:
						// Admitted before the limit fell and timed out
						// in the store's queue: what the limit prevents.
					case r.status != http.StatusNoContent:
						t.Errorf("PUT: %d %s", r.status, r.body)
						return
					}
				}
			})
		}
		return overloaded, wg
	}
	stop := make(chan struct{})
	overloaded, wg := load(64, stop)
	waitFor(t, "the limit at its floor", 60*time.Second, func() (bool, string) {
		got := limit()
		return got == 4, fmt.Sprintf("limit %v", got)
	})
	waitFor(t, "requests past the limit refused", 30*time.Second, func() (bool, string) {
		return overloaded.Load() > 0, "none refused yet"
	})
	if r := tn.do("GET", "/health", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/health while shedding: %d %s", r.status, r.body)
	}
	close(stop)
	wg.Wait()
	// The store is fast again, and 8 writers are more than the floor.
	slow.Store(false)
	stop = make(chan struct{})
	_, wg = load(8, stop)
	waitFor(t, "the limit growing back", 60*time.Second, func() (bool, string) {
		got := limit()
		return got >= 8, fmt.Sprintf("limit %v", got)
	})
	close(stop)
	wg.Wait()
}
