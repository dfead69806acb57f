package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Summary is a Result reduced to numbers, for printing and JSON. Latencies
// are in microseconds, over OK requests only.
type Summary struct {
	Requests     int64             `json:"requests"`
	OK           int64             `json:"ok"`
	Errors       int64             `json:"errors"`
	Reads        int64             `json:"reads"`
	Writes       int64             `json:"writes"`
	NotFound     int64             `json:"not_found"`
	Siblings     int64             `json:"siblings"`
	ErrorKinds   map[string]int64  `json:"error_kinds,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	Interrupted  bool              `json:"interrupted,omitempty"`
	ElapsedSec   float64           `json:"elapsed_s"`
	// Throughput is OK requests per second: failures do not make a server
	// look faster.
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50_us"`
	P99        float64 `json:"p99_us"`
	P999       float64 `json:"p999_us"`
	Max        float64 `json:"max_us"`
	Mean       float64 `json:"mean_us"`
	// CPUSec is the CPU time (user + system) the target's processes
	// (Target.PIDs) used during the run, and CPUPerOp that time in
	// microseconds per OK request; both 0 when no PIDs were given.
	CPUSec   float64 `json:"cpu_s,omitempty"`
	CPUPerOp float64 `json:"cpu_us_per_op,omitempty"`
}

// Summarize reduces r.
func Summarize(r Result) Summary {
	s := Summary{
		Requests: r.Requests, OK: r.OK, Errors: r.Errors, Reads: r.Reads, Writes: r.Writes,
		NotFound: r.NotFound, Siblings: r.Siblings, Interrupted: r.Interrupted,
		ElapsedSec: r.Elapsed.Seconds(),
	}
	if len(r.ErrorKinds) > 0 {
		s.ErrorKinds = r.ErrorKinds
		s.ErrorSamples = r.ErrorSamples
	}
	if r.Elapsed > 0 {
		s.Throughput = float64(r.OK) / r.Elapsed.Seconds()
	}
	if r.Hist != nil && r.Hist.TotalCount() > 0 {
		s.P50 = float64(r.Hist.ValueAtQuantile(50))
		s.P99 = float64(r.Hist.ValueAtQuantile(99))
		s.P999 = float64(r.Hist.ValueAtQuantile(99.9))
		s.Max = float64(r.Hist.Max())
		s.Mean = r.Hist.Mean()
	}
	return s
}

// Target is a named system under test.
type Target struct {
	Name string `json:"name"`
	// Protocol overrides Plan.Config.Protocol when not empty.
	Protocol string   `json:"protocol,omitempty"`
	URLs     []string `json:"urls"`
	// PIDs are the target's server processes on this machine, if known:
	// their CPU time is read from /proc before and after each round.
	PIDs []int `json:"pids,omitempty"`
}

// Plan is a series of interleaved rounds: for each round, every target in
// order, with the same Config (and seed Config.Seed+round).
type Plan struct {
	Config  Config   `json:"-"`
	Targets []Target `json:"targets"`
	Rounds  int      `json:"rounds"`
	// Preload writes every key of every target once before the first
	// round (see Preload).
	Preload bool `json:"-"`
	// PreloadFrom is the first key the preload writes (0: every key): a
	// key space preloaded before can grow in stages.
	PreloadFrom int `json:"-"`
	// Live, if not nil, is called about once a second during each preload
	// and round, from a goroutine of RunRounds.
	Live func(Live) `json:"-"`
}

// PreloadSummary is the outcome of a target's preload.
type PreloadSummary struct {
	Keys       int64             `json:"keys"`
	Errors     int64             `json:"errors"`
	ErrorKinds map[string]int64  `json:"error_kinds,omitempty"`
	Samples    map[string]string `json:"error_samples,omitempty"`
	ElapsedSec float64           `json:"elapsed_s"`
	// Rate is acknowledged keys per second.
	Rate        float64 `json:"keys_per_s"`
	Interrupted bool    `json:"interrupted,omitempty"`
}

// Round is one run of one target.
type Round struct {
	Target string `json:"target"`
	Round  int    `json:"round"`
	Seed   uint64 `json:"seed"`
	Summary
}

// Ratio compares two medians: Throughput is a/b (below 1: a is slower);
// the percentiles are a/b (above 1: a is slower).
type Ratio struct {
	Of         string  `json:"of"`
	To         string  `json:"to"`
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p999"`
}

