// Command compare measures dynago side by side with its references, in one
// run on 127.0.0.1, as DESIGN.md §8 asks: the same load generator (the
// built `dynago bench`, run once per target and round with --json), the
// same value size, key space and concurrency, interleaved rounds, medians
// and ratios.
//
// It builds dynago once, then starts, each on free loopback ports in temp
// dirs:
//   - a 3-agent dynago cluster, N3 R2 W2, --sync=false (HTTP and, when the
//     build has it, RESP via --resp), loaded over all three nodes;
//   - a second 3-agent cluster with --sync=true (every replica write
//     fsynced), for the durable-write comparison;
//   - redis-server without persistence (--save "" --appendonly no) and with
//     --appendonly yes --appendfsync always (installed with apt-get when
//     missing and run as root; skipped, with a line saying so, otherwise);
//   - the bare net/http map server (`dynago bench --serve-reference`) in a
//     process of its own.
//
// Then, for each round, every target in turn: a mixed load (--read-ratio,
// YCSB A by default) against dynago HTTP, dynago RESP, redis and the
// reference; a write-only load (SET) against dynago --sync=true and redis
// appendfsync always. Round 1 preloads every key of the mixed targets. It
// prints one table of medians (throughput, p50, p99, p99.9, CPU per OK
// request of the target's processes, from /proc) and the issue-12 ratios
// beside their targets.
//
// What it must not do: leave a process or temp dir behind. Every process
// it starts is stopped by its PID (SIGTERM, then SIGKILL after 5 s), also
// on failure and on Ctrl-C, and dies with compare if compare is killed
// (Pdeathsig); every round has a duration and the whole run a --deadline.
//
// Usage:
//
//	go run ./bench/compare                      # 3 rounds x 10 s per target
//	go run ./bench/compare --smoke              # CI: 1 round x 1 s, few keys
//	go run ./bench/compare --rounds 5 --duration 20s --concurrency 50
//
// It exits 1 when a measurement failed or any request failed, except a
// RESP GET answered -SIBLINGS (counted and printed; see siblingsKind), and
// not when a ratio misses its target (that is a result, printed as one).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dynago/dynago/node/api"
)

// respFlag finds the agent's --resp flag in its help text.
var respFlag = regexp.MustCompile(`(?m)^\s*--resp[\s=]`)

// config is compare's flags.
type config struct {
	rounds      int
	duration    time.Duration
	concurrency int
	keys        int
	valueSize   int
	readRatio   float64
	deadline    time.Duration
	seed        uint64
	smoke       bool
	binary      string
	noRedis     bool
	keepLogs    bool
	scale       bool
	scaleKeys   []int
}

