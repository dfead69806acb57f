package main

import (
	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/node"
)

// limitFlags are the agent's flags for node.LimitsConfig (README,
// "Limits and overload"); every default is node's, whose reason is in
// node/config.go.
func limitFlags(d node.Config) []cli.Flag {
	l := d.Limits
	return []cli.Flag{
		&cli.IntFlag{Name: "max-conns", Value: l.MaxConns, Usage: "`CONNS` open at once on the HTTP and on the RPC listener, each; more are closed at once (many times what client pools and peers open)"},
		&cli.IntFlag{Name: "max-conns-per-peer", Value: l.MaxConnsPerPeer, Usage: "RPC `CONNS` one remote IP may hold open (a peer uses one; room for several nodes behind one address)"},
		&cli.IntFlag{Name: "max-inflight", Value: l.MaxInflight, Usage: "client `REQUESTS` (HTTP, RESP data commands) served at once; more get 503 + Retry-After or -BUSY at once, not a queue (~100 ms of work at this node's throughput)"},
		&cli.DurationFlag{Name: "inflight-latency-target", Value: l.InflightLatencyTarget, Usage: "mean `LATENCY` of served requests above which the in-flight limit shrinks toward --min-inflight (a queue: a fiftieth of the 5 s timeout), growing back to --max-inflight while they are fast; 0: off, the limit is --max-inflight"},
		&cli.IntFlag{Name: "min-inflight", Value: l.MinInflight, Usage: "floor of the adaptive in-flight limit in `REQUESTS` (requests mostly wait on replicas: 16 keep two cores busy)"},
		&cli.Int64Flag{Name: "max-inflight-body-bytes", Value: l.MaxInflightBodyBytes, Usage: "request body `BYTES` held in memory at once; more get 503 before their body is read (16 max-size values; at least --max-value-bytes)"},
		&cli.DurationFlag{Name: "http-read-header-timeout", Value: l.ReadHeaderTimeout, Usage: "`TIMEOUT` for a client to send a request's headers, from their first byte (cuts slowloris off; headers are a few hundred bytes)"},
		&cli.DurationFlag{Name: "http-read-timeout", Value: l.ReadTimeout, Usage: "`TIMEOUT` for a client to send a whole request (30 s reads a 4 MiB value at ~140 KB/s)"},
		&cli.DurationFlag{Name: "http-write-timeout", Usage: "`TIMEOUT` for a request and its answer; 0: --max-timeout plus --http-read-timeout, so no request that may run is cut"},
		&cli.DurationFlag{Name: "http-idle-timeout", Value: l.IdleTimeout, Usage: "`TIMEOUT` a connection may wait for its first request, or a keep-alive one for its next (nginx's order: pools reuse, idle ones don't pile up)"},
		&cli.IntFlag{Name: "http-max-header-bytes", Value: l.MaxHeaderBytes, Usage: "largest request headers in `BYTES` (431 beyond; ours are a few KB)"},
		&cli.DurationFlag{Name: "rpc-frame-timeout", Value: l.RPCFrameTimeout, Usage: "`TIMEOUT` for a peer to send the rest of an RPC frame it began (a 64 MiB frame at ~2 MB/s)"},
		&cli.DurationFlag{Name: "rpc-idle-timeout", Value: l.RPCIdleTimeout, Usage: "`TIMEOUT` an RPC connection with nothing in flight stays open (live peers call every few seconds)"},
	}
}

// limitsFromFlags sets cfg.Limits from the flags. Zero would mean
// "default" to node.Config; on the command line it is a mistake (but for
// --http-write-timeout, whose default is derived), so it is refused.
func limitsFromFlags(c *cli.Context, cfg *node.Config) error {
	cfg.Limits = node.LimitsConfig{
		MaxConns:             c.Int("max-conns"),
		MaxConnsPerPeer:      c.Int("max-conns-per-peer"),
		MaxInflight:          c.Int("max-inflight"),
		MaxInflightBodyBytes: c.Int64("max-inflight-body-bytes"),
		MinInflight:          c.Int("min-inflight"),
		ReadHeaderTimeout:    c.Duration("http-read-header-timeout"),
		ReadTimeout:          c.Duration("http-read-timeout"),
		WriteTimeout:         c.Duration("http-write-timeout"),
		IdleTimeout:          c.Duration("http-idle-timeout"),
		MaxHeaderBytes:       c.Int("http-max-header-bytes"),
		RPCFrameTimeout:      c.Duration("rpc-frame-timeout"),
		RPCIdleTimeout:       c.Duration("rpc-idle-timeout"),
	}
	switch t := c.Duration("inflight-latency-target"); {
	case t < 0:
		return usagef(c, "--inflight-latency-target must not be negative (0 turns the adaptive limit off)")
	case t == 0:
		cfg.Limits.InflightLatencyTarget = -1 // off: node reads a negative target as off, zero as its default
	default:
		cfg.Limits.InflightLatencyTarget = t
	}
	for _, f := range []string{"max-conns", "max-conns-per-peer", "max-inflight", "min-inflight", "http-max-header-bytes"} {
		if c.Int(f) <= 0 {
			return usagef(c, "--%s must be positive, got %d", f, c.Int(f))
		}
	}
	if c.IsSet("min-inflight") && c.Int("min-inflight") > c.Int("max-inflight") {
		return usagef(c, "--min-inflight %d is above --max-inflight %d", c.Int("min-inflight"), c.Int("max-inflight"))
	}
	if c.Int64("max-inflight-body-bytes") <= 0 {
		return usagef(c, "--max-inflight-body-bytes must be positive")
	}
	for _, f := range []string{"http-read-header-timeout", "http-read-timeout", "http-idle-timeout", "rpc-frame-timeout", "rpc-idle-timeout"} {
		if c.Duration(f) <= 0 {
			return usagef(c, "--%s must be positive, got %v", f, c.Duration(f))
		}
	}
	if c.Duration("http-write-timeout") < 0 {
		return usagef(c, "--http-write-timeout must not be negative")
	}
	return nil
}
