package jepsen

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// The soak is named only: never in the CI smoke set.
func TestHarnessSoakOnlyByName(t *testing.T) {
	sc, ok := Lookup("soak")
	if !ok {
		t.Fatal("no soak scenario")
	}
	if !sc.OnlyByName || sc.Smoke != 0 || slices.Contains(SmokeSet(), "soak") {
		t.Fatalf("soak: OnlyByName=%v Smoke=%s, smoke set %v", sc.OnlyByName, sc.Smoke, SmokeSet())
	}
	if sc.Duration != 10*time.Minute {
		t.Fatalf("soak lasts %s, want the issue's 10 minutes", sc.Duration)
	}
}

// Rotate kills every node in turn, once a minute, each restarted Down later.
func TestHarnessPeriodicRotate(t *testing.T) {
	sc, _ := Lookup("soak")
	ev := Plan(sc.Nemesis, 3, five, 10*time.Minute)
	var killed []string
	for _, e := range ev {
		if e.Phase == "start" {
			killed = append(killed, e.Nodes[0])
			if want := 30*time.Second + time.Duration(len(killed)-1)*time.Minute; e.At != want {
				t.Fatalf("kill %d at %s, want %s", len(killed), e.At, want)
			}
		}
	}
	if len(killed) != 10 || len(ev) != 20 {
		t.Fatalf("%d kills, %d events: want 10 and 20", len(killed), len(ev))
	}
	for i := range killed {
		if i >= len(five) && killed[i] != killed[i-len(five)] {
			t.Fatalf("not in turn: %v", killed)
		}
	}
	if got := slices.Sorted(slices.Values(killed[:5])); !slices.Equal(got, five) {
		t.Fatalf("the first five kills %v miss a node", killed[:5])
	}
}

func TestHarnessClassifyAnswer(t *testing.T) {
	retry := http.Header{"Retry-After": {"1"}}
	cases := []struct {
		name   string
		status int
		h      http.Header
		body   string
		want   string
	}{
		{"write ok", 204, nil, "", "ok"},
		{"read siblings", 300, nil, `{}`, "ok"},
		{"read not found", 404, nil, `{}`, "ok"},
		{"shed with Retry-After", 503, retry, `{"error":"at its limit","code":"overloaded"}`, "overloaded"},
		{"shed without Retry-After", 503, nil, `{"error":"at its limit","code":"overloaded"}`, "unclear_answer"},
		{"indeterminate", 503, nil, `{"error":"missed","code":"write_indeterminate"}`, "write_indeterminate"},
		{"read quorum", 503, nil, `{"error":"missed","code":"read_quorum_not_met"}`, "read_quorum_not_met"},
		{"unavailable", 503, nil, `{"error":"down","code":"unavailable"}`, "unavailable"},
		{"internal", 500, nil, `{"error":"boom","code":"internal"}`, "unclear_answer"},
		{"plain text", 502, nil, "Bad Gateway", "unclear_answer"},
		{"code without message", 503, nil, `{"code":"unavailable"}`, "unclear_answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, detail := ClassifyAnswer(tc.status, tc.h, []byte(tc.body)); got != tc.want {
				t.Fatalf("ClassifyAnswer = %s (%s), want %s", got, detail, tc.want)
			}
		})
	}
}

// A connection error counts as the kill's only from the killed node,
// between its SIGKILL and shortly after its restart.
func TestHarnessKillWindows(t *testing.T) {
	s := time.Second.Nanoseconds()
	ops := []history.Op{
		{Type: history.Invoke, Process: history.NemesisProcess, Fault: FaultCrash, Phase: "start", Nodes: []string{"n2"}, Time: 10 * s},
		{Type: history.Info, Process: history.NemesisProcess, Fault: FaultCrash, Phase: "start", Nodes: []string{"n2"}, Time: 11 * s},
		{Type: history.Invoke, Process: history.NemesisProcess, Fault: FaultCrash, Phase: "stop", Nodes: []string{"n2"}, Time: 20 * s},
		{Type: history.Info, Process: history.NemesisProcess, Fault: FaultCrash, Phase: "stop", Nodes: []string{"n2"}, Time: 22 * s},
		{Type: history.Invoke, Process: history.NemesisProcess, Fault: FaultCrash, Phase: "start", Nodes: []string{"n3"}, Time: 70 * s},
		{Type: history.Invoke, Process: 4, F: history.Read, Key: "k", Time: 71 * s},
	}
	w := KillWindows(ops)
	if len(w) != 2 || w[0] != (KillWindow{Node: "n2", From: 10 * s, To: 22 * s}) || w[1].Node != "n3" || w[1].To != 1<<63-1 {
		t.Fatalf("windows %+v", w)
	}
	grace := 2 * s
	cases := []struct {
		name       string
		node       string
		sent, done int64
		want       bool
	}{
		{"reset by the kill", "n2", 9 * s, 10 * s, true},
		{"refused while down", "n2", 15 * s, 15 * s, true},
		{"just after the restart", "n2", 23 * s, 23 * s, true},
		{"well after the restart", "n2", 30 * s, 30 * s, false},
		{"before the kill", "n2", 5 * s, 6 * s, false},
		{"another node meanwhile", "n1", 15 * s, 15 * s, false},
		{"still down at the end", "n3", 500 * s, 500 * s, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DuringKill(w, tc.node, tc.sent, tc.done, grace); got != tc.want {
				t.Fatalf("DuringKill(%s, %d..%d) = %v", tc.node, tc.sent/s, tc.done/s, got)
			}
		})
	}
}

