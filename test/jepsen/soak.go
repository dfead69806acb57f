package jepsen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// The bounded soak (issue 13): measure what the cluster completes with a
// closed loop, then offer twice that open-loop for the rest of the run while
// a node is SIGKILLed and restarted every minute, in turn. Judged: no agent
// exits but those the nemesis killed; every agent's RSS stays under a
// bound; every request succeeds or gets a clear error; and, from the
// recorded set workload that runs alongside, no acknowledged write is lost.
// It runs only when named: `-scenarios=soak` (OnlyByName).

// Soak tunables, each with its reason.
const (
	// soakCapacityWindow is the closed-loop measurement: long enough for
	// a few thousand requests and the agents' caches to warm, short next
	// to the run.
	soakCapacityWindow = 10 * time.Second
	// soakCapacityWorkers is the closed loop's concurrency: 16 per node
	// keeps every agent's CPU busy on two cores without queueing near the
	// node's in-flight limit (512), which would measure the shedding.
	soakCapacityWorkers = 16
	// soakOverload is the offered rate as a multiple of the capacity (the
	// issue's "twice the node's capacity").
	soakOverload = 2.0
	// soakInflightPerNode bounds the generator's requests in flight to one
	// node: above the node's admission limit (DefaultMaxInflight 512), so
	// it is the node that sheds, and a bound on the generator's goroutines
	// and connections (a due request past it is counted, not sent).
	soakInflightPerNode = 768
	// soakKeys is the load's key space: enough keys that writes rarely
	// collide, few enough that the data set (and a restarted node's
	// catch-up) stays small.
	soakKeys = 2048
	// soakClientTimeout is how long a request written to a node waits for
	// its answer: the server gives up after soakServerTimeout (a forwarded
	// write one second later), so a request still unanswered 5 s after it
	// was written got no answer at all.
	soakClientTimeout = 5 * time.Second
	// soakConnectWait is how long a request may wait for a connection
	// (a connect, or a free slot of the node's) before it is written: the
	// time a node being restarted takes to listen again. The client's
	// whole timeout is this plus soakClientTimeout, so a request that
	// waited long to connect still gets its full time once written.
	soakConnectWait    = 5 * time.Second
	soakServerTimeout  = 2 * time.Second
	soakRSSEvery       = 2 * time.Second // the "every few seconds"
	soakKilledGrace    = 2 * time.Second // a reset seen just after the restart answered /health
	soakMaxTransport   = 200_000         // transport errors kept for judging (a bound on memory)
	soakMaxUnclearKept = 20              // examples of unclear answers in the report
)

// SoakRSSBoundBytes is the most any agent's resident set may reach during
// the soak. Measured: the 10-minute run's peak was 230 MiB, reached by
// minute 5 and not passed after (README, "Soak"); 512 MiB leaves twice
// that for a faster machine's larger queues while still catching a leak
// at twice capacity over ten minutes.
const SoakRSSBoundBytes = 512 << 20

// clearCodes are the error codes a loaded or faulted cluster may answer
// with: each says what happened and what to do.
var clearCodes = map[string]bool{
	"overloaded":          true, // shed at admission (Retry-After required)
	"unavailable":         true, // refused up front: too few replicas alive
	"write_indeterminate": true, // started, missed W acks in time
	"read_quorum_not_met": true, // missed R answers in time
	"write_failed":        true, // the coordinator's own write failed
	"too_many_siblings":   true, // concurrent blind writes piled up on one key
}

func soak() Scenario {
	return Scenario{
		Name: "soak", Title: "bounded soak: twice capacity, a node SIGKILLed and restarted every minute",
		OnlyByName: true,
		Injects: fmt.Sprintf("measure the cluster's closed-loop capacity for %s, then offer %.0fx that rate open-loop (GET and PUT of %d keys, at most %d requests in flight per node) for the rest of the run; "+
			"from 30 s on SIGKILL one node every minute, the nodes in turn, and restart it on its data dir 10 s later; a set workload (sloppy quorum) runs alongside, recorded", soakCapacityWindow, soakOverload, soakKeys, soakInflightPerNode),
		Asserts: fmt.Sprintf("no agent exits except those the nemesis killed; every agent's RSS (VmRSS, every %s) under %d MiB; every load request gets 2xx or a JSON error with a known code (overloaded with Retry-After, unavailable, write_indeterminate, read_quorum_not_met, write_failed, too_many_siblings), a refused, reset or timed-out connect only to the node being killed or restarted; set lost = 0, durable, convergence",
			soakRSSEvery, SoakRSSBoundBytes>>20),
		Workloads: []WorkloadSpec{setW(4, 4, Params{})},
		Nemesis:   Periodic{Fault: FaultCrash, Start: 30 * time.Second, Every: time.Minute, Down: 10 * time.Second, Rotate: true},
		Script:    soakScript,
		Checkers:  []string{CheckP0, CheckDurable, CheckSet, CheckConvergence},
		// Hints of the load's writes for the last node killed drain after
		// heal; they are many more than any other scenario's.
		ConvergeWithin: 2 * time.Minute,
		Duration:       10 * time.Minute, MinOK: 100,
	}
}

