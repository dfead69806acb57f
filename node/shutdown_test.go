package node

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/dynago/dynago/storage"
)

// No goroutine a node started outlives its Run: not gossip's, RPC's, the
// loops', the request handlers', the background work's, nor the store's.
func TestNoGoroutineOutlivesNodes(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	func() {
		// Not started with startNode: its cleanup would run after the check.
		var nodes []*Node
		var done []chan error
		for i, name := range []string{"n1", "n2", "n3"} {
			cfg := testConfig(t, name, i != 0)
			cfg.RESPAddr = freeAddr(t)
			if i > 0 {
				cfg.Join = []string{nodes[0].GossipAddr()}
			}
			n, err := New(cfg, openTestStore(t, cfg), nil)
			if err != nil {
				t.Fatal(err)
			}
			ch := make(chan error, 1)
			go func() { ch <- n.Run(t.Context()) }()
			<-n.Ready()
			nodes, done = append(nodes, n), append(done, ch)
		}
		var tns []*testNode
		for _, n := range nodes {
			tns = append(tns, &testNode{t: t, cfg: n.cfg, node: n, url: "http://" + n.HTTPAddr()})
		}
		waitMembers(t, tns, 3)
		// Requests that start background work (late replication, read
		// repair) and leave connections open.
		for i := range 20 {
			url := "http://" + nodes[i%3].HTTPAddr() + "/kv/k" + string(rune('a'+i))
			req, _ := http.NewRequest("PUT", url, strings.NewReader("v"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("PUT %s: %d", url, resp.StatusCode)
			}
			if resp, err := http.Get(url + "?r=1"); err == nil {
				resp.Body.Close()
			}
		}
		http.DefaultClient.CloseIdleConnections()
		// A RESP client that has written and read, and whose connections
		// stay open through the shutdown: the node closes them.
		rc := respClient(nodes[1].RESPAddr())
		defer rc.Close()
		for i := range 5 {
			if err := rc.Set(t.Context(), "r"+string(rune('a'+i)), "v", 0).Err(); err != nil {
				t.Fatalf("RESP SET: %v", err)
			}
		}
		if got, err := rc.Get(t.Context(), "ra").Result(); err != nil || got != "v" {
			t.Fatalf("RESP GET: %q, %v", got, err)
		}
		for i, n := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			if err := n.Shutdown(ctx); err != nil {
				t.Fatalf("%s: shutdown: %v", n.Name(), err)
			}
			cancel()
			if err := <-done[i]; err != nil {
				t.Fatalf("%s: Run: %v", n.Name(), err)
			}
		}
	}()
}

// stallStore blocks data writes while stall is set until release closes,
// whatever their context says (a disk that stalls an fsync), and counts
// any use after Close.
type stallStore struct {
	storage.Store
	stall   atomic.Bool
	stalled chan struct{} // receives when a write starts stalling
	release chan struct{}
	closed  atomic.Bool
	late    atomic.Int32
}

func (s *stallStore) Update(ctx context.Context, key []byte, fn func([]byte, bool) ([]byte, error)) error {
	if _, _, data := storage.SplitDataKey(key); s.stall.Load() && data {
		select {
		case s.stalled <- struct{}{}:
		default:
		}
		<-s.release
	}
	if s.closed.Load() {
		s.late.Add(1)
	}
	return s.Store.Update(ctx, key, fn)
}

func (s *stallStore) Close() error {
	s.closed.Store(true)
	return s.Store.Close()
}

// Shutdown(ctx) honours ctx as net/http's does: a request still running
// when its deadline passes is cancelled and waited for, so Run returns
// with no handler left and nothing touches the store after it is closed,
// even when the handler is stuck in a store call that ignores its context
// (net/http's Shutdown gives up on such a handler after its timeout, and
// Run used to go on and close the store under it).
func TestShutdownWaitsForHandlers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	func() {
		cfg := testConfig(t, "n1", true)
		cfg.Ring.N, cfg.Quorum.R, cfg.Quorum.W = 1, 1, 1
		cfg.RequestTimeout = time.Minute // only the shutdown ends the stalled write
		cfg.MaxRequestTimeout = time.Minute
		st := &stallStore{stalled: make(chan struct{}, 1), release: make(chan struct{})}
		cfg.test.wrap = func(s storage.Store) storage.Store { st.Store = s; return st }
		n, err := New(cfg, openTestStore(t, cfg), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.Run(context.Background()) }()
		<-n.Ready()
		st.stall.Store(true)
		put := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest("PUT", "http://"+n.HTTPAddr()+"/kv/k", strings.NewReader("v"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				put <- 0
				return
			}
			resp.Body.Close()
			put <- resp.StatusCode
		}()
		<-st.stalled
		time.AfterFunc(2*time.Second, func() { close(st.release) })
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = n.Shutdown(ctx)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		t.Logf("Run returned %v after Shutdown began (grace cut to 300 ms, the store stalled 2 s)", time.Since(start))
		if got := <-put; got == http.StatusOK || got == http.StatusNoContent {
			t.Fatalf("a write whose store call never completed was acknowledged (%d)", got)
		}
		if l := st.late.Load(); l != 0 {
			t.Fatalf("%d store writes after Close", l)
		}
		http.DefaultClient.CloseIdleConnections()
	}()
}

// The same for a RESP command: a SET stuck in the store when the grace
// runs out is cancelled and waited for, is not acknowledged, and its
// connection is closed before Run returns.
func TestRESPShutdownWaitsForCommands(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	func() {
		cfg := testConfig(t, "n1", true)
		cfg.Ring.N, cfg.Quorum.R, cfg.Quorum.W = 1, 1, 1
		cfg.RequestTimeout = time.Minute // only the shutdown ends the stalled write
		cfg.MaxRequestTimeout = time.Minute
		cfg.RESPAddr = freeAddr(t)
		st := &stallStore{stalled: make(chan struct{}, 1), release: make(chan struct{})}
		cfg.test.wrap = func(s storage.Store) storage.Store { st.Store = s; return st }
		n, err := New(cfg, openTestStore(t, cfg), nil)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.Run(context.Background()) }()
		<-n.Ready()
		rc := respClient(n.RESPAddr())
		defer rc.Close()
		if err := rc.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		st.stall.Store(true)
		set := make(chan error, 1)
		go func() { set <- rc.Set(context.Background(), "k", "v", 0).Err() }()
		<-st.stalled
		time.AfterFunc(2*time.Second, func() { close(st.release) })
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = n.Shutdown(ctx)
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		t.Logf("Run returned %v after Shutdown began (grace cut to 300 ms, the store stalled 2 s)", time.Since(start))
		if err := <-set; err == nil {
			t.Fatal("a SET whose store call never completed was acknowledged")
		} else {
			t.Logf("the stalled SET's reply: %v", err)
		}
		if l := st.late.Load(); l != 0 {
			t.Fatalf("%d store writes after Close", l)
		}
	}()
}
