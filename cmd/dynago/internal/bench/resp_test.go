package bench

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tidwall/redcon"
)

// respServer is an in-process RESP server (redcon) holding a map, with
// faults chosen by key number, standing in for dynago's --resp front end
// (whose contract: SET overwrites, GET of a key with siblings is an error
// reply, quorum failures are -UNAVAILABLE or -INDETERMINATE replies).
type respServer struct {
	addr string
	ln   net.Listener
	done chan error

	// Faults by key number k (of "bench-k"): checked in this order.
	siblings func(k int) bool // GET: -SIBLINGS error reply
	lost     func(k int) bool // GET: nil although the key was set
	failSet  func(k int) bool // SET: -UNAVAILABLE error reply, nothing stored

	mu struct {
		sync.Mutex
		m map[string][]byte
		n map[string]int64 // outcome counts, e.g. "GET lost"
	}
}

func startRESPServer(t *testing.T, siblings, lost, failSet func(int) bool) *respServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	never := func(int) bool { return false }
	for _, f := range []*func(int) bool{&siblings, &lost, &failSet} {
		if *f == nil {
			*f = never
		}
	}
	s := &respServer{addr: ln.Addr().String(), ln: ln, done: make(chan error, 1), siblings: siblings, lost: lost, failSet: failSet}
	s.mu.m = map[string][]byte{}
	s.mu.n = map[string]int64{}
	go func() { s.done <- redcon.Serve(ln, s.handle, nil, nil) }()
	t.Cleanup(func() {
		s.ln.Close()
		if err := <-s.done; err != nil {
			t.Errorf("RESP test server: %v", err)
		}
	})
	return s
}

func (s *respServer) count(k string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.n[k]
}

func (s *respServer) handle(c redcon.Conn, cmd redcon.Command) {
	name := strings.ToUpper(string(cmd.Args[0]))
	keyNum := func() int {
		k, err := strconv.Atoi(strings.TrimPrefix(string(cmd.Args[1]), "bench-"))
		if err != nil {
			return -1
		}
		return k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case name == "PING":
		c.WriteString("PONG")
	case name == "GET" && len(cmd.Args) == 2:
		k := keyNum()
		v, ok := s.mu.m[string(cmd.Args[1])]
		switch {
		case s.siblings(k):
			s.mu.n["GET siblings"]++
			c.WriteError("SIBLINGS key has 2 siblings; read them with DYNAGO.GET")
		case s.lost(k):
			s.mu.n["GET lost"]++
			if ok {
				s.mu.n["GET lost after set"]++
			}
			c.WriteNull()
		case !ok:
			s.mu.n["GET nil"]++
			c.WriteNull()
		default:
			s.mu.n["GET ok"]++
			c.WriteBulk(v)
		}
	case name == "SET" && len(cmd.Args) == 3:
		if s.failSet(keyNum()) {
			s.mu.n["SET unavailable"]++
			c.WriteError("UNAVAILABLE quorum not met: 1 of 2 replicas acknowledged")
			return
		}
		s.mu.n["SET ok"]++
		s.mu.m[string(cmd.Args[1])] = append([]byte(nil), cmd.Args[2]...)
		c.WriteString("OK")
	default:
		c.WriteError("ERR unknown command '" + name + "'")
	}
}

func respConfig(t *testing.T, addrs ...string) Config {
	cfg := testConfig(t, addrs...)
	cfg.Protocol = ProtocolRESP
	cfg.KeyPrefix = "bench-"
	return cfg
}

// TestRESPPreloadAndRun runs a preload and a round against the test
// server and checks every count against what the server saw: a key whose
// SET failed is never "written", so its nil reads are OK; a nil for a
// key whose SET was acknowledged is its own error kind; error replies
// are counted by their first word.
func TestRESPPreloadAndRun(t *testing.T) {
	siblings := func(k int) bool { return k%11 == 4 }
	lost := func(k int) bool { return k%7 == 3 }
	failSet := func(k int) bool { return k%5 == 0 }
	srv := startRESPServer(t, siblings, lost, failSet)
	cfg := respConfig(t, srv.addr)
	cl := testClient(t, cfg)
	ks := NewKeyspace(cfg.Keys)

	pre, err := Preload(t.Context(), cfg, cl, ks)
	if err != nil {
		t.Fatal(err)
	}
	if pre.Writes != int64(cfg.Keys) || pre.Reads != 0 || pre.OK != 40 || pre.Errors != 10 || pre.ErrorKinds["SET -UNAVAILABLE"] != 10 {
		t.Fatalf("preload of 50 keys, 10 failing: %+v", pre)
	}
	if got := srv.count("SET ok") + srv.count("SET unavailable"); got != int64(cfg.Keys) {
		t.Fatalf("server saw %d SETs in the preload, want one per key (%d)", got, cfg.Keys)
	}
	for k := range cfg.Keys {
		if ks.Written(k) == failSet(k) {
			t.Fatalf("key %d: written %v after a preload where its SET failed=%v", k, ks.Written(k), failSet(k))
		}
	}
	before := map[string]int64{}
	for _, k := range []string{"GET siblings", "GET lost", "GET lost after set", "GET nil", "GET ok", "SET ok", "SET unavailable"} {
		before[k] = srv.count(k)
	}
	delta := func(k string) int64 { return srv.count(k) - before[k] }

	r, err := Run(t.Context(), cfg, cl, ks)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	// Every lost key's SET succeeded in the preload (unless it always
	// fails), so every "lost" GET of a settable key is a nil after an
	// acknowledged write.
	if got, want := r.ErrorKinds["GET nil after acked write"], delta("GET lost after set"); got != want || want == 0 {
		t.Errorf("GET nil after acked write: %d, server answered %d such nils", got, want)
	}
	if got, want := r.NotFound, delta("GET nil")+delta("GET lost")-delta("GET lost after set"); got != want {
		t.Errorf("not found %d, want %d (nils for never-set keys)", got, want)
	}
	if got, want := r.ErrorKinds["GET -SIBLINGS"], delta("GET siblings"); got != want || want == 0 {
		t.Errorf("GET -SIBLINGS: %d, server sent %d", got, want)
	}
	if got, want := r.ErrorKinds["SET -UNAVAILABLE"], delta("SET unavailable"); got != want || want == 0 {
		t.Errorf("SET -UNAVAILABLE: %d, server sent %d", got, want)
	}
	if got, want := r.Reads, delta("GET siblings")+delta("GET lost")+delta("GET nil")+delta("GET ok"); got != want {
		t.Errorf("reads %d, server saw %d GETs", got, want)
	}
	if got, want := r.Writes, delta("SET ok")+delta("SET unavailable"); got != want {
		t.Errorf("writes %d, server saw %d SETs", got, want)
	}
	if len(r.ErrorKinds) != 3 {
		t.Errorf("error kinds %v, want exactly the three injected", r.ErrorKinds)
	}
	if s := r.ErrorSamples["GET -SIBLINGS"]; !strings.Contains(s, "2 siblings") {
		t.Errorf("sample %q lacks the server's message", s)
	}
}