// SoakReport is the soak's part of results.json (the RSS samples go to
// soak-rss.json).
type SoakReport struct {
	CapacityWorkers int     `json:"capacity_workers"`
	CapacitySeconds float64 `json:"capacity_seconds"`
	CapacityOpsPerS float64 `json:"capacity_ok_per_s"`
	OfferedOpsPerS  float64 `json:"offered_per_s"`
	OverloadSeconds float64 `json:"overload_seconds"`
	InflightPerNode int     `json:"inflight_per_node"`
	Offered         int64   `json:"offered"`
	NotSent         int64   `json:"not_sent_generator_full"`
	Sent            int64   `json:"sent"`
	OverloadOKPerS  float64 `json:"overload_ok_per_s"`
	PeakInflight    int64   `json:"peak_inflight"`
	// Late counts requests that ended (answer, error or client timeout)
	// after the server timeout plus a second; MaxLatencyS is the longest
	// any took.
	Late        int64   `json:"late"`
	MaxLatencyS float64 `json:"max_latency_s"`
	// GeneratorLagS is the open loop's longest tick delay (loadStats.maxLag).
	GeneratorLagS    float64            `json:"generator_lag_s"`
	Outcomes         map[string]int64   `json:"outcomes"`
	Unclear          []string           `json:"unclear_examples,omitempty"`
	KilledNodeErrors int64              `json:"killed_node_connection_errors"`
	Kills            int                `json:"kills"`
	UnexpectedExits  []Exit             `json:"unexpected_exits,omitempty"`
	RSSBoundMiB      float64            `json:"rss_bound_mib"`
	PeakRSSMiB       map[string]float64 `json:"peak_rss_mib"`
	// RSSByMinute is the largest RSS of any agent in each minute.
	RSSByMinute []float64 `json:"rss_by_minute_mib"`
	RSSSamples  int       `json:"rss_samples"`
	// PeakAnonMiB and AnonByMinute are the same for RssAnon: the heap,
	// stacks and other private memory, without the file pages (badger's
	// mmapped tables and value log) that VmRSS also counts and the kernel
	// drops when memory is short. A leak shows here.
	PeakAnonMiB  map[string]float64 `json:"peak_anon_mib"`
	AnonByMinute []float64          `json:"anon_by_minute_mib"`
	// TCP is how the machine's TCP counters (/proc/net/netstat, TcpExt)
	// moved over the run: ListenOverflows and ListenDrops count connects
	// a listener's full accept queue dropped, TCPSynRetrans the SYNs
	// clients had to send again. Zero overflows with dial timeouts means
	// the connects were not refused by an agent but timed out in a
	// starved generator.
	TCP map[string]int64 `json:"tcp_counters"`
	// TCPChanged is every TcpExt and Tcp counter that moved over the run
	// (the reasons the kernel counts a dropped or retried connect are
	// many; this names the one that moved).
	TCPChanged map[string]int64 `json:"tcp_counters_changed,omitempty"`
	// DialTimeouts are the connects that timed out, each judged against
	// the kill windows (a node being killed or restarted, plus the
	// grace), with up to soakMaxUnclearKept of the others described.
	DialTimeoutsKilled int64    `json:"dial_timeouts_killed_node"`
	DialTimeoutsOther  int64    `json:"dial_timeouts_other"`
	DialTimeoutsSeen   []string `json:"dial_timeouts_other_examples,omitempty"`
	Problems           []string `json:"problems,omitempty"`
}

// RSSSample is one agent's resident set at one moment.
type RSSSample struct {
	At    float64 `json:"at_s"` // seconds from the workload start
	Node  string  `json:"node"`
	PID   int     `json:"pid"`
	Bytes int64   `json:"bytes"`
	Anon  int64   `json:"anon_bytes"`
}

