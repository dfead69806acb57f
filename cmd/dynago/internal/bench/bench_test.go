package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for the load generator (0: from the clock)")

func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed: %d (rerun with -seed=%d)", seed, seed)
	return seed
}

func testConfig(t *testing.T, urls ...string) Config {
	cfg := DefaultConfig()
	cfg.URLs = urls
	cfg.Concurrency = 4
	cfg.Duration = 300 * time.Millisecond
	cfg.Keys = 50
	cfg.Seed = testSeed(t)
	return cfg
}

func testClient(t *testing.T, cfg Config) *Clients {
	cl := &Clients{HTTP: &http.Client{Transport: NewTransport(cfg.Concurrency), Timeout: 5 * time.Second}, Timeout: 5 * time.Second}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Error(err)
		}
	})
	return cl
}

// checkConsistent checks the accounting invariants of the package doc.
func checkConsistent(t *testing.T, r Result) {
	t.Helper()
	if r.Requests == 0 {
		t.Fatal("no requests")
	}
	if r.OK+r.Errors != r.Requests {
		t.Errorf("ok %d + errors %d != requests %d", r.OK, r.Errors, r.Requests)
	}
	if r.Reads+r.Writes != r.Requests {
		t.Errorf("reads %d + writes %d != requests %d", r.Reads, r.Writes, r.Requests)
	}
	var kinds int64
	for _, n := range r.ErrorKinds {
		kinds += n
	}
	if kinds != r.Errors {
		t.Errorf("error kinds sum to %d, errors %d", kinds, r.Errors)
	}
	for k := range r.ErrorKinds {
		if r.ErrorSamples[k] == "" {
			t.Errorf("error kind %q has no sample", k)
		}
	}
	if r.Hist.TotalCount() != r.OK {
		t.Errorf("histogram holds %d values, ok %d", r.Hist.TotalCount(), r.OK)
	}
	s := Summarize(r)
	if r.OK > 0 && !(s.P50 > 0 && s.P50 <= s.P99 && s.P99 <= s.P999 && s.P999 <= s.Max) {
		t.Errorf("percentiles out of order: p50 %v p99 %v p999 %v max %v", s.P50, s.P99, s.P999, s.Max)
	}
	if want := float64(r.OK) / r.Elapsed.Seconds(); math.Abs(s.Throughput-want) > 1e-9*want {
		t.Errorf("throughput %v, want %v", s.Throughput, want)
	}
}

// counting wraps h and counts requests by method and status.
type counting struct {
	h  http.Handler
	mu sync.Mutex
	n  map[string]int64 // "GET 200"
}

func newCounting(h http.Handler) *counting { return &counting{h: h, n: map[string]int64{}} }

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) { w.status = s; w.ResponseWriter.WriteHeader(s) }

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	c.h.ServeHTTP(sw, r)
	c.mu.Lock()
	c.n[r.Method+" "+strconv.Itoa(sw.status)]++
	c.mu.Unlock()
}

func (c *counting) get(k string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *counting) total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s int64
	for _, n := range c.n {
		s += n
	}
	return s
}

func TestRunAgainstReference(t *testing.T) {
	h := NewMapHandler()
	cnt := newCounting(h)
	srv := httptest.NewServer(cnt)
	defer srv.Close()
	cfg := testConfig(t, srv.URL)
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	if r.Errors != 0 {
		t.Errorf("errors against the reference: %v %v", r.ErrorKinds, r.ErrorSamples)
	}
	if got := cnt.total(); got != r.Requests {
		t.Errorf("server saw %d requests, generator counted %d", got, r.Requests)
	}
	if got := cnt.get("PUT 204"); got != r.Writes {
		t.Errorf("server stored %d writes, generator counted %d", got, r.Writes)
	}
	if got := cnt.get("GET 404"); got != r.NotFound {
		t.Errorf("server answered %d 404s, generator counted %d not found", got, r.NotFound)
	}
	if r.Reads == 0 || r.Writes == 0 {
		t.Errorf("read ratio 0.5 gave reads %d writes %d", r.Reads, r.Writes)
	}
	if n := h.Len(); n == 0 || n > cfg.Keys {
		t.Errorf("reference holds %d keys, want 1..%d", n, cfg.Keys)
	}
	if r.Interrupted {
		t.Error("interrupted without cancellation")
	}
	if r.Elapsed < cfg.Duration {
		t.Errorf("elapsed %v shorter than duration %v", r.Elapsed, cfg.Duration)
	}
}

