package rpc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

func startServer(t *testing.T, h Handler) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, nil)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, ln.Addr().String()
}

func echo(ctx context.Context, method uint8, p []byte) ([]byte, error) {
	switch method {
	case 1:
		return append([]byte{method}, p...), nil
	case 2:
		return nil, errors.New("boom")
	case 3:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return nil, fmt.Errorf("unknown method %d", method)
}

func TestCallRoundTripConcurrent(t *testing.T) {
	_, addr := startServer(t, echo)
	c := NewClient(addr, TCPDial("127.0.0.1"), nil)
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			want := []byte(fmt.Sprintf("payload-%d", i))
			got, err := c.Call(t.Context(), 1, want)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got, append([]byte{1}, want...)) {
				errs <- fmt.Errorf("call %d: got %q", i, got)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestRemoteErrorAndDeadline(t *testing.T) {
	_, addr := startServer(t, echo)
	c := NewClient(addr, nil, nil)
	defer c.Close()
	_, err := c.Call(t.Context(), 2, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != "boom" {
		t.Fatalf("want remote error boom, got %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, 3, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want deadline exceeded, got %v", err)
	}
	// The connection is still usable after a timed-out call.
	if got, err := c.Call(t.Context(), 1, []byte("x")); err != nil || string(got) != "\x01x" {
		t.Fatalf("after timeout: %q %v", got, err)
	}
}

// The server handler's context carries the caller's deadline.
func TestDeadlinePropagates(t *testing.T) {
	got := make(chan time.Duration, 1)
	_, addr := startServer(t, func(ctx context.Context, _ uint8, _ []byte) ([]byte, error) {
		dl, _ := ctx.Deadline()
		got <- time.Until(dl)
		return nil, nil
	})
	c := NewClient(addr, nil, nil)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if _, err := c.Call(ctx, 1, nil); err != nil {
		t.Fatal(err)
	}
	if d := <-got; d <= 0 || d > 3100*time.Millisecond {
		t.Fatalf("server deadline %v, want within 3s", d)
	}
}

// Outbound connections originate from the configured local address.
func TestDialFromLocalIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	remote := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		remote <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	c := NewClient(ln.Addr().String(), TCPDial("127.0.0.7"), nil)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	c.Call(ctx, 1, nil) // the server closes at once; only the source matters
	if ip := <-remote; ip != "127.0.0.7" {
		t.Fatalf("connection came from %s, want 127.0.0.7", ip)
	}
}

// A client redials after the server side drops the connection.
func TestRedialAfterServerRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s1 := NewServer(echo, nil)
	done := make(chan struct{})
	go func() { defer close(done); s1.Serve(ln) }()
	c := NewClient(addr, nil, nil)
	defer c.Close()
	if _, err := c.Call(t.Context(), 1, nil); err != nil {
		t.Fatal(err)
	}
	s1.Close()
	<-done
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = startServerOn(t, ln2)
	var lastErr error
	for range 3 { // the first call may observe the dead connection
		if _, lastErr = c.Call(t.Context(), 1, nil); lastErr == nil {
			return
		}
	}
	t.Fatalf("no redial: %v", lastErr)
}

func startServerOn(t *testing.T, ln net.Listener) (*Server, string) {
	s := NewServer(echo, nil)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return s, ln.Addr().String()
}

func TestOversizedFrameRefused(t *testing.T) {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xff, 0xff, 0xff})
	b.Write(make([]byte, 9))
	if _, err := readFrame(&b); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func FuzzReadFrame(f *testing.F) {
	ok, _ := appendFrame(nil, frame{kind: kindRequest, id: 7, method: 2, timeout: 100, payload: []byte("abc")})
	f.Add(ok)
	resp, _ := appendFrame(nil, frame{kind: kindOK, id: 9, payload: []byte("x")})
	f.Add(resp)
	f.Add([]byte{0, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr, err := readFrame(bytes.NewReader(in))
		if err != nil {
			return
		}
		out, err := appendFrame(nil, fr)
		if err != nil {
			t.Fatal(err)
		}
		again, err := readFrame(bytes.NewReader(out))
		if err != nil || again.id != fr.id || again.kind != fr.kind || again.method != fr.method || !bytes.Equal(again.payload, fr.payload) {
			t.Fatalf("round trip: %+v vs %+v (%v)", fr, again, err)
		}
	})
}