func main() {
	var c config
	flag.IntVar(&c.rounds, "rounds", 3, "interleaved rounds per target; medians are reported (DESIGN.md §8: at least three)")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "length of each round (the issue's measurements: 10 s)")
	flag.IntVar(&c.concurrency, "concurrency", 50, "closed-loop clients per target, spread over its nodes (the issue's 50)")
	flag.IntVar(&c.keys, "keys", 10000, "keys in the key space (the issue's 10k)")
	flag.IntVar(&c.valueSize, "value-size", 100, "bytes per value (the issue's 100)")
	flag.Float64Var(&c.readRatio, "read-ratio", 0.5, "fraction of reads in the mixed load (YCSB A: 0.5, the issue's mix)")
	flag.DurationVar(&c.deadline, "deadline", 20*time.Minute, "stop everything after this long, whatever is left")
	flag.Uint64Var(&c.seed, "seed", 0, "seed of round 1 (round i uses seed+i-1 for every target; 0: from the clock)")
	flag.BoolVar(&c.smoke, "smoke", false, "a tiny run for CI: 1 round of 1 s, 200 keys, 8 clients, 2 min deadline (with --scale: 100, 200 and 400 keys)")
	flag.StringVar(&c.binary, "dynago", "", "use this dynago binary instead of building one")
	flag.BoolVar(&c.noRedis, "no-redis", false, "skip the redis-server targets")
	flag.BoolVar(&c.keepLogs, "keep-logs", false, "keep the temp dir (agent and redis logs) and print its path")
	flag.BoolVar(&c.scale, "scale", false, "instead of the comparison, measure memory and cost growth: RSS per agent at growing key spaces and throughput at the largest vs the smallest (issue 12's scale targets; about 25 min at 5M keys)")
	scaleKeys := flag.String("scale-keys", "100000,1000000,5000000", "with --scale: the small cluster's keys, then the large cluster's two stages (the issue's 100k, 1M and 5M keys per node)")
	flag.Parse()
	for _, f := range strings.Split(*scaleKeys, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "compare: --scale-keys: %q is not a key count\n", f)
			os.Exit(2)
		}
		c.scaleKeys = append(c.scaleKeys, n)
	}
	deadlineSet := false
	flag.Visit(func(f *flag.Flag) { deadlineSet = deadlineSet || f.Name == "deadline" })
	if c.scale && !deadlineSet {
		c.deadline = 90 * time.Minute // a 5M-key preload at a few thousand keys/s
	}
	if c.smoke {
		c.rounds, c.duration, c.keys, c.concurrency = 1, time.Second, 200, 8
		c.scaleKeys = []int{100, 200, 400}
		if c.deadline > 2*time.Minute {
			c.deadline = 2 * time.Minute
		}
	}
	if c.seed == 0 {
		c.seed = uint64(time.Now().UnixNano())
	}
	if c.rounds < 1 || c.duration <= 0 || c.concurrency < 1 || c.keys < 1 || c.readRatio < 0 || c.readRatio > 1 {
		fmt.Fprintln(os.Stderr, "compare: bad flags (rounds, duration, concurrency and keys must be positive; read-ratio in 0..1)")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, c.deadline)
	var err error
	if c.scale {
		err = runScale(ctx, c, os.Stdout)
	} else {
		err = run(ctx, c, os.Stdout)
	}
	cancel()
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		os.Exit(1)
	}
}