func TestRunValueSizeAndKeys(t *testing.T) {
	var mu sync.Mutex
	sizes := map[int]bool{}
	keys := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		sizes[len(b)] = true
		keys[r.URL.Path] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := testConfig(t, srv.URL)
	cfg.ReadRatio = 0
	cfg.ValueSize = 37
	cfg.Keys = 3
	cfg.KeyPrefix = "p/"
	cfg.Duration = 100 * time.Millisecond
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	if r.Reads != 0 {
		t.Errorf("read ratio 0 gave %d reads", r.Reads)
	}
	if len(sizes) != 1 || !sizes[37] {
		t.Errorf("value sizes %v, want only 37", sizes)
	}
	for k := range keys {
		if !slices.Contains([]string{"/kv/p/0", "/kv/p/1", "/kv/p/2"}, k) {
			t.Errorf("key path %q outside the key space", k)
		}
	}
}

func TestRunCountsErrors(t *testing.T) {
	var puts atomic.Int64
	cnt := newCounting(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.Method {
		case http.MethodPut:
			if puts.Add(1)%3 == 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, `{"error":"quorum not met","code":"unavailable","acks":1}`)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet:
			if strings.HasSuffix(r.URL.Path, "7") {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMultipleChoices)
			_, _ = io.WriteString(w, `{"context":"c","siblings":[{"value":"YQ=="},{"value":"Yg=="}]}`)
		}
	}))
	srv := httptest.NewServer(cnt)
	defer srv.Close()
	cfg := testConfig(t, srv.URL)
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	if got, want := r.ErrorKinds["PUT 503"], cnt.get("PUT 503"); got != want || got == 0 {
		t.Errorf("PUT 503 errors %d, server sent %d (want equal, non-zero)", got, want)
	}
	if got, want := r.ErrorKinds["GET 500"], cnt.get("GET 500"); got != want || got == 0 {
		t.Errorf("GET 500 errors %d, server sent %d", got, want)
	}
	if got, want := r.Siblings, cnt.get("GET 300"); got != want || got == 0 {
		t.Errorf("siblings %d, server sent %d 300s", got, want)
	}
	if r.Errors != cnt.get("PUT 503")+cnt.get("GET 500") {
		t.Errorf("errors %d, server failures %d", r.Errors, cnt.get("PUT 503")+cnt.get("GET 500"))
	}
	if s := r.ErrorSamples["PUT 503"]; !strings.Contains(s, "quorum not met") {
		t.Errorf("sample %q lacks the server's message", s)
	}
}

func TestRun404AfterAckedWrite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Method == http.MethodPut {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusNotFound) // a store that loses every write
	}))
	defer srv.Close()
	cfg := testConfig(t, srv.URL)
	cfg.Keys = 1
	cfg.Duration = 150 * time.Millisecond
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	lost := r.ErrorKinds["GET 404 after acked write"]
	if lost == 0 {
		t.Fatalf("lost writes not flagged: %+v", r)
	}
	if lost+r.NotFound != r.Reads {
		t.Errorf("404s after writes %d + not found %d != reads %d", lost, r.NotFound, r.Reads)
	}
	if r.Errors != lost {
		t.Errorf("errors %d, want only the %d lost reads", r.Errors, lost)
	}
}

func TestRunCarriesContext(t *testing.T) {
	// One worker, one key: every write must carry the context of the
	// response before it.
	var mu sync.Mutex
	var version int
	var bad []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut {
			want := ""
			if version > 0 {
				want = "v" + strconv.Itoa(version)
			}
			if got := r.Header.Get("X-Dynago-Context"); got != want {
				bad = append(bad, fmt.Sprintf("PUT after v%d carried %q", version, got))
			}
			version++
			w.Header().Set("X-Dynago-Context", "v"+strconv.Itoa(version))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if version == 0 {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("X-Dynago-Context", "v"+strconv.Itoa(version))
		_, _ = io.WriteString(w, "x")
	}))
	defer srv.Close()
	cfg := testConfig(t, srv.URL)
	cfg.Concurrency = 1
	cfg.Keys = 1
	cfg.Duration = 100 * time.Millisecond
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	mu.Lock()
	defer mu.Unlock()
	if r.Writes < 2 {
		t.Fatalf("only %d writes", r.Writes)
	}
	if len(bad) > 0 {
		t.Errorf("%d writes with the wrong context, first: %s", len(bad), bad[0])
	}
}

