package test

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's first set-up command: `dynago demo` starts a 3-node cluster
// a user can talk to with the CLI, and Ctrl-C stops it cleanly.
func TestDemoServesAndStops(t *testing.T) {
	bin := dynagoBinary(t)
	// Ports away from the defaults so a developer's running demo doesn't clash.
	cmd := exec.Command(bin, "demo", "--base-port", "18180", "--gossip-base-port", "18946", "--sync=false")
	lines, exited := startDemo(t, cmd)

	var out strings.Builder
	ready := false
	timeout := time.After(60 * time.Second)
	for !ready {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited before it was ready:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			ready = strings.Contains(l, "Ctrl-C")
		case <-timeout:
			t.Fatalf("demo not ready:\n%s", out.String())
		}
	}
	for _, want := range []string{"http://127.0.0.1:18180", "http://127.0.0.1:18182", "http://127.0.0.1:18184"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("demo output lacks %s:\n%s", want, out.String())
		}
	}
	if o, code := cli(t, "put", "--addr", "http://127.0.0.1:18180", "greeting", "hello"); code != 0 {
		t.Fatalf("put: %d %s", code, o)
	}
	if o, code := cli(t, "get", "--addr", "http://127.0.0.1:18184", "greeting"); code != 0 || !strings.Contains(o, "hello") {
		t.Fatalf("get: %d %s", code, o)
	}
	if n, o := membersAlive(t, "http://127.0.0.1:18182"); n != 3 {
		t.Fatalf("members: %s", o)
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

// startDemo starts a `dynago demo` command, killed at cleanup: its output
// (stdout and stderr) line by line, closed when it ends, then its exit.
func startDemo(t *testing.T, cmd *exec.Cmd) (<-chan string, <-chan error) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return lines, exited
}
