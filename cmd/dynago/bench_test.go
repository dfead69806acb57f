package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/auth"
)

func TestBenchAgainstNodeAndReference(t *testing.T) {
	f := newKVNode(t, nil)
	res := runCLI(t, "", "bench", "--addr", f.URL(), "--duration", "300ms", "--rounds", "1", "--reference",
		"--concurrency", "4", "--keys", "50", "--seed", "42", "--r", "quorum", "--w", "1", "--json")
	if res.code != 0 {
		t.Fatal(res)
	}
	var rep struct {
		Config struct {
			Seed        uint64
			Concurrency int
			R, W        string
		}
		Targets []struct {
			Name string
			URLs []string
		}
		Rounds []struct {
			Target                              string
			Requests, OK, Errors, Reads, Writes int64
			P50                                 float64 `json:"p50_us"`
			P99                                 float64 `json:"p99_us"`
			P999                                float64 `json:"p999_us"`
		}
		Ratios []struct {
			Of, To     string
			Throughput float64
		}
		Errors int64
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, res)
	}
	if rep.Config.Seed != 42 || rep.Config.Concurrency != 4 || rep.Config.R != "quorum" || rep.Config.W != "1" {
		t.Errorf("config %+v", rep.Config)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Name != "dynago" || rep.Targets[0].URLs[0] != f.URL() || rep.Targets[1].Name != "reference" {
		t.Fatalf("targets %+v", rep.Targets)
	}
	if len(rep.Rounds) != 2 || rep.Rounds[0].Target != "dynago" || rep.Rounds[1].Target != "reference" {
		t.Fatalf("rounds %+v", rep.Rounds)
	}
	for _, r := range rep.Rounds {
		if r.Requests == 0 || r.OK+r.Errors != r.Requests || r.Reads+r.Writes != r.Requests || r.Errors != 0 {
			t.Errorf("%s: %+v", r.Target, r)
		}
		if !(r.P50 > 0 && r.P50 <= r.P99 && r.P99 <= r.P999) {
			t.Errorf("%s: percentiles out of order %v %v %v", r.Target, r.P50, r.P99, r.P999)
		}
	}
	if len(rep.Ratios) != 1 || rep.Ratios[0].Of != "dynago" || rep.Ratios[0].To != "reference" || rep.Ratios[0].Throughput <= 0 {
		t.Errorf("ratios %+v", rep.Ratios)
	}
	// Every request of the dynago round reached the node, with the quorum
	// parameters, and writes after the first carried a context.
	// The preload (on by default with reads) PUT each of the 50 keys once.
	reqs := f.requests()
	if int64(len(reqs)) != rep.Rounds[0].Requests+50 {
		t.Errorf("node saw %d requests, dynago round counted %d after a preload of 50", len(reqs), rep.Rounds[0].Requests)
	}
	var withCtx int
	for _, r := range reqs {
		switch r.Method {
		case http.MethodGet:
			if r.Query.Get("r") != "quorum" {
				t.Fatalf("GET query %v", r.Query)
			}
		case http.MethodPut:
			if r.Query.Get("w") != "1" {
				t.Fatalf("PUT query %v", r.Query)
			}
			if r.Header.Get("X-Dynago-Context") != "" {
				withCtx++
			}
		}
	}
	if withCtx == 0 {
		t.Error("no write carried a context")
	}
	if !strings.Contains(res.stderr, "seed 42") {
		t.Errorf("seed not printed on stderr:\n%s", res.stderr)
	}
}

