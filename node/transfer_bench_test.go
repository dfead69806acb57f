package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTransfer measures partition transfers: a third node joins two
// replicas (N=2) of n keys of 100-byte values (1M by default;
// DYNAGO_TRANSFER_BENCH_KEYS overrides) at an unlimited transfer rate, and
// the join's throughput (keys/s, MB/s of batches) is reported; then the
// foreground throughput and p99 of a client load on the two old nodes while
// a third joins at the default rate, against the same load in steady state,
// interleaved on copies of the same data. Run it once:
//
//	go test ./node -run '^$' -bench BenchmarkTransfer -benchtime 1x -v -timeout 60m
func BenchmarkTransfer(b *testing.B) {
	keys := 1_000_000
	if s := os.Getenv("DYNAGO_TRANSFER_BENCH_KEYS"); s != "" {
		var err error
		if keys, err = strconv.Atoi(s); err != nil || keys < 10000 {
			b.Fatalf("DYNAGO_TRANSFER_BENCH_KEYS=%q: want an integer >= 10000", s)
		}
	}
	for range b.N {
		base := b.TempDir()
		tmpl := filepath.Join(base, "template")
		loadReplica(b, tmpl, keys, 0)

		dirs := copyReplicas(b, tmpl, base, "tput")
		nodes := startPair(b, dirs, nil)
		start := time.Now()
		n3 := joinThird(b, nodes, 1<<40)
		secs := time.Since(start).Seconds()
		st := n3.transfers()
		var bytes int64
		body := n3.do("GET", "/debug/transfers", nil, nil).json(b)
		if t, ok := body["totals"].(map[string]any); ok {
			bytes = int64(t["bytes"].(float64))
		}
		held := 0
		for range n3.merkleRoots() {
			held++
		}
		b.ReportMetric(float64(st.Totals.Keys)/secs, "keys/s")
		b.ReportMetric(float64(bytes)/secs/1e6, "MB/s")
		b.Logf("n=%d: the third node pulled %d keys (%d bytes of batches) for %d partitions in %.1fs: %.0f keys/s, %.1f MB/s",
			keys, st.Totals.Keys, bytes, held, secs, float64(st.Totals.Keys)/secs, float64(bytes)/secs/1e6)
		for _, tn := range append(nodes, n3) {
			tn.stop()
		}

		var steady, joining []loadResult
		for round := range 2 {
			for _, join := range []bool{false, true} {
				dirs := copyReplicas(b, tmpl, base, fmt.Sprintf("fg%d-%v", round, join))
				nodes := startPair(b, dirs, func(c *Config) { c.test.sync = true })
				var third *testNode
				if join {
					third = startThird(b, nodes, DefaultTransferRate)
				}
				ops, _, p99 := foregroundOps(b, nodes, 10*time.Second)
				r := loadResult{opsPerSec: float64(ops) / 10, p99: p99}
				if join {
					if third.transfers().Pending == 0 {
						b.Log("warning: the join finished before the load window ended")
					}
					joining = append(joining, r)
					third.stop()
				} else {
					steady = append(steady, r)
				}
				for _, tn := range nodes {
					tn.stop()
				}
				b.Logf("round %d, joining %v: %.0f ops/s, p99 %v", round, join, r.opsPerSec, r.p99)
			}
		}
		var jOps, sOps float64
		var jP99, sP99 time.Duration
		for i := range steady {
			jOps += joining[i].opsPerSec
			sOps += steady[i].opsPerSec
			jP99 += joining[i].p99
			sP99 += steady[i].p99
		}
		b.ReportMetric(jOps/sOps, "throughput-ratio")
		b.ReportMetric(float64(jP99)/float64(sP99), "p99-ratio")
		b.Logf("foreground during a join at the default rate vs steady state: throughput %.2fx, p99 %.2fx", jOps/sOps, float64(jP99)/float64(sP99))
	}
}

// startThird starts n3 joining the pair with a fresh data dir.
func startThird(b *testing.B, nodes []*testNode, rate int64) *testNode {
	c := benchAAEConfig(b, "n3", b.TempDir())
	c.Join = []string{nodes[0].cfg.GossipAddr}
	c.TransferRate = rate
	return startNode(b, c)
}

// joinThird starts n3 and waits until it is valid with nothing to pull.
func joinThird(b *testing.B, nodes []*testNode, rate int64) *testNode {
	n3 := startThird(b, nodes, rate)
	waitFor(b, "the third node to finish joining", 30*time.Minute, func() (bool, string) {
		st := n3.transfers()
		return st.Status == "valid" && st.Pending == 0, fmt.Sprintf("%+v", st)
	})
	return n3
}
