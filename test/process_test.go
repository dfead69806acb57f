package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds cmd/dynago once per test binary run.
var buildOnce struct {
	sync.Once
	path string
	err  error
}

func dynagoBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dynago-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "dynago")
		out, err := exec.Command("go", "build", "-o", buildOnce.path, "github.com/dynago/dynago/cmd/dynago").CombinedOutput()
		if err != nil {
			buildOnce.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildOnce.err != nil {
		t.Fatal(buildOnce.err)
	}
	return buildOnce.path
}

// freePort returns a port below Linux's ephemeral range (32768+) that was
// free a moment ago (TCP and UDP): a restarted agent rebinds it, and an
// ephemeral port may meanwhile be some connection's source port.
//
// A port is never handed out twice in one process: an agent may not have
// bound it yet.
func freePort(t *testing.T) int {
	t.Helper()
	for range 1000 {
		port := 26000 + rand.IntN(6000) // 26000-31999; node tests use 20000-25999
		usedPortsMu.Lock()
		taken := usedPorts[port]
		usedPorts[port] = true
		usedPortsMu.Unlock()
		if taken {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err != nil {
			continue
		}
		pc.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

var (
	usedPortsMu sync.Mutex
	usedPorts   = map[int]bool{}
)

// agent is one `dynago agent` process.
type agent struct {
	name              string
	http, rpc, gossip string
	dataDir, logPath  string
	join              string
	resp              string   // --resp IP:PORT, or "" (off)
	flags             []string // more agent flags (e.g. --gossip-key, --token-file)
	// config, when set, is the agent's only flag: --config FILE, which
	// holds its name, data dir and addresses (http, rpc, gossip are then
	// what the test dials: the advertised addresses).
	config string
	bin    string // the dynago binary to run ("": this tree's, dynagoBinary)
	// hc, when set, is how the test reaches a node serving HTTPS
	// (tls_test.go).
	hc      *http.Client
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

func newAgent(t *testing.T, name, join string) *agent {
	dir := t.TempDir()
	return &agent{
		name:    name,
		http:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		rpc:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		gossip:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, name+".log"),
		join:    join,
	}
}

func (a *agent) url() string {
	if a.hc != nil {
		return "https://" + a.http
	}
	return "http://" + a.http
}

func (a *agent) start(t *testing.T) {
	t.Helper()
	a.launch(t)
	a.waitHealthy(t)
}

// launch starts the process without waiting for it to be healthy.
func (a *agent) launch(t *testing.T) {
	t.Helper()
	args := []string{"agent", "--name", a.name, "--data-dir", a.dataDir, "--http", a.http, "--rpc", a.rpc, "--gossip", a.gossip}
	if a.config != "" { // everything is in the file (network_test.go)
		args = []string{"agent", "--config", a.config}
	}
	if a.join != "" {
		args = append(args, "--join", a.join)
	}
	if a.resp != "" {
		args = append(args, "--resp", a.resp)
	}
	args = append(args, a.flags...)
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	bin := a.bin
	if bin == "" {
		bin = dynagoBinary(t)
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a.exited = make(chan struct{})
	go func() {
		a.exitErr = a.cmd.Wait()
		logf.Close()
		close(a.exited)
	}()
	t.Cleanup(func() { a.kill() })
}

// waitHealthy waits until the agent answers GET /health with 200; the
// test fails if it exits first.
func (a *agent) waitHealthy(t *testing.T) {
	t.Helper()
	poll(t, a.name+" to be healthy", 20*time.Second, 50*time.Millisecond, func() (bool, string) {
		hc := http.DefaultClient
		if a.hc != nil {
			hc = a.hc
		}
		resp, err := hc.Get(a.url() + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true, ""
			}
		}
		select {
		case <-a.exited:
			log, _ := os.ReadFile(a.logPath)
			t.Fatalf("%s exited at start: %v\n%s", a.name, a.exitErr, log)
		default:
		}
		return false, fmt.Sprint(err)
	})
}

// poll calls cond every interval until it holds; the test fails if
// timeout passes or the test's context ends first.
func poll(t *testing.T, what string, timeout, interval time.Duration, cond func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, msg := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		case <-tick.C:
		}
	}
}

// claimRounds reads a's dynago_claim_rounds_total: the passes of its
// claim loop that have ended.
func claimRounds(t *testing.T, a *agent) uint64 {
	t.Helper()
	resp, err := http.Get(a.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(line, "dynago_claim_rounds_total "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("%s: dynago_claim_rounds_total %q: %v", a.name, v, err)
			}
			return uint64(f)
		}
	}
	t.Fatalf("%s's /metrics has no dynago_claim_rounds_total", a.name)
	return 0
}