// soakScript runs the soak's load, sampler and judgement for the
// workload's length (Run.Stopping).
func soakScript(ctx context.Context, r *Run) error {
	s := newSoakLoad(r.C.Nodes, r.Rec, r.Spec.Seed)
	defer s.close()
	rep := &SoakReport{CapacityWorkers: soakCapacityWorkers * len(r.C.Nodes), InflightPerNode: soakInflightPerNode,
		RSSBoundMiB: float64(SoakRSSBoundBytes) / (1 << 20)}
	r.Soak = rep
	start := time.Now()
	end := start.Add(r.Spec.Duration)
	stop := make(chan struct{})
	go func() {
		select {
		case <-r.Stopping():
		case <-ctx.Done():
		case <-time.After(time.Until(end)):
		}
		close(stop)
	}()

	tcp0, tcpErr := readTCPCounters()
	var samples []RSSSample
	var sampler sync.WaitGroup
	sampler.Go(func() { samples = sampleRSS(r.C, start, stop) })

	// Closed loop: what the cluster completes.
	window := min(soakCapacityWindow, r.Spec.Duration/4)
	capOK, capSecs := s.closedLoop(ctx, rep.CapacityWorkers, window, stop)
	rep.CapacitySeconds = capSecs
	if capSecs > 0 {
		rep.CapacityOpsPerS = float64(capOK) / capSecs
	}
	r.Logf("soak: capacity %.0f ok/s (%d workers, %.1fs)", rep.CapacityOpsPerS, rep.CapacityWorkers, capSecs)
	if rep.CapacityOpsPerS < 1 {
		rep.Problems = append(rep.Problems, "soak: the closed loop completed nothing: no capacity to overload")
	} else {
		// Open loop at twice that until the end.
		rep.OfferedOpsPerS = soakOverload * rep.CapacityOpsPerS
		t0 := time.Now()
		okBefore := s.count("ok")
		st := openLoop(ctx, rep.OfferedOpsPerS, stop, s.try)
		s.wait()
		rep.OverloadSeconds = time.Since(t0).Seconds()
		rep.Offered, rep.NotSent, rep.Sent = st.offered, st.notSent, st.offered-st.notSent
		rep.GeneratorLagS = st.maxLag.Seconds()
		rep.OverloadOKPerS = float64(s.count("ok")-okBefore) / rep.OverloadSeconds
		r.Logf("soak: offered %.0f/s for %.0fs: %d due, %d sent, %d not sent (generator full), %.0f ok/s",
			rep.OfferedOpsPerS, rep.OverloadSeconds, st.offered, rep.Sent, st.notSent, rep.OverloadOKPerS)
	}
	<-stop
	sampler.Wait()
	rep.PeakInflight = s.peak.Load()
	if tcp1, err := readTCPCounters(); err == nil && tcpErr == nil {
		rep.TCP, rep.TCPChanged = map[string]int64{}, map[string]int64{}
		for _, k := range soakTCPCounters {
			rep.TCP[k] = tcp1["TcpExt."+k] - tcp0["TcpExt."+k]
		}
		for k, v := range tcp1 {
			if d := v - tcp0[k]; d != 0 {
				rep.TCPChanged[k] = d
			}
		}
	} else {
		r.Logf("soak: TCP counters: %v", errors.Join(tcpErr, err))
	}
	rep.Late, rep.MaxLatencyS = s.late.Load(), time.Duration(s.maxLatency.Load()).Seconds()

	// Judge. A connect that timed out while its node was being killed or
	// restarted is that node being down, as a refused connect is (the
	// 10-minute runs put every one of them there: README, Soak); one at
	// any other time is no clear answer.
	rep.Outcomes = s.outcomes()
	rep.Unclear = s.unclearExamples()
	windows := KillWindows(r.Rec.Ops())
	rep.Kills = len(windows)
	rep.DialTimeoutsKilled, rep.DialTimeoutsSeen = s.judgeDialTimeouts(windows, int64(soakKilledGrace))
	rep.DialTimeoutsOther = int64(len(rep.DialTimeoutsSeen))
	if rep.DialTimeoutsKilled > 0 {
		rep.Outcomes["dial_timeout_killed_node"] = rep.DialTimeoutsKilled
	}
	if rep.DialTimeoutsOther > 0 {
		rep.Outcomes["unclear_dial_timeout"] = rep.DialTimeoutsOther
		rep.Unclear = append(rep.Unclear, rep.DialTimeoutsSeen[:min(3, len(rep.DialTimeoutsSeen))]...)
	}
	rep.DialTimeoutsSeen = rep.DialTimeoutsSeen[:min(len(rep.DialTimeoutsSeen), soakMaxUnclearKept)]
	var unclear []string
	var nUnclear int64
	for _, k := range slices.Sorted(maps.Keys(rep.Outcomes)) {
		if strings.HasPrefix(k, "unclear") {
			nUnclear += rep.Outcomes[k]
			unclear = append(unclear, fmt.Sprintf("%s %d", k, rep.Outcomes[k]))
		}
	}
	if nUnclear > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("soak: %d load requests got no clear answer (%s; first: %s)", nUnclear, strings.Join(unclear, ", "), strings.Join(rep.Unclear[:min(3, len(rep.Unclear))], "; ")))
	}
	killed, bad := s.judgeTransport(windows, int64(soakKilledGrace))
	rep.KilledNodeErrors = killed
	rep.Outcomes["connection_error_killed_node"] = killed
	if len(bad) > 0 {
		rep.Outcomes["connection_error_other"] = int64(len(bad))
		rep.Problems = append(rep.Problems, fmt.Sprintf("soak: %d connection errors from nodes that were not being killed (first: %s)", len(bad), bad[0]))
	}
	if s.transportDropped.Load() > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("soak: %d connection errors past the %d kept could not be judged", s.transportDropped.Load(), soakMaxTransport))
	}
	rep.UnexpectedExits = r.C.Exits()
	for _, e := range rep.UnexpectedExits {
		rep.Problems = append(rep.Problems, fmt.Sprintf("soak: %s (pid %d) exited without being killed: %s (see nodes/%s.log)", e.Node, e.PID, e.Err, e.Node))
	}
	rep.PeakRSSMiB, rep.RSSByMinute = summarizeRSS(samples, func(s RSSSample) int64 { return s.Bytes })
	rep.PeakAnonMiB, rep.AnonByMinute = summarizeRSS(samples, func(s RSSSample) int64 { return s.Anon })
	rep.RSSSamples = len(samples)
	for _, smp := range samples {
		if smp.Bytes > SoakRSSBoundBytes {
			rep.Problems = append(rep.Problems, fmt.Sprintf("soak: %s (pid %d) had %d MiB resident at %.0fs, over the bound of %d MiB", smp.Node, smp.PID, smp.Bytes>>20, smp.At, SoakRSSBoundBytes>>20))
			break
		}
	}
	if len(samples) == 0 {
		rep.Problems = append(rep.Problems, "soak: no RSS sample was taken")
	}
	writeJSON(filepath.Join(r.Spec.Dir, "soak-rss.json"), samples)
	r.Logf("soak: %d kills, peak RSS %v MiB (anon %v), outcomes %v, %d late (max %.1fs), TCP %v, %d problems", rep.Kills, rep.PeakRSSMiB, rep.PeakAnonMiB, rep.Outcomes, rep.Late, rep.MaxLatencyS, rep.TCP, len(rep.Problems))
	return nil
}