// TestRESPTransportError: a RESP target that refuses connections gives
// transport errors of a named kind, still one per request.
func TestRESPTransportError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := respConfig(t, addr)
	cfg.Duration = 100 * time.Millisecond
	r, err := Run(t.Context(), cfg, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	if r.OK != 0 || r.ErrorKinds["GET connection refused"]+r.ErrorKinds["SET connection refused"] != r.Errors {
		t.Errorf("against a closed port: %+v", r.ErrorKinds)
	}
}

// TestRESPAgainstRedis runs a preload and a mixed round against a real
// redis-server, when one is installed: no errors, and after the preload
// no read finds nothing.
func TestRESPAgainstRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set, so this test must run, but redis-server is missing: %v (.ci/run installs it)", err)
		}
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID
		_ = cmd.Wait()
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ping := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer ping.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		err := ping.Ping(ctx).Err()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("redis-server on %s not answering PING: %v", addr, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond): // polling interval while redis starts
		}
	}
	cfg := respConfig(t, addr)
	rep, err := RunRounds(t.Context(), Plan{Config: cfg, Rounds: 1, Preload: true,
		Targets: []Target{{Name: "redis", URLs: []string{addr}, PIDs: []int{cmd.Process.Pid}}}}, testClient(t, cfg), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Errors != 0 || rep.Err() != nil {
		t.Fatalf("errors against redis-server: %v %+v", rep.Err(), rep.Median)
	}
	if p := rep.Preload["redis"]; p.Keys != int64(cfg.Keys) || p.Rate <= 0 {
		t.Errorf("preload %+v, want %d keys", p, cfg.Keys)
	}
	if n, err := ping.DBSize(t.Context()).Result(); err != nil || n != int64(cfg.Keys) {
		t.Errorf("redis holds %d keys (%v), want %d", n, err, cfg.Keys)
	}
	rd := rep.Rounds[0]
	if rd.NotFound != 0 || rd.Reads == 0 || rd.Writes == 0 || rd.OK != rd.Requests {
		t.Errorf("round after preload: %+v", rd.Summary)
	}
	if rd.CPUSec < 0 || (rd.CPUSec > 0 && rd.CPUPerOp <= 0) {
		t.Errorf("cpu %v s, %v µs/op", rd.CPUSec, rd.CPUPerOp)
	}
	if errors.Is(rep.Err(), ErrRequestsFailed) {
		t.Fatal(rep.Err())
	}
}

// TestPreloadWritesEveryKeyOnce: an HTTP preload PUTs each key exactly
// once, round-robin over the targets, and marks them all written.
func TestPreloadWritesEveryKeyOnce(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	h := NewMapHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.URL.Path]++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	cfg := testConfig(t, srv.URL, srv.URL)
	cfg.Keys = 97
	ks := NewKeyspace(cfg.Keys)
	r, err := Preload(t.Context(), cfg, testClient(t, cfg), ks)
	if err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, r)
	if r.Writes != int64(cfg.Keys) || r.OK != int64(cfg.Keys) || r.Reads != 0 {
		t.Fatalf("preload: %+v", r)
	}
	if len(seen) != cfg.Keys || h.Len() != cfg.Keys {
		t.Fatalf("server saw %d distinct requests and holds %d keys, want %d", len(seen), h.Len(), cfg.Keys)
	}
	for k := range cfg.Keys {
		if n := seen["PUT /kv/bench-"+strconv.Itoa(k)]; n != 1 || !ks.Written(k) {
			t.Fatalf("key %d: %d PUTs, written %v", k, n, ks.Written(k))
		}
	}
}