// ReportConfig is the part of Config a report records.
type ReportConfig struct {
	Protocol    string  `json:"protocol"`
	Workload    string  `json:"workload,omitempty"`
	Preload     bool    `json:"preload"`
	Concurrency int     `json:"concurrency"`
	ValueSize   int     `json:"value_size"`
	ReadRatio   float64 `json:"read_ratio"`
	DurationSec float64 `json:"duration_s"`
	Keys        int     `json:"keys"`
	R           string  `json:"r,omitempty"`
	W           string  `json:"w,omitempty"`
	Seed        uint64  `json:"seed"`
	Rounds      int     `json:"rounds"`
}

// Report is the outcome of a Plan.
type Report struct {
	Config  ReportConfig `json:"config"`
	Targets []Target     `json:"targets"`
	Rounds  []Round      `json:"rounds"`
	// Preload is each target's preload, when the plan had one.
	Preload map[string]PreloadSummary `json:"preload,omitempty"`
	Median  map[string]Summary        `json:"median"`
	// Ratios compares the first target with each other one.
	Ratios []Ratio `json:"ratios,omitempty"`
	// Errors is the total over all preloads, rounds and targets.
	Errors int64 `json:"errors"`

	preloadRequests int64
}

// RunRounds runs p: the preloads, if asked for, then the rounds.
// progress, if not nil, is called after each round. It stops early,
// returning what it has, when ctx is cancelled or a target's process
// cannot be read from /proc.
func RunRounds(ctx context.Context, p Plan, cl *Clients, progress func(Round)) (Report, error) {
	if p.Rounds < 1 {
		return Report{}, fmt.Errorf("%w: rounds must be at least 1", ErrBadConfig)
	}
	if len(p.Targets) == 0 {
		return Report{}, fmt.Errorf("%w: no targets", ErrBadConfig)
	}
	for _, t := range p.Targets {
		if err := p.config(t, 0).Validate(); err != nil {
			return Report{}, fmt.Errorf("target %s: %w", t.Name, err)
		}
		if len(t.PIDs) > 0 {
			if _, err := ProcCPU(t.PIDs); err != nil {
				return Report{}, fmt.Errorf("target %s: %w", t.Name, err)
			}
		}
	}
	proto := p.Config.Protocol
	if proto == "" {
		proto = ProtocolHTTP
	}
	rep := Report{
		Config: ReportConfig{
			Protocol: proto, Preload: p.Preload,
			Concurrency: p.Config.Concurrency, ValueSize: p.Config.ValueSize, ReadRatio: p.Config.ReadRatio,
			DurationSec: p.Config.Duration.Seconds(), Keys: p.Config.Keys, R: p.Config.R, W: p.Config.W,
			Seed: p.Config.Seed, Rounds: p.Rounds,
		},
		Targets: p.Targets,
		Median:  map[string]Summary{},
	}
	spaces := make([]*Keyspace, len(p.Targets))
	for i := range spaces {
		spaces[i] = NewKeyspace(p.Config.Keys)
	}
	live := func(target, phase string) func(Live) {
		if p.Live == nil {
			return nil
		}
		return func(l Live) {
			l.Target, l.Phase = target, phase
			p.Live(l)
		}
	}
	if p.Preload {
		rep.Preload = map[string]PreloadSummary{}
		for ti, t := range p.Targets {
			var next atomic.Int64
			next.Store(int64(p.PreloadFrom))
			res, err := run(ctx, p.config(t, 0), cl, spaces[ti], &next, live(t.Name, "preload"))
			if err != nil {
				return rep, err
			}
			ps := PreloadSummary{Keys: res.OK, Errors: res.Errors, ElapsedSec: res.Elapsed.Seconds(), Interrupted: res.Interrupted}
			if res.Errors > 0 {
				ps.ErrorKinds, ps.Samples = res.ErrorKinds, res.ErrorSamples
			}
			if res.Elapsed > 0 {
				ps.Rate = float64(res.OK) / res.Elapsed.Seconds()
			}
			rep.Preload[t.Name] = ps
			rep.Errors += res.Errors
			rep.preloadRequests += res.Requests
			if res.Interrupted {
				return rep, ctx.Err()
			}
		}
	}
	byTarget := map[string][]Summary{}
rounds:
	for i := range p.Rounds {
		for ti, t := range p.Targets {
			c := p.config(t, i)
			var cpuBefore time.Duration
			if len(t.PIDs) > 0 {
				var err error
				if cpuBefore, err = ProcCPU(t.PIDs); err != nil {
					return rep, fmt.Errorf("target %s: %w", t.Name, err)
				}
			}
			res, err := run(ctx, c, cl, spaces[ti], nil, live(t.Name, fmt.Sprintf("round %d", i+1)))
			if err != nil {
				return rep, err
			}
			r := Round{Target: t.Name, Round: i + 1, Seed: c.Seed, Summary: Summarize(res)}
			if len(t.PIDs) > 0 {
				cpuAfter, err := ProcCPU(t.PIDs)
				if err != nil {
					return rep, fmt.Errorf("target %s: %w", t.Name, err)
				}
				r.CPUSec = (cpuAfter - cpuBefore).Seconds()
				if r.OK > 0 {
					r.CPUPerOp = r.CPUSec * 1e6 / float64(r.OK)
				}
			}
			rep.Rounds = append(rep.Rounds, r)
			rep.Errors += r.Errors
			byTarget[t.Name] = append(byTarget[t.Name], r.Summary)
			if progress != nil {
				progress(r)
			}
			if res.Interrupted {
				break rounds
			}
		}
	}
	for name, ss := range byTarget {
		rep.Median[name] = Median(ss)
	}
	first := p.Targets[0].Name
	for _, t := range p.Targets[1:] {
		a, okA := rep.Median[first]
		b, okB := rep.Median[t.Name]
		if okA && okB {
			rep.Ratios = append(rep.Ratios, Compare(first, a, t.Name, b))
		}
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

// config is the Config of target t in round i (from 0).
func (p Plan) config(t Target, i int) Config {
	c := p.Config
	c.URLs = t.URLs
	if t.Protocol != "" {
		c.Protocol = t.Protocol
	}
	c.Seed = p.Config.Seed + uint64(i)
	return c
}

// median returns the median of xs (the mean of the middle two for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Median returns, for each metric separately, its median over ss. Counts
// are summed (they are totals over the rounds, not typical values).
func Median(ss []Summary) Summary {
	var out Summary
	pick := func(f func(Summary) float64) float64 {
		xs := make([]float64, len(ss))
		for i, s := range ss {
			xs[i] = f(s)
		}
		return median(xs)
	}
	out.Throughput = pick(func(s Summary) float64 { return s.Throughput })
	out.P50 = pick(func(s Summary) float64 { return s.P50 })
	out.P99 = pick(func(s Summary) float64 { return s.P99 })
	out.P999 = pick(func(s Summary) float64 { return s.P999 })
	out.Max = pick(func(s Summary) float64 { return s.Max })
	out.Mean = pick(func(s Summary) float64 { return s.Mean })
	out.ElapsedSec = pick(func(s Summary) float64 { return s.ElapsedSec })
	out.CPUSec = pick(func(s Summary) float64 { return s.CPUSec })
	out.CPUPerOp = pick(func(s Summary) float64 { return s.CPUPerOp })
	for _, s := range ss {
		out.Requests += s.Requests
		out.OK += s.OK
		out.Errors += s.Errors
		out.Reads += s.Reads
		out.Writes += s.Writes
		out.NotFound += s.NotFound
		out.Siblings += s.Siblings
		out.Interrupted = out.Interrupted || s.Interrupted
		for k, n := range s.ErrorKinds {
			if out.ErrorKinds == nil {
				out.ErrorKinds = map[string]int64{}
				out.ErrorSamples = map[string]string{}
			}
			out.ErrorKinds[k] += n
			if _, ok := out.ErrorSamples[k]; !ok {
				out.ErrorSamples[k] = s.ErrorSamples[k]
			}
		}
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Compare returns the ratios a/b of two summaries.
func Compare(aName string, a Summary, bName string, b Summary) Ratio {
	return Ratio{
		Of: aName, To: bName,
		Throughput: ratio(a.Throughput, b.Throughput),
		P50:        ratio(a.P50, b.P50),
		P99:        ratio(a.P99, b.P99),
		P999:       ratio(a.P999, b.P999),
	}
}

// ms formats microseconds as milliseconds.
func ms(us float64) string { return fmt.Sprintf("%.3fms", us/1000) }

// WriteText prints the report for people: one line per round, the
// medians, the ratios, and every error kind with its first message.
func (r Report) WriteText(w io.Writer) error {
	c := r.Config
	var b strings.Builder
	workload := ""
	if c.Workload != "" {
		workload = "YCSB " + strings.ToUpper(c.Workload) + ", "
	}
	fmt.Fprintf(&b, "bench: %s, %d workers, %d B values, %s%.0f%% reads, %d keys, %s x %d rounds, r=%s w=%s, seed %d\n",
		c.Protocol, c.Concurrency, c.ValueSize, workload, c.ReadRatio*100, c.Keys, time.Duration(c.DurationSec*float64(time.Second)), c.Rounds,
		orDefault(c.R), orDefault(c.W), c.Seed)
	cpu := false
	for _, t := range r.Targets {
		proto := ""
		if t.Protocol != "" && t.Protocol != c.Protocol {
			proto = " (" + t.Protocol + ")"
		}
		pids := ""
		if len(t.PIDs) > 0 {
			cpu = true
			pids = fmt.Sprintf(" (CPU of pids %s)", strings.Trim(fmt.Sprint(t.PIDs), "[]"))
		}
		fmt.Fprintf(&b, "target %s%s: %s%s\n", t.Name, proto, strings.Join(t.URLs, ", "), pids)
	}
	for _, t := range r.Targets {
		if ps, ok := r.Preload[t.Name]; ok {
			fmt.Fprintf(&b, "preload %s: %d keys in %.1fs, %.0f keys/s, %d errors\n", t.Name, ps.Keys, ps.ElapsedSec, ps.Rate, ps.Errors)
		}
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	cpuCol := func(s Summary) string {
		if !cpu {
			return ""
		}
		if s.CPUSec == 0 && s.CPUPerOp == 0 {
			return "-\t"
		}
		return fmt.Sprintf("%.1fµs\t", s.CPUPerOp)
	}
	head := "target\tround\trequests\terrors\treq/s\tp50\tp99\tp99.9\tmax\t"
	if cpu {
		head += "cpu/op\t"
	}
	fmt.Fprintln(tw, head)
	for _, rd := range r.Rounds {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\n", rd.Target, rd.Round, rd.Requests, rd.Errors,
			rd.Throughput, ms(rd.P50), ms(rd.P99), ms(rd.P999), ms(rd.Max), cpuCol(rd.Summary))
	}
	for _, t := range r.Targets {
		m, ok := r.Median[t.Name]
		if !ok {
			continue
		}
		fmt.Fprintf(tw, "%s\tmedian\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\n", t.Name, m.Requests, m.Errors,
			m.Throughput, ms(m.P50), ms(m.P99), ms(m.P999), ms(m.Max), cpuCol(m))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("(median rows: req/s and latencies are medians over the rounds; requests and errors are totals)\n")
	if cpu {
		b.WriteString("(cpu/op: user+system CPU of the target's pids per OK request, from /proc; \"agent CPU per client op\")\n")
	}
	for _, ra := range r.Ratios {
		fmt.Fprintf(&b, "\n%s/%s (medians): throughput %.2fx  p50 %.2fx  p99 %.2fx  p99.9 %.2fx\n",
			ra.Of, ra.To, ra.Throughput, ra.P50, ra.P99, ra.P999)
	}
	for _, t := range r.Targets {
		m := r.Median[t.Name]
		if m.Interrupted {
			fmt.Fprintf(&b, "\n%s: interrupted; the last round is partial\n", t.Name)
		}
		if ps := r.Preload[t.Name]; len(ps.ErrorKinds) > 0 {
			fmt.Fprintf(&b, "\npreload errors against %s (%d):\n", t.Name, ps.Errors)
			for k, n := range ps.ErrorKinds {
				fmt.Fprintf(&b, "  %8d  %s  (first: %s)\n", n, k, ps.Samples[k])
			}
		}
		if len(m.ErrorKinds) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\nerrors against %s (%d of %d requests):\n", t.Name, m.Errors, m.Requests)
		kinds := make([]string, 0, len(m.ErrorKinds))
		for k := range m.ErrorKinds {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool {
			if m.ErrorKinds[kinds[i]] != m.ErrorKinds[kinds[j]] {
				return m.ErrorKinds[kinds[i]] > m.ErrorKinds[kinds[j]]
			}
			return kinds[i] < kinds[j]
		})
		for _, k := range kinds {
			fmt.Fprintf(&b, "  %8d  %s  (first: %s)\n", m.ErrorKinds[k], k, m.ErrorSamples[k])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// ErrRequestsFailed is returned by Report.Err when any request failed.
var ErrRequestsFailed = errors.New("bench: requests failed")

// Err returns an error wrapping ErrRequestsFailed when any request of any
// round failed, so the CLI exits non-zero after printing the report.
func (r Report) Err() error {
	if r.Errors == 0 {
		return nil
	}
	total := r.preloadRequests
	for _, rd := range r.Rounds {
		total += rd.Requests
	}
	return fmt.Errorf("%w: %d of %d requests failed (see the error table)", ErrRequestsFailed, r.Errors, total)
}