func TestHarnessParseVmRSS(t *testing.T) {
	status := "Name:\tdynago\nVmPeak:\t 900 kB\nVmRSS:\t  123456 kB\nThreads:\t12\n"
	b, err := ParseVmRSS(strings.NewReader(status))
	if err != nil || b != 123456<<10 {
		t.Fatalf("ParseVmRSS = %d, %v", b, err)
	}
	for _, bad := range []string{"Name:\tkthreadd\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if _, err := ParseVmRSS(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseVmRSS(%q) accepted", bad)
		}
	}
	self, anon, err := ProcMem(os.Getpid())
	if err != nil || self < 1<<20 || anon < 1<<20 || anon > self {
		t.Fatalf("ProcMem(self) = %d, %d, %v: a Go test binary has more than 1 MiB resident, most of it anonymous", self, anon, err)
	}
}

func TestHarnessParseNetstat(t *testing.T) {
	in := "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 1 22 333\nIpExt: InNoRoutes\nIpExt: 4\n"
	got, err := ParseNetstat([]byte(in), "TcpExt")
	if err != nil || got["ListenOverflows"] != 22 || got["ListenDrops"] != 333 || len(got) != 3 {
		t.Fatalf("ParseNetstat(TcpExt) = %v, %v", got, err)
	}
	if got, err := ParseNetstat([]byte(in), "IpExt"); err != nil || got["InNoRoutes"] != 4 {
		t.Fatalf("ParseNetstat(IpExt) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "TcpExt: A B\n", "TcpExt: A B\nTcpExt: 1\n", "TcpExt: A\nTcpExt: x\n"} {
		if got, err := ParseNetstat([]byte(bad), "TcpExt"); err == nil {
			t.Errorf("ParseNetstat(%q) = %v, want an error", bad, got)
		}
	}
	// The machine's own file parses and has the counters the soak reports.
	m, err := readTCPCounters()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m["Tcp.ActiveOpens"]; !ok {
		t.Error("/proc/net/snmp has no Tcp ActiveOpens")
	}
	for _, k := range soakTCPCounters {
		if _, ok := m["TcpExt."+k]; !ok {
			t.Errorf("/proc/net/netstat has no TcpExt %s", k)
		}
	}
}

// The open loop offers its rate whatever becomes of the requests: with
// every slot busy, the due requests are counted as not sent, not delayed.
func TestHarnessOpenLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		go func() {
			time.Sleep(2 * time.Second)
			close(stop)
		}()
		slots := 300
		var sent []int64
		st := openLoop(context.Background(), 1000, stop, func(seq int64) bool {
			if len(sent) == slots {
				return false // never answered: every slot stays busy
			}
			sent = append(sent, seq)
			return true
		})
		if st.maxLag != 0 {
			t.Fatalf("tick delay %s on a fake clock", st.maxLag)
		}
		if st.offered < 1990 || st.offered > 2000 {
			t.Fatalf("offered %d in 2 s at 1000/s", st.offered)
		}
		if st.notSent != st.offered-int64(slots) || len(sent) != slots || sent[slots-1] != int64(slots-1) {
			t.Fatalf("offered %d, not sent %d, sent %d", st.offered, st.notSent, len(sent))
		}
	})
}

