package memnet_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/memnet"
)

var seedFlag = flag.Int64("seed", 0, "network seed (0: a fixed default per test)")

// seed returns -seed or def, and logs it so a failure can be replayed.
func seed(t *testing.T, def int64) int64 {
	s := *seedFlag
	if s == 0 {
		s = def
	}
	t.Logf("seed: %d", s)
	return s
}

// transport is the interface node.New takes; memnet's doc states it.
type transport interface {
	Listen(addr string) (net.Listener, error)
	Dial(ctx context.Context, addr string) (net.Conn, error)
	Gossip(addr string) (memberlist.Transport, string, error)
}

var _ transport = (*memnet.Host)(nil)

const (
	ipA = "10.0.0.1"
	ipB = "10.0.0.2"
	ipC = "10.0.0.3"
)

// pair returns the two ends of a new connection from a to b's port 80.
func pair(t *testing.T, nw *memnet.Network, a, b string) (client, server net.Conn) {
	t.Helper()
	ln, err := nw.Host(b).Listen(b + ":80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = nw.Host(a).Dial(t.Context(), b+":80")
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// readAsync reads from c in a goroutine into the returned channel.
func readAsync(c net.Conn, n int) <-chan result {
	ch := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		k, err := io.ReadFull(c, b)
		ch <- result{b[:k], err}
	}()
	return ch
}

type result struct {
	b   []byte
	err error
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
}

func TestEcho(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: 5 * time.Millisecond})
		c, s := pair(t, nw, ipA, ipB)
		go func() { _, _ = io.Copy(s, s); s.Close() }()

		start := time.Now()
		msg := bytes.Repeat([]byte("hello "), 100_000) // larger than one read, smaller than Window
		go func() { _, _ = c.Write(msg) }()
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatal("echo differs")
		}
		if rtt := time.Since(start); rtt != 10*time.Millisecond {
			t.Errorf("echo took %v of virtual time, want one round trip, 10ms", rtt)
		}
		if c.LocalAddr().String() == "" || c.RemoteAddr().String() != ipB+":80" || s.RemoteAddr().String() != c.LocalAddr().String() {
			t.Errorf("addresses: client %v→%v, server %v→%v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
		}
		if st := nw.Stats(); st.StreamsOpened != 1 || st.StreamBytes != 2*int64(len(msg)) {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestDeadlines(t *testing.T) {
	t.Run("read deadline fires in virtual time", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 1))
			c, _ := pair(t, nw, ipA, ipB)
			start := time.Now()
			_ = c.SetReadDeadline(start.Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if !isTimeout(err) {
				t.Fatalf("read: %v, want a timeout", err)
			}
			if d := time.Since(start); d != 5*time.Second {
				t.Errorf("read returned after %v, want 5s", d)
			}
			// The error persists until the deadline moves.
			if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
				t.Fatalf("second read: %v", err)
			}
			_ = c.SetReadDeadline(time.Time{})
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
				t.Fatalf("read after a new deadline: %v", err)
			}
		})
	})
	t.Run("a deadline moved to the past wakes a blocked read", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 1))
			c, s := pair(t, nw, ipA, ipB)
			ch := readAsync(c, 1)
			synctest.Wait()
			_ = c.SetReadDeadline(time.Unix(1, 0)) // how net/http aborts a background read
			if r := <-ch; !isTimeout(r.err) {
				t.Fatalf("read: %v", r.err)
			}
			// Bytes that arrive meanwhile are still there afterwards.
			_, _ = s.Write([]byte("x"))
			_ = c.SetReadDeadline(time.Time{})
			if r := <-readAsync(c, 1); r.err != nil || string(r.b) != "x" {
				t.Fatalf("read after clearing: %q %v", r.b, r.err)
			}
		})
	})
	t.Run("write blocks on a full window until its deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 1))
			c, s := pair(t, nw, ipA, ipB)
			start := time.Now()
			_ = c.SetWriteDeadline(start.Add(2 * time.Second))
			n, err := c.Write(make([]byte, memnet.Window+100))
			if !isTimeout(err) || n != memnet.Window {
				t.Fatalf("write = %d, %v; want %d and a timeout", n, err, memnet.Window)
			}
			if d := time.Since(start); d != 2*time.Second {
				t.Errorf("write returned after %v, want 2s", d)
			}
			// Reading frees the window.
			_ = c.SetWriteDeadline(time.Time{})
			done := make(chan error)
			go func() { _, err := c.Write(make([]byte, 100)); done <- err }()
			if _, err := io.ReadFull(s, make([]byte, memnet.Window+100)); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond})

		t.Log("peer close: the bytes, then io.EOF")
		c, s := pair(t, nw, ipA, ipB)
		_, _ = s.Write([]byte("bye"))
		s.Close()
		if b, err := io.ReadAll(c); err != nil || string(b) != "bye" {
			t.Fatalf("ReadAll = %q, %v", b, err)
		}
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read after EOF: %v", err)
		}

		t.Log("local close wakes a blocked reader and writer with net.ErrClosed")
		c, s = pair(t, nw, ipA, ipB)
		rd := readAsync(c, 1)
		wr := make(chan error)
		go func() { _, err := c.Write(make([]byte, memnet.Window+1)); wr <- err }()
		synctest.Wait()
		c.Close()
		if r := <-rd; !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("blocked read: %v", r.err)
		}
		if err := <-wr; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("blocked write: %v", err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
		// c had no unread bytes, so it sent a FIN: the server reads
		// the window's bytes, then EOF.
		if _, err := io.Copy(io.Discard, s); err != nil {
			t.Fatalf("server drain: %v", err)
		}

		t.Log("SetLinger(0) resets: unsent bytes are discarded, the peer reads ECONNRESET")
		c, s = pair(t, nw, ipA, ipB)
		nw.Partition([]string{ipA}, []string{ipB})
		_, _ = c.Write([]byte("late write"))
		_ = c.(*memnet.Conn).SetLinger(0)
		c.Close()
		nw.Heal()
		if _, err := s.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("peer read after reset: %v", err)
		}

		t.Log("bytes sent to a closed end draw a reset")
		c, s = pair(t, nw, ipA, ipB)
		// Sleeps end between deliveries: what is due at the same
		// virtual instant as a sleep's end runs in either order.
		s.Close()
		time.Sleep(1500 * time.Microsecond) // the FIN arrives
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatalf("first write after the peer's close: %v (TCP accepts it)", err)
		}
		time.Sleep(2500 * time.Microsecond) // the write arrives, the RST comes back
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("write after the RST: %v", err)
		}

		t.Log("closing with unread bytes resets")
		c, s = pair(t, nw, ipA, ipB)
		_, _ = c.Write([]byte("unread"))
		time.Sleep(1500 * time.Microsecond)
		s.Close()
		time.Sleep(1500 * time.Microsecond)
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v", err)
		}

		t.Log("CloseWrite: the peer reads EOF and can still answer")
		c, s = pair(t, nw, ipA, ipB)
		_, _ = c.Write([]byte("req"))
		_ = c.(*memnet.Conn).CloseWrite()
		if b, err := io.ReadAll(s); err != nil || string(b) != "req" {
			t.Fatalf("server ReadAll = %q, %v", b, err)
		}
		_, _ = s.Write([]byte("resp"))
		s.Close()
		if b, err := io.ReadAll(c); err != nil || string(b) != "resp" {
			t.Fatalf("client ReadAll = %q, %v", b, err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("write after CloseWrite: %v", err)
		}

		if st := nw.Stats(); st.StreamResets != 3 {
			t.Errorf("StreamResets = %d, want 3", st.StreamResets)
		}
	})
}

