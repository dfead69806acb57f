package memnet_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/memnet"
)

// gossip binds a memberlist transport on ip's port 7946.
func gossip(t *testing.T, nw *memnet.Network, ip string) memberlist.Transport {
	t.Helper()
	g, adv, err := nw.Host(ip).Gossip(ip + ":7946")
	if err != nil {
		t.Fatal(err)
	}
	if adv != ip+":7946" {
		t.Fatalf("advertised %s", adv)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	return g
}

// drain returns the packets queued on g now.
func drain(g memberlist.Transport) [][]byte {
	var out [][]byte
	for {
		select {
		case p := <-g.PacketCh():
			out = append(out, p.Buf)
		default:
			return out
		}
	}
}

func TestPartitionStallsStreamsAndHealResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond})
		c, s := pair(t, nw, ipA, ipB)
		ga, gb := gossip(t, nw, ipA), gossip(t, nw, ipB)

		nw.Partition([]string{ipA}, []string{ipB, ipC})
		if nw.Reachable(ipA, ipB) || !nw.Reachable(ipB, ipC) {
			t.Fatal("Reachable disagrees with the partition")
		}
		// Bytes written across the cut stall; the reader times out.
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = s.SetReadDeadline(start.Add(time.Second))
		if _, err := s.Read(make([]byte, 1)); !isTimeout(err) {
			t.Fatalf("read across the cut: %v", err)
		}
		// The writer fills the window, then blocks until its deadline.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(make([]byte, memnet.Window))
		if !isTimeout(err) || n != memnet.Window-1 {
			t.Fatalf("write = %d, %v", n, err)
		}
		// Packets across the cut are dropped, not held.
		if _, err := ga.WriteTo([]byte("p1"), ipB+":7946"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if got := drain(gb); len(got) != 0 {
			t.Fatalf("packets crossed the partition: %q", got)
		}

		nw.Heal()
		_ = s.SetReadDeadline(time.Time{})
		got := make([]byte, memnet.Window)
		if _, err := io.ReadFull(s, got); err != nil {
			t.Fatal(err)
		}
		if got[0] != 'x' {
			t.Fatalf("first byte after heal %q", got[0])
		}
		if _, err := ga.WriteTo([]byte("p2"), ipB+":7946"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		if got := drain(gb); len(got) != 1 || string(got[0]) != "p2" {
			t.Fatalf("after heal got %q", got)
		}
		if st := nw.Stats(); st.PacketsCut != 1 || st.PacketsDelivered != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestCutIsOneWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		c, s := pair(t, nw, ipA, ipB)
		ga, gb := gossip(t, nw, ipA), gossip(t, nw, ipB)
		nw.Cut(ipA, ipB)
		_, _ = ga.WriteTo([]byte("a→b"), ipB+":7946")
		_, _ = gb.WriteTo([]byte("b→a"), ipA+":7946")
		if got := drain(gb); len(got) != 0 {
			t.Errorf("a→b delivered %q", got)
		}
		if got := drain(ga); len(got) != 1 {
			t.Errorf("b→a delivered %q", got)
		}
		_, _ = c.Write([]byte("1"))
		_, _ = s.Write([]byte("2"))
		if r := <-readAsync(c, 1); string(r.b) != "2" {
			t.Errorf("b→a stream: %q %v", r.b, r.err)
		}
		_ = s.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := s.Read(make([]byte, 1)); !isTimeout(err) {
			t.Errorf("a→b stream: %v", err)
		}
		nw.Heal()
		_ = s.SetReadDeadline(time.Time{})
		if r := <-readAsync(s, 1); string(r.b) != "1" {
			t.Errorf("a→b after heal: %q %v", r.b, r.err)
		}
	})
}