// An agent that exits by itself is an unexpected exit; one the harness
// SIGKILLs is not.
func TestHarnessExits(t *testing.T) {
	c, err := NewCluster(ClusterConfig{Nodes: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	start := func(n *Node, name string, args ...string) {
		cmd := exec.Command(name, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		logw, err := os.Create(n.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		n.mu.Lock()
		c.trackLocked(n, cmd, logw)
		n.mu.Unlock()
	}
	killed, crashed := c.Nodes[0], c.Nodes[1]
	start(killed, "sleep", "60")
	start(crashed, "sh", "-c", "exit 3")
	if pid, ok := killed.PID(); !ok || pid <= 0 {
		t.Fatalf("PID of a running node: %d, %v", pid, ok)
	}
	if err := c.Kill(killed); err != nil {
		t.Fatal(err)
	}
	crashed.mu.Lock()
	done := crashed.mu.proc.done
	crashed.mu.Unlock()
	select {
	case <-done:
	case <-t.Context().Done():
		t.Fatal("sh did not exit")
	}
	ex := c.Exits()
	if len(ex) != 1 || ex[0].Node != crashed.Name || !strings.Contains(ex[0].Err, "exit status 3") {
		t.Fatalf("exits %+v, want only %s's exit status 3", ex, crashed.Name)
	}
	if _, ok := killed.PID(); ok {
		t.Fatal("a killed node still has a PID")
	}
}

// ClassifyAnswer reads whatever a node (or anything on its port) sends:
// it never panics, and names only "ok", a known code or unclear_answer.
func FuzzClassifyAnswer(f *testing.F) {
	f.Add(503, `{"error":"at its limit","code":"overloaded"}`, "1")
	f.Add(503, `{"error":"x","code":"write_indeterminate"}`, "")
	f.Add(500, `{"error":"boom","code":"internal"}`, "")
	f.Add(204, "", "")
	f.Add(502, "Bad Gateway", "")
	f.Add(400, `{"code":`, "")
	f.Fuzz(func(t *testing.T, status int, body, retry string) {
		h := http.Header{}
		if retry != "" {
			h.Set("Retry-After", retry)
		}
		class, _ := ClassifyAnswer(status, h, []byte(body))
		if class != "ok" && class != "unclear_answer" && !clearCodes[class] {
			t.Fatalf("ClassifyAnswer(%d, %q) = %q", status, body, class)
		}
		if class == "overloaded" && retry == "" {
			t.Fatal("overloaded without Retry-After counted as clear")
		}
	})
}

// ParseVmRSS reads a /proc file: it never panics and never returns a
// negative size.
func FuzzParseVmRSS(f *testing.F) {
	f.Add("Name:\tdynago\nVmRSS:\t  123456 kB\n")
	f.Add("VmRSS:\t12 MB\n")
	f.Add("VmRSS:\t-5 kB\n")
	f.Add("VmRSS:\t99999999999999999999 kB\n")
	f.Add("VmRSS:\t9007199254740993 kB\n") // 2^53+1 kB: bytes would overflow int64
	f.Fuzz(func(t *testing.T, s string) {
		if b, err := ParseVmRSS(strings.NewReader(s)); err == nil && b < 0 {
			t.Fatalf("ParseVmRSS(%q) = %d", s, b)
		}
	})
}

// A connect that timed out, or a request that timed out before it was
// written or with less than its time left once written, is judged against
// the kill windows: while its node was down it counts with the killed
// node's errors, at any other time as no clear answer; a request written
// and unanswered for its whole time is never clear.
func TestHarnessDialTimeoutsJudged(t *testing.T) {
	rec, err := history.NewRecorder(filepath.Join(t.TempDir(), "h.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	s := &soakLoad{rec: rec}
	s.mu.counts = map[string]int64{}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	s.transport("n2", rec.Now(), dialTimeout, 0, "")
	s.transport("n1", rec.Now(), dialTimeout, 0, "")
	// Written a whole soakClientTimeout before it timed out: no answer.
	s.transport("n2", rec.Now(), readTimeout, rec.Now()-int64(soakClientTimeout), "")
	// The client's timeout while the request waited for a connection, and
	// one written so late that it had less than its time.
	s.transport("n2", rec.Now(), context.DeadlineExceeded, 0, "")
	s.transport("n2", rec.Now(), context.DeadlineExceeded, rec.Now()-int64(time.Second), "")
	killed, other := s.judgeDialTimeouts([]KillWindow{{Node: "n2", From: 0, To: 1 << 62}}, 0)
	if killed != 3 || len(other) != 1 || !strings.HasPrefix(other[0], "n1 at ") {
		t.Fatalf("judged %d during kills and %q otherwise, want 3 and n1's", killed, other)
	}
	if got := s.count("unclear_no_answer"); got != 1 {
		t.Fatalf("a read timeout counted %d unclear_no_answer, want 1", got)
	}
}