func TestDial(t *testing.T) {
	t.Run("refused, unreachable, bad address", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 1))
			a := nw.Host(ipA)
			nw.Host(ipB)
			if _, err := a.Dial(t.Context(), ipB+":80"); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("no listener: %v", err)
			}
			if _, err := a.Dial(t.Context(), "10.9.9.9:80"); !errors.Is(err, syscall.EHOSTUNREACH) {
				t.Errorf("no host: %v", err)
			}
			var dnsErr *net.DNSError
			if _, err := a.Dial(t.Context(), "localhost:80"); !errors.As(err, &dnsErr) {
				t.Errorf("a name: %v", err)
			}
			if st := nw.Stats(); st.StreamsRefused != 2 {
				t.Errorf("StreamsRefused = %d", st.StreamsRefused)
			}
		})
	})
	t.Run("across a partition: the context's deadline, or ETIMEDOUT at 127s", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 1))
			a := nw.Host(ipA)
			ln, _ := nw.Host(ipB).Listen(":80")
			defer ln.Close()
			nw.Isolate(ipB)
			start := time.Now()
			ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
			defer cancel()
			_, err := a.Dial(ctx, ipB+":80")
			if !isTimeout(err) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("dial: %v", err)
			}
			if d := time.Since(start); d != 2500*time.Millisecond {
				t.Errorf("dial gave up after %v", d)
			}
			start = time.Now()
			_, err = a.Dial(context.Background(), ipB+":80")
			if !errors.Is(err, syscall.ETIMEDOUT) {
				t.Fatalf("dial without deadline: %v", err)
			}
			if d := time.Since(start); d != 127*time.Second {
				t.Errorf("dial gave up after %v, want 127s", d)
			}
			ctx, cancel = context.WithCancel(t.Context())
			go func() { time.Sleep(time.Second / 2); cancel() }()
			if _, err := a.Dial(ctx, ipB+":80"); !errors.Is(err, context.Canceled) {
				t.Errorf("canceled dial: %v", err)
			}
			// A heal during the retries lets the next SYN through.
			go func() { time.Sleep(2 * time.Second); nw.Heal() }()
			start = time.Now()
			c, err := a.Dial(t.Context(), ipB+":80")
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			if d := time.Since(start); d != 3*time.Second {
				t.Errorf("dial across a heal took %v, want 3s (SYNs at 0, 1, 3s)", d)
			}
			if st := nw.Stats(); st.StreamsTimedOut != 3 || st.StreamsOpened != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	})
	t.Run("connect loss retries", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 7))
			nw.SetDefaultLink(memnet.Link{ConnectLoss: 0.5})
			a := nw.Host(ipA)
			ln, _ := nw.Host(ipB).Listen(":80")
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			for range 50 {
				c, err := a.Dial(t.Context(), ipB+":80")
				if err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			ln.Close()
			st := nw.Stats()
			if st.SYNsLost < 20 || st.SYNsLost > 80 {
				t.Errorf("%d SYNs lost for 50 connects at loss 0.5", st.SYNsLost)
			}
		})
	})
	t.Run("port 0, address in use, a foreign address", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			nw := memnet.New(seed(t, 1))
			h := nw.Host(ipA)
			l1, err := h.Listen(ipA + ":0")
			if err != nil {
				t.Fatal(err)
			}
			defer l1.Close()
			if _, err := h.Listen(l1.Addr().String()); !errors.Is(err, syscall.EADDRINUSE) {
				t.Errorf("second listen: %v", err)
			}
			if _, err := h.Listen(ipB + ":80"); !errors.Is(err, syscall.EADDRNOTAVAIL) {
				t.Errorf("foreign listen: %v", err)
			}
			_, adv, err := h.Gossip(":0")
			if err != nil || adv == l1.Addr().String() {
				t.Errorf("gossip on port 0: %s, %v", adv, err)
			}
		})
	})
}

func TestLatencyKeepsStreamOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 3))
		nw.SetDefaultLink(memnet.Link{Latency: 10 * time.Millisecond, Jitter: 20 * time.Millisecond})
		c, s := pair(t, nw, ipA, ipB)
		start := time.Now()
		go func() {
			for i := range 200 {
				_, _ = c.Write([]byte{byte(i)})
			}
		}()
		got := make([]byte, 200)
		if _, err := io.ReadFull(s, got); err != nil {
			t.Fatal(err)
		}
		for i, b := range got {
			if b != byte(i) {
				t.Fatalf("byte %d is %d: reordered", i, b)
			}
		}
		if d := time.Since(start); d < 10*time.Millisecond || d >= 30*time.Millisecond {
			t.Errorf("200 writes took %v, want within [10ms, 30ms)", d)
		}
	})
}