// loadStats is what openLoop did. maxLag is the longest a tick came after
// the one before beyond its period: the generator's own starvation (on a
// loaded machine the load's goroutines wait for a CPU too).
type loadStats struct {
	offered, notSent int64
	maxLag           time.Duration
}

// openLoop offers rate requests a second until stop is closed: every tick
// it calls try for each request due by then (rate × elapsed, minus those
// already offered), whatever became of the earlier ones. try returns false
// when it could not send (its in-flight bound), and the request counts as
// not sent: the rate offered never depends on the answers.
func openLoop(ctx context.Context, rate float64, stop <-chan struct{}, try func(seq int64) bool) loadStats {
	const tick = 5 * time.Millisecond // 200 batches a second: smooth enough at thousands/s
	var st loadStats
	t0 := time.Now()
	last := t0
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for {
		select {
		case <-stop:
			return st
		case <-ctx.Done():
			return st
		case <-tk.C:
		}
		now := time.Now()
		st.maxLag = max(st.maxLag, now.Sub(last)-tick)
		last = now
		due := int64(rate * time.Since(t0).Seconds())
		for ; st.offered < due; st.offered++ {
			if !try(st.offered) {
				st.notSent++
			}
		}
	}
}

// soakLoad sends the soak's unrecorded load: too many requests for the
// history (MaxHistory), so each answer is only classified and counted;
// connection errors keep their node and times for judging against the
// kills.
type soakLoad struct {
	nodes []*Node
	hcs   []*http.Client
	slots []chan struct{} // per node, soakInflightPerNode
	rec   *history.Recorder
	seed  int64

	inflight, peak atomic.Int64
	reqs           sync.WaitGroup

	ctxs sync.Map // key -> the last context read or written: writes supersede what they saw

	mu struct {
		sync.Mutex
		counts    map[string]int64
		unclear   []string
		transport []transportError
		dials     []transportError // connects that timed out
	}
	transportDropped atomic.Int64
	// late counts answers (or errors) that came after the request's
	// server timeout plus a forward's second; maxLatency is the longest.
	late, maxLatency atomic.Int64
}

