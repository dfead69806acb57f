package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/security"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/badger"
	"github.com/dynago/dynago/storage/faulty"
)

func agentCommand() *cli.Command {
	d := node.DefaultConfig()
	return &cli.Command{
		Name:  "agent",
		Usage: "run one dynago node until SIGINT or SIGTERM",
		Description: "Runs a node: storage in --data-dir, the HTTP API on --http, internode RPC on --rpc, gossip on --gossip,\n" +
			"and, with --resp, the Redis protocol (redis-cli, redis-benchmark, Redis client libraries) on its own port.\n" +
			"Outbound connections to peers originate from the hosts of --gossip and --rpc. --join lists gossip\n" +
			"addresses of existing members; without it the node starts a new cluster (or rejoins the one recorded\n" +
			"in --data-dir). --n and --partitions are fixed when the cluster is created. Logs go to stderr.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "unique, stable node `NAME` (required: a restarted node must keep its name to rejoin as itself)"},
			&cli.StringFlag{Name: "data-dir", Usage: "`DIR` for the node's badger data (required unless --in-memory: an empty value is a mistake, not a mode)"},
			&cli.BoolFlag{Name: "in-memory", Usage: "keep data in memory only, lost when the agent exits (tests and experiments; excludes --data-dir)"},
			&cli.StringFlag{Name: "config", Usage: "TOML `FILE` of agent settings, keys named as these flags (`http = \"0.0.0.0:8080\"`); flags and DYNAGO_* variables override it (empty: flags, variables and defaults only)"},
			&cli.BoolFlag{Name: "print-config", Usage: "print the effective configuration (flags > DYNAGO_* > --config file > defaults) as TOML, secrets redacted, and exit"},
			&cli.StringFlag{Name: "http", Value: "127.0.0.1:8080", Usage: "HTTP API bind `HOST:PORT`; 0.0.0.0 or [::] binds every interface and needs --advertise (loopback: nothing is exposed beyond this machine unless asked)"},
			&cli.StringFlag{Name: "advertise", Usage: "`HOST` (IP or DNS name) peers and clients dial for --http, --rpc and --gossip, with the ports they bind (empty: the bound addresses; a bind on every interface needs one)"},
			&cli.StringFlag{Name: "advertise-http", Usage: "`HOST:PORT` advertised for the HTTP API instead of --advertise's (a NAT that maps ports; port 0: the bound port)"},
			&cli.StringFlag{Name: "advertise-rpc", Usage: "`HOST:PORT` peers dial for internode RPC instead of --advertise's (a DNS name is resolved at each dial: it follows a pod to a new IP)"},
			&cli.StringFlag{Name: "advertise-gossip", Usage: "`HOST:PORT` peers gossip with instead of --advertise's, TCP and UDP (a name is resolved once at start: memberlist gossips IPs)"},
			&cli.StringFlag{Name: "resp", Usage: "Redis protocol (RESP2) `IP:PORT`: GET, SET (a blind overwrite), DEL, MGET, DYNAGO.GET/PUT (contexts); see README (empty: off, so no port opens unasked)"},
			&cli.StringFlag{Name: "rpc", Value: "127.0.0.1:8081", Usage: "internode RPC bind `HOST:PORT` (next to --http, so a node's ports are easy to find)"},
			// TLS (README, Security): empty means plain TCP, as before.
			&cli.StringFlag{Name: "tls-cert", Usage: "PEM `FILE` of the certificate the HTTP API and --resp serve TLS with (with --tls-key; empty: plain HTTP/RESP)"},
			&cli.StringFlag{Name: "tls-key", Usage: "PEM `FILE` of --tls-cert's key"},
			&cli.StringFlag{Name: "tls-client-ca", Usage: "PEM `FILE` of the CA whose client certificates HTTPS/RESP clients must present (empty: clients are not asked for one)"},
			&cli.StringFlag{Name: "cluster-ca", Usage: "PEM `FILE` of the cluster CA: with --node-cert/--node-key, internode RPC is mutual TLS trusting only it (empty: plain RPC)"},
			&cli.StringFlag{Name: "node-cert", Usage: "PEM `FILE` of this node's certificate (`dynago cert create-node NAME`; it must name --name)"},
			&cli.StringFlag{Name: "node-key", Usage: "PEM `FILE` of --node-cert's key"},
			&cli.StringFlag{Name: "gossip", Value: "127.0.0.1:7946", Usage: "gossip (memberlist) bind `HOST:PORT`, TCP and UDP (memberlist's standard port)"},
			&cli.StringSliceFlag{Name: "join", Usage: "gossip `HOST:PORT,...` of existing members (none: start a new cluster or rejoin the one in --data-dir)"},
			&cli.StringFlag{Name: "zone", Usage: "failure `ZONE`; preference lists span distinct zones first (empty: no zone awareness)"},
			&cli.IntFlag{Name: "n", Value: d.Ring.N, Usage: "`N` replicas per key, fixed at cluster creation (Dynamo's typical N=3)"},
			&cli.IntFlag{Name: "r", Value: d.Quorum.R, Usage: "default read quorum `R` (R+W>N: a read sees the last acknowledged write; unset, at most --n)"},
			&cli.IntFlag{Name: "w", Value: d.Quorum.W, Usage: "default write quorum `W` (a majority of N=3 survives one node down; unset, at most --n)"},
			&cli.IntFlag{Name: "pr", Value: d.Quorum.PR, Usage: "default `PR`: primary replies a read requires (0: fallbacks count, sloppy quorum, Dynamo §4.6)"},
			&cli.IntFlag{Name: "pw", Value: d.Quorum.PW, Usage: "default `PW`: primary acks a write requires (0: fallbacks count, sloppy quorum, Dynamo §4.6)"},
			&cli.IntFlag{Name: "partitions", Value: d.Ring.Partitions, Usage: "ring partitions `Q`, a power of two fixed at cluster creation (Riak's default; 4 per node up to 64 nodes)"},
			&cli.StringFlag{Name: "disk-reserve", Usage: "free space to keep on --data-dir's filesystem, e.g. `256MiB`: below it writes are refused with 507 disk_full (reads go on) and resume by themselves once space is freed. Empty: 256MiB, about twice what badger writes on its own meanwhile (a value-log file, memtable logs, compactions; running out inside its mmapped files is SIGBUS, not an error). 0: no reserve"},
			&cli.BoolFlag{Name: "sync", Value: true, Usage: "fsync every replica write before acknowledging it (acknowledged means on disk, DESIGN.md §4)"},
			&cli.IntFlag{Name: "max-value-bytes", Value: d.MaxValueBytes, Usage: "largest value in `BYTES` (413 beyond): documents fit, one value never stalls a 2-core node"},
			&cli.IntFlag{Name: "max-siblings", Value: d.MaxSiblings, Usage: "`SIBLINGS` per key before writes are refused with 409 (past this a client is not resolving)"},
			&cli.DurationFlag{Name: "timeout", Value: d.RequestTimeout, Usage: "request timeout when a client sets none, e.g. `5s` (rides out a GC pause or fsync stall, reports a partition fast)"},
			&cli.BoolFlag{Name: "sloppy", Value: !d.Strict, Usage: "sloppy quorum by default: requests use the first N alive nodes, fallbacks keep hints for down primaries (Dynamo §4.6; a request's ?sloppy=false overrides)"},
			&cli.Int64Flag{Name: "handoff-rate", Value: d.Hints.Rate, Usage: "hint delivery rate in `BYTES` per second per target (1 MiB/s: drains a large backlog in minutes without starving clients)"},
			&cli.Int64Flag{Name: "hint-max-bytes", Value: d.Hints.MaxBytesPerTarget, Usage: "`BYTES` of hints kept per down node before new hints are refused (logged, counted; anti-entropy repairs)"},
			&cli.DurationFlag{Name: "hint-max-age", Value: d.Hints.MaxAge, Usage: "hint window, e.g. `3h` (Cassandra's): an undelivered hint older than this is reported overdue, never dropped; tombstones are kept at least this long"},
			&cli.StringFlag{Name: "read-repair", Value: d.ReadRepair, Usage: "`MODE`: async (repair stale replicas after answering: no added latency), blocking (before answering: monotonic quorum reads) or off"},
			&cli.Int64Flag{Name: "transfer-rate", Value: d.TransferRate, Usage: "`BYTES` per second a node pulls when it takes over partitions (join, leave, remove; 4 MiB/s moves a million 100-byte keys in about half a minute)"},
			&cli.BoolFlag{Name: "hinted-handoff", Value: true, Usage: "sloppy quorum with hinted handoff (false: requests use primaries only and no hints are kept; anti-entropy repairs what a down replica missed)"},
			&cli.StringFlag{Name: "read-fanout", Value: d.ReadFanout, Usage: "`MODE`: all (ask every replica: read repair sees them all; Dynamo, Riak) or quorum (ask only R of them, this node first, and one more when one fails or is slower than --speculative-retry: less work per read; Cassandra)"},
			&cli.DurationFlag{Name: "speculative-retry", Value: d.SpeculativeRetry, Usage: "with --read-fanout quorum: ask one more replica when those asked have not answered after `D` (a LAN replica read takes well under 1 ms)"},
			&cli.BoolFlag{Name: "insecure", Usage: "allow listening beyond loopback without TLS, internode mutual TLS, a gossip key and client authentication, with a loud warning at start and on /health (off: such a node refuses to start; on loopback nothing is required)"},
			&cli.StringFlag{Name: "memory-limit", Usage: "soft limit on the process's Go memory, e.g. `256MiB` (Go's GOMEMLIMIT: the collector works harder near it and returns freed pages sooner; a node with 1M keys measured 380 MB RSS with 256MiB against 467 MB without). Empty: no limit beyond GOMEMLIMIT, since a limit below the live heap makes the collector spend up to half the CPU"},
			&cli.BoolFlag{Name: "pprof", Usage: "serve Go's profiler under /debug/pprof/ on --http (off: a profile exposes memory and costs CPU; with --token-file, admin tokens only)"},
			&cli.BoolFlag{Name: "aae", Value: true, Usage: "run Merkle-tree anti-entropy exchanges (false: trees are kept but replicas are not compared; tombstones are never reaped)"},
			&cli.DurationFlag{Name: "aae-interval", Value: d.AAE.Interval, Usage: "how often to compare trees with each peer, e.g. `10s` (one small message per peer when in sync)"},
			&cli.IntFlag{Name: "aae-concurrency", Value: d.AAE.Concurrency, Usage: "anti-entropy exchanges at a time (`N`; one per core on a 2-core node)"},
			&cli.IntFlag{Name: "aae-keys-rate", Value: d.AAE.KeysPerSec, Usage: "`KEYS` per second anti-entropy may repair (repairs a lost replica's 1M keys in minutes)"},
			&cli.IntFlag{Name: "aae-bytes-rate", Value: d.AAE.BytesPerSec, Usage: "`BYTES` per second of anti-entropy messages (1 MiB/s, as hinted handoff)"},
			&cli.DurationFlag{Name: "aae-p99-target", Value: d.AAE.P99Target, Usage: "foreground p99 latency above which anti-entropy backs off, e.g. `100ms` (Dynamo §6.5; it also backs off when p99 rises 1.5x over its idle baseline)"},
			&cli.DurationFlag{Name: "aae-rebuild-interval", Value: d.AAE.RebuildInterval, Usage: "mean time between full rebuilds of a tree from storage, randomized ±25% (`24h`: catches silent corruption cheaply)"},
			&cli.DurationFlag{Name: "tombstone-grace", Value: d.AAE.TombstoneGrace, Usage: "least age of a delete before its tombstone is reaped, once every replica confirmed it (`1h`); with hinted handoff on, at least --hint-max-age"},
			&cli.BoolFlag{Name: "tombstone-reap-unconfirmed", Hidden: true, Usage: "UNSAFE, fault-suite control only: reap tombstones on age alone, without replica confirmation"},
			&cli.DurationFlag{Name: "max-timeout", Value: d.MaxRequestTimeout, Usage: "longest `TIMEOUT` a client may ask for (Riak's 60 s default); it also bounds how late a write's replication can land, which the tombstone reaper waits out"},
			&cli.BoolFlag{Name: "test-faults", Hidden: true, Usage: "enable POST /debug/faults, which makes this node drop membership pushes or fail its store's next sync (fault tests only)"},
			&cli.IntFlag{Name: "protocol-version", Hidden: true, Usage: "highest internode protocol `VERSION` to speak: 1 is the protocol of releases before versioning (0: the newest this build speaks, so peers agree on the newest they share; set it to hold a node at the previous release's protocol, and in upgrade tests; README, Upgrades)"},
			&cli.BoolFlag{Name: "test-clock", Usage: "enable POST /debug/clock to skew this node's clock (fault tests only; off: no client can move the clock)"},
			&cli.StringFlag{Name: "token-file", Usage: "`FILE` of hashed client tokens and their roles (`dynago token create`): HTTP needs a bearer token and RESP AUTH; reloaded on SIGHUP (empty: no authentication, for loopback demos and tests)"},
			&cli.BoolFlag{Name: "metrics-auth", Usage: "with --token-file, GET /metrics needs an admin token (off: open, so a Prometheus scraper needs none; it shows counts, never keys or values)"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "`LEVEL`: debug, info, warn or error (info: startup and membership changes, not every request)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "`FORMAT`: text or json (text for people; json for log shippers)"},
		}, append(gossipKeyFlags(), limitFlags(d)...)...),
		Action: runAgent,
	}
}

