package test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exitAtStart launches a and waits for it to exit by itself; it returns
// the exit code and what the agent wrote during this run.
func exitAtStart(t *testing.T, a *agent) (int, string) {
	t.Helper()
	var logStart int64
	if fi, err := os.Stat(a.logPath); err == nil {
		logStart = fi.Size() // the log of earlier runs is not this run's
	}
	a.launch(t)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		log, _ := os.ReadFile(a.logPath)
		t.Fatalf("%s did not exit within 30 s\n%s", a.name, log[min(logStart, int64(len(log))):])
	}
	log, err := os.ReadFile(a.logPath)
	if err != nil {
		t.Fatal(err)
	}
	out := string(log[logStart:])
	var ee *exec.ExitError
	switch {
	case a.exitErr == nil:
		return 0, out
	case errors.As(a.exitErr, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), out
	default:
		t.Fatalf("%s ended by %v, not an exit (a panic or a signal)\n%s", a.name, a.exitErr, out)
		return 0, ""
	}
}

// wantRefused starts a and wants it to exit 1 by itself, its output
// naming each of wants; what says what is wrong with its data dir.
func wantRefused(t *testing.T, a *agent, what string, wants ...string) {
	t.Helper()
	code, out := exitAtStart(t, a)
	t.Logf("exit %d:\n%s", code, out)
	if code != 1 {
		t.Fatalf("exit code %d with %s, want 1\n%s", code, what, out)
	}
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("the agent's output with %s lacks %q:\n%s", what, want, out)
		}
	}
}

// A data dir the agent can't use as its store stops it at start, with
// exit code 1 and a message that names the directory and says what is
// wrong with it: (a) a store whose MANIFEST is garbage (corrupt), (b) one
// whose table file is garbled, (c) a directory of unrelated files (not a
// store: a wrong --data-dir).
func TestProcessCorruptDataDir(t *testing.T) {
	t.Run("manifest", func(t *testing.T) {
		a := newAgent(t, "n1", "")
		a.flags = []string{"--n", "1"} // a one-node store: R and W follow
		a.start(t)
		for i := range 5 {
			key := fmt.Sprintf("k%d", i)
			if r := kvDo(t, "PUT", a.url()+"/kv/"+key, []byte("v")); r.status != http.StatusNoContent {
				t.Fatalf("PUT %s: %d %s", key, r.status, r.body)
			}
		}
		stopAgent(t, a)

		// Garbage of the MANIFEST's length, from a fixed seed.
		path := filepath.Join(a.dataDir, "MANIFEST")
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		const seed = 1
		t.Logf("seed: %d; MANIFEST is %d bytes", seed, fi.Size())
		garbage := make([]byte, fi.Size())
		rng := rand.New(rand.NewPCG(seed, seed))
		for i := range garbage {
			garbage[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(path, garbage, fi.Mode()); err != nil {
			t.Fatal(err)
		}

		wantRefused(t, a, "a corrupt MANIFEST", "agent: open storage", a.dataDir, "corrupt", "restore it from a backup")
	})

	// A table file whose footer is garbled: badger v4.9.6 panicked in a
	// goroutine of its open (exit 2 and a stack trace); the store now
	// checks the footers of the tables its MANIFEST lists first.
	t.Run("table", func(t *testing.T) {
		a := newAgent(t, "n1", "")
		a.flags = []string{"--n", "1"}
		a.start(t)
		for i := range 20 {
			key := fmt.Sprintf("k%d", i)
			if r := kvDo(t, "PUT", a.url()+"/kv/"+key, []byte(strings.Repeat("v", 200))); r.status != http.StatusNoContent {
				t.Fatalf("PUT %s: %d %s", key, r.status, r.body)
			}
		}
		stopAgent(t, a) // a clean stop flushes the memtable to a table
		tables, _ := filepath.Glob(filepath.Join(a.dataDir, "*.sst"))
		if len(tables) == 0 {
			t.Fatal("no table file after a clean stop")
		}
		b, err := os.ReadFile(tables[0])
		if err != nil {
			t.Fatal(err)
		}
		for i := len(b) / 2; i < len(b); i++ {
			b[i] ^= 0xa5
		}
		if err := os.WriteFile(tables[0], b, 0o644); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, a, "a garbled table", "agent: open storage", filepath.Base(tables[0]), "corrupt", "restore it from a backup")
	})

	t.Run("foreign", func(t *testing.T) {
		a := newAgent(t, "n1", "")
		if err := os.MkdirAll(filepath.Join(a.dataDir, "photos"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(a.dataDir, "notes.txt"), []byte("not a store\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		wantRefused(t, a, "a data dir of unrelated files", "agent: open storage", a.dataDir, "no store", "no MANIFEST")
		if _, err := os.Stat(filepath.Join(a.dataDir, "MANIFEST")); err == nil {
			t.Error("the agent created a store among the unrelated files")
		}
	})
}