// lossRun sends 10,000 packets a → b over a lossy, jittery link and returns
// which arrived.
func lossRun(t *testing.T, seed int64) (arrived []uint16, st memnet.Stats) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed)
		nw.SetDefaultLink(memnet.Link{Loss: 0.25, Latency: time.Millisecond, Jitter: time.Millisecond})
		ga, gb := gossip(t, nw, ipA), gossip(t, nw, ipB)
		for batch := range 20 {
			for i := range 500 {
				_, _ = ga.WriteTo(binary.BigEndian.AppendUint16(nil, uint16(batch*500+i)), ipB+":7946")
			}
			time.Sleep(5 * time.Millisecond)
			for _, b := range drain(gb) {
				arrived = append(arrived, binary.BigEndian.Uint16(b))
			}
		}
		st = nw.Stats()
	})
	return arrived, st
}

func TestPacketLossIsSeeded(t *testing.T) {
	s := seed(t, 42)
	a1, st := lossRun(t, s)
	if st.PacketsSent != 10000 || st.PacketsLost+st.PacketsDelivered != 10000 || int(st.PacketsDelivered) != len(a1) {
		t.Fatalf("stats %+v, %d arrived", st, len(a1))
	}
	if st.PacketsLost < 2300 || st.PacketsLost > 2700 {
		t.Errorf("%d of 10000 packets lost at loss 0.25", st.PacketsLost)
	}
	if st.PacketsDropped() != st.PacketsLost {
		t.Errorf("PacketsDropped %d != PacketsLost %d", st.PacketsDropped(), st.PacketsLost)
	}
	if slices.IsSorted(a1) {
		t.Error("jitter reordered no packets")
	}
	a2, _ := lossRun(t, s)
	slices.Sort(a1)
	slices.Sort(a2)
	if !slices.Equal(a1, a2) {
		t.Error("the same seed lost different packets")
	}
	a3, _ := lossRun(t, s+1)
	slices.Sort(a3)
	if slices.Equal(a1, a3) {
		t.Error("another seed lost the same packets")
	}
}

func TestPauseHoldsTrafficAndResumeReleasesIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond})
		c, s := pair(t, nw, ipA, ipB)
		ga, gb := gossip(t, nw, ipA), gossip(t, nw, ipB)
		ln, err := nw.Host(ipB).Listen(":81")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()

		early, err := nw.Host(ipA).Dial(t.Context(), ipB+":81") // queued before the pause
		if err != nil {
			t.Fatal(err)
		}
		defer early.Close()

		nw.Pause(ipB)
		_, _ = c.Write([]byte("to b"))
		_, _ = s.Write([]byte("from b"))
		_, _ = ga.WriteTo([]byte("to b"), ipB+":7946")
		_, _ = gb.WriteTo([]byte("from b"), ipA+":7946")
		// The kernel of a stopped process still completes handshakes.
		c2, err := nw.Host(ipA).Dial(t.Context(), ipB+":81")
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		accepted := make(chan net.Conn, 2)
		go func() {
			defer close(accepted)
			for range 2 {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted <- c
			}
		}()
		rc, rs := readAsync(c, 6), readAsync(s, 4)

		time.Sleep(time.Minute)
		if len(drain(ga))+len(drain(gb)) != 0 || len(accepted) != 0 || len(rc) != 0 || len(rs) != 0 {
			t.Fatal("traffic of a paused host moved")
		}

		nw.Resume(ipB)
		if r := <-rc; string(r.b) != "from b" {
			t.Errorf("a read %q %v", r.b, r.err)
		}
		if r := <-rs; string(r.b) != "to b" {
			t.Errorf("b read %q %v", r.b, r.err)
		}
		for range 2 {
			if c := <-accepted; c == nil {
				t.Error("no accept after resume")
			} else {
				c.Close()
			}
		}
		time.Sleep(10 * time.Millisecond)
		if a, b := drain(ga), drain(gb); len(a) != 1 || len(b) != 1 {
			t.Errorf("packets after resume: a %q, b %q", a, b)
		}
		if st := nw.Stats(); st.PacketsDropped() != 0 {
			t.Errorf("a pause dropped packets: %+v", st)
		}
	})
}

