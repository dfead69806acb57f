package jepsen_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dynago/dynago/test/jepsen"
)

var (
	scenariosFlag = flag.String("scenarios", "", `comma-separated scenarios to run, or "all" (every one but the soak, which runs only when named; default: the CI smoke set `+strings.Join(jepsen.SmokeSet(), ",")+`, with shortened durations)`)
	durationFlag  = flag.Duration("duration", 0, "workload length of every selected scenario (default: the scenario's own; shortened in the smoke set)")
	seedFlag      = flag.Int64("seed", 0, "seed of the nemesis schedules and the clients' choices (0: time-based; printed)")
)

// TestMain lets the test binary double as the runner that the test
// re-executes inside its network namespace.
func TestMain(m *testing.M) {
	if spec := os.Getenv(jepsen.ChildEnv); spec != "" {
		os.Exit(jepsen.ChildMain(spec))
	}
	flag.Parse()
	code := m.Run()
	if agentBin.dir != "" {
		os.RemoveAll(agentBin.dir)
	}
	os.Exit(code)
}

// overhead bounds everything in a scenario run besides the workload:
// start, heal, convergence, final reads, checkers.
const overhead = 4 * time.Minute

// typicalOverhead is what a run usually needs besides its workload; the
// test refuses to start a scenario that cannot finish under -timeout.
const typicalOverhead = 45 * time.Second

// TestJepsen runs the fault-test scenarios: by default the CI smoke set
// (droprule, S1, S2, S3, S4, S7, S12, S16, S18 and S20 shortened, S13, S14,
// S15, S19); -scenarios=S2,S4 or
// -scenarios=all and -duration=5m for longer runs; DYNAGO_JEPSEN_OUT sets
// where run directories go. Every scenario except S15 needs root: it runs
// real agents in a network namespace it creates and deletes.
func TestJepsen(t *testing.T) {
	names, smoke, err := selection(*scenariosFlag)
	if err != nil {
		t.Fatal(err)
	}
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed: %d (reproduce the schedules with -seed=%d)", seed, seed)
	out := os.Getenv("DYNAGO_JEPSEN_OUT")
	if out == "" {
		out = filepath.Join(os.TempDir(), "dynago-jepsen")
		if uid := os.Getuid(); uid != 0 {
			out += fmt.Sprintf("-uid%d", uid)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var summary []string
	for i, name := range names {
		sc, _ := jepsen.Lookup(name)
		t.Run(sc.Name, func(t *testing.T) {
			if ctx.Err() != nil {
				t.Fatal("interrupted")
			}
			d := durationOf(sc, smoke)
			if dl, ok := t.Deadline(); ok && time.Until(dl) < d+typicalOverhead {
				t.Fatalf("%s needs about %s but only %s remain under -timeout; rerun with a larger -timeout (e.g. -timeout 60m)", sc.Name, d+typicalOverhead, time.Until(dl).Round(time.Second))
			}
			dir := filepath.Join(out, fmt.Sprintf("%s-seed%d-%s", sc.Name, seed, time.Now().Format("20060102-150405")))
			t.Logf("%s: %s; workload %s; run directory %s", sc.Name, sc.Title, d, dir)
			var res *jepsen.Results
			if sc.Kind == jepsen.KindSynthetic {
				res, err = jepsen.RunSynthetic(seed, dir)
				if err != nil {
					t.Fatal(err)
				}
			} else {
				res = runInNamespace(ctx, t, i, jepsen.RunSpec{Scenario: sc.Name, Seed: seed, Duration: d, Dir: dir,
					AgentLogLevel: os.Getenv("DYNAGO_JEPSEN_AGENT_LOG")})
			}
			judge(t, res)
			summary = append(summary, summaryLine(res))
		})
	}
	t.Logf("summary (seed %d):\n%s", seed, strings.Join(summary, "\n"))
}

func selection(flagValue string) (names []string, smoke bool, err error) {
	switch strings.TrimSpace(flagValue) {
	case "":
		return jepsen.SmokeSet(), true, nil
	case "all":
		for _, s := range jepsen.Scenarios {
			if !s.OnlyByName { // the soak runs only when named
				names = append(names, s.Name)
			}
		}
		return names, false, nil
	}
	for _, n := range strings.Split(flagValue, ",") {
		sc, ok := jepsen.Lookup(strings.TrimSpace(n))
		if !ok {
			var all []string
			for _, s := range jepsen.Scenarios {
				all = append(all, s.Name)
			}
			return nil, false, fmt.Errorf("-scenarios: unknown scenario %q (have %s)", n, strings.Join(all, ", "))
		}
		names = append(names, sc.Name)
	}
	return names, false, nil
}

func durationOf(sc jepsen.Scenario, smoke bool) time.Duration {
	switch {
	case len(sc.Workloads) == 0 && !smoke && sc.Smoke > 0 && sc.Duration > 0:
		return sc.Duration // a script that reads its length (S10's partition)
	case len(sc.Workloads) == 0:
		return sc.Smoke // scripted or not a cluster run: its length is its own
	case *durationFlag > 0:
		return *durationFlag
	case smoke:
		return sc.Smoke
	}
	return sc.Duration
}

var agentBin struct {
	sync.Once
	dir, path string
	err       error
}

// binary builds cmd/dynago once per test binary run.
func binary(t *testing.T) string {
	agentBin.Do(func() {
		agentBin.dir, agentBin.err = os.MkdirTemp("", "dynago-jepsen-bin-")
		if agentBin.err != nil {
			return
		}
		agentBin.path = filepath.Join(agentBin.dir, "dynago")
		out, err := exec.Command("go", "build", "-o", agentBin.path, "github.com/dynago/dynago/cmd/dynago").CombinedOutput()
		if err != nil {
			agentBin.err = fmt.Errorf("go build ./cmd/dynago: %v\n%s", err, out)
		}
	})
	if agentBin.err != nil {
		t.Fatal(agentBin.err)
	}
	return agentBin.path
}

var staleOnce sync.Once

// runInNamespace creates a namespace, runs the scenario in a child process
// inside it (this test binary, re-executed with `ip netns exec`), deletes
// the namespace whatever happens, and returns the child's results.
func runInNamespace(ctx context.Context, t *testing.T, i int, spec jepsen.RunSpec) *jepsen.Results {
	t.Helper()
	staleOnce.Do(func() {
		if removed, err := jepsen.RemoveStaleNamespaces(ctx); err != nil {
			t.Logf("removing stale namespaces: %v", err)
		} else if len(removed) > 0 {
			t.Logf("removed stale namespaces of dead runs: %v", removed)
		}
	})
	spec.Namespace = jepsen.NamespaceName(i)
	ns, err := jepsen.CreateNamespace(ctx, spec.Namespace)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set, so the fault tests must run, but they cannot create their network namespace: %v\n"+
				"CI runs as root; .ci/run installs iproute2 and iptables.", err)
		}
		t.Fatalf("the fault tests run real agents in a network namespace of their own and need root for it: %v\n"+
			"Run them as root (e.g. sudo -E env PATH=$PATH go test ./test/jepsen -run TestJepsen -v), or only the parts that need "+
			"no root: go test ./test/jepsen/checker ./test/jepsen/history; go test ./test/jepsen -run TestHarness; "+
			"go test ./test/jepsen -run TestJepsen -scenarios=S15.", err)
	}
	defer func() {
		if err := ns.Delete(context.Background()); err != nil {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
		}
	}()
	spec.Binary = binary(t)
	if spec.OutsideNS, err = jepsen.CurrentNetNS(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(spec.Dir, "spec.json")
	b, _ := json.MarshalIndent(spec, "", "  ")
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, spec.Duration+overhead)
	defer cancel()
	cmd := ns.Command(cctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), jepsen.ChildEnv+"="+specPath)
	lw := &lineLogger{t: t}
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	runErr := cmd.Run()
	lw.flush()
	switch {
	case ctx.Err() != nil:
		t.Fatalf("interrupted; namespace %s is deleted, partial results in %s", ns.Name, spec.Dir)
	case errors.Is(cctx.Err(), context.DeadlineExceeded):
		t.Fatalf("%s exceeded its bound of %s (workload + %s); partial results in %s", spec.Scenario, spec.Duration+overhead, overhead, spec.Dir)
	}
	rb, err := os.ReadFile(filepath.Join(spec.Dir, "results.json"))
	if err != nil {
		t.Fatalf("%s produced no results (runner: %v); see %s", spec.Scenario, runErr, spec.Dir)
	}
	var res jepsen.Results
	if err := json.Unmarshal(rb, &res); err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Errorf("runner exited with %v", runErr)
	}
	return &res
}