func TestRunTransportErrors(t *testing.T) {
	// Port 1 (tcpmux) needs root to bind and no test binds it, so nothing
	// answers there. A just-closed ephemeral port could be reused by a test
	// server of another package running in parallel, which then received
	// this load (a CI flake: it broke that package's own test too).
	cfg := testConfig(t, "http://127.0.0.1:1")
	cfg.Concurrency = 2
	cfg.Duration = 50 * time.Millisecond
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	if r.OK != 0 || r.Errors != r.Requests {
		t.Errorf("ok %d errors %d requests %d against a closed port", r.OK, r.Errors, r.Requests)
	}
	for k := range r.ErrorKinds {
		if !strings.HasSuffix(k, "connection refused") {
			t.Errorf("error kind %q, want connection refused", k)
		}
	}
}

func TestRunRoundRobin(t *testing.T) {
	var a, b atomic.Int64
	mk := func(n *atomic.Int64) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			n.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}))
	}
	sa, sb := mk(&a), mk(&b)
	defer sa.Close()
	defer sb.Close()
	cfg := testConfig(t, sa.URL, sb.URL)
	cfg.Concurrency = 1
	cfg.ReadRatio = 0
	cfg.Duration = 100 * time.Millisecond
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := a.Load() - b.Load(); d < 0 || d > 1 || a.Load()+b.Load() != r.Requests {
		t.Errorf("one worker round-robin gave %d and %d of %d requests", a.Load(), b.Load(), r.Requests)
	}
}

// TestRunSeeded checks that a seed fixes the sequence of operations: two
// runs with one worker and the same seed issue the same requests (one run
// may be longer), and another seed issues different ones.
func TestRunSeeded(t *testing.T) {
	record := func(seed uint64) []string {
		var mu sync.Mutex
		var ops []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			ops = append(ops, fmt.Sprintf("%s %s %x", r.Method, r.URL.Path, b))
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer srv.Close()
		cfg := testConfig(t, srv.URL)
		cfg.Concurrency = 1
		cfg.Keys = 1000
		cfg.ValueSize = 8
		cfg.Duration = 50 * time.Millisecond
		cfg.Seed = seed
		if _, err := Run(t.Context(), cfg, testClient(t, cfg), nil); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return ops
	}
	seed := testSeed(t)
	x, y, z := record(seed), record(seed), record(seed+1)
	n := min(len(x), len(y), len(z))
	if n < 10 {
		t.Fatalf("too few requests to compare: %d", n)
	}
	if !slices.Equal(x[:n], y[:n]) {
		t.Error("same seed, different requests")
	}
	if slices.Equal(x[:n], z[:n]) {
		t.Error("different seeds, same requests")
	}
}