// BenchmarkCall is calls from many goroutines over one connection (as a
// coordinator's to one peer under load); it reports how many frames each
// write syscall carried, both ways.
func BenchmarkCall(b *testing.B) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	s := NewServer(echo, nil)
	go s.Serve(ln)
	defer s.Close()
	c := NewClient(ln.Addr().String(), nil, nil)
	defer c.Close()
	p := make([]byte, 100)
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Call(context.Background(), 1, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	c.mu.Lock()
	cc := c.mu.conn
	c.mu.Unlock()
	if cc != nil && cc.w.flushes.Load() > 0 {
		b.ReportMetric(float64(cc.w.frames.Load())/float64(cc.w.flushes.Load()), "frames/flush")
	}
}

// Frames queued while the writer flushes are coalesced: everything queued
// behind a flush goes out in one more flush.
func TestFrameWriterCoalesces(t *testing.T) {
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	fw := newFrameWriter(c1)
	defer fw.close()
	frameOf := func(i int) frame { return frame{kind: kindOK, id: uint64(i), payload: []byte{byte(i)}} }
	// The first frame's flush blocks on the pipe until it is read.
	if err := fw.writeFrame(frameOf(1), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for fw.flushes.Load() < 1 { // counted just before the flush starts
		runtime.Gosched()
	}
	// Three more queue behind it.
	for i := 2; i <= 4; i++ {
		if err := fw.writeFrame(frameOf(i), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	r := bufio.NewReader(c2)
	var got []uint64
	for range 4 {
		f, err := readFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f.id)
	}
	if !slices.Equal(got, []uint64{1, 2, 3, 4}) {
		t.Fatalf("frames arrived as %v", got)
	}
	if got := fw.flushes.Load(); got != 2 {
		t.Fatalf("4 frames took %d flushes, want 2 (the first, then the three queued behind it)", got)
	}
}

// A write error stops the writer, closes the connection and fails later
// writes; close drains what was queued before it returns.
func TestFrameWriterFailsAndDrains(t *testing.T) {
	c1, c2 := net.Pipe()
	fw := newFrameWriter(c1)
	// Drain: frames queued before close are written.
	go func() {
		for range 3 {
			_ = fw.writeFrame(frame{kind: kindOK, id: 7}, time.Now().Add(time.Minute))
		}
		fw.close()
	}()
	r := bufio.NewReader(c2)
	for i := range 3 {
		if f, err := readFrame(r); err != nil || f.id != 7 {
			t.Fatalf("frame %d: %+v, %v", i, f, err)
		}
	}
	<-fw.done
	if err := fw.writeFrame(frame{kind: kindOK, id: 8}, time.Now().Add(time.Minute)); !errors.Is(err, errWriterClosed) {
		t.Fatalf("write after close: %v, want errWriterClosed", err)
	}
	c1.Close()
	c2.Close()

	// Fail: the peer is gone; the writer stops with the error.
	c1, c2 = net.Pipe()
	c2.Close()
	fw = newFrameWriter(c1)
	defer fw.close()
	_ = fw.writeFrame(frame{kind: kindOK, id: 1}, time.Now().Add(time.Minute))
	<-fw.done
	if err := fw.writeFrame(frame{kind: kindOK, id: 2}, time.Now().Add(time.Minute)); err == nil {
		t.Fatal("write after a failed write succeeded")
	}
}

// A call to a peer nobody listens on was certainly not sent.
func TestNotSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(addr, nil, nil)
	defer c.Close()
	if _, err := c.Call(t.Context(), 1, nil); !errors.Is(err, ErrNotSent) {
		t.Fatalf("want ErrNotSent, got %v", err)
	}
	// A call that reached the peer and failed there is not ErrNotSent.
	_, addr2 := startServer(t, echo)
	c2 := NewClient(addr2, nil, nil)
	defer c2.Close()
	if _, err := c2.Call(t.Context(), 2, nil); err == nil || errors.Is(err, ErrNotSent) {
		t.Fatalf("a remote error must not be ErrNotSent: %v", err)
	}
}

// A call that times out with nothing heard from the peer resets the
// connection, so the kernel does not deliver the request much later (a
// partition that heals after the caller gave up); a call that times out on
// a peer that answers other calls keeps the connection.
func TestSilentPeerConnectionReset(t *testing.T) {
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
			accepted <- c // never read: a peer that went silent
		}
	}()
	c := NewClient(ln.Addr().String(), nil, nil)
	// The legacy protocol: no hello, which the silent peer would leave
	// unanswered, so the request goes out on the connection at once.
	c.SetHello(Hello{Versions: Versions{ProtocolLegacy, ProtocolLegacy}})
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	_, err = c.Call(ctx, 1, []byte("late write"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call to a silent peer: %v", err)
	}
	srv := <-accepted
	defer srv.Close()
	// The server side sees the reset, not a graceful close or more data.
	_ = srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<16)
	for {
		_, err := srv.Read(buf)
		if err == nil {
			continue // the request's bytes that were already delivered
		}
		if !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("server read after the call timed out: %v, want a connection reset", err)
		}
		break
	}

	// A peer that answers: a slow call times out, the connection stays.
	arrived := make(chan struct{}, 1)
	_, addr := startServer(t, func(ctx context.Context, method uint8, p []byte) ([]byte, error) {
		if method == 3 {
			arrived <- struct{}{}
		}
		return echo(ctx, method, p)
	})
	c2 := NewClient(addr, nil, nil)
	defer c2.Close()
	if _, err := c2.Call(t.Context(), 1, nil); err != nil {
		t.Fatal(err)
	}
	cc, _ := c2.conn(t.Context())
	slow, cancel := context.WithTimeout(t.Context(), time.Hour)
	go func() { <-arrived; cancel() }() // it gives up once the peer has the call
	_, _ = c2.Call(slow, 3, nil)
	if cc2, _ := c2.conn(t.Context()); cc2 != cc {
		t.Fatal("a timeout on a peer that had answered recently reset the connection")
	}
}

