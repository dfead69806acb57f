package node

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/dynago/dynago/node/api"
)

// statsHistory keeps the node's recent request rates and latency
// quantiles per operation (GET /metrics/history, the console's chart):
// one sample every Config.StatsInterval, the last Config.StatsWindow of
// them. Its loop (run) is the only writer; handlers read a copy.
type statsHistory struct {
	recoverer
	clock    *clock
	interval time.Duration
	keep     int                 // samples kept: window / interval
	gather   prometheus.Gatherer // the request latency histogram alone

	mu struct {
		sync.Mutex // a leaf: held to copy samples in or out, never across I/O
		samples    []api.StatsSample
	}
}

func newStatsHistory(g recoverer, c *clock, cfg *Config) *statsHistory {
	reg := prometheus.NewRegistry()
	reg.MustRegister(g.metrics.latency) // also in the node's registry: a collector may be in several
	return &statsHistory{recoverer: g, clock: c, interval: cfg.StatsInterval,
		keep: max(1, int(cfg.StatsWindow/cfg.StatsInterval)), gather: reg}
}

// opCounts is one operation's cumulative histogram: requests, 5xx
// answers, and the count at or below each bucket's upper bound.
type opCounts struct {
	count, errors uint64
	bounds        []float64 // seconds
	cumul         []uint64
}

// Run samples every interval until ctx ends.
func (s *statsHistory) Run(ctx context.Context) error {
	prev, at := s.read(), s.clock.Steady()
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, now := s.read(), s.clock.Steady()
		s.add(sampleOf(prev, cur, now.Sub(at), s.clock.wallOf(now))) // dated for display only
		prev, at = cur, now
	}
}

// read returns the cumulative counts of each operation now, summed over
// outcomes.
func (s *statsHistory) read() map[string]opCounts {
	out := map[string]opCounts{}
	mfs, err := s.gather.Gather()
	if err != nil {
		s.log.Warn("reading the request histogram", "err", err)
		return out
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var op string
			var failed bool
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "op":
					op = l.GetValue()
				case "outcome":
					code, _ := strconv.Atoi(l.GetValue())
					failed = code >= 500
				}
			}
			h := m.GetHistogram()
			if op == "" || h == nil {
				continue
			}
			c := out[op]
			addHistogram(&c, h, failed)
			out[op] = c
		}
	}
	return out
}

func addHistogram(c *opCounts, h *dto.Histogram, failed bool) {
	c.count += h.GetSampleCount()
	if failed {
		c.errors += h.GetSampleCount()
	}
	bs := h.GetBucket()
	if c.bounds == nil {
		c.bounds = make([]float64, len(bs))
		c.cumul = make([]uint64, len(bs))
		for i, b := range bs {
			c.bounds[i] = b.GetUpperBound()
		}
	}
	for i, b := range bs {
		if i < len(c.cumul) {
			c.cumul[i] += b.GetCumulativeCount()
		}
	}
}

// sampleOf is what happened between two readings d apart, dated end.
func sampleOf(prev, cur map[string]opCounts, d time.Duration, end time.Time) api.StatsSample {
	smp := api.StatsSample{Time: end.UTC().Format(time.RFC3339), Secs: d.Seconds(), Ops: map[string]api.OpStats{}}
	for op, c := range cur {
		p := prev[op]
		n := c.count - p.count
		if n == 0 || c.count < p.count {
			continue
		}
		delta := make([]uint64, len(c.cumul))
		for i := range c.cumul {
			delta[i] = c.cumul[i]
			if i < len(p.cumul) {
				delta[i] -= p.cumul[i]
			}
		}
		st := api.OpStats{Count: n, Errors: c.errors - p.errors,
			P50MS: 1000 * bucketQuantile(0.5, c.bounds, delta, n),
			P99MS: 1000 * bucketQuantile(0.99, c.bounds, delta, n)}
		if d > 0 {
			st.Rate = float64(n) / d.Seconds()
		}
		smp.Ops[op] = st
	}
	return smp
}

// bucketQuantile estimates the q-quantile of total observations from
// cumulative bucket counts (cumul[i] observations at or below
// bounds[i]), interpolating linearly inside the bucket the rank falls
// in, as Prometheus's histogram_quantile does. An observation above the
// last bound counts as the last bound.
func bucketQuantile(q float64, bounds []float64, cumul []uint64, total uint64) float64 {
	if total == 0 || len(bounds) == 0 {
		return 0
	}
	rank := q * float64(total)
	var below uint64
	lower := 0.0
	for i, b := range bounds {
		if float64(cumul[i]) >= rank {
			in := cumul[i] - below
			if in == 0 {
				return b
			}
			return lower + (b-lower)*(rank-float64(below))/float64(in)
		}
		below, lower = cumul[i], b
	}
	return bounds[len(bounds)-1]
}

func (s *statsHistory) add(smp api.StatsSample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mu.samples = append(s.mu.samples, smp)
	if over := len(s.mu.samples) - s.keep; over > 0 {
		s.mu.samples = append(s.mu.samples[:0:0], s.mu.samples[over:]...)
	}
}

// snapshot returns the samples kept, oldest first (a copy).
func (s *statsHistory) snapshot() []api.StatsSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]api.StatsSample{}, s.mu.samples...)
}

// handleStatsHistory serves GET /metrics/history.
func (h *httpAPI) handleStatsHistory(w http.ResponseWriter, r *http.Request) {
	s := h.stats
	writeJSON(w, http.StatusOK, api.StatsHistory{Node: h.cfg.Name, IntervalSecs: s.interval.Seconds(),
		WindowSecs: float64(s.keep) * s.interval.Seconds(), Samples: s.snapshot()})
}