func TestRunCancelled(t *testing.T) {
	h := NewMapHandler()
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := testConfig(t, srv.URL)
	cfg.Duration = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r, err := Run(ctx, cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Interrupted || r.Requests != 0 {
		t.Errorf("cancelled run: interrupted %v requests %d", r.Interrupted, r.Requests)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.URLs = []string{"http://127.0.0.1:1"}
	tests := []struct {
		name   string
		mod    func(c *Config)
		wantOK bool
	}{
		{"defaults", func(c *Config) {}, true},
		{"no urls", func(c *Config) { c.URLs = nil }, false},
		{"bad url", func(c *Config) { c.URLs = []string{"127.0.0.1:80"} }, false},
		{"zero concurrency", func(c *Config) { c.Concurrency = 0 }, false},
		{"negative value size", func(c *Config) { c.ValueSize = -1 }, false},
		{"zero value size", func(c *Config) { c.ValueSize = 0 }, true},
		{"ratio above 1", func(c *Config) { c.ReadRatio = 1.5 }, false},
		{"ratio NaN", func(c *Config) { c.ReadRatio = math.NaN() }, false},
		{"all reads", func(c *Config) { c.ReadRatio = 1 }, true},
		{"zero duration", func(c *Config) { c.Duration = 0 }, false},
		{"zero keys", func(c *Config) { c.Keys = 0 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			if err := c.Validate(); (err == nil) != tc.wantOK {
				t.Errorf("Validate() = %v, want ok %v", err, tc.wantOK)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name    string
		tput    []float64
		want    float64
		wantReq int64
	}{
		{"one", []float64{5}, 5, 1},
		{"odd", []float64{9, 1, 5}, 5, 3},
		{"even", []float64{1, 4, 2, 3}, 2.5, 4},
		{"none", nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ss []Summary
			for _, x := range tc.tput {
				ss = append(ss, Summary{Requests: 1, Throughput: x, P99: 10 * x, ErrorKinds: map[string]int64{"PUT 503": 1}, ErrorSamples: map[string]string{"PUT 503": "s"}})
			}
			m := Median(ss)
			if m.Throughput != tc.want || m.P99 != 10*tc.want {
				t.Errorf("median throughput %v p99 %v, want %v %v", m.Throughput, m.P99, tc.want, 10*tc.want)
			}
			if m.Requests != tc.wantReq || m.ErrorKinds["PUT 503"] != tc.wantReq {
				t.Errorf("summed requests %d errors %v, want %d", m.Requests, m.ErrorKinds, tc.wantReq)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	r := Compare("a", Summary{Throughput: 50, P50: 200, P99: 400, P999: 900}, "b", Summary{Throughput: 100, P50: 100, P99: 100, P999: 0})
	if r.Throughput != 0.5 || r.P50 != 2 || r.P99 != 4 || r.P999 != 0 {
		t.Errorf("%+v", r)
	}
}

func TestRunRoundsInterleaves(t *testing.T) {
	ref, err := StartReference()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := ref.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	other := httptest.NewServer(NewMapHandler())
	defer other.Close()
	cfg := testConfig(t)
	cfg.Duration = 100 * time.Millisecond
	plan := Plan{Config: cfg, Rounds: 2, Targets: []Target{{Name: "dynago", URLs: []string{other.URL}}, {Name: "reference", URLs: []string{ref.URL}}}}
	var seen []string
	rep, err := RunRounds(t.Context(), plan, testClient(t, cfg), func(r Round) { seen = append(seen, fmt.Sprintf("%s%d", r.Target, r.Round)) })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dynago1", "reference1", "dynago2", "reference2"}; !slices.Equal(seen, want) {
		t.Errorf("round order %v, want %v", seen, want)
	}
	for i, r := range rep.Rounds {
		if want := cfg.Seed + uint64(i/2); r.Seed != want {
			t.Errorf("round %d seed %d, want %d", i, r.Seed, want)
		}
		if r.OK+r.Errors != r.Requests || r.Requests == 0 {
			t.Errorf("round %d: %+v", i, r.Summary)
		}
	}
	if len(rep.Median) != 2 || len(rep.Ratios) != 1 || rep.Ratios[0].Of != "dynago" || rep.Ratios[0].To != "reference" {
		t.Fatalf("medians %v ratios %+v", rep.Median, rep.Ratios)
	}
	md, mr := rep.Median["dynago"], rep.Median["reference"]
	if got := rep.Ratios[0].Throughput; math.Abs(got-md.Throughput/mr.Throughput) > 1e-9 {
		t.Errorf("ratio %v, want %v", got, md.Throughput/mr.Throughput)
	}
	if rep.Errors != 0 || rep.Err() != nil {
		t.Errorf("errors %d: %v", rep.Errors, rep.Err())
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"dynago/reference (medians): throughput", "median", "seed " + strconv.FormatUint(cfg.Seed, 10)} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Rounds) != 4 || back.Config.Seed != cfg.Seed {
		t.Errorf("JSON round trip: %v %+v", err, back.Config)
	}
}

func TestReportErrWithFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg := testConfig(t)
	cfg.Duration = 50 * time.Millisecond
	rep, err := RunRounds(t.Context(), Plan{Config: cfg, Rounds: 1, Targets: []Target{{Name: "x", URLs: []string{srv.URL}}}}, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors == 0 || rep.Err() == nil {
		t.Fatalf("errors %d err %v", rep.Errors, rep.Err())
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !strings.Contains(text.String(), "errors against x") || !strings.Contains(text.String(), "503") {
		t.Errorf("error table missing:\n%s", text.String())
	}
}

func TestMapHandler(t *testing.T) {
	srv := httptest.NewServer(NewMapHandler())
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		method, path, body string
		wantStatus         int
		wantBody           string
	}{
		{"GET", "/kv/a", "", 404, ""},
		{"PUT", "/kv/a?w=2", "one", 204, ""},
		{"GET", "/kv/a?r=2", "", 200, "one"},
		{"PUT", "/kv/a", "two", 204, ""},
		{"GET", "/kv/a", "", 200, "two"},
		{"DELETE", "/kv/a", "", 204, ""},
		{"GET", "/kv/a", "", 404, ""},
		{"POST", "/kv/a", "", 405, `{"error":"method not allowed","code":"bad_request"}` + "\n"},
		{"GET", "/other", "", 404, `{"error":"no such endpoint","code":"not_found"}` + "\n"},
	}
	for i, s := range steps {
		st, body := do(s.method, s.path, s.body)
		if st != s.wantStatus || body != s.wantBody {
			t.Errorf("step %d %s %s: %d %q, want %d %q", i, s.method, s.path, st, body, s.wantStatus, s.wantBody)
		}
	}
}