// soakLate is when an answer is late: the server's timeout plus the
// second a forwarded write may add (DESIGN.md: 503 once the timeout
// passes).
const soakLate = soakServerTimeout + time.Second

func (s *soakLoad) latency(d time.Duration) {
	if d > soakLate {
		s.late.Add(1)
	}
	for {
		m := s.maxLatency.Load()
		if int64(d) <= m || s.maxLatency.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// transportError is a request that got no HTTP answer: history times.
type transportError struct {
	node       string
	sent, done int64
	err        string
}

func newSoakLoad(nodes []*Node, rec *history.Recorder, seed int64) *soakLoad {
	s := &soakLoad{nodes: slices.Clone(nodes), rec: rec, seed: seed}
	s.mu.counts = map[string]int64{}
	for range nodes {
		tr := &http.Transport{
			DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxConnsPerHost:       soakInflightPerNode,
			MaxIdleConnsPerHost:   soakInflightPerNode,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: soakClientTimeout, // from the request's write
		}
		s.hcs = append(s.hcs, &http.Client{Timeout: soakConnectWait + soakClientTimeout, Transport: tr})
		s.slots = append(s.slots, make(chan struct{}, soakInflightPerNode))
	}
	return s
}

func (s *soakLoad) close() {
	s.wait()
	for _, hc := range s.hcs {
		hc.CloseIdleConnections()
	}
}

func (s *soakLoad) wait() { s.reqs.Wait() }

// try sends request seq (its node, key and kind follow from seq and the
// seed) in a goroutine of its own, unless that node's slots are full.
func (s *soakLoad) try(seq int64) bool {
	i := int(seq % int64(len(s.nodes)))
	select {
	case s.slots[i] <- struct{}{}:
	default:
		return false
	}
	s.reqs.Go(func() {
		defer func() { <-s.slots[i] }()
		rng := rand.New(rand.NewPCG(uint64(s.seed), uint64(seq)))
		s.do(context.Background(), i, rng, seq)
	})
	return true
}

// closedLoop runs workers that each send their next request when the last
// is answered, for window (or until stop), and returns the OK answers and
// the seconds it ran.
func (s *soakLoad) closedLoop(ctx context.Context, workers int, window time.Duration, stop <-chan struct{}) (int64, float64) {
	before := s.count("ok")
	t0 := time.Now()
	end := t0.Add(window)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(s.seed), uint64(1<<40+w)))
			for seq := int64(0); time.Now().Before(end); seq++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				s.do(ctx, w%len(s.nodes), rng, seq)
			}
		})
	}
	wg.Wait()
	return s.count("ok") - before, time.Since(t0).Seconds()
}

// do sends one load request to node i, half reads, half writes with the
// key's last known context, and classifies the answer.
func (s *soakLoad) do(ctx context.Context, i int, rng *rand.Rand, seq int64) {
	if n := s.inflight.Add(1); n > s.peak.Load() {
		s.peak.Store(n) // approximate under races; a report figure only
	}
	defer s.inflight.Add(-1)
	key := fmt.Sprintf("load-%d", rng.IntN(soakKeys))
	q := url.Values{"timeout": {strconv.Itoa(int(soakServerTimeout / time.Millisecond))}}
	u := s.nodes[i].URL() + "/kv/" + url.PathEscape(key) + "?" + q.Encode()
	var req *http.Request
	if rng.IntN(2) == 0 {
		req, _ = http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Accept", "application/json")
	} else {
		val := fmt.Sprintf("soak-%d-%d-%016x", seq, i, rng.Uint64())
		req, _ = http.NewRequestWithContext(ctx, "PUT", u, strings.NewReader(val))
		if c, ok := s.ctxs.Load(key); ok {
			req.Header.Set("X-Dynago-Context", c.(string))
		}
	}
	// Whether the request got a connection: one that timed out before
	// (a connect, or the wait for one of the node's connection slots) never
	// reached the node, and is judged like a refused connect.
	// And which connection, and when it wrote the request: evidence for
	// a request that got no answer.
	var gotConn atomic.Bool
	var connInfo atomic.Pointer[string]
	var wroteAt atomic.Int64
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) {
			gotConn.Store(true)
			d := fmt.Sprintf("conn %v->%v reused=%v idle=%v (idle %v) at %.1fs", ci.Conn.LocalAddr(), ci.Conn.RemoteAddr(),
				ci.Reused, ci.WasIdle, ci.IdleTime.Round(time.Millisecond), time.Duration(s.rec.Now()).Seconds())
			connInfo.Store(&d)
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { wroteAt.Store(s.rec.Now()) },
	}))
	how := func() string {
		d := "no connection"
		if p := connInfo.Load(); p != nil {
			d = *p
		}
		if w := wroteAt.Load(); w > 0 {
			d += fmt.Sprintf(", request written at %.1fs", time.Duration(w).Seconds())
		}
		return d
	}
	sent := s.rec.Now()
	defer func() { s.latency(time.Duration(s.rec.Now() - sent)) }()
	resp, err := s.hcs[i].Do(req)
	if err != nil {
		s.transport(s.nodes[i].Name, sent, err, wroteAt.Load(), how())
		return
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if rerr != nil {
		s.transport(s.nodes[i].Name, sent, rerr, wroteAt.Load(), how())
		return
	}
	if c := resp.Header.Get("X-Dynago-Context"); c != "" && resp.StatusCode < 300 {
		s.ctxs.Store(key, c)
	}
	class, detail := ClassifyAnswer(resp.StatusCode, resp.Header, body)
	s.note(class, fmt.Sprintf("%s %s %s: %s", s.nodes[i].Name, req.Method, key, detail))
}

