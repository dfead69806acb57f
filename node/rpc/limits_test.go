package rpc

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

func startLimited(t *testing.T, h Handler, l ServerLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, nil)
	s.SetLimits(l)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedBy reports whether the server closed c within d (false: c is
// still open after d).
func closedBy(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestServerClosesStalledFrame(t *testing.T) {
	addr := startLimited(t, echo, ServerLimits{FrameTimeout: 200 * time.Millisecond})
	c := dialRaw(t, addr)
	if _, err := c.Write([]byte{0, 0, 0, 40, kindRequest}); err != nil { // a header begun, never finished
		t.Fatal(err)
	}
	if !closedBy(t, c, 5*time.Second) {
		t.Fatal("a connection stalled mid-frame was still open after 5 s")
	}
}

func TestServerClosesIdleConn(t *testing.T) {
	slow := func(ctx context.Context, method uint8, p []byte) ([]byte, error) {
		if method == 9 { // a request that takes longer than the idle timeout
			select {
			case <-time.After(800 * time.Millisecond):
			case <-ctx.Done():
			}
			return []byte("late"), nil
		}
		return echo(ctx, method, p)
	}
	addr := startLimited(t, slow, ServerLimits{IdleTimeout: 200 * time.Millisecond})
	t.Run("idle is closed", func(t *testing.T) {
		if !closedBy(t, dialRaw(t, addr), 5*time.Second) {
			t.Fatal("an idle connection was still open after 5 s")
		}
	})
	t.Run("waiting for an answer is not idle", func(t *testing.T) {
		c := NewClient(addr, TCPDial("127.0.0.1"), nil)
		defer c.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		out, err := c.Call(ctx, 9, nil)
		if err != nil || string(out) != "late" {
			t.Fatalf("a call longer than the idle timeout: %q, %v", out, err)
		}
	})
}

func TestServerConnsPerIP(t *testing.T) {
	addr := startLimited(t, echo, ServerLimits{MaxConnsPerIP: 2})
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	if !closedBy(t, dialRaw(t, addr), 5*time.Second) {
		t.Fatal("a third connection from one IP was accepted with a limit of 2")
	}
	for _, c := range []net.Conn{a, b} {
		if closedBy(t, c, 300*time.Millisecond) {
			t.Fatal("a connection within the limit was closed")
		}
	}
	a.Close()
	// The slot is given back: a new connection is served again.
	cl := NewClient(addr, TCPDial("127.0.0.1"), nil)
	defer cl.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(5 * time.Second)
	for { // until the server noticed a's close
		_, err := cl.Call(t.Context(), 1, nil)
		if err == nil {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no call served 5 s after a connection was closed: %v", err)
		}
	}
}
