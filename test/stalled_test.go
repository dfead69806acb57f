package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dynago/dynago/test/jepsen"
)

// The stalled-upload test: stalledConns clients each start a PUT that
// declares stalledDeclared bytes, send stalledSent of them and stop.
const (
	stalledConns = 200
	// stalledDeclared is the default --max-value-bytes (4 MiB): the
	// largest value the node takes, so no upload is refused as too large
	// before its body is read.
	stalledDeclared = 4 << 20
	// stalledSent is a quarter of the value: what an upload costs the
	// node is the body it has received (the buffer of Content-Length is
	// reserved, but its pages stay untouched until written), so 64 KiB
	// per upload would not tell a node without the body budget from one
	// with it (peak RSS measured 2026-12-04: 43.5 MiB without, 29.1 MiB
	// with; at 1 MiB: 233 MiB without, 45.8 MiB with).
	stalledSent = 1 << 20
	// stalledReadTimeout is the agent's --http-read-timeout: shorter than
	// the default 30 s so that the test sees the node cut the admitted
	// uploads off. Memory is sampled well before it fires (the test checks
	// that the uploads were still in flight when sampling ended).
	stalledReadTimeout = 10 * time.Second
	// stalledSampling is how long the agent's RSS is sampled while every
	// upload is stalled.
	stalledSampling = 3 * time.Second
	// stalledRSSBound bounds the agent's peak RSS: about twice the peak
	// measured 2026-12-04 (baseline 24.0-24.3 MiB, peak 44.6-45.8 MiB,
	// with 16 uploads admitted and 184 refused 503). With the body budget
	// off (--max-inflight-body-bytes 4294967296) the peak was 233 MiB, all
	// 200 admitted; before the budget, 200 such uploads took a node from
	// 80 MB to 1.1 GB.
	stalledRSSBound = 90 << 20
)

// vmRSS reads the resident set size of process pid, in bytes.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return jepsen.ParseVmRSS(f)
}

// seriesValue is one series of a scrapeSeries map as a number (0 when
// absent).
func seriesValue(t *testing.T, series map[string]string, name string) float64 {
	t.Helper()
	v, ok := series[name]
	if !ok {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("/metrics %s = %q: %v", name, v, err)
	}
	return f
}

// shedSum is the client requests refused by a limit so far
// (dynago_shed_total, every reason but refused connections).
func shedSum(t *testing.T, series map[string]string) float64 {
	t.Helper()
	sum := 0.0
	for _, r := range []string{"requests", "body_bytes", "body_too_large"} {
		sum += seriesValue(t, series, `dynago_shed_total{reason="`+r+`"}`)
	}
	return sum
}

