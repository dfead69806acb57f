package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
	reqs := f.requests()
	if int64(len(reqs)) != rep.Rounds[0].Requests {
		t.Errorf("node saw %d requests, dynago round counted %d", len(reqs), rep.Rounds[0].Requests)
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
}
