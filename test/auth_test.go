package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cliEnv runs the dynago CLI with env added to the test's environment
// and returns its stdout and stderr, and its exit code.
func cliEnv(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(dynagoBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), env...)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run cli: %v", err)
	}
	return out.String(), code
}

// createToken runs `dynago token create` and returns the token it printed.
func createToken(t *testing.T, file, role, name string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(dynagoBinary(t), "token", "create", "--role", role, "--name", name, "--token-file", file)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("token create: %v\n%s", err, errb.String())
	}
	tok := strings.TrimSpace(out.String())
	if tok == "" || strings.Contains(tok, "\n") {
		t.Fatalf("token create printed %q, want one token", out.String())
	}
	return tok
}

// TestProcessTokensAndRoles: an agent with --token-file (made by `dynago
// token create`) refuses the CLI without a token (401) and with a token
// whose role is too low (403), each a clear exit-1 error naming --token;
// takes DYNAGO_TOKEN and --token; and on SIGHUP picks up a token added
// to the file, and keeps its tokens when the file turns bad.
func TestProcessTokensAndRoles(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	admin := createToken(t, file, "admin", "ops")
	read := createToken(t, file, "read", "dash")
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(file); strings.Contains(string(b), admin) {
		t.Fatal("the token file holds a token")
	}
	a := newAgent(t, "n1", "")
	a.flags = []string{"--in-memory", "--data-dir", "", "--n", "1", "--r", "1", "--w", "1", "--token-file", file}
	a.start(t)
	addr := []string{"--addr", a.url()}
	run := func(env []string, args ...string) (string, int) {
		t.Helper()
		return cliEnv(t, env, append(args[:1:1], append(addr, args[1:]...)...)...)
	}
	expect := func(what string, env []string, code int, want string, args ...string) {
		t.Helper()
		out, got := run(env, args...)
		if got != code || !strings.Contains(out, want) {
			t.Fatalf("%s: exit %d, output %q; want exit %d and %q", what, got, out, code, want)
		}
	}
	expect("put without a token", nil, 1, "401", "put", "k", "v")
	expect("put without a token says what to do", nil, 1, "set --token or DYNAGO_TOKEN", "put", "k", "v")
	expect("put with a read token", nil, 1, "403", "put", "--token", read, "k", "v")
	expect("put with a wrong token", []string{"DYNAGO_TOKEN=nope"}, 1, "401", "put", "k", "v")
	expect("put with an admin token", []string{"DYNAGO_TOKEN=" + admin}, 0, "", "put", "k", "v")
	expect("get with a read token", []string{"DYNAGO_TOKEN=" + read}, 0, "v", "get", "k")
	expect("members with a read token", nil, 1, "role does not allow this", "members", "--token", read)
	expect("members with an admin token", nil, 0, "n1", "members", "--token", admin)

	// A token added to the file works once the agent got SIGHUP.
	write := createToken(t, file, "write", "app")
	expect("put with a token not yet loaded", nil, 1, "401", "put", "--token", write, "k", "v2")
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, "the new token to work after SIGHUP", 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		out, code := run(nil, "put", "--token", write, "k", "v2")
		return code == 0, out
	})
	expect("members with a write token", nil, 1, "role does not allow this", "members", "--token", write)

	// A bad file is refused, logged, and the tokens in use stay.
	if err := os.WriteFile(file, []byte("this is not a token file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll(t, "the agent to log the refused token file", 10*time.Second, 50*time.Millisecond, func() (bool, string) {
		log, _ := os.ReadFile(a.logPath)
		return strings.Contains(string(log), "token file refused; keeping the previous tokens") && strings.Contains(string(log), "line 1"), ""
	})
	expect("put with the write token after a bad reload", nil, 0, "", "put", "--token", write, "k", "v3")
	select {
	case <-a.exited:
		t.Fatalf("the agent exited: %v", a.exitErr)
	default:
	}
	if log, _ := os.ReadFile(a.logPath); strings.Contains(string(log), admin) || strings.Contains(string(log), write) {
		t.Fatal("the agent's log holds a token")
	}
}