// waitClaimRounds waits until k passes of each agent's claim loop have
// run wholly after the call (the count, taken at each pass's end, has
// advanced by k+1).
func waitClaimRounds(t *testing.T, k uint64, agents ...*agent) {
	t.Helper()
	start := map[string]uint64{}
	for _, a := range agents {
		start[a.name] = claimRounds(t, a)
	}
	poll(t, fmt.Sprintf("%d more claim rounds", k), 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		for _, a := range agents {
			if got := claimRounds(t, a) - start[a.name]; got < k+1 {
				return false, fmt.Sprintf("%s: %d ended since", a.name, got)
			}
		}
		return true, ""
	})
}

// kill SIGKILLs the process (by its PID) and waits for it.
func (a *agent) kill() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
}

// cli runs the dynago CLI and returns its stdout and exit code.
func cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(dynagoBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cli: %v", err)
	}
	return out.String() + errb.String(), code
}

type member struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Alive bool   `json:"alive"`
}

// membersAlive asks `dynago members --json` how many members are alive.
func membersAlive(t *testing.T, addr string) (int, string) {
	out, code := cli(t, "members", "--addr", addr, "--json")
	if code != 0 {
		return -1, out
	}
	var ms []member
	if err := json.Unmarshal([]byte(out), &ms); err != nil {
		return -1, out
	}
	alive := 0
	for _, m := range ms {
		if m.Alive && m.State != "joining" { // joining: still pulling its partitions
			alive++
		}
	}
	return alive, out
}

func waitAlive(t *testing.T, addr string, want int) {
	t.Helper()
	poll(t, fmt.Sprintf("dynago members at %s to list %d alive", addr, want), 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		n, out := membersAlive(t, addr)
		return n == want, "last output:\n" + out
	})
}

