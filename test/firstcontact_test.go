package test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 14, "install and first contact": what a new user meets first,
// through the binary itself.

// pathWithoutDynago is $PATH with every directory that holds a "dynago"
// removed, as for a user who ran `go run ./cmd/dynago demo` and has not
// installed it.
func pathWithoutDynago() string {
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "dynago")); err == nil {
			continue
		}
		keep = append(keep, d)
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

// TestDemoExamplesRunAsPrinted: every example command the demo prints
// runs, as printed, in a shell whose PATH has no dynago, against the demo
// cluster, and succeeds.
func TestDemoExamplesRunAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the demo prints curl examples and this test runs them: install curl (.ci/run does): %v", err)
	}
	bin := dynagoBinary(t)
	env := append(os.Environ(), "PATH="+pathWithoutDynago())
	base, gossip := freePort(t), freePort(t)
	// Node i uses base+2(i-1) and the next port; take those of n2 and n3 too.
	for _, p := range []int{base + 1, base + 2, base + 3, base + 4, base + 5, gossip + 1, gossip + 2} {
		usedPortsMu.Lock()
		usedPorts[p] = true
		usedPortsMu.Unlock()
	}
	cmd := exec.Command(bin, "demo", "--base-port", itoa(base), "--gossip-base-port", itoa(gossip), "--sync=false")
	cmd.Env = env
	lines, exited := startDemo(t, cmd)

	var out strings.Builder
	var examples []string
	inTry, console := false, ""
	timeout := time.After(60 * time.Second)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited before it was ready:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			switch {
			case strings.HasPrefix(l, "try"):
				inTry = true
			case inTry && strings.HasPrefix(l, "  "):
				examples = append(examples, strings.TrimSpace(l))
			case inTry:
				inTry = false
			}
			if u, ok := strings.CutPrefix(l, "web console: "); ok {
				console = u
			}
			ready = strings.Contains(l, "Ctrl-C")
		case <-timeout:
			t.Fatalf("demo not ready:\n%s", out.String())
		}
	}
	t.Logf("demo output:\n%s", out.String())
	var cliExamples int
	for _, ex := range examples {
		if !strings.HasPrefix(ex, "curl ") {
			cliExamples++
			if strings.HasPrefix(ex, "dynago ") {
				t.Errorf("example %q needs dynago on PATH, which this shell does not have", ex)
			}
		}
	}
	if len(examples) < 7 || cliExamples < 5 {
		t.Fatalf("found %d examples (%d CLI), want the demo's 7:\n%s", len(examples), cliExamples, out.String())
	}
	for _, ex := range examples {
		sh := exec.Command("sh", "-c", ex)
		sh.Env = env
		b, err := sh.CombinedOutput()
		if err != nil {
			t.Errorf("example %q failed: %v\n%s", ex, err, b)
			continue
		}
		if strings.HasPrefix(ex, "curl -i ") && !strings.Contains(ex, "PUT") && !strings.Contains(string(b), "hello") {
			t.Errorf("example %q did not read the value the previous one wrote:\n%s", ex, b)
		}
	}
	// The console URL the demo prints serves the console.
	if console == "" {
		t.Errorf("the demo printed no web console URL:\n%s", out.String())
	} else if resp, err := http.Get(console); err != nil {
		t.Errorf("GET %s: %v", console, err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "dynago") {
			t.Errorf("GET %s: %d %.200s", console, resp.StatusCode, b)
		}
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("demo exit after Ctrl-C: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo did not stop after Ctrl-C")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestLoneAgentSaysWhy: one agent started alone (the default N=3) refuses
// writes with a definite 503 whose message says how many replicas there
// are and how to run a one-node store; the CLI shows that message and
// calls the failure definite (nothing written), not indeterminate. The
// README's one-node command (--n 1) then stores and reads.
func TestLoneAgentSaysWhy(t *testing.T) {
	a := newAgent(t, "n1", "")
	a.start(t)
	out, code := cli(t, "put", "--addr", a.url(), "k", "v")
	if code != 1 || !strings.Contains(out, "1 of 3 replicas available; start more nodes or run with --n 1") ||
		!strings.Contains(out, "nothing was written") || !strings.Contains(out, "(definite)") || strings.Contains(out, "the write is indeterminate") {
		t.Errorf("put to a lone agent: exit %d\n%s\nwant exit 1, the replica count and the way out, and a definite failure", code, out)
	}

	one := newAgent(t, "solo", "")
	one.flags = []string{"--n", "1"} // as the message and the README say: R and W follow
	one.start(t)
	if out, code := cli(t, "put", "--addr", one.url(), "k", "v"); code != 0 {
		t.Fatalf("put to a one-node store (--n 1): exit %d\n%s", code, out)
	}
	if out, code := cli(t, "get", "--addr", one.url(), "k"); code != 0 || !strings.HasPrefix(out, "v") {
		t.Fatalf("get from a one-node store: exit %d\n%s", code, out)
	}
}

// TestVersionEverywhere: `dynago version`, `dynago --version`, an agent's
// /health and its dynago_build_info metric all name the same build.
func TestVersionEverywhere(t *testing.T) {
	out, code := cli(t, "version", "--json")
	var v struct {
		Version, Commit string
		GoVersion       string `json:"go_version"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v.Version == "" || v.Commit == "" || !strings.HasPrefix(v.GoVersion, "go") {
		t.Fatalf("dynago version --json: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, code := cli(t, args...)
		if code != 0 || !strings.Contains(out, "dynago "+v.Version) || !strings.Contains(out, v.Commit) || !strings.Contains(out, v.GoVersion) {
			t.Errorf("dynago %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	a := newAgent(t, "n1", "")
	a.flags = []string{"--n", "1", "--r", "1", "--w", "1"}
	a.start(t)
	resp, err := http.Get(a.url() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Version, Commit string
		GoVersion       string `json:"go_version"`
	}
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || h != v {
		t.Errorf("/health build %+v (%v), want %+v", h, err, v)
	}
	resp, err = http.Get(a.url() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := `dynago_build_info{commit="` + v.Commit + `",data_format="1",go_version="` + v.GoVersion + `",protocol_max="2",protocol_min="1",version="` + v.Version + `"} 1`
	if !strings.Contains(string(body), want) {
		t.Errorf("/metrics lacks %s", want)
	}
}