func TestCrashResetsAndRestartRebinds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond})
		old := nw.Host(ipB)
		ln, err := old.Listen(":80")
		if err != nil {
			t.Fatal(err)
		}
		g, _, err := old.Gossip(":7946")
		if err != nil {
			t.Fatal(err)
		}
		a := nw.Host(ipA)
		c, err := a.Dial(t.Context(), ipB+":80")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		acceptErr := make(chan error, 1)
		go func() { _, err := ln.Accept(); acceptErr <- err }()
		blocked := readAsync(s, 1) // the crashed process's own read

		nw.Crash(ipB)
		if err := <-acceptErr; !errors.Is(err, net.ErrClosed) {
			t.Errorf("accept: %v", err)
		}
		if r := <-blocked; !errors.Is(r.err, net.ErrClosed) {
			t.Errorf("the crashed side's read: %v", r.err)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("the peer's read: %v", err)
		}
		if _, err := old.Listen(":80"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("listen on the dead handle: %v", err)
		}
		if _, err := old.Dial(t.Context(), ipA+":80"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("dial from the dead handle: %v", err)
		}
		if _, err := g.WriteTo([]byte("x"), ipA+":7946"); !errors.Is(err, net.ErrClosed) {
			t.Errorf("gossip from the dead handle: %v", err)
		}
		if _, err := a.Dial(t.Context(), ipB+":80"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial to the crashed host: %v", err)
		}

		// Restart: a new handle binds the same ports.
		b := nw.Host(ipB)
		if b == old {
			t.Fatal("Host returned the dead handle")
		}
		ln2, err := b.Listen(":80")
		if err != nil {
			t.Fatal(err)
		}
		defer ln2.Close()
		g2, _, err := b.Gossip(":7946")
		if err != nil {
			t.Fatal(err)
		}
		defer g2.Shutdown()
		c2, err := a.Dial(t.Context(), ipB+":80")
		if err != nil {
			t.Fatal(err)
		}
		c2.Close()
		if st := nw.Stats(); st.StreamResets != 1 || st.StreamsRefused != 1 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestFramedRPC runs a length-prefixed request/response protocol with ids
// and deadlines, as node/rpc does: a call across a partition times out, and
// after Heal its late response arrives first and is skipped by id.
func TestFramedRPC(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: 2 * time.Millisecond, Jitter: time.Millisecond})
		ln, err := nw.Host(ipB).Listen(":9000")
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			s, err := ln.Accept()
			if err != nil {
				return
			}
			defer s.Close()
			r := bufio.NewReader(s)
			for {
				id, p, err := readFrame(r)
				if err != nil {
					return
				}
				if err := writeFrame(s, id, bytes.ToUpper(p)); err != nil {
					return
				}
			}
		}()

		c, err := nw.Host(ipA).Dial(t.Context(), ipB+":9000")
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		call := func(id uint32, req string) (string, error) {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			if err := writeFrame(c, id, []byte(req)); err != nil {
				return "", err
			}
			for {
				got, p, err := readFrame(r)
				if err != nil {
					return "", err
				}
				if got == id {
					return string(p), nil
				}
				t.Logf("skipped the late response to call %d", got)
			}
		}
		if resp, err := call(1, "one"); err != nil || resp != "ONE" {
			t.Fatalf("call 1: %q %v", resp, err)
		}
		nw.Partition([]string{ipA}, []string{ipB})
		start := time.Now()
		if _, err := call(2, "two"); !isTimeout(err) {
			t.Fatalf("call 2 across the partition: %v", err)
		}
		if d := time.Since(start); d != time.Second {
			t.Errorf("call 2 timed out after %v", d)
		}
		nw.Heal()
		if resp, err := call(3, "three"); err != nil || resp != "THREE" {
			t.Fatalf("call 3: %q %v", resp, err)
		}
		c.Close()
		<-served
		ln.Close()
	})
}

func writeFrame(w io.Writer, id uint32, p []byte) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(4+len(p)))
	b = binary.BigEndian.AppendUint32(b, id)
	_, err := w.Write(append(b, p...))
	return err
}

func readFrame(r io.Reader) (uint32, []byte, error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n < 4 || n > 1<<20 {
		return 0, nil, errors.New("bad frame")
	}
	p := make([]byte, n-4)
	_, err := io.ReadFull(r, p)
	return binary.BigEndian.Uint32(hdr[4:]), p, err
}