// newLogger builds the slog logger of --log-level and --log-format.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// configFromFlags maps the agent's flags (and DYNAGO_* variables) to a
// validated node.Config. Every error is bad usage.
func configFromFlags(c *cli.Context) (node.Config, error) {
	if c.NArg() > 0 {
		return node.Config{}, usagef(c, "agent takes no arguments, got %q (flags need a leading --)", c.Args().First())
	}
	cfg := node.DefaultConfig()
	cfg.Name = c.String("name")
	if cfg.Name == "" {
		return node.Config{}, usagef(c, "--name is required (or DYNAGO_NAME)")
	}
	if _, err := memoryLimit(c); err != nil {
		return node.Config{}, err
	}
	cfg.Insecure = c.Bool("insecure")
	cfg.DataDir = c.String("data-dir")
	cfg.HTTPAddr = c.String("http")
	cfg.RESPAddr = c.String("resp")
	cfg.RPCAddr = c.String("rpc")
	cfg.GossipAddr = c.String("gossip")
	cfg.Advertise = c.String("advertise")
	cfg.AdvertiseHTTP = c.String("advertise-http")
	cfg.AdvertiseRPC = c.String("advertise-rpc")
	cfg.AdvertiseGossip = c.String("advertise-gossip")
	for _, j := range c.StringSlice("join") {
		if j = strings.TrimSpace(j); j != "" {
			cfg.Join = append(cfg.Join, j)
		}
	}
	cfg.Zone = c.String("zone")
	if err := gossipKeyFromFlags(c, &cfg); err != nil {
		return node.Config{}, err
	}
	cfg.Ring.N = c.Int("n")
	cfg.Ring.Partitions = c.Int("partitions")
	cfg.Quorum.N = cfg.Ring.N
	cfg.Quorum.R = c.Int("r")
	cfg.Quorum.W = c.Int("w")
	// Defaults, not choices: with --n below them (a one-node store is
	// --n 1) they follow N, so the store the 503 of a lone node points
	// to starts with just --n.
	if !c.IsSet("r") {
		cfg.Quorum.R = min(cfg.Quorum.R, cfg.Ring.N)
	}
	if !c.IsSet("w") {
		cfg.Quorum.W = min(cfg.Quorum.W, cfg.Ring.N)
	}
	cfg.Quorum.PR = c.Int("pr")
	cfg.Quorum.PW = c.Int("pw")
	cfg.MaxValueBytes = c.Int("max-value-bytes")
	cfg.MaxSiblings = c.Int("max-siblings")
	cfg.RequestTimeout = c.Duration("timeout")
	cfg.ReadRepair = c.String("read-repair")
	cfg.Pprof = c.Bool("pprof")
	cfg.ReadFanout = c.String("read-fanout")
	cfg.SpeculativeRetry = c.Duration("speculative-retry")
	cfg.Strict = !c.Bool("sloppy")
	cfg.Hints.Rate = c.Int64("handoff-rate")
	cfg.Hints.MaxBytesPerTarget = c.Int64("hint-max-bytes")
	cfg.Hints.MaxAge = c.Duration("hint-max-age")
	if cfg.Hints.Rate <= 0 || cfg.Hints.MaxBytesPerTarget <= 0 || cfg.Hints.MaxAge <= 0 {
		return node.Config{}, usagef(c, "--handoff-rate, --hint-max-bytes and --hint-max-age must be positive")
	}
	if err := limitsFromFlags(c, &cfg); err != nil {
		return node.Config{}, err
	}
	proto := c.Int("protocol-version")
	if proto < 0 || proto > 255 {
		return node.Config{}, usagef(c, "--protocol-version %d: want a protocol version this build speaks (README, Upgrades)", proto)
	}
	cfg.ProtocolVersion = uint8(proto) // Validate checks the range this build speaks
	cfg.TestClock = c.Bool("test-clock")
	cfg.TestFaults = c.Bool("test-faults")
	if cfg.MaxRequestTimeout = c.Duration("max-timeout"); cfg.MaxRequestTimeout < cfg.RequestTimeout {
		return node.Config{}, usagef(c, "--max-timeout (%v) must be at least --timeout (%v)", cfg.MaxRequestTimeout, cfg.RequestTimeout)
	}
	cfg.NoHintedHandoff = !c.Bool("hinted-handoff")
	if cfg.TransferRate = c.Int64("transfer-rate"); cfg.TransferRate <= 0 {
		return node.Config{}, usagef(c, "--transfer-rate must be positive, got %d", cfg.TransferRate)
	}
	cfg.AAE = node.AAEConfig{
		Disabled:        !c.Bool("aae"),
		Interval:        c.Duration("aae-interval"),
		Concurrency:     c.Int("aae-concurrency"),
		KeysPerSec:      c.Int("aae-keys-rate"),
		BytesPerSec:     c.Int("aae-bytes-rate"),
		P99Target:       c.Duration("aae-p99-target"),
		RebuildInterval: c.Duration("aae-rebuild-interval"),
		TombstoneGrace:  c.Duration("tombstone-grace"),
		ReapUnconfirmed: c.Bool("tombstone-reap-unconfirmed"),
	}
	for _, f := range []string{"aae-interval", "aae-p99-target", "aae-rebuild-interval", "tombstone-grace"} {
		if c.Duration(f) <= 0 {
			return node.Config{}, usagef(c, "--%s must be positive, got %v", f, c.Duration(f))
		}
	}
	for _, f := range []string{"aae-concurrency", "aae-keys-rate", "aae-bytes-rate"} {
		if c.Int(f) <= 0 {
			return node.Config{}, usagef(c, "--%s must be positive, got %d", f, c.Int(f))
		}
	}
	// Zero would mean "default" to node.Config; on the command line it is a
	// mistake, so refuse it rather than silently replacing it.
	for _, f := range []string{"n", "r", "w", "partitions", "max-siblings"} {
		if c.Int(f) <= 0 {
			return node.Config{}, usagef(c, "--%s must be positive, got %d", f, c.Int(f))
		}
	}
	if cfg.MaxValueBytes <= 0 || cfg.RequestTimeout <= 0 {
		return node.Config{}, usagef(c, "--max-value-bytes and --timeout must be positive")
	}
	if cfg.Quorum.PR < 0 || cfg.Quorum.PW < 0 {
		return node.Config{}, usagef(c, "--pr and --pw must not be negative")
	}
	tlsCfg, err := tlsFromFlags(c)
	if err != nil {
		return node.Config{}, err
	}
	cfg.TLS = tlsCfg
	log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return node.Config{}, usagef(c, "%v", err)
	}
	cfg.Logger = log // node adds its own "node" attribute
	if f := c.String("token-file"); f != "" {
		if cfg.Auth, err = openTokenFile(f, log); err != nil {
			return node.Config{}, usagef(c, "--token-file: %v", err)
		}
	}
	cfg.MetricsAuth = c.Bool("metrics-auth")
	if cfg.MetricsAuth && cfg.Auth == nil && c.String("tls-client-ca") == "" {
		return node.Config{}, usagef(c, "--metrics-auth needs --token-file or --tls-client-ca (without either nothing needs credentials)")
	}
	if err := cfg.Validate(); err != nil {
		return node.Config{}, usagef(c, "%v", err)
	}
	return cfg, nil
}

