package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/vclock"
)

// BenchmarkAAE measures anti-entropy between two replicas (N=2) holding
// n keys each (1M by default; DYNAGO_AAE_BENCH_KEYS overrides) of 100-byte
// values: for d = 0, 100 and 10,000 differing keys, the bytes the
// exchanges moved and the time until the replicas' Merkle roots agree, from
// a cold start (trees built from storage first, reported apart), plus one
// in-sync round of root comparisons (all that d=0 costs); then the
// foreground throughput and p99 of a client load with anti-entropy at its
// default budgets against the same load with it off, side by side on copies
// of the same data, for replicas in sync and for replicas 10,000 keys
// apart. Run it once:
//
//	go test ./node -run '^$' -bench BenchmarkAAE -benchtime 1x -timeout 60m
func BenchmarkAAE(b *testing.B) {
	keys := 1_000_000
	if s := os.Getenv("DYNAGO_AAE_BENCH_KEYS"); s != "" {
		var err error
		if keys, err = strconv.Atoi(s); err != nil || keys < 10000 {
			b.Fatalf("DYNAGO_AAE_BENCH_KEYS=%q: want an integer >= 10000", s)
		}
	}
	for range b.N {
		base := b.TempDir()
		tmpl := filepath.Join(base, "template")
		start := time.Now()
		loadReplica(b, tmpl, keys, 0)
		b.Logf("loaded %d keys in %v", keys, time.Since(start).Round(time.Millisecond))

		for _, d := range []int{0, 100, 10000} {
			dirs := copyReplicas(b, tmpl, base, fmt.Sprintf("d%d", d))
			loadReplica(b, dirs[1], keys, d)
			res := convergeRun(b, dirs, func(c *Config) {
				c.AAE.Interval = 250 * time.Millisecond
				c.AAE.KeysPerSec = 1 << 30 // unpaced: the cost itself
				c.AAE.BytesPerSec = 1 << 30
				c.AAE.Concurrency = 2
			})
			b.Logf("n=%d d=%d: trees built in %v; converged in %v; %d bytes exchanged (%.1f per difference); %d keys repaired; %d exchanges",
				keys, d, res.startup.Round(time.Millisecond), res.converge.Round(time.Millisecond), res.bytes,
				float64(res.bytes)/float64(max(d, 1)), res.repaired, res.exchanges)
			b.ReportMetric(res.converge.Seconds(), fmt.Sprintf("s-converge-d%d", d))
			b.ReportMetric(float64(res.bytes), fmt.Sprintf("bytes-d%d", d))
		}

		// Foreground load with anti-entropy at its default budgets versus
		// off, interleaved, each on a fresh copy: replicas in sync (the
		// steady-state cost: root comparisons), then repairing 10,000
		// differences.
		for _, d := range []int{0, 10000} {
			var on, off []loadResult
			for round := range 2 {
				for _, aaeOn := range []bool{false, true} {
					dirs := copyReplicas(b, tmpl, base, fmt.Sprintf("fg%d-%d-%v", d, round, aaeOn))
					if d > 0 {
						loadReplica(b, dirs[1], keys, d)
					}
					r := foregroundRun(b, dirs, aaeOn)
					if aaeOn {
						on = append(on, r)
					} else {
						off = append(off, r)
					}
					b.Logf("d=%d round %d, anti-entropy %v: %.0f ops/s, p99 %v (keys repaired during the load: %d)", d, round, aaeOn, r.opsPerSec, r.p99, r.repaired)
				}
			}
			var onOps, offOps float64
			var onP99, offP99 time.Duration
			for i := range on {
				onOps += on[i].opsPerSec
				offOps += off[i].opsPerSec
				onP99 += on[i].p99
				offP99 += off[i].p99
			}
			b.ReportMetric(onOps/offOps, fmt.Sprintf("throughput-ratio-d%d", d))
			b.ReportMetric(float64(onP99)/float64(offP99), fmt.Sprintf("p99-ratio-d%d", d))
			b.Logf("foreground, d=%d, anti-entropy on vs off: throughput %.2fx, p99 %.2fx", d, onOps/offOps, float64(onP99)/float64(offP99))
		}
	}
}

