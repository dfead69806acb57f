//go:build linux

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The secure-by-default rule through real processes (issue 13): an agent
// listening on a non-loopback address (10.213.0.1, on the loopback device
// of a network namespace the test creates and deletes) refuses to start
// without TLS, internode mutual TLS, a gossip key and client
// authentication, naming each; with --insecure it starts, prints the
// banner on stderr, and GET /health (fetched from inside the namespace)
// says insecure with the warning.
func TestProcessInsecureBeyondLoopback(t *testing.T) {
	ns := newNetns(t, "10.213.0.1/32")
	bin := dynagoBinary(t)
	const ip = "10.213.0.1"
	agentArgs := func(extra ...string) []string {
		return append([]string{"netns", "exec", ns, bin, "agent", "--name", "n1", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--http", ip + ":8080", "--rpc", ip + ":8081", "--gossip", ip + ":7946"}, extra...)
	}

	t.Run("refused without --insecure", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "ip", agentArgs()...)
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() == 0 {
			t.Fatalf("the agent on %s without protections: %v (want a non-zero exit)\n%s", ip, err, stderr.String())
		}
		msg := stderr.String()
		for _, want := range []string{"listening beyond loopback", ip + ":8080", "--tls-cert", "--cluster-ca", "--gossip-key", "--token-file", "--insecure"} {
			if !strings.Contains(msg, want) {
				t.Errorf("its message lacks %q:\n%s", want, msg)
			}
		}
		if strings.Contains(msg, "INSECURE") {
			t.Errorf("a refused agent printed the insecure banner:\n%s", msg)
		}
	})

	t.Run("banner with --insecure", func(t *testing.T) {
		var stderr syncBuffer
		cmd := exec.Command("ip", agentArgs("--insecure")...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGKILL) // `ip netns exec` execs the agent: this PID is the agent's
			<-exited
		})
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: dialInNetns(ns)}}
		var health struct {
			Insecure bool   `json:"insecure"`
			Warning  string `json:"warning"`
		}
		poll(t, "the insecure agent's /health from inside "+ns, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
			select {
			case <-exited:
				t.Fatalf("the --insecure agent exited: %v\n%s", cmd.ProcessState, stderr.String())
			default:
			}
			resp, err := hc.Get("http://" + ip + ":8080/health")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				return false, fmt.Sprintf("%d %s", resp.StatusCode, b)
			}
			if err := json.Unmarshal(b, &health); err != nil {
				t.Fatalf("/health: %v: %s", err, b)
			}
			return true, ""
		})
		if !health.Insecure || !strings.HasPrefix(health.Warning, "INSECURE") {
			t.Fatalf("/health of an insecure node beyond loopback: insecure=%v warning=%q", health.Insecure, health.Warning)
		}
		if banner := stderr.String(); !strings.Contains(banner, "INSECURE: this node runs without") {
			t.Fatalf("no banner on stderr at start:\n%s", banner)
		}
	})
}

// newNetns creates a network namespace with its loopback up and addrs on
// it, deleted when the test ends. It needs root and iproute2: without
// them the test fails under CI=true (.ci/run installs iproute2 and runs as
// root) and is skipped elsewhere.
func newNetns(t *testing.T, addrs ...string) string {
	t.Helper()
	_, lookErr := exec.LookPath("ip")
	if os.Geteuid() != 0 || lookErr != nil {
		why := fmt.Sprintf("needs root and iproute2 to create a network namespace (euid %d, ip: %v)", os.Geteuid(), lookErr)
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set, so this test must run, but it %s", why)
		}
		t.Skip(why)
	}
	ns := fmt.Sprintf("dynago-insecure-%d", os.Getpid())
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", ns, err, out)
		}
	})
	ip("-n", ns, "link", "set", "lo", "up")
	for _, a := range addrs {
		ip("-n", ns, "addr", "add", a, "dev", "lo")
	}
	return ns
}

// dialInNetns dials from inside the named network namespace: a goroutine
// locks its thread, moves the thread into the namespace (setns) and dials
// there. The socket stays in that namespace; the thread is never unlocked,
// so Go ends it with the goroutine instead of reusing a thread in another
// namespace.
func dialInNetns(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open("/var/run/netns/" + ns)
			if err != nil {
				ch <- result{err: err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{err: fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