// storeFromFlags maps --data-dir, --in-memory and --sync to the options
// of the node's badger store. Every error is bad usage.
func storeFromFlags(c *cli.Context, log *slog.Logger) (badger.Options, error) {
	dir, mem := c.String("data-dir"), c.Bool("in-memory")
	switch {
	case dir == "" && !mem:
		return badger.Options{}, usagef(c, "--data-dir is required (or DYNAGO_DATA_DIR); --in-memory keeps data in memory only, lost on exit")
	case dir != "" && mem:
		return badger.Options{}, usagef(c, "--data-dir and --in-memory exclude each other")
	}
	reserve, err := diskReserve(c)
	if err != nil {
		return badger.Options{}, err
	}
	return badger.Options{Dir: dir, InMemory: mem, NoSync: !c.Bool("sync"), DiskReserve: reserve, Logger: log.With("component", "badger")}, nil
}

// diskReserve is --disk-reserve as badger.Options.DiskReserve: 0 (the
// default) when empty, -1 (none) for 0.
func diskReserve(c *cli.Context) (int64, error) {
	s := c.String("disk-reserve")
	if s == "" {
		return 0, nil
	}
	n, err := parseBytes(s)
	if err != nil || n < 0 {
		return 0, usagef(c, "--disk-reserve %q: want a size, e.g. 256MiB or 1GiB (0: no reserve)", s)
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}

func runAgent(c *cli.Context) error {
	if err := loadConfigFile(c); err != nil {
		return err
	}
	if c.Bool("print-config") {
		return printConfig(c, c.App.Writer)
	}
	cfg, err := configFromFlags(c)
	if err != nil {
		return err
	}
	log := cfg.Logger.With("node", cfg.Name)
	if limit, _ := memoryLimit(c); limit > 0 {
		debug.SetMemoryLimit(limit)
		log.Info("memory limit set", "bytes", limit)
	}
	opts, err := storeFromFlags(c, log)
	if err != nil {
		return err
	}
	if opts.InMemory {
		log.Warn("--in-memory: data is kept in memory and lost when the agent exits")
	}
	bst, err := badger.Open(opts)
	if err != nil {
		return fmt.Errorf("agent: open storage: %w", err)
	}
	var st storage.Store = bst
	if cfg.TestFaults {
		st = faulty.New(bst) // POST /debug/faults {"fail_sync": true}
	}
	n, err := node.New(cfg, st, nil)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if cfg.Auth != nil {
		defer watchSIGHUP(cfg.Auth, log)()
		log.Info("client authentication on", "token_file", cfg.Auth.Path(), "tokens", cfg.Auth.Tokens(), "metrics_auth", cfg.MetricsAuth)
	}
	if ca := c.String("tls-client-ca"); ca != "" {
		log.Info("client authentication on: client certificates name their roles", "tls_client_ca", ca, "metrics_auth", cfg.MetricsAuth)
	}
	errc := make(chan error, 1)
	go func() { errc <- n.Run(c.Context) }()
	select {
	case <-n.Ready():
		log.Info("agent ready", "http", n.HTTPAddr(), "resp", n.RESPAddr(), "rpc", n.RPCAddr(), "gossip", n.GossipAddr(), "join", cfg.Join)
	case err := <-errc:
		return runExit(err, log)
	case <-n.StorageFailed():
		return storageFailed(n, log)
	}
	select {
	case err := <-errc:
		return runExit(err, log)
	case <-n.StorageFailed():
		return storageFailed(n, log)
	}
}

// storageFailed ends the agent when its store failed stop (a write did
// not reach stable storage; node.StorageFailed): at once, without
// stopping the node or closing the store, whose clean close would flush
// to disk what the failed sync left in memory. Like PostgreSQL after a
// failed fsync, the way back is a restart: the store recovers from its
// write-ahead log only what was synced, and the replicas' read repair,
// hints and anti-entropy bring back what the node missed meanwhile. The
// supervisor restarts it (deploy/: systemd Restart=on-failure, the
// Kubernetes StatefulSet, compose's restart policy); the exit code is 1.
func storageFailed(n *node.Node, log *slog.Logger) error {
	err := n.StorageErr()
	log.Error("storage failed: a write did not reach stable storage; exiting without closing the store so that a restart recovers it from its log (check the disk; a supervisor restarts the agent)", "err", err)
	return fmt.Errorf("agent: storage failed, exiting for a restart to recover it: %w", err)
}

// memoryLimit is --memory-limit in bytes (0: not set).
func memoryLimit(c *cli.Context) (int64, error) {
	s := c.String("memory-limit")
	if s == "" {
		return 0, nil
	}
	n, err := parseBytes(s)
	if err != nil || n < 32<<20 {
		return 0, usagef(c, "--memory-limit %q: want a size of at least 32MiB, e.g. 256MiB or 1GiB", s)
	}
	return n, nil
}

// parseBytes parses a size: a whole number with an optional unit B, KiB,
// MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	mult := map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mult, nil
}

