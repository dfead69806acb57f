package test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stop ends the agent as an operator does for an upgrade: SIGTERM to its
// PID, then a wait for it to exit.
func (a *agent) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30 s of SIGTERM", a.name)
	}
	if a.exitErr != nil {
		log, _ := os.ReadFile(a.logPath)
		t.Fatalf("%s exited with %v after SIGTERM\n%s", a.name, a.exitErr, log)
	}
}

// metric returns the value of one series of the agent's /metrics (labels
// in Prometheus' order, alphabetical), 0 if it is absent.
func metric(t *testing.T, a *agent, series string) float64 {
	t.Helper()
	hc := http.DefaultClient
	if a.hc != nil {
		hc = a.hc // HTTPS (tls_test.go)
	}
	return seriesVia(t, hc, a.url(), series)
}

// healthVersions is the versions an agent's /health reports.
func healthVersions(t *testing.T, a *agent) (min, max, format int) {
	t.Helper()
	resp, err := http.Get(a.url() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Versions struct {
			Protocol   struct{ Min, Max int } `json:"protocol"`
			DataFormat int                    `json:"data_format"`
		} `json:"versions"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Versions.Protocol.Min, h.Versions.Protocol.Max, h.Versions.DataFormat
}

// upgradeWriter writes unique keys continuously, round-robin through the
// agents, and records what was acknowledged.
type upgradeWriter struct {
	agents []*agent
	// down is the name of the agent being restarted: a transport error
	// from it is expected (connection refused while it is down).
	down atomic.Pointer[string]

	mu         sync.Mutex
	acked      map[string]string
	downErrs   int      // transport errors from the agent being restarted
	status503  int      // 503s: indeterminate or refused writes (documented; not acknowledged)
	unexpected []string // anything else
}

func (w *upgradeWriter) run(ctx context.Context) {
	hc := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(5 * time.Millisecond) // pacing: ~200 writes/s leaves the 2 cores to the agents
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a := w.agents[i%len(w.agents)]
		key, val := fmt.Sprintf("up-%06d", i), fmt.Sprintf("value-%d-via-%s", i, a.name)
		req, _ := http.NewRequestWithContext(ctx, "PUT", a.url()+"/kv/"+key, strings.NewReader(val))
		resp, err := hc.Do(req)
		if ctx.Err() != nil {
			return
		}
		w.mu.Lock()
		switch {
		case err != nil:
			if d := w.down.Load(); d != nil && *d == a.name {
				w.downErrs++
			} else {
				w.unexpected = append(w.unexpected, fmt.Sprintf("%s via %s: %v", key, a.name, err))
			}
		case resp.StatusCode == http.StatusNoContent:
			w.acked[key] = val
		case resp.StatusCode == http.StatusServiceUnavailable:
			w.status503++
		default:
			body, _ := io.ReadAll(resp.Body)
			w.unexpected = append(w.unexpected, fmt.Sprintf("%s via %s: %d %s", key, a.name, resp.StatusCode, body))
		}
		w.mu.Unlock()
		if resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

func (w *upgradeWriter) acks() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// waitAcks waits until more than n writes were acknowledged.
func (w *upgradeWriter) waitAcks(t *testing.T, what string, n int) {
	t.Helper()
	poll(t, what, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		got := w.acks()
		return got > n, fmt.Sprintf("%d acknowledged writes, want more than %d", got, n)
	})
}

// The rolling upgrade (README, Upgrades), with real agents: three nodes
// speaking the previous release's internode protocol (--protocol-version
// 1: the frames without a hello, which is what releases before protocol
// versioning speak), a writer writing unique keys through all of them;
// then each node in turn is stopped (SIGTERM to its PID) and started
// again on the same data dir and name with the new protocol, and the
// next waits until it is healthy, every node sees three alive, and
// writes are acknowledged again. Mixed, the new nodes talk to the old
// over protocol 1 (they fall back when the old ones close the
// connection at the hello); at the end every connection speaks 2. Every
// acknowledged write is then read back from a quorum with its value, and
// the only write errors were transport errors from the node being
// restarted and 503s (writes that were not acknowledged).
//
// Then a connection that says it speaks only versions 200..201 is
// refused with the message, and counted.
//
// With DYNAGO_UPGRADE_FROM=PATH, the old nodes run the dynago binary at
// PATH (built from an older commit: `git worktree add /tmp/old COMMIT &&
// (cd /tmp/old && go build -o /tmp/dynago-old ./cmd/dynago)`) instead of
// this tree's at --protocol-version 1.
func TestProcessRollingUpgrade(t *testing.T) {
	oldBin := os.Getenv("DYNAGO_UPGRADE_FROM")
	old := func(a *agent) {
		if oldBin != "" {
			a.bin = oldBin
			return
		}
		a.flags = []string{"--protocol-version", "1"}
	}
	n1 := newAgent(t, "n1", "")
	old(n1)
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip)
	n3 := newAgent(t, "n3", n1.gossip)
	agents := []*agent{n1, n2, n3}
	for _, a := range agents[1:] {
		old(a)
		a.start(t)
	}
	for _, a := range agents {
		waitAlive(t, a.url(), 3)
		_, max, format := healthVersions(t, a)
		if oldBin == "" && (max != 1 || format != 1) || oldBin != "" && (max != 0 || format != 0) {
			t.Fatalf("%s before the upgrade: protocol max %d, format %d", a.name, max, format)
		}
	}
	t.Logf("3 old nodes up (binary %q)", oldBin)

	w := &upgradeWriter{agents: agents, acked: map[string]string{}}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { w.run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	w.waitAcks(t, "writes before the upgrade", 50)

	for i, a := range agents {
		begin := time.Now()
		name := a.name
		w.down.Store(&name)
		a.stop(t)
		w.waitAcks(t, a.name+" down: writes through the other two", w.acks()+20)
		a.flags, a.bin = nil, "" // the new release: every protocol version it speaks
		a.start(t)
		w.down.Store(nil)
		for _, b := range agents {
			waitAlive(t, b.url(), 3)
		}
		if _, max, _ := healthVersions(t, a); max != 2 {
			t.Fatalf("%s after its upgrade speaks up to protocol %d", a.name, max)
		}
		w.waitAcks(t, a.name+" upgraded: writes", w.acks()+50)
		if i < len(agents)-1 {
			// Mixed, and `dynago members` on the upgraded node shows it:
			// it speaks up to 2, the next (old) one up to 1.
			next := agents[i+1]
			poll(t, "mixed versions in `dynago members`", 30*time.Second, 100*time.Millisecond, func() (bool, string) {
				out, code := cli(t, "members", "--addr", a.url(), "--json")
				var ms []struct {
					Name     string
					Protocol *struct{ Min, Max int }
				}
				if code != 0 || json.Unmarshal([]byte(out), &ms) != nil {
					return false, out
				}
				maxOf := map[string]int{}
				for _, m := range ms {
					if m.Protocol != nil {
						maxOf[m.Name] = m.Protocol.Max
					}
				}
				// A release before versioning gossips no range: shown as 1.
				return maxOf[a.name] == 2 && maxOf[next.name] == 1, out
			})
			// The upgraded node dialed an old one over protocol 1.
			poll(t, a.name+" dialing an old node over protocol 1", 30*time.Second, 100*time.Millisecond, func() (bool, string) {
				v := metric(t, a, `dynago_rpc_connections_total{protocol="1",side="client"}`)
				return v > 0, fmt.Sprintf("%v connections", v)
			})
		}
		t.Logf("%s upgraded in %v; %d writes acknowledged so far", a.name, time.Since(begin).Round(time.Millisecond), w.acks())
	}
	// All upgraded: n3, restarted last, has met only new peers.
	poll(t, "n3's connections over protocol 2", 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		v2 := metric(t, n3, `dynago_rpc_connections_total{protocol="2",side="client"}`) + metric(t, n3, `dynago_rpc_connections_total{protocol="2",side="server"}`)
		return v2 > 0, fmt.Sprintf("%v connections", v2)
	})
	for _, side := range []string{"client", "server"} {
		if v := metric(t, n3, `dynago_rpc_connections_total{protocol="1",side="`+side+`"}`); v != 0 {
			t.Fatalf("n3, among new nodes only, has %v %s connections over protocol 1", v, side)
		}
	}
	cancel()
	wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unexpected) > 0 {
		t.Fatalf("%d unexpected write errors, first: %s", len(w.unexpected), w.unexpected[0])
	}
	t.Logf("%d writes acknowledged, %d transport errors from the node being restarted, %d 503s", len(w.acked), w.downErrs, w.status503)
	hc := &http.Client{Timeout: 10 * time.Second}
	lost := 0
	for key, val := range w.acked {
		a := agents[len(key)%3]
		resp, err := hc.Get(a.url() + "/kv/" + key + "?r=2")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != val {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s=%s: read via %s: %d %q", key, val, a.name, resp.StatusCode, body)
			}
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", lost, len(w.acked))
	}

	refusedByPeer(t, n1)
}

