package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// protoEcho answers each request with the protocol version of its
// connection.
func protoEcho(ctx context.Context, method uint8, p []byte) ([]byte, error) {
	return []byte{Protocol(ctx)}, nil
}

// Clients and servers of every pair of ranges agree on the highest common
// version, fall back to the legacy protocol against a server that does not
// know the hello, and refuse, with a message naming both ranges, when they
// share none.
func TestProtocolNegotiation(t *testing.T) {
	legacy := Versions{1, 1}
	for _, tc := range []struct {
		name           string
		client, server Versions
		want           uint8 // 0: refused
		serverRefuses  bool  // the server's OnRefused fires
		wantText       string
	}{
		{name: "both new", want: 2},
		{name: "legacy client", client: legacy, want: 1},
		{name: "legacy server", server: legacy, want: 1},
		{name: "legacy server, client without the legacy protocol", client: Versions{2, 2}, server: legacy,
			wantText: "speaks internode protocol 1, this node speaks 2"},
		{name: "legacy client, server without the legacy protocol", client: legacy, server: Versions{2, 2}, serverRefuses: true,
			wantText: "speaks internode protocol 1, this node speaks 2"},
		{name: "future client", client: Versions{7, 9}, serverRefuses: true,
			wantText: "client at 127.0.0.1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer(protoEcho, nil)
			s.SetHello(Hello{Versions: tc.server, Name: "srv", Software: "test"})
			var refused, serverConns atomic.Int64
			s.OnConnect = func(p uint8) {
				if p == tc.want {
					serverConns.Add(1)
				}
			}
			var refusedErr atomic.Pointer[ProtocolError]
			s.OnRefused = func(e *ProtocolError) { refused.Add(1); refusedErr.Store(e) }
			done := make(chan struct{})
			go func() { defer close(done); _ = s.Serve(ln) }()
			defer func() { s.Close(); <-done }()

			c := NewClient(ln.Addr().String(), TCPDial("127.0.0.1"), nil)
			c.SetHello(Hello{Versions: tc.client, Name: "client", Software: "test"})
			var clientRefused, clientConns atomic.Int64
			c.OnRefused = func(*ProtocolError) { clientRefused.Add(1) }
			c.OnConnect = func(p uint8) {
				if p == tc.want {
					clientConns.Add(1)
				}
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			out, err := c.Call(ctx, 1, nil)
			if tc.want != 0 {
				if err != nil || !bytes.Equal(out, []byte{tc.want}) || c.Protocol() != tc.want {
					t.Fatalf("got %v, %v, client's connection at %d; want version %d", out, err, c.Protocol(), tc.want)
				}
				if refused.Load() != 0 || serverConns.Load() != 1 || clientConns.Load() != 1 {
					t.Fatalf("the server counted %d refusals, %d connections at %d; the client %d", refused.Load(), serverConns.Load(), tc.want, clientConns.Load())
				}
				return
			}
			if err == nil {
				t.Fatalf("refused connection answered %v", out)
			}
			if !strings.Contains(err.Error(), tc.wantText) || !strings.Contains(err.Error(), "upgrade one release at a time") {
				t.Fatalf("error %q does not say %q and what to do", err, tc.wantText)
			}
			var pe *ProtocolError
			var re *RemoteError
			if !errors.As(err, &pe) && !errors.As(err, &re) {
				t.Fatalf("error %v is neither a ProtocolError nor the server's refusal", err)
			}
			if pe != nil && (!errors.Is(err, ErrProtocol) || clientRefused.Load() != 1) {
				t.Fatalf("%v: wraps ErrProtocol: %v; client refusals counted %d, want 1", err, errors.Is(err, ErrProtocol), clientRefused.Load())
			}
			if got := refused.Load(); (got > 0) != tc.serverRefuses {
				t.Fatalf("server refusals counted: %d, want refusals: %v", got, tc.serverRefuses)
			}
			if tc.serverRefuses && (refusedErr.Load() == nil || refusedErr.Load().Remote != tc.client) {
				t.Fatalf("the server's refusal names %+v, want the client's range %v", refusedErr.Load(), tc.client)
			}
		})
	}
}

