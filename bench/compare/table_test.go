package main

import (
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.xs); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.xs, got, tc.want)
		}
	}
}

// TestWriteTable: the goals are judged on medians, in the right
// direction, and an unmeasured target says so rather than passing.
func TestWriteTable(t *testing.T) {
	rounds := func(tput ...float64) []summary {
		var ss []summary
		for _, x := range tput {
			ss = append(ss, summary{Requests: 10, OK: 10, Throughput: x, P50: 100, P99: 1000, P999: 2000, CPUSec: 1, CPUPerOp: x / 100})
		}
		return ss
	}
	targets := []*target{
		{name: "dynago HTTP (sync=false)", rounds: rounds(700, 100, 800)},           // median 700, cpu 7 µs
		{name: "net/http map server", rounds: rounds(1000, 1000, 1000)},             // 0.70x: met
		{name: "dynago RESP (sync=false)", rounds: rounds(5000, 5000, 6000)},        // median 5000, cpu 50 µs
		{name: "redis-server (no persistence)", rounds: rounds(9000, 10000, 11000)}, // 0.50x: not met
	}
	var b strings.Builder
	writeTable(&b, config{rounds: 3, readRatio: 0.5}, targets)
	out := b.String()
	for _, want := range []string{
		"| HTTP PUT+GET (50/50), sync=false vs bare net/http | 0.70x | ≥ 0.6x | yes |",
		"| RESP SET+GET (50/50), sync=false vs redis no persistence | 0.50x | ≥ 0.6x | no |",
		"| RESP p99 at the bench's clients vs redis p99 | 1.00x | ≤ 3x | yes |",
		"| agent CPU per client op, HTTP 50/50, no fsync (3 agents) | 7.0 µs | ≤ 50 µs | yes |",
		"| agent CPU per client op, RESP 50/50, no fsync (3 agents) | 50.0 µs | ≤ 50 µs | yes |",
		"| RESP SET, sync=true vs redis appendfsync always | not measured in this run | ≥ 0.6x | — |",
		"| dynago HTTP (sync=false) | 50% reads | 700 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestRespFlag(t *testing.T) {
	for help, want := range map[string]bool{
		"   --resp ADDR    RESP front end":    true,
		"   --resp=ADDR":                      true,
		"   --response-time X":                false,
		"   --http IP:PORT  (no --resp here)": false,
	} {
		if got := respFlag.MatchString(help); got != want {
			t.Errorf("respFlag on %q: %v, want %v", help, got, want)
		}
	}
}

func TestVmRSS(t *testing.T) {
	kb, err := vmRSS("Name:\tdynago\nVmPeak:\t  900 kB\nVmRSS:\t   24576 kB\nThreads:\t9\n")
	if err != nil || kb != 24576 {
		t.Fatalf("vmRSS = %d, %v; want 24576", kb, err)
	}
	if _, err := vmRSS("Name:\tdynago\n"); err == nil {
		t.Fatal("no VmRSS line: no error")
	}
}

func TestWriteScaleTable(t *testing.T) {
	c := config{rounds: 1, duration: time.Second, concurrency: 8, valueSize: 100, readRatio: 0.5, seed: 1, scaleKeys: []int{100, 1_000_000, 5_000_000}}
	small := &target{name: "small", keys: 100, rounds: []summary{{Throughput: 1000, CPUSec: 1, CPUPerOp: 200}}}
	large := &target{name: "large", keys: 5_000_000, rounds: []summary{{Throughput: 700, CPUSec: 1, CPUPerOp: 250}}}
	stages := []stage{{cluster: "large", keys: 1_000_000, rate: 5000, rssMB: []float64{350, 420, 390}}}
	var b strings.Builder
	writeScaleTable(&b, c, []float64{20, 24, 22}, stages, []*target{small, large})
	for _, want := range []string{
		"| throughput at 5000000 keys per node vs at 100 | 0.70x | ≥ 0.8x | no |",
		"| idle agent RSS (largest) | 24 MB | ≤ 80 MB | yes |",
		"| RSS per node at 1000000 keys (largest agent) | 420 MB | ≤ 400 MB | no |",
		"| large | 1000000 | 5000 |",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}
