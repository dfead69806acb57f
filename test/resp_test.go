package test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// redisTool returns the path of redis-cli or redis-benchmark (Debian's
// redis-tools). Under CI (CI set) a missing tool fails the test, since
// .ci/run installs it; elsewhere the test is skipped with how to run it.
func redisTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so the RESP test must run, but %s is missing: %v (.ci/run installs redis-tools)", name, err)
	}
	t.Skipf("%s is missing (%v): install redis-tools (apt-get install redis-tools) to run the RESP test against unmodified Redis tools", name, err)
	return ""
}

// The Redis protocol front end works with unmodified redis-cli and
// redis-benchmark against real agents (3 nodes, N=3, R=W=2).
func TestProcessRedisTools(t *testing.T) {
	cliPath, benchPath := redisTool(t, "redis-cli"), redisTool(t, "redis-benchmark")
	var agents []*agent
	for i := range 3 {
		join := ""
		if i > 0 {
			join = agents[0].gossip
		}
		a := newAgent(t, fmt.Sprintf("n%d", i+1), join)
		a.resp = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		a.start(t)
		agents = append(agents, a)
	}
	waitAlive(t, agents[0].http, 3)
	port := func(a *agent) string { return a.resp[strings.LastIndexByte(a.resp, ':')+1:] }

	redisCLI := func(a *agent, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), cliPath, append([]string{"-h", "127.0.0.1", "-p", port(a)}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := redisCLI(agents[0], "PING"); got != "PONG" {
		t.Fatalf("redis-cli PING: %q", got)
	}
	if got := redisCLI(agents[0], "SET", "k", "v"); got != "OK" {
		t.Fatalf("redis-cli SET k v: %q", got)
	}
	if got := redisCLI(agents[1], "GET", "k"); got != "v" {
		t.Fatalf("redis-cli GET k via n2: %q", got)
	}
	// Siblings: GET refuses to pick, DYNAGO.GET shows both and a context.
	redisCLI(agents[0], "DYNAGO.PUT", "s", "x")
	redisCLI(agents[0], "DYNAGO.PUT", "s", "y")
	if got := redisCLI(agents[2], "GET", "s"); !strings.HasPrefix(got, "SIBLINGS the key has 2 concurrent values") {
		t.Fatalf("redis-cli GET of siblings: %q", got)
	}
	lines := strings.Split(redisCLI(agents[2], "--no-raw", "DYNAGO.GET", "s", "R", "all"), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], `"x"`) && !strings.Contains(lines[1], `"y"`) {
		t.Fatalf("redis-cli DYNAGO.GET s: %q", lines)
	}
	tok := redisCLI(agents[2], "--raw", "DYNAGO.GET", "s")
	tok = strings.SplitN(tok, "\n", 2)[0]
	redisCLI(agents[2], "DYNAGO.PUT", "s", "z", "CONTEXT", tok)
	if got := redisCLI(agents[0], "GET", "s"); got != "z" {
		t.Fatalf("redis-cli GET after DYNAGO.PUT with the context: %q", got)
	}

	// A short benchmark (redis-benchmark -t set,get,mset): every request
	// must succeed.
	bench := exec.CommandContext(t.Context(), benchPath, "-h", "127.0.0.1", "-p", port(agents[1]), "-t", "set,get,mset", "-n", "2000", "-q")
	var stderr strings.Builder
	bench.Stderr = &stderr
	start := time.Now()
	out, err := bench.Output()
	if err != nil || strings.Contains(stderr.String(), "Error") {
		t.Fatalf("redis-benchmark: %v\n%s\n%s", err, out, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("redis-benchmark's stderr: %s", stderr.String())
	}
	t.Logf("redis-benchmark in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
	re := regexp.MustCompile(`\b(SET|GET|MSET \(10 keys\)): ([0-9.]+) requests per second`)
	m := re.FindAllStringSubmatch(string(out), -1)
	if len(m) != 3 {
		t.Fatalf("redis-benchmark output has no SET, GET and MSET results:\n%s", out)
	}
	for _, r := range m {
		if rps, err := strconv.ParseFloat(r[2], 64); err != nil || rps <= 0 {
			t.Fatalf("redis-benchmark %s: %q requests per second", r[1], r[2])
		}
	}
	// The benchmark's keys are readable through another node.
	if got := redisCLI(agents[2], "EXISTS", "key:__rand_int__"); got != "1" {
		t.Fatalf("redis-cli EXISTS of the benchmark's key: %q", got)
	}
}