// After the process was paused, requests it reads are refused and their
// connection closed (their senders may have given up long ago); the server
// serves again after the grace.
func TestStalledServerDropsQueuedRequests(t *testing.T) {
	s, addr := startServer(t, echo)
	c := NewClient(addr, nil, nil)
	defer c.Close()
	if _, err := c.Call(t.Context(), 1, nil); err != nil {
		t.Fatal(err)
	}
	// As if the heartbeat had last run 10 s ago: a pause is under way.
	s.beat.Store(time.Now().Add(-10 * time.Second).UnixNano())
	_, err := c.Call(t.Context(), 1, []byte("queued during the pause"))
	var re *RemoteError
	if !errors.As(err, &re) || re.Msg != ErrStalled.Error() {
		t.Fatalf("a request read right after a pause: %v, want %v", err, ErrStalled)
	}
	// The heartbeat noticed the pause: requests keep being dropped for
	// the grace, then are served.
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond) // the grace is wall time
	defer poll.Stop()
	for {
		_, err := c.Call(t.Context(), 1, nil)
		if err == nil {
			break
		}
		select {
		case <-deadline.C:
			t.Fatalf("still refused after the grace: %v", err)
		case <-poll.C:
		}
	}
	if at := s.stalledAt.Load(); at == 0 {
		t.Fatal("the heartbeat did not record the pause")
	}
}

// A frame header that claims a large length allocates as the bytes
// arrive, not the claimed length up front: a peer that claims 60 MiB and
// sends 1 KiB costs this node about eagerFrameBytes.
func TestFrameClaimNotAllocatedUpFront(t *testing.T) {
	const claim = 60 << 20
	hdr := binary.BigEndian.AppendUint32(nil, claim)
	hdr = append(hdr, kindOK)
	hdr = binary.BigEndian.AppendUint64(hdr, 1)
	in := append(hdr, make([]byte, 1024)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := readFrame(bytes.NewReader(in))
	runtime.ReadMemStats(&after)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated frame: %v, want io.ErrUnexpectedEOF", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*eagerFrameBytes {
		t.Fatalf("a 60 MiB claim with 1 KiB sent allocated %d bytes, want at most %d", got, 4*eagerFrameBytes)
	}
	// Frames that do arrive whole, small and large, read back intact.
	for _, n := range []int{0, 10, eagerFrameBytes, eagerFrameBytes + 1, 3*eagerFrameBytes + 7} {
		p := bytes.Repeat([]byte{7}, n)
		b, err := appendFrame(nil, frame{kind: kindOK, id: 9, payload: p})
		if err != nil {
			t.Fatal(err)
		}
		f, err := readFrame(bytes.NewReader(b))
		if err != nil || !bytes.Equal(f.payload, p) {
			t.Fatalf("%d-byte frame: %v (payload %d bytes)", n, err, len(f.payload))
		}
	}
}