// runExit turns the end of node.Run into the agent's result: a shutdown
// asked for by a signal is success.
func runExit(err error, log *slog.Logger) error {
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("node stopped", "err", err)
		return fmt.Errorf("agent: %w", err)
	}
	log.Info("stopped cleanly")
	return nil
}

// tlsFromFlags loads the agent's TLS files (node/security). Every error
// is bad usage: a half-given pair, an unreadable or wrong file.
func tlsFromFlags(c *cli.Context) (node.TLSConfig, error) {
	var t node.TLSConfig
	cert, key, clientCA := c.String("tls-cert"), c.String("tls-key"), c.String("tls-client-ca")
	switch {
	case (cert == "") != (key == ""):
		return t, usagef(c, "--tls-cert and --tls-key go together")
	case cert == "" && clientCA != "":
		return t, usagef(c, "--tls-client-ca needs --tls-cert and --tls-key (client certificates are checked in the TLS handshake)")
	case cert != "":
		sc, err := security.ServerConfig(cert, key, clientCA)
		if err != nil {
			return t, usagef(c, "%v", err)
		}
		t.Client = sc
	}
	ca, ncert, nkey := c.String("cluster-ca"), c.String("node-cert"), c.String("node-key")
	if ca != "" || ncert != "" || nkey != "" {
		if ca == "" || ncert == "" || nkey == "" {
			return t, usagef(c, "--cluster-ca, --node-cert and --node-key go together")
		}
		in, err := security.LoadInternode(ca, ncert, nkey)
		if err != nil {
			return t, usagef(c, "%v", err)
		}
		t.Internode = in
	}
	return t, nil
}