func judge(t *testing.T, res *jepsen.Results) {
	t.Helper()
	for _, v := range res.Verdicts {
		t.Logf("  %-50s valid=%-5v expected=%-5v ok=%v", v.Checker, v.Valid, v.Expected, v.OK)
	}
	t.Logf("report: %s", filepath.Join(res.RunDir, "report.md"))
	for _, p := range res.Problems {
		t.Errorf("%s", p)
	}
	if !res.Pass && len(res.Problems) == 0 {
		t.Error("the run did not pass")
	}
}

func summaryLine(res *jepsen.Results) string {
	var verdicts []string
	if len(res.Verdicts) > 12 {
		good := 0
		for _, v := range res.Verdicts {
			if v.OK {
				good++
			}
		}
		verdicts = append(verdicts, fmt.Sprintf("%d/%d verdicts as required", good, len(res.Verdicts)))
	}
	for _, v := range res.Verdicts {
		if len(res.Verdicts) > 12 && v.OK {
			continue
		}
		mark := "ok"
		if !v.OK {
			mark = "WRONG"
		}
		verdicts = append(verdicts, fmt.Sprintf("%s=%v(%s)", v.Checker, v.Valid, mark))
	}
	return fmt.Sprintf("  %-8s pass=%-5v workload=%.0fs ops_ok=%d %s", res.Scenario, res.Pass, res.WorkloadSeconds, res.OKOps, strings.Join(verdicts, " "))
}

// lineLogger passes a child's output to t.Log line by line.
type lineLogger struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err != nil {
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.t.Log(strings.TrimRight(line, "\n"))
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf.Len() > 0 {
		l.t.Log(l.buf.String())
		l.buf.Reset()
	}
}

// -scenarios=all runs every scenario but the soak, which runs when named.
func TestHarnessSelection(t *testing.T) {
	all, smoke, err := selection("all")
	if err != nil || smoke || len(all) == 0 || slices.Contains(all, "soak") {
		t.Fatalf("all = %v, %v, %v: want every scenario but soak", all, smoke, err)
	}
	named, _, err := selection("S4,soak")
	if err != nil || !slices.Equal(named, []string{"S4", "soak"}) {
		t.Fatalf("S4,soak = %v, %v", named, err)
	}
	def, smoke, _ := selection("")
	if !smoke || slices.Contains(def, "soak") {
		t.Fatalf("default = %v (smoke %v)", def, smoke)
	}
}