func TestBenchReportsFailures(t *testing.T) {
	// Alone in a cluster of N=3, the node refuses every request for 2
	// replicas.
	f := newKVNode(t, loneN3)
	res := runCLI(t, "", "bench", "--addr", f.URL(), "--duration", "100ms", "--rounds", "1", "--concurrency", "2", "--keys", "1", "--seed", "7",
		"--r", "2", "--w", "2")
	if res.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", res.code, res)
	}
	for _, s := range []string{"errors against dynago", "PUT 503", "GET 503", "needs 2 replicas"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("stdout lacks %q\n%s", s, res)
		}
	}
	if !strings.Contains(res.stderr, "requests failed") {
		t.Errorf("stderr lacks the failure summary\n%s", res)
	}
	// With --json the report is the only document on stdout (a script
	// decodes it whole), and the exit code still says requests failed.
	res = runCLI(t, "", "bench", "--addr", f.URL(), "--duration", "100ms", "--rounds", "1", "--concurrency", "2", "--keys", "1", "--seed", "7",
		"--r", "2", "--w", "2", "--json")
	var rep map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &rep); res.code != 1 || err != nil || rep["errors"] == nil {
		t.Fatalf("--json with failed requests: exit %d, decode %v; want exit 1 and one JSON report\n%s", res.code, err, res)
	}
}

// TestBenchWorkloadPresets: --workload sets the read ratio unless
// --read-ratio is given; a write-only load skips the preload unless asked.
func TestBenchWorkloadPresets(t *testing.T) {
	f := newKVNode(t, nil)
	for _, tc := range []struct {
		name     string
		args     []string
		ratio    float64
		workload string
		preload  bool
		keys     int64 // keys the preload writes, if any (default 20)
	}{
		{"A", []string{"--workload", "a"}, 0.5, "a", true, 0},
		{"B", []string{"--workload", "B"}, 0.95, "b", true, 0},
		{"C", []string{"--workload", "c"}, 1, "c", true, 0},
		{"explicit ratio wins", []string{"--workload", "c", "--read-ratio", "0.25"}, 0.25, "", true, 0},
		{"write only: no preload", []string{"--read-ratio", "0"}, 0, "", false, 0},
		{"write only, preload asked", []string{"--read-ratio", "0", "--preload"}, 0, "", true, 0},
		{"preload from key 15", []string{"--preload-from", "15"}, 0.5, "", true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "--addr", f.URL(), "--duration", "50ms", "--rounds", "1",
				"--concurrency", "2", "--keys", "20", "--seed", "3", "--r", "1", "--w", "1", "--json"}, tc.args...)
			res := runCLI(t, "", args...)
			if res.code != 0 {
				t.Fatal(res)
			}
			var rep struct {
				Config struct {
					ReadRatio float64 `json:"read_ratio"`
					Workload  string
					Preload   bool
					Protocol  string
				}
				Preload map[string]struct {
					Keys int64
					Rate float64 `json:"keys_per_s"`
				}
			}
			if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
				t.Fatalf("%v\n%s", err, res)
			}
			if rep.Config.ReadRatio != tc.ratio || rep.Config.Workload != tc.workload || rep.Config.Preload != tc.preload || rep.Config.Protocol != "http" {
				t.Errorf("config %+v, want ratio %v workload %q preload %v", rep.Config, tc.ratio, tc.workload, tc.preload)
			}
			keys := tc.keys
			if keys == 0 {
				keys = 20
			}
			if p, ok := rep.Preload["dynago"]; ok != tc.preload || (ok && (p.Keys != keys || p.Rate <= 0)) {
				t.Errorf("preload %+v (present %v), want %v with %d keys", p, ok, tc.preload, keys)
			}
		})
	}
	if res := runCLI(t, "", "bench", "--addr", f.URL(), "--workload", "d"); res.code != 2 || !strings.Contains(res.stderr, "want a, b or c") {
		t.Errorf("--workload d: %s", res)
	}
	if res := runCLI(t, "", "bench", "--addr", f.URL(), "--keys", "20", "--preload-from", "20"); res.code != 2 || !strings.Contains(res.stderr, "--preload-from must be in 0..19") {
		t.Errorf("--preload-from 20 of 20 keys: %s", res)
	}
}

