package rpc

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

type peerKey struct{}

// Server.Handshake runs before a connection's first frame: its context
// reaches the handlers, and its error closes the connection unanswered.
func TestServerHandshake(t *testing.T) {
	var calls atomic.Int64
	h := func(ctx context.Context, method uint8, p []byte) ([]byte, error) {
		calls.Add(1)
		name, _ := ctx.Value(peerKey{}).(string)
		return []byte(name), nil
	}
	for _, tc := range []struct {
		name   string
		accept bool
	}{{"accepted", true}, {"refused", false}} {
		t.Run(tc.name, func(t *testing.T) {
			calls.Store(0)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer(h, nil)
			s.Handshake = func(ctx context.Context, c net.Conn) (context.Context, error) {
				if !tc.accept {
					return nil, errors.New("no")
				}
				return context.WithValue(ctx, peerKey{}, "n2"), nil
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Serve(ln) }()
			defer func() { s.Close(); <-done }()
			c := NewClient(ln.Addr().String(), TCPDial("127.0.0.1"), nil)
			defer c.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			out, err := c.Call(ctx, 1, nil)
			if tc.accept && (err != nil || string(out) != "n2") {
				t.Fatalf("accepted: %q, %v; want the handshake's peer n2", out, err)
			}
			if !tc.accept && (err == nil || calls.Load() != 0) {
				t.Fatalf("refused: %q, %v, %d handler calls; want an error and none", out, err, calls.Load())
			}
		})
	}
}