// procs holds every process compare started, to stop them by PID.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start starts bin with args, output to a log file in dir, and records it.
func (ps *procs) start(dir, name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	// The process dies with compare, however compare ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether p has exited, with its error.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// tail returns the last n lines of p's log, for an error message.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stopAll sends SIGTERM to every running process by PID, waits up to 5 s
// for each, then SIGKILLs what is left, and waits for it.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	list := slices.Clone(ps.list)
	ps.mu.Unlock()
	for _, p := range list {
		if done, _ := p.exited(); !done {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(5 * time.Second)
	for _, p := range list {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freeAddr() (string, error) {
	p, err := freePort()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(p), nil
}

// target is one system under test, with the load it gets.
type target struct {
	name     string
	protocol string
	addrs    []string
	pids     []int
	// writeOnly: SET/PUT only, no preload (the durable-write comparison).
	writeOnly bool
	// keys overrides config.keys for this target (0: config.keys); the
	// scale run loads key spaces of different sizes.
	keys int
	// preloaded: the key space was written before the rounds (the scale
	// run preloads in stages of its own): no preload in round 1.
	preloaded bool
	rounds    []summary
	preload   float64 // keys/s in round 1, 0 if none
	failures  []string
	siblings  int64 // GET -SIBLINGS errors over all rounds (see siblingsKind)
}

// summary is the part of `dynago bench --json`'s round a table needs.
type summary struct {
	Requests   int64            `json:"requests"`
	OK         int64            `json:"ok"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds"`
	Throughput float64          `json:"throughput"`
	P50        float64          `json:"p50_us"`
	P99        float64          `json:"p99_us"`
	P999       float64          `json:"p999_us"`
	CPUSec     float64          `json:"cpu_s"`
	CPUPerOp   float64          `json:"cpu_us_per_op"`
}

type benchReport struct {
	Rounds  []summary `json:"rounds"`
	Preload map[string]struct {
		Keys    int64             `json:"keys"`
		Rate    float64           `json:"keys_per_s"`
		Errors  int64             `json:"errors"`
		Kinds   map[string]int64  `json:"error_kinds"`
		Samples map[string]string `json:"error_samples"`
	} `json:"preload"`
}

// workspace is a run's temp dir and the processes it starts; done stops
// them by PID and removes the dir (unless --keep-logs), joining any
// error into *err.
type workspace struct {
	dir string
	ps  *procs
}

func newWorkspace(prefix string) (*workspace, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	return &workspace{dir: dir, ps: &procs{}}, nil
}

func (w *workspace) done(c config, out io.Writer, err *error) {
	w.ps.stopAll()
	if c.keepLogs {
		fmt.Fprintf(out, "logs kept in %s\n", w.dir)
		return
	}
	if rerr := os.RemoveAll(w.dir); rerr != nil {
		*err = errors.Join(*err, rerr)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "compare: "+format+"\n", args...) }

func run(ctx context.Context, c config, out io.Writer) (err error) {
	w, err := newWorkspace("dynago-compare-")
	if err != nil {
		return err
	}
	defer w.done(c, out, &err)
	dir, ps := w.dir, w.ps
	bin, err := buildDynago(ctx, c, dir)
	if err != nil {
		return err
	}
	help, _ := exec.CommandContext(ctx, bin, "agent", "--help").CombinedOutput()
	hasRESP := respFlag.Match(help)
	if !hasRESP {
		fmt.Fprintln(out, "NOTE: this dynago build has no `agent --resp`: the dynago RESP targets are skipped, and the durable comparison runs dynago over HTTP.")
	}

	var targets []*target
	fast, err := startCluster(ctx, ps, dir, bin, "fast", false, hasRESP)
	if err != nil {
		return err
	}
	durable, err := startCluster(ctx, ps, dir, bin, "durable", true, hasRESP)
	if err != nil {
		return err
	}
	targets = append(targets, &target{name: "dynago HTTP (sync=false)", protocol: "http", addrs: fast.http, pids: fast.pids})
	if hasRESP {
		targets = append(targets, &target{name: "dynago RESP (sync=false)", protocol: "resp", addrs: fast.resp, pids: fast.pids})
	}
	ref, err := startReference(ctx, ps, dir, bin)
	if err != nil {
		return err
	}
	targets = append(targets, &target{name: "net/http map server", protocol: "http", addrs: []string{ref.url}, pids: []int{ref.pid}})

	redisBin := ""
	if !c.noRedis {
		redisBin = findRedis(ctx, out)
	} else {
		fmt.Fprintln(out, "NOTE: --no-redis: the redis-server targets are skipped.")
	}
	if redisBin != "" {
		plain, err := startRedis(ctx, ps, dir, redisBin, "redis-plain", "--save", "", "--appendonly", "no")
		if err != nil {
			return err
		}
		targets = append(targets, &target{name: "redis-server (no persistence)", protocol: "resp", addrs: []string{plain.addr}, pids: []int{plain.pid}})
	}
	if hasRESP {
		targets = append(targets, &target{name: "dynago RESP SET (sync=true)", protocol: "resp", addrs: durable.resp, pids: durable.pids, writeOnly: true})
	} else {
		targets = append(targets, &target{name: "dynago HTTP PUT (sync=true)", protocol: "http", addrs: durable.http, pids: durable.pids, writeOnly: true})
	}
	if redisBin != "" {
		aof, err := startRedis(ctx, ps, dir, redisBin, "redis-aof", "--save", "", "--appendonly", "yes", "--appendfsync", "always")
		if err != nil {
			return err
		}
		targets = append(targets, &target{name: "redis-server SET (appendfsync always)", protocol: "resp", addrs: []string{aof.addr}, pids: []int{aof.pid}, writeOnly: true})
	}

	fmt.Fprintf(out, "compare: %d round(s) x %s per target, %d clients, %d keys, %d B values, mixed load %.0f%% reads, seed %d\n",
		c.rounds, c.duration, c.concurrency, c.keys, c.valueSize, c.readRatio*100, c.seed)
	var failed []string
	for i := range c.rounds {
		for _, t := range targets {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("stopped before round %d of %s: %w", i+1, t.name, err)
			}
			s, err := measure(ctx, bin, c, t, i)
			if err != nil && ctx.Err() != nil {
				return fmt.Errorf("stopped during round %d of %s: %w", i+1, t.name, ctx.Err())
			}
			if err != nil {
				failed = append(failed, fmt.Sprintf("%s round %d: %v", t.name, i+1, err))
				logf("%s round %d: %v", t.name, i+1, err)
				continue
			}
			cpu := ""
			if s.CPUSec > 0 {
				cpu = fmt.Sprintf(", cpu %.1f µs/op", s.CPUPerOp)
			}
			logf("round %d %-40s %8.0f req/s  p50 %.2f ms  p99 %.2f ms  errors %d%s", i+1, t.name, s.Throughput, s.P50/1000, s.P99/1000, s.Errors, cpu)
		}
		// A dead server makes every later figure meaningless: stop.
		ps.mu.Lock()
		list := slices.Clone(ps.list)
		ps.mu.Unlock()
		for _, p := range list {
			if done, perr := p.exited(); done {
				return fmt.Errorf("%s (pid %d) exited during the run: %v\n%s", p.name, p.pid(), perr, p.tail(20))
			}
		}
	}
	writeTable(out, c, targets)
	if len(failed) > 0 {
		return fmt.Errorf("%d measurement(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

// buildDynago builds dynago into dir, unless c names a binary.
func buildDynago(ctx context.Context, c config, dir string) (string, error) {
	if c.binary != "" {
		return c.binary, nil
	}
	bin := filepath.Join(dir, "dynago")
	fmt.Fprintf(os.Stderr, "compare: building dynago into %s\n", dir)
	b := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dynago/dynago/cmd/dynago")
	b.Stdout, b.Stderr = os.Stderr, os.Stderr
	if err := b.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// measure runs one round of `dynago bench` against t, appends the result
// to t.rounds, and returns it. A bench that ran but saw failed requests
// is recorded and also reported as an error.
func measure(ctx context.Context, bin string, c config, t *target, round int) (summary, error) {
	ratio := c.readRatio
	if t.writeOnly {
		ratio = 0
	}
	// Each round gets its duration plus time for a preload and start-up;
	// a bench that runs past it is killed and reported.
	budget := c.duration + 2*time.Minute
	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	keys := c.keys
	if t.keys > 0 {
		keys = t.keys
	}
	args := []string{"bench", "--json", "--quiet", "--protocol", t.protocol,
		"--addr", strings.Join(t.addrs, ","), "--rounds", "1", "--duration", c.duration.String(),
		"--concurrency", strconv.Itoa(c.concurrency), "--keys", strconv.Itoa(keys),
		"--value-size", strconv.Itoa(c.valueSize), "--read-ratio", strconv.FormatFloat(ratio, 'f', -1, 64),
		"--seed", strconv.FormatUint(c.seed+uint64(round), 10),
		// Round 1 of a load with reads writes every key first; later rounds
		// read what it wrote (and what earlier rounds updated).
		"--preload=" + strconv.FormatBool(round == 0 && ratio > 0 && !t.preloaded)}
	if len(t.pids) > 0 {
		ps := make([]string, len(t.pids))
		for i, p := range t.pids {
			ps[i] = strconv.Itoa(p)
		}
		args = append(args, "--pids", strings.Join(ps, ","))
	}
	if t.protocol == "http" {
		args = append(args, "--r", "2", "--w", "2")
	}
	rep, runErr := runBench(rctx, bin, args)
	if rep == nil {
		return summary{}, runErr
	}
	s := rep.Rounds[0]
	t.rounds = append(t.rounds, s)
	for _, p := range rep.Preload {
		t.preload = p.Rate
		if p.Errors > 0 {
			t.failures = append(t.failures, fmt.Sprintf("preload: %d errors", p.Errors))
		}
	}
	var kinds []string
	fatal := s.Errors - s.ErrorKinds[siblingsKind]
	for k, n := range s.ErrorKinds {
		kinds = append(kinds, fmt.Sprintf("%s x%d", k, n))
	}
	slices.Sort(kinds)
	if n := s.ErrorKinds[siblingsKind]; n > 0 {
		t.siblings += n
	}
	if fatal > 0 || (runErr != nil && s.Errors == 0) {
		msg := fmt.Sprintf("round %d: %d of %d requests failed: %s (%v)", round+1, s.Errors, s.Requests, strings.Join(kinds, ", "), runErr)
		t.failures = append(t.failures, msg)
		return s, errors.New(msg)
	}
	return s, nil
}

// runBench runs the built `dynago bench` with args (which include --json
// and --rounds 1) and decodes its report. It returns a nil report when the
// output is not a one-round report, and with a report the bench's own
// error (it exits 1 when a request failed).
func runBench(ctx context.Context, bin string, args []string) (*benchReport, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, runErr := cmd.Output()
	var rep benchReport
	if err := json.Unmarshal(stdout, &rep); err != nil || len(rep.Rounds) != 1 {
		return nil, fmt.Errorf("dynago bench: %v (output not a one-round report: %v)\n%s", runErr, err, strings.TrimSpace(stderr.String()))
	}
	return &rep, runErr
}

// siblingsKind is dynago bench's error kind for a RESP GET of a key with
// siblings. Concurrent blind SETs of one key through different
// coordinators make siblings, and the RESP contract answers GET of such a
// key with an error reply (DESIGN.md §9), so a mixed load over three
// nodes sees some. compare counts and prints them, excludes them from
// throughput (bench counts OK requests only), and does not fail on them:
// they are the contract's behaviour, not a broken run.
const siblingsKind = "GET -SIBLINGS"

// cluster is a running 3-agent dynago cluster.
type cluster struct {
	http []string // base URLs
	resp []string // host:port, when the build has --resp
	pids []int
}

// startCluster starts 3 agents (N3 R2 W2) joined into one cluster and
// waits until every node serves /health and sees all three as live,
// settled ring members.
func startCluster(ctx context.Context, ps *procs, dir, bin, name string, sync, resp bool) (*cluster, error) {
	cl := &cluster{}
	var seed string
	var started []*proc
	for i := 1; i <= 3; i++ {
		var a [4]string
		for j := range a {
			var err error
			if a[j], err = freeAddr(); err != nil {
				return nil, err
			}
		}
		node := fmt.Sprintf("%s-n%d", name, i)
		data := filepath.Join(dir, node)
		args := []string{"agent", "--name", node, "--data-dir", data,
			"--http", a[0], "--rpc", a[1], "--gossip", a[2],
			"--n", "3", "--r", "2", "--w", "2", "--sync=" + strconv.FormatBool(sync), "--log-level", "warn"}
		if resp {
			args = append(args, "--resp", a[3])
			cl.resp = append(cl.resp, a[3])
		}
		if seed != "" {
			args = append(args, "--join", seed)
		} else {
			seed = a[2]
		}
		p, err := ps.start(dir, node, bin, args...)
		if err != nil {
			return nil, err
		}
		started = append(started, p)
		cl.http = append(cl.http, "http://"+a[0])
		cl.pids = append(cl.pids, p.pid())
	}
	if err := waitCluster(ctx, cl.http, started, 60*time.Second); err != nil {
		return nil, fmt.Errorf("cluster %s: %w", name, err)
	}
	fmt.Fprintf(os.Stderr, "compare: cluster %s (sync=%v) ready: %s (pids %v)\n", name, sync, strings.Join(cl.http, " "), cl.pids)
	return cl, nil
}

func waitCluster(ctx context.Context, urls []string, ps []*proc, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		ok := true
		for i, u := range urls {
			if done, err := ps[i].exited(); done {
				return fmt.Errorf("%s exited while starting: %v\n%s", ps[i].name, err, ps[i].tail(20))
			}
			var ms []api.Member
			if err := getJSON(ctx, hc, u+api.PathHealth, nil); err != nil {
				ok, last = false, fmt.Sprintf("%s: %v", u, err)
				break
			}
			if err := getJSON(ctx, hc, u+api.PathMembers, &ms); err != nil {
				ok, last = false, fmt.Sprintf("%s: %v", u, err)
				break
			}
			live := 0
			for _, m := range ms {
				if m.Alive && m.State == "valid" {
					live++
				}
			}
			if live != len(urls) {
				ok, last = false, fmt.Sprintf("%s sees %d of %d nodes live and valid", u, live, len(urls))
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready (waited up to %s): %w: %s", within, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

type server struct {
	addr, url string
	pid       int
}

// startReference runs `dynago bench --serve-reference` and waits until it
// answers.
func startReference(ctx context.Context, ps *procs, dir, bin string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p, err := ps.start(dir, "reference", bin, "bench", "--serve-reference", addr)
	if err != nil {
		return nil, err
	}
	s := &server{addr: addr, url: "http://" + addr, pid: p.pid()}
	hc := &http.Client{Timeout: 2 * time.Second}
	err = waitFor(ctx, p, 10*time.Second, func() error {
		resp, err := hc.Get(s.url + "/kv/compare-probe")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("probe: %s", resp.Status)
		}
		return nil
	})
	return s, err
}

// findRedis returns redis-server's path, installing the Debian package
// when it is missing and this is root with apt-get; "" (with a line on
// out) when it cannot.
func findRedis(ctx context.Context, out io.Writer) string {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		fmt.Fprintln(out, "NOTE: redis-server is not installed (and this is not root with apt-get): the redis targets are skipped.")
		return ""
	}
	fmt.Fprintln(os.Stderr, "compare: installing redis-server (apt-get install -y redis-server)")
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "redis-server")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(out, "NOTE: apt-get install redis-server failed (%v): the redis targets are skipped.\n%s\n", err, lastLines(string(b), 5))
		return ""
	}
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p
	}
	fmt.Fprintln(out, "NOTE: redis-server is still missing after apt-get: the redis targets are skipped.")
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startRedis starts redis-server on a free loopback port in a dir of its
// own, with extra configuration args, and waits until it answers PING.
func startRedis(ctx context.Context, ps *procs, dir, bin, name string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	rdir := filepath.Join(dir, name)
	if err := os.MkdirAll(rdir, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "yes",
		"--dir", rdir, "--daemonize", "no", "--logfile", ""}, extra...)
	p, err := ps.start(dir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), pid: p.pid()}
	err = waitFor(ctx, p, 10*time.Second, func() error { return ping(s.addr) })
	if err == nil {
		fmt.Fprintf(os.Stderr, "compare: %s ready on %s (pid %d): %s\n", name, s.addr, s.pid, strings.Join(extra, " "))
	}
	return s, err
}

// ping sends a RESP PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// waitFor polls probe until it succeeds, p exits, or within passes.
func waitFor(ctx context.Context, p *proc, within time.Duration, probe func() error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		err := probe()
		if err == nil {
			return nil
		}
		if done, perr := p.exited(); done {
			return fmt.Errorf("%s exited while starting: %v\n%s", p.name, perr, p.tail(20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s: %v\n%s", p.name, within, err, p.tail(20))
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}