// startRESPMap serves GET, SET and PING over RESP from a map, in this
// process, standing in for an agent's --resp front end.
func startRESPMap(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	m := map[string][]byte{}
	done := make(chan error, 1)
	go func() {
		done <- redcon.Serve(ln, func(c redcon.Conn, cmd redcon.Command) {
			mu.Lock()
			defer mu.Unlock()
			switch strings.ToUpper(string(cmd.Args[0])) {
			case "GET":
				if v, ok := m[string(cmd.Args[1])]; ok {
					c.WriteBulk(v)
				} else {
					c.WriteNull()
				}
			case "SET":
				m[string(cmd.Args[1])] = append([]byte(nil), cmd.Args[2]...)
				c.WriteString("OK")
			case "PING":
				c.WriteString("PONG")
			default:
				c.WriteError("ERR unknown command")
			}
		}, nil, nil)
	}()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// TestBenchRESPProgressAndCPU: a RESP bench with a preload prints plain
// progress lines (stderr is not a terminal here), the preload rate, and
// the CPU per op of the given pid (this process, which serves RESP).
func TestBenchRESPProgressAndCPU(t *testing.T) {
	addr := startRESPMap(t)
	res := runCLI(t, "", "bench", "--protocol", "resp", "--addr", addr, "--duration", "1100ms", "--rounds", "1",
		"--concurrency", "4", "--keys", "50", "--seed", "5", "--pids", fmt.Sprint(os.Getpid()))
	if res.code != 0 {
		t.Fatal(res)
	}
	for _, s := range []string{"bench: dynago round 1", "req/s", "\n"} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("stderr lacks progress %q\n%s", s, res)
		}
	}
	if strings.Contains(res.stderr, "\r") {
		t.Errorf("\\r in progress to a non-terminal\n%s", res)
	}
	for _, s := range []string{"bench: resp,", "preload dynago: 50 keys", "keys/s", "cpu/op", "CPU of pids"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("stdout lacks %q\n%s", s, res)
		}
	}
	// --quiet: nothing on stderr but the report's absence of failures.
	res = runCLI(t, "", "bench", "--protocol", "resp", "--addr", addr, "--duration", "50ms", "--rounds", "1",
		"--concurrency", "2", "--keys", "10", "--quiet")
	if res.code != 0 || res.stderr != "" {
		t.Errorf("--quiet: %s", res)
	}
	for _, args := range [][]string{
		{"--protocol", "resp"},                                // no --addr
		{"--protocol", "resp", "--addr", "http://" + addr},    // not HOST:PORT
		{"--protocol", "resp", "--addr", addr, "--reference"}, // the reference is HTTP
		{"--protocol", "smtp", "--addr", addr},
	} {
		if res := runCLI(t, "", append([]string{"bench"}, args...)...); res.code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)\n%s", args, res.code, res)
		}
	}
}

// bench --token authenticates against a node started with a token file,
// over HTTP (bearer) and RESP (AUTH); without it every request is refused.
func TestBenchToken(t *testing.T) {
	table, err := auth.Parse([]byte(auth.Line("bench-token", auth.RoleWrite, "bench") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	respAddr := ln.Addr().String()
	ln.Close()
	f := newKVNode(t, func(c *node.Config) {
		c.Auth = auth.New(table)
		c.RESPAddr = respAddr
	})
	base := []string{"bench", "--duration", "50ms", "--rounds", "1", "--concurrency", "2", "--keys", "20", "--seed", "3", "--json"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"http", []string{"--addr", f.URL(), "--r", "1", "--w", "1"}},
		{"resp", []string{"--protocol", "resp", "--addr", respAddr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(slices.Clone(base), tc.args...), "--token", "bench-token")
			if res := runCLI(t, "", args...); res.code != 0 {
				t.Fatalf("with the token: %s", res)
			}
			res := runCLI(t, "", append(slices.Clone(base), tc.args...)...)
			if res.code != 1 || (!strings.Contains(res.stdout, "401") && !strings.Contains(res.stdout, "NOAUTH")) {
				t.Fatalf("without the token: exit %d, want 1 with 401/NOAUTH errors\n%s", res.code, res)
			}
		})
	}
}