// ClassifyAnswer sorts an HTTP answer of the soak's load: "ok" (2xx, a
// read's 300 or 404), a known error code (clearCodes; overloaded only with
// Retry-After), or "unclear_answer" with what was wrong.
func ClassifyAnswer(status int, h http.Header, body []byte) (class, detail string) {
	if status >= 200 && status < 300 || status == http.StatusMultipleChoices || status == http.StatusNotFound {
		return "ok", ""
	}
	var e struct {
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" || e.Error == "" {
		return "unclear_answer", fmt.Sprintf("%d without a JSON error body: %.100q", status, bytes.TrimSpace(body))
	}
	if !clearCodes[e.Code] {
		return "unclear_answer", fmt.Sprintf("%d %s: %s", status, e.Code, e.Error)
	}
	if e.Code == "overloaded" && h.Get("Retry-After") == "" {
		return "unclear_answer", fmt.Sprintf("%d overloaded without Retry-After", status)
	}
	return e.Code, ""
}

func (s *soakLoad) note(class, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.counts[class]++
	if strings.HasPrefix(class, "unclear") && len(s.mu.unclear) < soakMaxUnclearKept {
		s.mu.unclear = append(s.mu.unclear, detail)
	}
}

// transport keeps a request that got no answer: a refused or reset
// connection is judged against the kills later; a timeout is never clear.
func (s *soakLoad) transport(node string, sent int64, err error, wrote int64, how string) {
	done := s.rec.Now()
	if isTimeout(err) {
		// A request that timed out before it was written (a connect not
		// answered, or the wait for one of the transport's connections to
		// the node, all taken by such connects), or so late that it had
		// less than its soakClientTimeout once written, never gave the node
		// its time: it is told apart from a request written and never
		// answered.
		class := "unclear_no_answer"
		var op *net.OpError
		if wrote == 0 || time.Duration(done-wrote) < soakClientTimeout || errors.As(err, &op) && op.Op == "dial" {
			// Judged against the kill windows at the end
			// (judgeDialTimeouts); past the bound, unclear at once.
			s.mu.Lock()
			kept := len(s.mu.dials) < soakMaxTransport
			if kept {
				s.mu.dials = append(s.mu.dials, transportError{node: node, sent: sent, done: done, err: err.Error()})
			}
			s.mu.Unlock()
			if kept {
				return
			}
			class = "unclear_dial_timeout_unjudged"
		}
		// When it was sent, to set it against the kills and the node's log.
		s.note(class, fmt.Sprintf("%s at %.1fs: no answer within %s of its write: %v (%s)", node, time.Duration(sent).Seconds(), soakClientTimeout, err, how))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mu.transport) >= soakMaxTransport {
		s.transportDropped.Add(1)
		return
	}
	s.mu.transport = append(s.mu.transport, transportError{node: node, sent: sent, done: done, err: err.Error()})
}

// isTimeout: the client's or the dialer's deadline passed (no answer, no
// refusal).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

func (s *soakLoad) count(class string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.counts[class]
}

func (s *soakLoad) outcomes() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.mu.counts)
}

func (s *soakLoad) unclearExamples() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mu.unclear)
}

// judgeTransport counts the connection errors from a node while it was
// being killed or down (from its kill until grace after its restart
// answered), and describes the others.
func (s *soakLoad) judgeTransport(windows []KillWindow, grace int64) (killed int64, bad []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, te := range s.mu.transport {
		if DuringKill(windows, te.node, te.sent, te.done, grace) {
			killed++
			continue
		}
		bad = append(bad, fmt.Sprintf("%s at %.1fs: %s", te.node, float64(te.done)/1e9, te.err))
	}
	return killed, bad
}