// refusedByPeer opens a raw connection to a's RPC port and says, in a
// hello (node/rpc's TestHelloGolden layout), that it speaks only versions
// 200..201: a answers with a refusal naming both ranges and what to do,
// closes the connection, counts it and logs it.
func refusedByPeer(t *testing.T, a *agent) {
	t.Helper()
	c, err := net.DialTimeout("tcp", a.rpc, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// length 17, kind 4 (hello), id 0, versions 200..201, name "n9", software "v9"
	hello, _ := hex.DecodeString("00000011" + "04" + "0000000000000000" + "c8c9026e39027639")
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		t.Fatalf("no answer to the hello: %v", err)
	}
	rest := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatal(err)
	}
	if rest[0] != 5 || rest[9] != 0 { // a hello answer, version 0: refused
		t.Fatalf("answer %x is not a refusal", rest)
	}
	want := "n1: rpc: no common internode protocol version: n9 at 127.0.0.1:"
	if !strings.Contains(string(rest), want) || !strings.Contains(string(rest), "speaks internode protocol 200..201, this node speaks 1..2") ||
		!strings.Contains(string(rest), "upgrade one release at a time") {
		t.Fatalf("refusal %q lacks %q, the ranges or what to do", rest, want)
	}
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("the connection stayed open after the refusal (read %d bytes)", n)
	}
	poll(t, "the refusal counted", 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		v := metric(t, a, `dynago_protocol_refused_total{side="server"}`)
		return v == 1, fmt.Sprintf("dynago_protocol_refused_total{side=\"server\"} = %v", v)
	})
	poll(t, "the refusal logged", 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		log, _ := os.ReadFile(a.logPath)
		return strings.Contains(string(log), "internode connection refused: no common protocol version"), "no log line"
	})
}
