package node

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

// BenchmarkHandoff measures hinted handoff on loopback with fsync on:
// delivery throughput (keys/s, MB/s) of a large backlog at an unlimited
// rate, and the foreground p50/p99 of a client load while a backlog drains
// at the default rate, as a ratio against the same load with no backlog,
// measured side by side in one run. Run it once:
//
//	go test ./node -run '^$' -bench BenchmarkHandoff -benchtime 1x
func BenchmarkHandoff(b *testing.B) {
	for range b.N {
		// Throughput: an unlimited rate.
		nodes := startCluster(b, clusterOpts{n: 3, mutate: func(i int, c *Config) {
			c.test.sync = true
			c.HandoffInterval = 100 * time.Millisecond
			c.Hints.Rate = 1 << 30
			c.Hints.Burst = 1 << 30
		}})
		const backlog = 20000
		n3 := nodes[2]
		n3.stop()
		waitDown(b, nodes[:2], "n3")
		bytes := fillHints(b, nodes[0], "n3", "tput", backlog)
		n3 = n3.restart()
		start := time.Now()
		waitForEvery(b, "the backlog to drain", 2*time.Minute, 20*time.Millisecond, func() (bool, string) {
			h := nodes[0].hints()
			return h.Total == 0, fmt.Sprintf("%d hints left", h.Total)
		})
		secs := time.Since(start).Seconds()
		b.ReportMetric(float64(backlog)/secs, "keys/s")
		b.ReportMetric(float64(bytes)/secs/1e6, "MB/s")
		for _, tn := range []*testNode{nodes[0], nodes[1], n3} {
			tn.stop()
		}

		// Foreground impact at the default delivery rate (1 MiB/s): the
		// same load with no backlog, then while a backlog larger than the
		// load window can drain.
		nodes = startCluster(b, clusterOpts{n: 3, mutate: func(i int, c *Config) { c.test.sync = true }})
		base50, base99 := foregroundLoad(b, nodes[:2], 3*time.Second)
		n3 = nodes[2]
		n3.stop()
		waitDown(b, nodes[:2], "n3")
		fillHints(b, nodes[0], "n3", "fg", 60000)
		n3 = n3.restart()
		waitMembers(b, []*testNode{nodes[0], nodes[1], n3}, 3)
		busy50, busy99 := foregroundLoad(b, nodes[:2], 3*time.Second)
		if nodes[0].hints().Total == 0 {
			b.Log("warning: the backlog drained before the load ended")
		}
		b.ReportMetric(float64(busy50)/float64(base50), "p50-ratio")
		b.ReportMetric(float64(busy99)/float64(base99), "p99-ratio")
		b.Logf("foreground p50 %v -> %v, p99 %v -> %v while hints drain at the default rate", base50, busy50, base99, busy99)
	}
}

// fillHints adds count hints for target straight into tn's hint store and
// returns their payload bytes.
func fillHints(b testing.TB, tn *testNode, target, prefix string, count int) int {
	ctx := context.Background()
	actor := vclock.Actor{Node: "bench", Epoch: 1}
	value := []byte(strings.Repeat("x", 100))
	bytes := 0
	for i := range count {
		key := []byte(fmt.Sprintf("%s-%d", prefix, i))
		st, _, _ := vclock.State{}.Write(actor, vclock.VV{}, value, false)
		p := tn.node.Ring().Partition(key)
		if err := tn.node.hints.Add(ctx, ring.NodeID(target), uint32(p), key, st, time.Now()); err != nil {
			b.Fatal(err)
		}
		bytes += len(key) + len(value)
	}
	return bytes
}

// foregroundLoad runs 16 closed-loop clients (half reads, half writes at
// W=2) against the nodes for d and returns the latency percentiles.
func foregroundLoad(b testing.TB, nodes []*testNode, d time.Duration) (p50, p99 time.Duration) {
	_, p50, p99 = foregroundOps(b, nodes, d)
	return p50, p99
}

// foregroundOps runs foregroundLoad's load and also returns the requests
// completed.
func foregroundOps(b testing.TB, nodes []*testNode, d time.Duration) (ops int, p50, p99 time.Duration) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				tn := nodes[(w+i)%len(nodes)]
				key := fmt.Sprintf("fg-%d-%d", w, i%100)
				var req *http.Request
				if i%2 == 0 {
					req, _ = http.NewRequest("PUT", tn.url+"/kv/"+key+"?w=2", strings.NewReader("value"))
				} else {
					req, _ = http.NewRequest("GET", tn.url+"/kv/"+key, nil)
				}
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("no request completed")
	}
	return len(lat), lat[len(lat)/2], lat[len(lat)*99/100]
}