// benchRing is the placement of the two-node benchmark cluster.
func benchRing(b testing.TB) *ring.Ring {
	cfg := ring.DefaultConfig()
	cfg.N = 2
	r, err := ring.New(cfg, []ring.Member{{ID: "n1"}, {ID: "n2"}})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// loadReplica writes keys into a fresh store at dir; with diverge > 0 it
// instead adds a concurrent sibling to every (keys/diverge)-th key of an
// existing store, so that replica differs from the template in exactly
// diverge keys.
func loadReplica(b testing.TB, dir string, keys, diverge int) {
	b.Helper()
	st, err := badger.Open(badger.Options{Dir: dir, NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := benchRing(b)
	value := []byte(strings.Repeat("v", 100))
	base, _, _ := vclock.State{}.Write(vclock.Actor{Node: "load", Epoch: 1}, vclock.VV{}, value, false)
	baseEnc, err := base.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	count, step := keys, 1
	if diverge > 0 {
		count, step = diverge, keys/diverge
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				key := []byte(fmt.Sprintf("key%08d", i*step))
				p := uint32(r.Partition(key))
				err := st.Update(context.Background(), storage.DataKey(p, key), func(old []byte, found bool) ([]byte, error) {
					if diverge == 0 {
						return baseEnc, nil
					}
					var cur vclock.State
					if err := cur.UnmarshalBinary(old); err != nil {
						return nil, err
					}
					next, _, _ := cur.Write(vclock.Actor{Node: "other", Epoch: 2}, vclock.VV{}, value, false)
					return next.MarshalBinary()
				})
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		b.Fatal(err)
	}
	// The stores are replicas of a cluster that has run for a while: ready
	// for every partition, so a node started on one pulls nothing.
	all := make([]byte, (r.Config().Partitions+7)/8)
	for i := range all {
		all[i] = 0xff
	}
	if err := st.Update(context.Background(), metaReady, func([]byte, bool) ([]byte, error) { return all, nil }); err != nil {
		b.Fatal(err)
	}
}

// copyReplicas copies the template store into two data dirs.
func copyReplicas(b testing.TB, tmpl, base, name string) [2]string {
	b.Helper()
	var dirs [2]string
	for i := range dirs {
		dirs[i] = filepath.Join(base, fmt.Sprintf("%s-n%d", name, i+1))
		if out, err := exec.Command("cp", "-a", tmpl, dirs[i]).CombinedOutput(); err != nil {
			b.Fatalf("copy %s: %v %s", tmpl, err, out)
		}
	}
	return dirs
}

func benchAAEConfig(b testing.TB, name, dir string) Config {
	c := testConfig(b, name, true)
	c.DataDir = dir
	c.Ring.N = 2
	c.Quorum.R, c.Quorum.W = 1, 1
	c.ReadRepair = ReadRepairOff
	c.NoHintedHandoff = true
	return c
}

type convergeResult struct {
	startup, converge          time.Duration
	bytes, repaired, exchanges int64
}

// convergeRun starts the two replicas and waits for their roots to agree.
func convergeRun(b *testing.B, dirs [2]string, mutate func(*Config)) convergeResult {
	var res convergeResult
	start := time.Now()
	nodes := startPair(b, dirs, mutate)
	res.startup = time.Since(start)
	start = time.Now()
	waitFor(b, "the replicas to converge", 20*time.Minute, func() (bool, string) {
		r1, r2 := nodes[0].merkleRoots(), nodes[1].merkleRoots()
		return len(r1) > 0 && fmt.Sprint(r1) == fmt.Sprint(r2), "roots differ"
	})
	res.converge = time.Since(start)
	// One more full round of root comparisons (every partition with its
	// peer, on both nodes) joins the totals, so d=0 shows the in-sync cost.
	var before [2]int64
	for i, tn := range nodes {
		before[i] = tn.aaeTotals().Exchanges
	}
	for i, tn := range nodes {
		waitFor(b, "a round of root comparisons", 20*time.Minute, func() (bool, string) {
			got := tn.aaeTotals().Exchanges - before[i]
			return got >= int64(tn.cfg.Ring.Partitions), fmt.Sprintf("%s: %d exchanges", tn.cfg.Name, got)
		})
	}
	for _, tn := range nodes {
		t := tn.aaeTotals()
		res.bytes += t.BytesSent
		res.repaired += t.KeysRepaired
		res.exchanges += t.Exchanges
		tn.stop()
	}
	return res
}

func startPair(b *testing.B, dirs [2]string, mutate func(*Config)) []*testNode {
	var nodes []*testNode
	for i, dir := range dirs {
		c := benchAAEConfig(b, fmt.Sprintf("n%d", i+1), dir)
		if i > 0 {
			c.Join = []string{nodes[0].cfg.GossipAddr}
		}
		if mutate != nil {
			mutate(&c)
		}
		nodes = append(nodes, startNode(b, c))
	}
	waitMembers(b, nodes, 2)
	return nodes
}

type loadResult struct {
	opsPerSec float64
	p99       time.Duration
	repaired  int64
}

// foregroundRun runs a 10 s client load on a fresh pair, with anti-entropy
// at its default budgets or off.
func foregroundRun(b *testing.B, dirs [2]string, aaeOn bool) loadResult {
	nodes := startPair(b, dirs, func(c *Config) {
		c.AAE.Disabled = !aaeOn
		c.AAE.Interval = 2 * time.Second
		c.test.sync = true
	})
	// The first seconds are quiet (the first exchange round starts after
	// one interval), which gives the backoff its baseline, as on a node
	// that has been serving for a while before replicas diverge.
	ops, _, p99 := foregroundOps(b, nodes, 10*time.Second)
	var repaired int64
	for _, tn := range nodes {
		repaired += tn.aaeTotals().KeysRepaired
		tn.stop()
	}
	return loadResult{opsPerSec: float64(ops) / 10, p99: p99, repaired: repaired}
}