// Three real agent processes; one is SIGKILLed while a writer runs at W=2.
// Every acknowledged write is readable at R=2, and the killed node restarts
// on its data dir and is listed alive again by `dynago members`.
func TestProcessKillKeepsAcknowledgedWrites(t *testing.T) {
	n1 := newAgent(t, "n1", "")
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip)
	n3 := newAgent(t, "n3", n1.gossip)
	n2.start(t)
	n3.start(t)
	agents := []*agent{n1, n2, n3}
	waitAlive(t, n1.url(), 3)

	client := &http.Client{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	var mu sync.Mutex
	acked := map[string]string{}
	attempts := 0
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key := fmt.Sprintf("w%d-%d", w, i)
				val := "value-" + key
				a := agents[(w+i)%3]
				req, _ := http.NewRequestWithContext(ctx, "PUT", a.url()+"/kv/"+key+"?w=2", strings.NewReader(val))
				resp, err := client.Do(req)
				mu.Lock()
				attempts++
				mu.Unlock()
				if err != nil {
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 204 {
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			}
		})
	}
	// Let the writers run before the crash: until they have 200 acked
	// writes, four times what the test needs in all (or their time is up).
	tick := time.NewTicker(20 * time.Millisecond)
	for loaded := false; !loaded; {
		select {
		case <-ctx.Done():
			loaded = true
		case <-tick.C:
			mu.Lock()
			loaded = len(acked) >= 200
			mu.Unlock()
		}
	}
	tick.Stop()
	n3.kill()
	wg.Wait()
	t.Logf("%d writes attempted, %d acknowledged", attempts, len(acked))
	if len(acked) < 50 {
		t.Fatalf("only %d acknowledged writes; the test needs load", len(acked))
	}

	for key, val := range acked {
		for _, a := range []*agent{n1, n2} {
			resp, err := client.Get(a.url() + "/kv/" + key + "?r=2")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(body) != val {
				t.Fatalf("acknowledged %s=%s read via %s: %d %q", key, val, a.name, resp.StatusCode, body)
			}
		}
	}

	n3.start(t)
	waitAlive(t, n1.url(), 3)
	waitAlive(t, n3.url(), 3)

	// SIGTERM shuts a node down cleanly (exit 0).
	_ = n2.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n2.exited:
		if n2.exitErr != nil {
			log, _ := os.ReadFile(n2.logPath)
			t.Fatalf("SIGTERM exit: %v\n%s", n2.exitErr, log)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

// ownedBy counts the partition replicas (preference-list entries) name
// holds, as `dynago ring --json` at addr shows them.
func ownedBy(t *testing.T, addr, name string) int {
	t.Helper()
	out, code := cli(t, "ring", "--addr", addr, "--json")
	if code != 0 {
		t.Fatalf("dynago ring: %s", out)
	}
	var r struct {
		Preflists []struct{ Nodes []string } `json:"preflists"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range r.Preflists {
		for _, id := range p.Nodes {
			if id == name {
				n++
			}
		}
	}
	return n
}

// A node started alone and joined with `dynago join` enters the ring and
// takes its share of partitions; `dynago leave` takes it out and it exits.
func TestProcessJoinAndLeaveWithCLI(t *testing.T) {
	n1 := newAgent(t, "n1", "")
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip)
	n2.start(t)
	n3 := newAgent(t, "n3", n1.gossip)
	n3.start(t)
	waitAlive(t, n1.url(), 3)
	solo := newAgent(t, "n4", "")
	solo.start(t)
	if out, code := cli(t, "join", "--addr", solo.url(), n2.gossip); code != 0 {
		t.Fatalf("dynago join: %d %s", code, out)
	}
	waitAlive(t, n1.url(), 4)
	if got := ownedBy(t, n3.url(), "n4"); got < 256*3/4/2 {
		t.Fatalf("n4 holds %d partition replicas after joining, want about 3/4 of 256", got)
	}
	if out, code := cli(t, "leave", "--addr", solo.url()); code != 0 {
		t.Fatalf("dynago leave: %d %s", code, out)
	}
	select {
	case <-solo.exited:
		if solo.exitErr != nil {
			t.Fatalf("left node exit: %v", solo.exitErr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the node did not exit after leaving")
	}
	waitAlive(t, n1.url(), 3)
	if got := ownedBy(t, n1.url(), "n4"); got != 0 {
		t.Fatalf("n4 still holds %d partitions after leaving", got)
	}
}

// Staged changes through the binary: after `dynago stage`, a node started
// with --join is a member that owns nothing; `dynago plan` shows the staged
// join; `dynago commit` places it.
func TestProcessStagedJoinWithCLI(t *testing.T) {
	n1 := newAgent(t, "n1", "")
	n1.start(t)
	n2 := newAgent(t, "n2", n1.gossip)
	n2.start(t)
	waitAlive(t, n1.url(), 2)
	if out, code := cli(t, "stage", "--addr", n2.url()); code != 0 || !strings.Contains(out, "staging: changes wait for `dynago commit`") {
		t.Fatalf("dynago stage: %d %s", code, out)
	}
	n3 := newAgent(t, "n3", n1.gossip)
	n3.start(t)
	poll(t, "dynago plan to show the staged join", 30*time.Second, 200*time.Millisecond, func() (bool, string) {
		out, code := cli(t, "plan", "--addr", n1.url())
		return code == 0 && strings.Contains(out, "pending: join n3; staged: nothing changes until `dynago commit`"), fmt.Sprint(code, " ", out)
	})
	// Passes of the claim loop since: a claimant that ignored the hold
	// would have placed n3 by now.
	waitClaimRounds(t, 2, n1, n2)
	if got := ownedBy(t, n1.url(), "n3"); got != 0 {
		t.Fatalf("staged n3 holds %d partition replicas", got)
	}
	if out, code := cli(t, "commit", "--addr", n1.url()); code != 0 || !strings.Contains(out, "committed: join n3") {
		t.Fatalf("dynago commit: %d %s", code, out)
	}
	waitAlive(t, n1.url(), 3) // n3 valid: placed, and its partitions pulled
	if got := ownedBy(t, n2.url(), "n3"); got != 256 {
		t.Fatalf("n3 holds %d partition replicas after the commit, want all 256 (N=3 of 3 nodes)", got)
	}
}
