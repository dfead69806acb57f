package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dynago/dynago/node/auth"
)

// TestAgentTokenFileFlags: --token-file turns authentication on with
// the file's tokens and --metrics-auth; a missing or bad file, or
// --metrics-auth alone, is bad usage (exit 2).
func TestAgentTokenFileFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	if err := auth.Append(file, "tok", auth.RoleAdmin, "ops"); err != nil {
		t.Fatal(err)
	}
	cfg, res := agentConfig(t, "--name", "a", "--token-file", file, "--metrics-auth")
	if res.code != 0 {
		t.Fatalf("exit %d\n%s", res.code, res)
	}
	if cfg.Auth == nil || !cfg.MetricsAuth {
		t.Fatalf("Auth %v, MetricsAuth %v: want authentication on", cfg.Auth, cfg.MetricsAuth)
	}
	if p, ok := cfg.Auth.Authenticate("tok"); !ok || p.Name != "ops" {
		t.Fatalf("Authenticate(tok) = %v, %v", p, ok)
	}
	if cfg, _ := agentConfig(t, "--name", "a"); cfg.Auth != nil {
		t.Fatal("authentication on without --token-file")
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# ok\ntok admin ops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing file", []string{"--token-file", filepath.Join(dir, "none")}, "--token-file"},
		{"bad file", []string{"--token-file", bad}, "line 2"},
		{"metrics-auth alone", []string{"--metrics-auth"}, "--metrics-auth needs --token-file or --tls-client-ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, res := agentConfig(t, append([]string{"--name", "a"}, tc.args...)...)
			if res.code != 2 || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, want 2 and %q\n%s", res.code, tc.want, res)
			}
		})
	}
}

// TestReloadTokens is what SIGHUP runs: a good file's tokens replace
// the table, a bad file is refused and logged and the old table stays.
func TestReloadTokens(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := auth.Append(file, "one", auth.RoleRead, "r"); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	a, err := openTokenFile(file, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Append(file, "two", auth.RoleWrite, "w"); err != nil {
		t.Fatal(err)
	}
	if err := reloadTokens(a, log); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Authenticate("two"); !ok {
		t.Fatal("a reloaded token is not known")
	}
	if err := os.WriteFile(file, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reloadTokens(a, log); err == nil {
		t.Fatal("a bad file reloaded")
	}
	if _, ok := a.Authenticate("two"); !ok {
		t.Fatal("a bad file replaced the tokens in use")
	}
	if !strings.Contains(logs.String(), "token file refused; keeping the previous tokens") || !strings.Contains(logs.String(), "line 1") {
		t.Fatalf("the refusal is not logged with its reason:\n%s", logs.String())
	}
}

// TestTokenCreate: `dynago token create` prints a token once, appends
// only its hash (mode 0600), and refuses bad usage with exit 2.
func TestTokenCreate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	runCLI := func(args ...string) (string, string, int) {
		app := newApp()
		var out, errOut bytes.Buffer
		app.Writer, app.ErrWriter = &out, &errOut
		code := run(context.Background(), app, append([]string{"dynago", "token", "create"}, args...))
		return out.String(), errOut.String(), code
	}
	out, _, code := runCLI("--role", "write", "--name", "app", "--token-file", file)
	tok := strings.TrimSpace(out)
	if code != 0 || tok == "" {
		t.Fatalf("token create: exit %d, output %q", code, out)
	}
	a, err := auth.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := a.Authenticate(tok); !ok || p != (auth.Principal{Name: "app", Role: auth.RoleWrite}) {
		t.Fatalf("the printed token authenticates as %v, %v", p, ok)
	}
	for _, args := range [][]string{
		{"--role", "root", "--name", "x", "--token-file", file},
		{"--role", "read", "--name", "a b", "--token-file", file},
		{"--role", "read", "--name", "x"},
		{"--role", "read", "--name", "x", "--token-file", file, "extra"},
	} {
		if _, errOut, code := runCLI(args...); code != 2 {
			t.Errorf("token create %q: exit %d, want 2\n%s", args, code, errOut)
		}
	}
}