// judgeDialTimeouts counts the connects that timed out while their node
// was being killed or restarted (plus grace) and describes the others.
func (s *soakLoad) judgeDialTimeouts(windows []KillWindow, grace int64) (killed int64, other []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, te := range s.mu.dials {
		if DuringKill(windows, te.node, te.sent, te.done, grace) {
			killed++
			continue
		}
		other = append(other, fmt.Sprintf("%s at %.1fs", te.node, float64(te.done)/1e9))
	}
	return killed, other
}

// KillWindow is one crash of a node: from the SIGKILL's invoke until its
// restart completed (history times; To is math.MaxInt64 while down).
type KillWindow struct {
	Node     string
	From, To int64
}

// KillWindows pairs the history's crash starts with their restarts. A
// node still down has an open window.
func KillWindows(ops []history.Op) []KillWindow {
	var out []KillWindow
	open := map[string]int{}
	for _, op := range ops {
		if op.Process != history.NemesisProcess || op.Fault != FaultCrash || len(op.Nodes) != 1 {
			continue
		}
		node := op.Nodes[0]
		switch {
		case op.Phase == "start" && op.Type == history.Invoke:
			open[node] = len(out)
			out = append(out, KillWindow{Node: node, From: op.Time, To: 1<<63 - 1})
		case op.Phase == "stop" && op.Type != history.Invoke:
			if i, ok := open[node]; ok {
				out[i].To = op.Time
				delete(open, node)
			}
		}
	}
	return out
}

// DuringKill reports whether a request to node that was sent at sent and
// ended at done overlapped one of node's kill windows (extended by grace
// after the restart).
func DuringKill(windows []KillWindow, node string, sent, done, grace int64) bool {
	for _, w := range windows {
		to := w.To
		if to < 1<<63-1-grace {
			to += grace
		}
		if w.Node == node && done >= w.From && sent <= to {
			return true
		}
	}
	return false
}

// sampleRSS reads every running agent's VmRSS every soakRSSEvery until
// stop is closed.
func sampleRSS(c *Cluster, start time.Time, stop <-chan struct{}) []RSSSample {
	var out []RSSSample
	tk := time.NewTicker(soakRSSEvery)
	defer tk.Stop()
	for {
		for _, n := range c.Nodes {
			pid, ok := n.PID()
			if !ok {
				continue
			}
			b, anon, err := ProcMem(pid)
			if err != nil {
				continue // it exited between the two reads
			}
			out = append(out, RSSSample{At: time.Since(start).Seconds(), Node: n.Name, PID: pid, Bytes: b, Anon: anon})
		}
		select {
		case <-stop:
			return out
		case <-tk.C:
		}
	}
}

// ProcMem returns a process's resident set size and its anonymous part
// (VmRSS and RssAnon in /proc/PID/status).
func ProcMem(pid int) (rss, anon int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	if rss, err = ParseStatusKB(bytes.NewReader(b), "VmRSS"); err != nil {
		return 0, 0, err
	}
	if anon, err = ParseStatusKB(bytes.NewReader(b), "RssAnon"); err != nil {
		return 0, 0, err
	}
	return rss, anon, nil
}

// ParseVmRSS finds the VmRSS line of a /proc/PID/status ("VmRSS:  1234 kB").
func ParseVmRSS(r io.Reader) (int64, error) { return ParseStatusKB(r, "VmRSS") }

// ParseStatusKB finds field's line of a /proc/PID/status ("VmRSS:  1234
// kB") and returns its bytes.
func ParseStatusKB(r io.Reader, field string) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("jepsen: %s line %q", field, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<53 { // 2^53 kB is 8 EiB: past it, bytes overflow int64
			return 0, fmt.Errorf("jepsen: %s line %q", field, sc.Text())
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("jepsen: no %s line (a kernel thread or a zombie)", field)
}

// soakTCPCounters are the TcpExt counters the soak reports (SoakReport.TCP).
var soakTCPCounters = []string{"ListenOverflows", "ListenDrops", "TCPReqQFullDrop", "TCPSynRetrans"}

// readTCPCounters reads the TcpExt (/proc/net/netstat) and Tcp
// (/proc/net/snmp) counters of the test's network namespace, the agents'
// too (they listen on loopback beside it), as "TcpExt.Name" and
// "Tcp.Name".
func readTCPCounters() (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range []struct{ file, group string }{{"/proc/net/netstat", "TcpExt"}, {"/proc/net/snmp", "Tcp"}} {
		b, err := os.ReadFile(f.file)
		if err != nil {
			return nil, err
		}
		m, err := ParseNetstat(b, f.group)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			out[f.group+"."+k] = v
		}
	}
	return out, nil
}

