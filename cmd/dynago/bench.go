package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
		Description: "Each of --concurrency workers sends one request at a time (GET or PUT /kv/KEY, keys uniform over\n" +
			"--keys, random values of --value-size bytes, round-robin over --addr) for --duration, and records\n" +
			"latencies in an HDR histogram (1µs..60s, 3 significant figures). Prints OK requests per second and\n" +
			"p50/p99/p99.9 of OK requests, and every failed request by kind. A read's 300 (siblings) is OK, and\n" +
			"so is its 404 for a key never written; any other non-2xx or transport failure is an error, and bench\n" +
			"exits 1 if there was one. Writes carry the last context seen for their key.\n" +
			"--reference also runs the identical load against a bare Go net/http map server in this process,\n" +
			"interleaving --rounds rounds (dynago, reference, dynago, ...), and prints medians and the ratios\n" +
			"dynago/reference. --demo starts the 3-node demo cluster in this process and targets it.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "addr", Value: cli.NewStringSlice(defaultAddr), Usage: "`URL,...` of the nodes to load, round-robin (where agent and demo n1 listen)"},
			&cli.IntFlag{Name: "concurrency", Value: d.Concurrency, Usage: "`N` workers, each with one request in flight (saturates 2 cores without queueing in the generator)"},
			&cli.IntFlag{Name: "value-size", Value: d.ValueSize, Usage: "`BYTES` per written value (small: measures per-request cost, not bandwidth)"},
			&cli.Float64Flag{Name: "read-ratio", Value: d.ReadRatio, Usage: "`FRACTION` of requests that are reads, 0..1 (YCSB workload A: 50/50)"},
			&cli.DurationFlag{Name: "duration", Value: d.Duration, Usage: "length of each round, e.g. `10s` (long enough for a stable p99)"},
			&cli.IntFlag{Name: "keys", Value: d.Keys, Usage: "`N` keys in the key space, drawn uniformly (reads mostly hit written keys)"},
			&cli.StringFlag{Name: "r", Value: d.R, Usage: "read quorum `R` sent as ?r= (empty: the node's default; 2: a majority of N=3)"},
			&cli.StringFlag{Name: "w", Value: d.W, Usage: "write quorum `W` sent as ?w= (empty: the node's default; 2: a majority of N=3)"},
			&cli.BoolFlag{Name: "reference", Usage: "also load a bare Go net/http map server (the ceiling for an HTTP request here) and print ratios"},
			&cli.IntFlag{Name: "rounds", Value: 3, Usage: "`K` interleaved rounds per target; medians are reported (DESIGN.md §8: at least three)"},
			&cli.BoolFlag{Name: "demo", Usage: "start the 3-node demo cluster (ports 8080-8085, 7946-7948) in this process and load it instead of --addr"},
			&cli.BoolFlag{Name: "sync", Value: true, Usage: "with --demo: fsync every replica write before acknowledging it (like an agent)"},
			&cli.DurationFlag{Name: "timeout", Value: 10 * time.Second, Usage: "per-request timeout, e.g. `10s`; a request that takes longer is an error (longer than the node's 5 s default)"},
			&cli.Uint64Flag{Name: "seed", Usage: "`SEED` of the key, operation and value choices (0: from the clock; always printed, so a run can be repeated)"},
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON (for scripts)"},
		},
		Action: runBench,
	}
}

// benchPlan maps the bench flags to a bench.Config (URLs unset) and round
// count.
func benchPlan(c *cli.Context) (bench.Config, int, error) {
	cfg := bench.DefaultConfig()
	cfg.Concurrency = c.Int("concurrency")
	cfg.ValueSize = c.Int("value-size")
	cfg.ReadRatio = c.Float64("read-ratio")
	cfg.Duration = c.Duration("duration")
	cfg.Keys = c.Int("keys")
	cfg.Seed = c.Uint64("seed")
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	r, err := quorumParam(c, "r", 1)
	if err != nil {
		return cfg, 0, err
	}
	w, err := quorumParam(c, "w", 1)
	if err != nil {
		return cfg, 0, err
	}
	cfg.R, cfg.W = string(r), string(w)
	rounds := c.Int("rounds")
	if rounds < 1 {
		return cfg, 0, usagef(c, "--rounds must be at least 1")
	}
	if c.Duration("timeout") <= 0 {
		return cfg, 0, usagef(c, "--timeout must be positive")
	}
	cfg.URLs = []string{"http://127.0.0.1:1"} // placeholder so Validate checks the rest
	if err := cfg.Validate(); err != nil {
		return cfg, 0, usagef(c, "%v", err)
	}
	cfg.URLs = nil
	return cfg, rounds, nil
}

func runBench(c *cli.Context) error {
	if _, err := positional(c, 0, 0, ""); err != nil {
		return err
	}
	cfg, rounds, err := benchPlan(c)
	if err != nil {
		return err
	}
	var urls []string
	for _, a := range c.StringSlice("addr") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		u, err := client.NormalizeAddr(a)
		if err != nil {
			return usagef(c, "--addr: %v", err)
		}
		urls = append(urls, u)
	}
	ew := c.App.ErrWriter
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
	plan := bench.Plan{Config: cfg, Rounds: rounds, Targets: []bench.Target{{Name: "dynago", URLs: urls}}}
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
	tr := bench.NewTransport(cfg.Concurrency)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: c.Duration("timeout")}
	progress := func(r bench.Round) {
		fmt.Fprintf(ew, "round %d %-9s %8.0f req/s  p50 %.3fms  p99 %.3fms  errors %d\n",
			r.Round, r.Target, r.Throughput, r.P50/1000, r.P99/1000, r.Errors)
	}
	fmt.Fprintf(ew, "bench: seed %d, %d round(s) of %s per target\n", cfg.Seed, rounds, cfg.Duration)
	rep, runErr := bench.RunRounds(c.Context, plan, hc, progress)
	if runErr != nil && len(rep.Rounds) == 0 {
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
	if runErr != nil {
		return fmt.Errorf("bench: %w (the report covers the rounds that ran)", runErr)
	}
	return rep.Err()
}