// stalledReply reads what the node answers on c (an HTTP response: its
// status and error code) or how the connection ended.
func stalledReply(c net.Conn) string {
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	switch {
	case err == nil:
		defer resp.Body.Close()
		var body struct {
			Code string `json:"code"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		_ = json.Unmarshal(b, &body)
		return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, body.Code))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed without a reply"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset without a reply"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "no reply (still open)"
	default:
		return "read error: " + err.Error()
	}
}

// A real agent with default limits (but for a shorter read timeout): 200
// clients each send the headers of a 4 MiB PUT and 1 MiB of its body,
// then stall with the connection open. The agent's RSS stays bounded
// (its in-flight body budget admits a few and answers the rest 503 at
// once, instead of a buffer per upload), every upload is answered or cut
// off by the read timeout (none stored), and afterwards the node is
// healthy and serves writes.
func TestProcessStalledUploadsBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the agent's RSS from /proc")
	}
	a := newAgent(t, "n1", "")
	a.flags = []string{"--n", "1", "--http-read-timeout", stalledReadTimeout.String()}
	a.start(t)
	pid := a.cmd.Process.Pid
	if r := kvDo(t, "PUT", a.url()+"/kv/warm", []byte("v")); r.status != http.StatusNoContent {
		t.Fatalf("PUT warm: %d %s", r.status, r.body)
	}
	if r := kvDo(t, "GET", a.url()+"/kv/warm", nil); r.status != http.StatusOK {
		t.Fatalf("GET warm: %d %s", r.status, r.body)
	}
	baseline, err := vmRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	shed0 := shedSum(t, scrapeSeries(t, a))

	// Sample the agent's RSS from the first upload to the end of the
	// sampling window.
	var (
		sampler  sync.WaitGroup
		stop     = make(chan struct{})
		peak     = baseline
		samples  int
		rssError error
	)
	sampler.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, err := vmRSS(pid)
			if err != nil {
				rssError = err
				return
			}
			peak, samples = max(peak, rss), samples+1
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	stopSampling := sync.OnceFunc(func() { close(stop); sampler.Wait() })
	t.Cleanup(stopSampling)

	// Open the uploads. Each has a reader that ends with the node's reply,
	// the connection's end, or its deadline (well past the read timeout).
	conns := make([]net.Conn, 0, stalledConns)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	replies := make([]string, stalledConns)
	writeErrs := make([]error, stalledConns)
	var readers, writers sync.WaitGroup
	body := bytes.Repeat([]byte("x"), stalledSent)
	for i := range stalledConns {
		c, err := net.DialTimeout("tcp", a.http, 5*time.Second)
		if err != nil {
			t.Fatalf("upload %d: dial: %v", i, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(stalledReadTimeout + 20*time.Second))
		// The reply is read while the body is written: the node may
		// answer (503) and close before it has all of it.
		readers.Go(func() { replies[i] = stalledReply(c) })
		head := fmt.Sprintf("PUT /kv/stall%d HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", i, a.http, stalledDeclared)
		writers.Go(func() {
			if _, writeErrs[i] = io.WriteString(c, head); writeErrs[i] == nil {
				_, writeErrs[i] = c.Write(body)
			}
		})
	}
	writers.Wait()

	// Wait until the node has taken in every upload: admitted (in flight)
	// or refused by a limit.
	var inflight float64
	poll(t, "the node to take in every upload", 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		s := scrapeSeries(t, a)
		inflight = seriesValue(t, s, "dynago_inflight_requests")
		shed := shedSum(t, s) - shed0
		return inflight+shed >= stalledConns, fmt.Sprintf("%v in flight, %v refused", inflight, shed)
	})
	sampleEnd := time.NewTimer(stalledSampling)
	select {
	case <-sampleEnd.C:
	case <-t.Context().Done():
		t.Fatal("the test ended while sampling")
	}
	stopSampling()
	if rssError != nil {
		t.Fatalf("reading the agent's RSS: %v", rssError)
	}
	held := seriesValue(t, scrapeSeries(t, a), "dynago_inflight_requests")
	if held == 0 {
		t.Fatalf("no upload was in flight at the end of sampling (%v were when it began): the window missed the stall", inflight)
	}
	t.Logf("RSS: baseline %.1f MiB, peak %.1f MiB over %d samples (%v uploads in flight, %v refused), bound %.0f MiB",
		mib(baseline), mib(peak), samples, held, stalledConns-inflight, mib(stalledRSSBound))

	// Every upload is answered, or cut off by the read timeout: none is
	// still waiting, and none was stored.
	readers.Wait()
	got := map[string]int{}
	for i, r := range replies {
		switch err := writeErrs[i]; {
		case errors.Is(err, syscall.ECONNRESET):
			r += "; sending the body: reset"
		case errors.Is(err, syscall.EPIPE):
			r += "; sending the body: broken pipe"
		case err != nil:
			r += "; sending the body: " + err.Error()
		}
		got[r]++
	}
	for _, r := range slices.Sorted(maps.Keys(got)) {
		t.Logf("%3d uploads: %s", got[r], r)
	}
	for r, n := range got {
		if strings.HasPrefix(r, "2") || strings.HasPrefix(r, "no reply") || strings.HasPrefix(r, "read error") {
			t.Errorf("%d stalled uploads: %s; want each answered (4xx/5xx) or closed by the node", n, r)
		}
	}
	if s := scrapeSeries(t, a); seriesValue(t, s, "dynago_inflight_requests") != 0 {
		t.Errorf("after the read timeout, %v requests are still in flight", seriesValue(t, s, "dynago_inflight_requests"))
	}
	for _, c := range conns {
		c.Close()
	}

	// The node is healthy and serves reads and writes.
	if status, h := getHealth(t, a); status != http.StatusOK {
		t.Fatalf("/health after the stalled uploads: %d %+v", status, h)
	}
	if r := kvDo(t, "PUT", a.url()+"/kv/after", []byte("v2")); r.status != http.StatusNoContent {
		t.Fatalf("PUT after the stalled uploads: %d %s", r.status, r.body)
	}
	if r := kvDo(t, "GET", a.url()+"/kv/after", nil); r.status != http.StatusOK || string(r.body) != "v2" {
		t.Fatalf("GET after the stalled uploads: %d %q", r.status, r.body)
	}
	if r := kvDo(t, "GET", a.url()+"/kv/stall0", nil); r.status != http.StatusNotFound {
		t.Fatalf("GET stall0, a stalled upload: %d %q; want 404 (a cut-off body is never stored)", r.status, r.body)
	}
	if peak > stalledRSSBound {
		t.Fatalf("peak RSS %.1f MiB with %d stalled uploads, above the bound of %.0f MiB (baseline %.1f MiB)",
			mib(peak), stalledConns, mib(stalledRSSBound), mib(baseline))
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