// A raw connection whose hello claims versions far outside the server's
// gets a hello answer that refuses it with the server's name, both ranges
// and what to do; then the server closes the connection, and nothing it
// sent after the hello is served.
func TestHelloRefusedOnTheWire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	s := NewServer(func(ctx context.Context, m uint8, p []byte) ([]byte, error) { served.Add(1); return nil, nil }, nil)
	s.SetHello(Hello{Name: "n1", Software: "v-test"})
	var refused atomic.Int64
	s.OnRefused = func(*ProtocolError) { refused.Add(1) }
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(ln) }()
	defer func() { s.Close(); <-done }()

	c := dialRaw(t, ln.Addr().String())
	hello, _ := appendFrame(nil, frame{kind: kindHello, payload: appendHello(nil, Hello{Versions: Versions{200, 201}, Name: "n9", Software: "v9"})})
	req, _ := appendFrame(nil, frame{kind: kindRequest, id: 1, method: 1, timeout: 1000})
	if _, err := c.Write(append(hello, req...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := readFrame(c)
	if err != nil || f.kind != kindHelloAnswer {
		t.Fatalf("answer: %+v, %v", f, err)
	}
	a, err := parseHelloAnswer(f.payload)
	if err != nil {
		t.Fatal(err)
	}
	want := "n1: rpc: no common internode protocol version: n9 at 127.0.0.1:"
	if a.Chosen != 0 || a.Name != "n1" || a.Versions != (Versions{MinProtocol, MaxProtocol}) || !strings.HasPrefix(a.Msg, want) ||
		!strings.Contains(a.Msg, "speaks internode protocol 200..201, this node speaks 1..2") {
		t.Fatalf("answer %+v; want a refusal starting %q", a, want)
	}
	if _, err := readFrame(c); err == nil {
		t.Fatal("the server answered after refusing the hello")
	}
	if served.Load() != 0 || refused.Load() != 1 {
		t.Fatalf("served %d requests, counted %d refusals; want 0 and 1", served.Load(), refused.Load())
	}
}

// TestHelloGolden pins the hello frames' bytes: they are the start of
// every connection between releases (README, Upgrades), and change only
// with a new protocol version.
func TestHelloGolden(t *testing.T) {
	hello, _ := appendFrame(nil, frame{kind: kindHello, payload: appendHello(nil, Hello{Versions: Versions{1, 2}, Name: "n1", Software: "v1"})})
	ok, _ := appendFrame(nil, frame{kind: kindHelloAnswer, payload: appendHelloAnswer(nil, helloAnswer{Chosen: 2, Hello: Hello{Versions: Versions{1, 2}, Name: "n2"}})})
	no, _ := appendFrame(nil, frame{kind: kindHelloAnswer, payload: appendHelloAnswer(nil, helloAnswer{Hello: Hello{Versions: Versions{2, 3}}, Msg: "no"})})
	req, _ := appendFrame(nil, frame{kind: kindRequest, id: 7, method: 2, timeout: 100, payload: []byte("abc")})
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"hello", hello, "00000011" + "04" + "0000000000000000" + "0102026e31027631"},
		{"answer", ok, "00000011" + "05" + "0000000000000000" + "020102026e320000"},
		{"refusal", no, "00000011" + "05" + "0000000000000000" + "0002030000026e6f"},
		{"legacy request", req, "00000011" + "01" + "0000000000000007" + "02" + "00000064" + "616263"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s encodes as\n%s, was\n%s", c.name, got, c.want)
		}
	}
}

// FuzzHello: the hello decoders never panic, and what they accept
// re-encodes to the same bytes.
func FuzzHello(f *testing.F) {
	f.Add(appendHello(nil, Hello{Versions: Versions{1, 2}, Name: "n1", Software: "v1"}), false)
	f.Add(appendHelloAnswer(nil, helloAnswer{Chosen: 2, Hello: Hello{Versions: Versions{1, 2}, Name: "n2"}}), true)
	f.Add(appendHelloAnswer(nil, helloAnswer{Hello: Hello{Versions: Versions{2, 3}}, Msg: "no"}), true)
	f.Add([]byte{0, 0}, false)
	f.Add([]byte{1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f}, false)
	f.Fuzz(func(t *testing.T, in []byte, answer bool) {
		if answer {
			a, err := parseHelloAnswer(in)
			if err != nil {
				return
			}
			if out := appendHelloAnswer(nil, a); !bytes.Equal(out, in) {
				t.Fatalf("answer %+v re-encodes as %x, was %x", a, out, in)
			}
			return
		}
		h, rest, err := parseHello(in)
		if err != nil {
			return
		}
		if out := append(appendHello(nil, h), rest...); !bytes.Equal(out, in) {
			t.Fatalf("hello %+v re-encodes as %x, was %x", h, out, in)
		}
	})
}

// A peer that accepts the connection and never answers the hello (a
// paused process) fails the call as never sent once the caller's context
// ends: no request went out, so the caller may try another replica.
func TestSilentPeerAtHelloNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	c := NewClient(ln.Addr().String(), nil, nil)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, 1, []byte("x")); !errors.Is(err, ErrNotSent) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a peer silent at the hello: %v; want ErrNotSent and the deadline", err)
	}
	srv := <-accepted
	defer srv.Close()
	_ = srv.SetReadDeadline(time.Now().Add(time.Second))
	f, err := readFrame(srv)
	if err != nil || f.kind != kindHello {
		t.Fatalf("the peer got %+v, %v; want only the hello", f, err)
	}
}
