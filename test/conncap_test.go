package test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// capConns is the agent's --max-conns in TestProcessConnectionCap.
const capConns = 20

// openServed dials addr and has one GET /health answered 200 on the
// connection, which it leaves open (kept alive): the node has accepted
// it and holds one of its slots.
func openServed(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := healthOn(c, addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("GET /health: %s", resp.Status)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// healthOn sends GET /health on c and reads the answer (its body read
// and closed).
func healthOn(c net.Conn, host string) (*http.Response, error) {
	if _, err := fmt.Fprintf(c, "GET /health HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// seriesVia reads one series of url's /metrics through hc (0 when absent).
func seriesVia(t *testing.T, hc *http.Client, url, series string) float64 {
	t.Helper()
	resp, err := hc.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", series, sc.Text())
			}
			return f
		}
	}
	return 0
}

// A real agent with --max-conns 20: with 20 connections open on its HTTP
// port, the 21st is closed at once without an answer, the refusal is
// counted (dynago_shed_total{reason="conns"}) and logged, the open ones
// go on being served, and once they close a new connection is served.
func TestProcessConnectionCap(t *testing.T) {
	a := newAgent(t, "n1", "")
	a.flags = []string{"--n", "1", "--max-conns", strconv.Itoa(capConns)}
	a.start(t)
	// waitHealthy's kept-alive connection would hold a slot.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	// The probe: one kept-alive connection, opened before the node is
	// full, that reads /metrics while it is.
	probeTr := &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}
	t.Cleanup(probeTr.CloseIdleConnections)
	probe := &http.Client{Transport: probeTr, Timeout: 5 * time.Second}
	if resp, err := probe.Get(a.url() + "/health"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("probe GET /health: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Fill the other slots. A slot the closed pooled connection held is
	// free once the node has seen it close: until then a dial may be
	// refused, so retry.
	var idle []net.Conn
	t.Cleanup(func() {
		for _, c := range idle {
			c.Close()
		}
	})
	poll(t, fmt.Sprintf("%d open connections", capConns), 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		for len(idle) < capConns-1 {
			c, err := openServed(a.http)
			if err != nil {
				return false, fmt.Sprintf("connection %d: %v", len(idle)+2, err)
			}
			idle = append(idle, c)
		}
		return true, ""
	})
	const refusedSeries = `dynago_shed_total{reason="conns"}`
	before := seriesVia(t, probe, a.url(), refusedSeries)

	// One more: the node accepts it and closes it at once, unanswered.
	start := time.Now()
	c, err := net.DialTimeout("tcp", a.http, 5*time.Second)
	if err != nil {
		t.Fatalf("dial connection %d: %v (the kernel accepts it; the node closes it)", capConns+1, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := healthOn(c, a.http)
	took := time.Since(start)
	switch {
	case err == nil:
		t.Fatalf("connection %d with --max-conns %d was served: %s", capConns+1, capConns, resp.Status)
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("connection %d with --max-conns %d was neither served nor closed within 5 s", capConns+1, capConns)
	case !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE):
		t.Fatalf("connection %d: %v; want it closed (EOF or reset)", capConns+1, err)
	}
	t.Logf("connection %d: %v after %v", capConns+1, err, took.Round(time.Millisecond))

	// Counted, and logged; the open connections are still served.
	after := seriesVia(t, probe, a.url(), refusedSeries)
	if after != before+1 {
		t.Fatalf("%s went from %v to %v over one refused connection, want +1", refusedSeries, before, after)
	}
	t.Logf("%s: %v before, %v after", refusedSeries, before, after)
	poll(t, "the refusal in the agent's log", 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		log, _ := os.ReadFile(a.logPath)
		line := grepLines(string(log), "connection refused: at the connection limit")
		return strings.Contains(line, "listener=http") && strings.Contains(line, "limit="+strconv.Itoa(capConns)), string(log)
	})
	if resp, err := healthOn(idle[0], a.http); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /health on an open connection while the node is full: %v %v", resp, err)
	}

	// Once the idle connections close, a new connection is served (the
	// node frees a slot when it sees a close: poll).
	for _, c := range idle {
		c.Close()
	}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	poll(t, "a new connection to be served", 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		resp, err := fresh.Get(a.url() + "/health")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}