// ParseNetstat reads one group of /proc/net/netstat (or /proc/net/snmp):
// a line of names and a line of values, each starting "Group:".
func ParseNetstat(b []byte, group string) (map[string]int64, error) {
	var names []string
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), group+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		if len(f) != len(names) {
			return nil, fmt.Errorf("jepsen: %s: %d names, %d values", group, len(names), len(f))
		}
		out := make(map[string]int64, len(f))
		for i, v := range f {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("jepsen: %s %s: %w", group, names[i], err)
			}
			out[names[i]] = n
		}
		return out, nil
	}
	return nil, fmt.Errorf("jepsen: no %s names and values", group)
}

// summarizeRSS gives each node's peak and the largest RSS of any node in
// each minute, in MiB.
func summarizeRSS(samples []RSSSample, of func(RSSSample) int64) (map[string]float64, []float64) {
	peak := map[string]float64{}
	var byMinute []float64
	for _, s := range samples {
		mib := float64(of(s)) / (1 << 20)
		peak[s.Node] = max(peak[s.Node], mib)
		m := int(s.At / 60)
		for len(byMinute) <= m {
			byMinute = append(byMinute, 0)
		}
		byMinute[m] = max(byMinute[m], mib)
	}
	return peak, byMinute
}

func (rep *SoakReport) markdown(b *strings.Builder) {
	b.WriteString("\n## Soak\n\n")
	fmt.Fprintf(b, "Capacity: %.0f OK requests/s (closed loop, %d workers, %.1f s). Offered %.0f/s open-loop for %.0f s: %d due, %d sent, %d not sent (the generator's %d in flight per node were busy); %.0f OK/s; peak %d requests in flight; %d requests ended later than %s (the longest %.1f s); the generator's longest tick delay %.1f s.\n\n",
		rep.CapacityOpsPerS, rep.CapacityWorkers, rep.CapacitySeconds, rep.OfferedOpsPerS, rep.OverloadSeconds, rep.Offered, rep.Sent, rep.NotSent, rep.InflightPerNode, rep.OverloadOKPerS, rep.PeakInflight, rep.Late, soakLate, rep.MaxLatencyS, rep.GeneratorLagS)
	b.WriteString("| answer | requests |\n|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(rep.Outcomes)) {
		fmt.Fprintf(b, "| %s | %d |\n", k, rep.Outcomes[k])
	}
	fmt.Fprintf(b, "\nKills: %d. Unexpected exits: %d. RSS bound %.0f MiB; peak per node (MiB):", rep.Kills, len(rep.UnexpectedExits), rep.RSSBoundMiB)
	for _, n := range slices.Sorted(maps.Keys(rep.PeakRSSMiB)) {
		fmt.Fprintf(b, " %s %.0f", n, rep.PeakRSSMiB[n])
	}
	b.WriteString("; largest per minute:")
	for _, m := range rep.RSSByMinute {
		fmt.Fprintf(b, " %.0f", m)
	}
	fmt.Fprintf(b, " (%d samples, soak-rss.json).", rep.RSSSamples)
	b.WriteString(" Anonymous (RssAnon) peak per node (MiB):")
	for _, n := range slices.Sorted(maps.Keys(rep.PeakAnonMiB)) {
		fmt.Fprintf(b, " %s %.0f", n, rep.PeakAnonMiB[n])
	}
	b.WriteString("; largest per minute:")
	for _, m := range rep.AnonByMinute {
		fmt.Fprintf(b, " %.0f", m)
	}
	b.WriteString(".\n")
	if rep.TCP != nil {
		b.WriteString("\nTCP counters over the run (TcpExt):")
		for _, k := range soakTCPCounters {
			fmt.Fprintf(b, " %s %d", k, rep.TCP[k])
		}
		fmt.Fprintf(b, ". Every counter that moved: %v.\n", rep.TCPChanged)
	}
	if rep.DialTimeoutsKilled+rep.DialTimeoutsOther > 0 {
		fmt.Fprintf(b, "\nConnects that timed out: %d while their node was killed or restarting, %d otherwise (%s).\n",
			rep.DialTimeoutsKilled, rep.DialTimeoutsOther, strings.Join(rep.DialTimeoutsSeen, ", "))
	}
	for _, u := range rep.Unclear {
		fmt.Fprintf(b, "- unclear: %s\n", u)
	}
}
