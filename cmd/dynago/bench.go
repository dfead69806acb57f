package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/cmd/dynago/internal/bench"
	"github.com/dynago/dynago/cmd/dynago/internal/demo"
)

func benchCommand() *cli.Command {
	d := bench.DefaultConfig()
	return &cli.Command{
		Name:  "bench",
		Usage: "measure throughput and latency with a closed-loop load generator",
		Description: "Each of --concurrency workers sends one request at a time (keys uniform over --keys, random values\n" +
			"of --value-size bytes, round-robin over --addr) for --duration, and records latencies in an HDR\n" +
			"histogram (1µs..60s, 3 significant figures). Prints OK requests per second and p50/p99/p99.9 of OK\n" +
			"requests, and every failed request by kind; bench exits 1 if there was one.\n" +
			"--protocol http (the default) sends GET and PUT /kv/KEY to base URLs: a read's 300 (siblings) is OK,\n" +
			"and so is its 404 for a key never written; writes carry the last context seen for their key.\n" +
			"--protocol resp sends GET KEY and SET KEY VALUE over the Redis protocol to HOST:PORT addresses\n" +
			"(agents' --resp, or redis-server): a nil reply is OK for a key never written; an error reply is an\n" +
			"error named by its first word (\"GET -UNAVAILABLE\"), and so is a GET of a key with siblings.\n" +
			"Either way, a read that finds nothing although a write of its key was acknowledged before it began is\n" +
			"an error of its own kind. --workload a|b|c picks YCSB's read/update mix (A 50/50, B 95/5, C read only);\n" +
			"an explicit --read-ratio wins over it. --preload writes every key once before the measured rounds and\n" +
			"reports the rate. --pids names the target's local server processes: bench reads their CPU time from\n" +
			"/proc around each round and reports CPU µs per OK request (far steadier than throughput on a shared\n" +
			"machine). A progress line goes to stderr once a second (--quiet or --json turn it off).\n" +
			"--reference also runs the identical load against a bare Go net/http map server in this process,\n" +
			"interleaving --rounds rounds (dynago, reference, dynago, ...), and prints medians and the ratios\n" +
			"dynago/reference. --serve-reference ADDR only serves that map server (until interrupted), so a\n" +
			"comparison can run it in a process of its own. --demo starts the 3-node demo cluster in this process\n" +
			"and targets it. The side-by-side comparison with redis-server is `go run ./bench/compare`.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "addr", Value: cli.NewStringSlice(defaultAddr), Usage: "`ADDR,...` of the nodes to load, round-robin: URLs for http (where agent and demo n1 listen), HOST:PORT for resp (required)"},
			&cli.StringFlag{Name: "protocol", Value: bench.ProtocolHTTP, Usage: "`PROTOCOL` to speak: http (the HTTP API) or resp (the Redis protocol: agents' --resp, redis-server)"},
			&cli.IntFlag{Name: "concurrency", Value: d.Concurrency, Usage: "`N` workers, each with one request in flight (saturates 2 cores without queueing in the generator)"},
			&cli.IntFlag{Name: "value-size", Value: d.ValueSize, Usage: "`BYTES` per written value (small: measures per-request cost, not bandwidth)"},
			&cli.StringFlag{Name: "workload", Usage: "YCSB preset `W`: a (50% reads, 50% updates), b (95/5) or c (100% reads); sets the read ratio unless --read-ratio is given"},
			&cli.Float64Flag{Name: "read-ratio", Value: d.ReadRatio, Usage: "`FRACTION` of requests that are reads, 0..1 (YCSB workload A: 50/50); wins over --workload"},
			&cli.DurationFlag{Name: "duration", Value: d.Duration, Usage: "length of each round, e.g. `10s` (long enough for a stable p99)"},
			&cli.IntFlag{Name: "keys", Value: d.Keys, Usage: "`N` keys in the key space, drawn uniformly (reads mostly hit written keys)"},
			// On when there are reads: without it the first round's reads
			// measure the cheaper not-found path instead of reading values.
			// Off for write-only loads, where it would only cost time.
			&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` for nodes started with --token-file: sent with every HTTP request and with AUTH over RESP (needs the write role; empty: none); prefer DYNAGO_TOKEN, which stays out of the process list"},
			&cli.IntFlag{Name: "preload-from", Value: 0, Usage: "with --preload, write only keys `N`..--keys-1 (grow a key space preloaded before, in stages; 0: every key)"},
			&cli.BoolFlag{Name: "preload", Value: true, Usage: "write every key once before the measured rounds and report keys/s (default: on when the load has reads, so reads hit written keys; off for write-only loads unless given)"},
			&cli.StringFlag{Name: "r", Value: d.R, Usage: "read quorum `R` sent as ?r= (empty: the node's default; 2: a majority of N=3; http only)"},
			&cli.StringFlag{Name: "w", Value: d.W, Usage: "write quorum `W` sent as ?w= (empty: the node's default; 2: a majority of N=3; http only)"},
			&cli.StringSliceFlag{Name: "pids", Usage: "`PID,...` of the target's server processes on this machine: report their CPU µs per OK request, from /proc"},
			&cli.BoolFlag{Name: "reference", Usage: "also load a bare Go net/http map server (the ceiling for an HTTP request here) and print ratios (http only)"},
			&cli.StringFlag{Name: "serve-reference", Usage: "only serve the reference map server on `IP:PORT` until interrupted (prints its URL; for bench/compare)"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "`K` interleaved rounds per target; medians are reported (DESIGN.md §8: at least three)"},
			&cli.BoolFlag{Name: "demo", Usage: "start the 3-node demo cluster (ports 8080-8085, 7946-7948) in this process and load it instead of --addr (http only)"},
			&cli.BoolFlag{Name: "sync", Value: true, Usage: "with --demo: fsync every replica write before acknowledging it (like an agent)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, EnvVars: []string{clientTimeoutEnv}, Usage: "per-request timeout, e.g. `10s`; a request that takes longer is an error (longer than the node's 5 s default)"},
			&cli.Uint64Flag{Name: "seed", Usage: "`SEED` of the key, operation and value choices (0: from the clock; always printed, so a run can be repeated)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (for scripts); no progress line"},
			&cli.BoolFlag{Name: "quiet", Usage: "no progress line and no per-round lines on stderr; only the report"},
		},
		Action: runBench,
	}
}

// benchPlan maps the bench flags to a bench.Config (URLs unset), the
// round count and whether to preload.
func benchPlan(c *cli.Context) (bench.Config, int, bool, error) {
	cfg := bench.DefaultConfig()
	cfg.Protocol = c.String("protocol")
	cfg.Concurrency = c.Int("concurrency")
	cfg.ValueSize = c.Int("value-size")
	cfg.ReadRatio = c.Float64("read-ratio")
	if w := strings.ToLower(c.String("workload")); w != "" {
		ratio, ok := bench.Workloads[w]
		if !ok {
			return cfg, 0, false, usagef(c, "--workload %q: want a, b or c", c.String("workload"))
		}
		if !c.IsSet("read-ratio") {
			cfg.ReadRatio = ratio
		}
	}
	cfg.Duration = c.Duration("duration")
	cfg.Keys = c.Int("keys")
	cfg.Seed = c.Uint64("seed")
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.Protocol == bench.ProtocolRESP {
		cfg.R, cfg.W = "", "" // RESP's GET and SET use the node's defaults
		if c.IsSet("r") || c.IsSet("w") {
			return cfg, 0, false, usagef(c, "--r and --w are http only (RESP's GET and SET use the node's defaults)")
		}
	} else {
		r, err := quorumParam(c, "r", 1)
		if err != nil {
			return cfg, 0, false, err
		}
		w, err := quorumParam(c, "w", 1)
		if err != nil {
			return cfg, 0, false, err
		}
		cfg.R, cfg.W = string(r), string(w)
	}
	rounds := c.Int("rounds")
	if rounds < 1 {
		return cfg, 0, false, usagef(c, "--rounds must be at least 1")
	}
	if c.Duration("timeout") <= 0 {
		return cfg, 0, false, usagef(c, "--timeout must be positive")
	}
	cfg.URLs = []string{"http://127.0.0.1:1"} // placeholder so Validate checks the rest
	if cfg.Protocol == bench.ProtocolRESP {
		cfg.URLs = []string{"127.0.0.1:1"}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, 0, false, usagef(c, "%v", err)
	}
	cfg.URLs = nil
	preload := c.Bool("preload")
	if !c.IsSet("preload") && cfg.ReadRatio == 0 {
		preload = false
	}
	return cfg, rounds, preload, nil
}

// benchAddrs normalizes --addr for the protocol.
func benchAddrs(c *cli.Context, protocol string) ([]string, error) {
	var out []string
	for _, a := range c.StringSlice("addr") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		if protocol == bench.ProtocolRESP {
			if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
				return nil, usagef(c, "--addr %q: with --protocol resp, give HOST:PORT", a)
			}
			out = append(out, a)
			continue
		}
		u, err := client.NormalizeAddr(a)
		if err != nil {
			return nil, usagef(c, "--addr: %v", err)
		}
		out = append(out, u)
	}
	return out, nil
}

func runBench(c *cli.Context) error {
	if _, err := positional(c, 0, 0, ""); err != nil {
		return err
	}
	ew := c.App.ErrWriter
	if addr := c.String("serve-reference"); addr != "" {
		return serveReference(c, addr)
	}
	cfg, rounds, preload, err := benchPlan(c)
	if err != nil {
		return err
	}
	resp := cfg.Protocol == bench.ProtocolRESP
	if resp {
		switch {
		case c.Bool("reference"):
			return usagef(c, "--reference is an HTTP server: it measures --protocol http only")
		case c.Bool("demo"):
			return usagef(c, "--demo serves HTTP only: start agents with --resp and give their addresses")
		case !c.IsSet("addr"):
			return usagef(c, "--protocol resp needs --addr HOST:PORT,... (agents' --resp addresses or redis-server's)")
		}
	}
	urls, err := benchAddrs(c, cfg.Protocol)
	if err != nil {
		return err
	}
	if c.Bool("demo") {
		dc := demo.DefaultConfig()
		dc.Sync = c.Bool("sync")
		fmt.Fprintf(ew, "bench: starting the %d-node demo cluster...\n", dc.Nodes)
		cl, err := demo.Start(c.Context, dc)
		if err != nil {
			return err
		}
		defer func() {
			if err := cl.Stop(); err != nil {
				fmt.Fprintf(ew, "bench: stopping the demo cluster: %v\n", err)
			}
		}()
		if c.IsSet("addr") {
			fmt.Fprintln(ew, "bench: --demo: ignoring --addr")
		}
		urls = cl.URLs()
	}
	if len(urls) == 0 {
		return usagef(c, "--addr: no address")
	}
	var pids []int
	for _, s := range c.StringSlice("pids") {
		p, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || p <= 0 {
			return usagef(c, "--pids: %q is not a PID", s)
		}
		pids = append(pids, p)
	}
	from := c.Int("preload-from")
	if from < 0 || from >= cfg.Keys {
		return usagef(c, "--preload-from must be in 0..%d (below --keys)", cfg.Keys-1)
	}
	plan := bench.Plan{Config: cfg, Rounds: rounds, Preload: preload, PreloadFrom: from,
		Targets: []bench.Target{{Name: "dynago", URLs: urls, PIDs: pids}}}
	if c.Bool("reference") {
		ref, err := bench.StartReference()
		if err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ref.Close(ctx); err != nil {
				fmt.Fprintf(ew, "bench: stopping the reference server: %v\n", err)
			}
		}()
		plan.Targets = append(plan.Targets, bench.Target{Name: "reference", URLs: []string{ref.URL}})
	}
	cl := &bench.Clients{
		HTTP:    &http.Client{Transport: bench.NewTransport(cfg.Concurrency), Timeout: c.Duration("timeout")},
		Timeout: c.Duration("timeout"),
		Token:   c.String("token"),
	}
	defer func() {
		if err := cl.Close(); err != nil {
			fmt.Fprintf(ew, "bench: %v\n", err)
		}
	}()
	quiet := c.Bool("quiet")
	pl := &progressLine{w: ew, tty: isTerminal(ew)}
	if !quiet && !c.Bool("json") {
		plan.Live = pl.live
	}
	progress := func(r bench.Round) {
		if quiet {
			return
		}
		cpu := ""
		if r.CPUSec > 0 {
			cpu = fmt.Sprintf("  cpu %.1fµs/op", r.CPUPerOp)
		}
		pl.printf("round %d %-9s %8.0f req/s  p50 %.3fms  p99 %.3fms  errors %d%s\n",
			r.Round, r.Target, r.Throughput, r.P50/1000, r.P99/1000, r.Errors, cpu)
	}
	if !quiet {
		pre := ""
		if preload {
			pre = fmt.Sprintf(", after a preload of %d keys", cfg.Keys)
		}
		fmt.Fprintf(ew, "bench: %s, seed %d, %d round(s) of %s per target%s\n", cfg.Protocol, cfg.Seed, rounds, cfg.Duration, pre)
	}
	rep, runErr := bench.RunRounds(c.Context, plan, cl, progress)
	pl.end()
	if w := strings.ToLower(c.String("workload")); w != "" && !c.IsSet("read-ratio") {
		rep.Config.Workload = w
	}
	if runErr != nil && len(rep.Rounds) == 0 && len(rep.Preload) == 0 {
		return runErr
	}
	if c.Bool("json") {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		writeJSON(c, b)
	} else if err := rep.WriteText(c.App.Writer); err != nil {
		return err
	}
	failed := rep.Err()
	if runErr != nil {
		failed = fmt.Errorf("bench: %w (the report covers the rounds that ran)", runErr)
	}
	if failed != nil && c.Bool("json") {
		// The report is the one JSON document on stdout (its errors
		// table says what failed): a second one would break a script
		// that decodes it (bench/compare does).
		return &shownAsJSON{failed}
	}
	return failed
}

// serveReference serves the reference map server on addr until the
// command's context ends (SIGINT, SIGTERM).
func serveReference(c *cli.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bench: reference server: %w", err)
	}
	srv := &http.Server{Handler: bench.NewMapHandler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(c.App.Writer, "reference map server on http://%s\n", ln.Addr())
	select {
	case err := <-done:
		return fmt.Errorf("bench: reference server: %w", err)
	case <-c.Context.Done():
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(ctx)
	<-done
	return err
}

// progressLine prints the live progress line: overwritten in place with
// \r on a terminal, one plain line per second otherwise (logs, pipes).
// Its methods are called from one goroutine at a time (RunRounds calls
// Live and the round callback in turn, never at once).
type progressLine struct {
	w    io.Writer
	tty  bool
	open bool // a \r line is on screen and must be cleared before other output
}

func (p *progressLine) live(l bench.Live) {
	s := fmt.Sprintf("bench: %s %s %5.1fs  %d requests  %.0f req/s  %d errors",
		l.Target, l.Phase, l.Elapsed.Seconds(), l.Requests, l.Rate, l.Errors)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", s)
		p.open = true
		return
	}
	fmt.Fprintln(p.w, s)
}

// printf prints a line of its own, clearing the progress line first.
func (p *progressLine) printf(format string, args ...any) {
	p.end()
	fmt.Fprintf(p.w, format, args...)
}

// end clears a progress line left on a terminal.
func (p *progressLine) end() {
	if p.open {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.open = false
	}
}
