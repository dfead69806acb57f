package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/auth"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/quorum"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// Config configures one dynago node. The zero value of every field except
// Name and the three addresses means "use the default" (see DefaultConfig),
// and no zero value is unsafe: durability is the store's (New takes it
// opened; badger's zero Options fsync every write), and the gossip profile
// follows the address (memberlist's local profile on loopback, its LAN
// profile elsewhere).
type Config struct {
	// Name is the node's unique, stable name in the cluster. A restarted
	// node must keep its name (and its addresses) to rejoin as itself.
	Name string
	// DataDir names where the node's store keeps its data, in logs and
	// errors only: the caller opens the store (New) and decides where it
	// lives; node never opens a file itself.
	DataDir string
	// HTTPAddr, RPCAddr and GossipAddr are the host:port addresses the
	// node binds (the host an IP, a host name, or 0.0.0.0, [::] or empty
	// for every interface). Peers are told to dial the advertised ones
	// (below, advertise.go); after New these fields hold what is
	// advertised. Outbound connections to peers are dialed from the host
	// of RPCAddr / GossipAddr when it is one IP, so source-address
	// firewall rules in fault tests see the right node.
	HTTPAddr   string
	RPCAddr    string
	GossipAddr string
	// Advertise is the host (an IP or a host name) peers dial for every
	// address without an Advertise* of its own, with the port each
	// listener bound. Empty (the zero value): the bound addresses are
	// advertised, which a bind on every interface can't be (Validate).
	Advertise string
	// AdvertiseHTTP, AdvertiseRPC and AdvertiseGossip override Advertise
	// for one address ("host:port"; port 0: the bound port), e.g. behind a
	// NAT that maps ports. The gossip address is resolved to an IP at
	// start (memberlist gossips IPs); RPC and HTTP are kept as given, so a
	// host name is resolved at each dial (a pod's DNS name outlives its IP).
	AdvertiseHTTP   string
	AdvertiseRPC    string
	AdvertiseGossip string
	// RESPAddr is the host:port the Redis-protocol front end (resp.go)
	// listens on; empty (the zero value) leaves it off, so a node opens no
	// port its operator did not ask for.
	RESPAddr string
	// MaxRESPConns bounds the RESP connections served at once; a client
	// past it is answered an error and closed.
	MaxRESPConns int
	// Join lists gossip addresses (host:port) of existing members. Empty
	// means: start a new cluster of one, or rejoin the cluster recorded in
	// DataDir.
	Join []string
	// Zone is the failure zone; preference lists span distinct zones first.
	Zone string

	// Ring is fixed at cluster creation: a node whose Partitions or N
	// differs from the cluster's is refused at join.
	Ring ring.Config
	// Quorum holds the default R, W, PR and PW of requests that do not set
	// their own. Quorum.N is always Ring.N.
	Quorum quorum.Config

	// Strict makes requests use only the key's primaries unless they ask
	// for sloppy=true; by default (false) they use sloppy quorum: the first
	// N alive nodes of the extended preference list (Dynamo §4.6).
	Strict bool
	// Hints bounds and paces hinted handoff.
	Hints hintedhandoff.Config
	// HandoffInterval is how often a fallback retries delivering hints to
	// targets that gossip lists alive (it also tries as soon as one comes
	// back).
	HandoffInterval time.Duration
	// NoHintedHandoff turns sloppy quorum and hinted handoff off: requests
	// go to the key's primaries only and no node keeps hints (Cassandra's
	// hinted_handoff_enabled: false). Anti-entropy then repairs what a down
	// replica missed.
	NoHintedHandoff bool
	// AAE configures Merkle-tree anti-entropy and tombstone reaping.
	AAE AAEConfig
	// TransferRate bounds the bytes per second a node pulls when it takes
	// over partitions (join, ring change).
	TransferRate int64

	// MaxKeyBytes, MaxValueBytes and MaxSiblings are request limits
	// (DESIGN.md §2, §3).
	MaxKeyBytes   int
	MaxValueBytes int
	MaxSiblings   int
	// RequestTimeout bounds a client request that sets no timeout.
	RequestTimeout time.Duration
	// MaxRequestTimeout caps the timeout a client may ask for.
	MaxRequestTimeout time.Duration
	// ReadRepair is how a read repairs stale replicas: ReadRepairAsync
	// pushes the merged state to them after answering; ReadRepairBlocking
	// writes it back to the stale replicas among the R replies before
	// answering (monotonic quorum reads, as Cassandra's blocking read
	// repair) and to the rest after; ReadRepairOff does neither.
	ReadRepair string
	// ReadFanout is which replicas a read asks: ReadFanoutAll asks every
	// replica at once (Dynamo's and Riak's way: read repair sees them
	// all); ReadFanoutQuorum asks only as many as R and PR need (this node
	// first) and one more whenever one fails or has not answered within
	// SpeculativeRetry (Cassandra's way: less work per read, and read
	// repair sees only the replicas asked; anti-entropy still compares
	// them all).
	ReadFanout string
	// SpeculativeRetry is how long a ReadFanoutQuorum read waits for the
	// replicas it asked before it asks the next one as well.
	SpeculativeRetry time.Duration
	// Pprof serves Go's profiler under /debug/pprof/ on the HTTP API.
	// Off by default (zero value): a profile shows keys and values in
	// memory and costs CPU while it runs. With authentication on (Auth)
	// it needs the admin role.
	Pprof bool

	// Auth turns client authentication on (httpauth.go, respauth.go):
	// HTTP requests need a bearer token and RESP connections AUTH, whose
	// role must allow what they ask. nil (the zero value) leaves it off,
	// so loopback demos and tests need no credentials.
	Auth *auth.Authenticator
	// AuthPrincipal, when set, is asked first who made an HTTP request
	// (a verified TLS client certificate's subject, say); false falls
	// back to the bearer token. Setting it turns authentication on.
	AuthPrincipal func(*http.Request) (auth.Principal, bool)
	// MetricsAuth makes GET /metrics need the admin role once
	// authentication is on; false (the zero value) leaves it open, so a
	// Prometheus scraper needs no token (it shows counts, never keys or
	// values).
	MetricsAuth bool
	// StatsInterval is how often the node samples its request rates and
	// latency quantiles for the console's chart (GET /metrics/history,
	// stats.go); StatsWindow is how far back the samples go. Zero means
	// the defaults (DefaultStatsInterval, DefaultStatsWindow).
	StatsInterval time.Duration
	StatsWindow   time.Duration
	// TestClock enables POST /debug/clock, which skews this node's clock
	// (fault tests; libfaketime does not reach Go's clock).
	TestClock bool
	// TestFaults enables POST /debug/faults, which makes this node drop
	// the membership and ownership pushes it receives (fault tests: a node
	// that missed the claimant's push).
	TestFaults bool
	// GCInterval is how often badger's value-log GC runs.
	GCInterval time.Duration

	// Gossip tunes the failure detector.
	Gossip GossipConfig

	// GossipKey is the gossip encryption key: 16, 24 or 32 bytes select
	// AES-128, -192 or -256-GCM (memberlist's keyring), and a node without
	// it can neither read this cluster's gossip nor be heard. Empty: off
	// (loopback demos and tests); the agent requires it off loopback.
	GossipKey []byte
	// GossipKeyringFile keeps the installed gossip keys (keyring.go), the
	// primary first, mode 0600: keys installed and made primary by a
	// rotation (POST /cluster/keyring) survive a restart. When it exists
	// it wins over GossipKey, which is then only added to it. Empty: the
	// keyring lives in memory only.
	GossipKeyringFile string
	// ClusterLabel is memberlist's label: every gossip packet and stream
	// carries it (authenticated with GossipKey), and a node with another
	// label is ignored, so two clusters that share a network (and even a
	// key) never merge. Empty: no label, which is what nodes before
	// labels send.
	ClusterLabel string
	// Limits bounds connections, requests in flight and request bodies
	// (limits.go).
	Limits LimitsConfig
	// Insecure lets a node listen beyond loopback without every protection
	// (secure.go); it then says so loudly, at start and on /health. False:
	// such a configuration fails Validate.
	Insecure bool
	// ProtocolVersion, when set, is the highest internode protocol version
	// the node speaks (node/rpc: 1, the legacy protocol of releases before
	// versioning, up to rpc.MaxProtocol). Zero: every version this build
	// speaks, since peers then agree on the newest they share; pinning
	// is for tests and for holding a cluster at the old protocol during
	// an upgrade (README, Upgrades).
	ProtocolVersion uint8

	// TLS secures the client-facing servers and the internode RPC
	// (tls.go); its zero value is plain TCP, as before.
	TLS TLSConfig

	// Logger receives the node's logs; nil uses slog.Default().
	Logger *slog.Logger
	// Clock is where the node reads time; nil is SystemClock. A simulation
	// passes a clock on virtual time.
	Clock Clock

	// test holds seams read only by this package's test harness
	// (harness_test.go), which opens each test node's store.
	test struct {
		// sync opens the store with fsync (tests default to none).
		sync bool
		// wrap wraps the opened store, e.g. to inject storage faults.
		wrap func(storage.Store) storage.Store
		// clientCert is what the harness's HTTPS client presents to a
		// node that asks for a client certificate (admin's, in tests).
		clientCert *tls.Certificate
	}
}

// GossipConfig tunes memberlist's failure detector.
type GossipConfig struct {
	// ProbeInterval is how often each node probes a random peer.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack before indirect probes.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a suspected node has to refute before
	// it is declared dead.
	SuspicionMult int
	// GossipInterval is how often queued gossip messages are sent.
	GossipInterval time.Duration
}

// AAEConfig configures anti-entropy (Dynamo §4.7) and tombstone reaping.
type AAEConfig struct {
	// Disabled stops exchanges (trees are still kept, and tombstones, which
	// need exchanges to be confirmed, are then never reaped).
	Disabled bool
	// Interval is how often the node compares its trees with each peer.
	Interval time.Duration
	// Concurrency bounds the exchanges that run at a time.
	Concurrency int
	// KeysPerSec and BytesPerSec bound repair work (keys repaired, bytes of
	// exchange messages), scaled down further while foreground latency is
	// high.
	KeysPerSec  int
	BytesPerSec int
	// P99Target is the foreground p99 latency above which anti-entropy
	// backs off (Dynamo §6.5).
	P99Target time.Duration
	// RebuildInterval is the mean time between full rebuilds of a
	// partition's tree from storage (randomized ±25%), which catches a tree
	// that drifted from its data (a bug, silent corruption).
	RebuildInterval time.Duration
	// TombstoneGrace is the least age of a delete before its tombstone may
	// be reaped (and only once every replica confirmed it through an
	// exchange).
	TombstoneGrace time.Duration
	// ReapUnconfirmed reaps tombstones on age alone, without replica
	// confirmation. Unsafe: only for the fault suite's must-fail control.
	ReapUnconfirmed bool
}

// Anti-entropy defaults, each with the reason it has this value.
const (
	// DefaultAAEInterval: comparing roots costs one small message per peer,
	// so every 10 s keeps silent divergence short-lived (Riak's AAE ticks
	// every 15 s) at negligible cost.
	DefaultAAEInterval = 10 * time.Second
	// DefaultAAEConcurrency: one exchange per core on the 2-core machines we
	// target; Riak's AAE also runs a couple of exchanges at a time.
	DefaultAAEConcurrency = 2
	// DefaultAAEKeysPerSec repairs a lost replica's 1M keys in under ten
	// minutes while costing a node far less than its ~4,000 fsync'd
	// writes/s.
	DefaultAAEKeysPerSec = 2000
	// DefaultAAEBytesPerSec matches hinted handoff's default pace (1 MiB/s),
	// far below a disk's or a loopback link's capacity.
	DefaultAAEBytesPerSec = 1 << 20
	// DefaultAAEP99Target: a 3-node cluster here answers R2/W2 requests at
	// p99 ~45 ms; past 100 ms it is already overloaded and background work
	// should yield.
	DefaultAAEP99Target = 100 * time.Millisecond
	// DefaultAAERebuildInterval rebuilds each tree about once a day: a full
	// scan of a partition is cheap, but corruption is rare (Riak expires its
	// AAE trees weekly).
	DefaultAAERebuildInterval = 24 * time.Hour
	// DefaultTombstoneGrace keeps a tombstone at least an hour (the issue's
	// default; Riak's delete_mode keeps them 3 s, Cassandra 10 days): long
	// enough for in-flight requests and stragglers, short enough to reclaim
	// space the same day.
	DefaultTombstoneGrace = time.Hour
	// DefaultTransferRate moves a million 100-byte keys (~130 MB of
	// batches) in about half a minute. Unpaced, a join here pulls ~12 MB/s
	// and costs clients a third of their throughput (BenchmarkTransfer);
	// a third of that keeps a join from dominating a 2-core node.
	DefaultTransferRate = 4 << 20
)

// Read repair modes (Config.ReadRepair).
const (
	ReadRepairAsync    = "async"
	ReadRepairBlocking = "blocking"
	ReadRepairOff      = "off"
)

// Read fanouts (Config.ReadFanout).
const (
	ReadFanoutAll    = "all"
	ReadFanoutQuorum = "quorum"
)

// Defaults, each with the reason it has this value.
const (
	// DefaultMaxKeyBytes is DESIGN.md §2's key limit (Riak's practical limit too).
	DefaultMaxKeyBytes = 1024
	// DefaultMaxValueBytes is DESIGN.md §2's value limit: big enough for
	// documents, small enough that one value never stalls a 2-core node.
	DefaultMaxValueBytes = 4 << 20
	// DefaultMaxSiblings is DESIGN.md §3's cap: past 100 siblings a client
	// is not resolving, and reads get slow (Riak's sibling explosion).
	DefaultMaxSiblings = 100
	// DefaultRequestTimeout matches Cassandra's read timeout: long enough to
	// ride out a GC pause or an fsync stall, short enough that a client
	// learns of a partition quickly.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxRequestTimeout keeps a client from pinning coordinator
	// resources for longer than Riak's default request timeout (60 s).
	DefaultMaxRequestTimeout = 60 * time.Second
	// DefaultMaxRESPConns is redis-server's default maxclients (10000):
	// what Redis clients and pools are sized for, and at a few KB of
	// buffers per idle connection still far below the memory budget.
	DefaultMaxRESPConns = 10000
	// DefaultHandoffInterval retries hint delivery every 5 s: a target that
	// came back is usually noticed at once through gossip; this catches
	// the rest (a failed batch, a missed event) without busy-looping.
	DefaultHandoffInterval = 5 * time.Second
	// DefaultGCInterval follows badger's advice to run value-log GC
	// periodically; every 5 minutes keeps vlog growth bounded at little cost.
	DefaultGCInterval = 5 * time.Minute
	// DefaultStatsInterval samples request rates every 5 s: fine enough to
	// show a burst on the console's chart, coarse enough that a sample of
	// a lightly loaded node still holds requests for its quantiles.
	DefaultStatsInterval = 5 * time.Second
	// DefaultStatsWindow keeps the last 10 minutes (120 samples at 5 s, a
	// few KB): "the last minutes" of the console, while a longer history
	// is Prometheus's job (GET /metrics).
	DefaultStatsWindow = 10 * time.Minute
)

// DefaultGossipConfig is tuned for 3 to 5 nodes sharing a 2-core machine:
// memberlist's Local profile (200 ms probe timeout, suspicion x3) flaps under
// CPU starvation (consul#1212), so the timeout and suspicion are raised while
// detection stays within about 3 s.
func DefaultGossipConfig() GossipConfig {
	return GossipConfig{
		ProbeInterval:  500 * time.Millisecond, // a dead node is probed within ~0.5 s x cluster size
		ProbeTimeout:   500 * time.Millisecond, // survives a scheduling stall on 2 busy cores
		SuspicionMult:  4,                      // suspicion ≈ 4 x log10(n+1) x interval: ~1.5 s for 5 nodes
		GossipInterval: 100 * time.Millisecond, // ring changes spread in well under a second
	}
}

// DefaultConfig returns the defaults for every field that has one.
func DefaultConfig() Config {
	return Config{
		Ring:              ring.DefaultConfig(),
		Quorum:            quorum.DefaultConfig(),
		MaxKeyBytes:       DefaultMaxKeyBytes,
		MaxValueBytes:     DefaultMaxValueBytes,
		MaxSiblings:       DefaultMaxSiblings,
		MaxRESPConns:      DefaultMaxRESPConns,
		RequestTimeout:    DefaultRequestTimeout,
		MaxRequestTimeout: DefaultMaxRequestTimeout,
		ReadRepair:        ReadRepairAsync, // repairs divergence on the read path at no cost to the client's latency
		// Measured side by side (README, Performance): asking only R
		// replicas costs 3% less agent CPU per operation at 50% reads and
		// 15% less at 95%, for read repair that sees only the replicas
		// asked (anti-entropy still compares all of them).
		ReadFanout: ReadFanoutQuorum,
		// A replica read takes well under a millisecond on a LAN; one that
		// has not answered in 5 ms is likely stalled (GC, compaction, a
		// lost packet), and the extra read costs one more replica's work
		// on those reads only.
		SpeculativeRetry: 5 * time.Millisecond,
		GCInterval:       DefaultGCInterval,
		StatsInterval:    DefaultStatsInterval,
		StatsWindow:      DefaultStatsWindow,
		Hints:            hintedhandoff.DefaultConfig(),
		HandoffInterval:  DefaultHandoffInterval,
		Gossip:           DefaultGossipConfig(),
		// WriteTimeout stays zero: it follows MaxRequestTimeout (withDefaults).
		Limits: LimitsConfig{
			MaxConns: DefaultMaxConns, MaxConnsPerPeer: DefaultMaxConnsPerPeer,
			MaxInflight: DefaultMaxInflight, MaxInflightBodyBytes: DefaultMaxInflightBodyBytes,
			InflightLatencyTarget: DefaultInflightLatencyTarget, MinInflight: DefaultMinInflight,
			ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout,
			IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes,
			RPCFrameTimeout: DefaultRPCFrameTimeout, RPCIdleTimeout: DefaultRPCIdleTimeout,
		},
		TransferRate: DefaultTransferRate,
		AAE: AAEConfig{
			Interval:        DefaultAAEInterval,
			Concurrency:     DefaultAAEConcurrency,
			KeysPerSec:      DefaultAAEKeysPerSec,
			BytesPerSec:     DefaultAAEBytesPerSec,
			P99Target:       DefaultAAEP99Target,
			RebuildInterval: DefaultAAERebuildInterval,
			TombstoneGrace:  DefaultTombstoneGrace,
		},
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Ring.Partitions == 0 {
		c.Ring.Partitions = d.Ring.Partitions
	}
	if c.Ring.N == 0 {
		c.Ring.N = d.Ring.N
	}
	c.Quorum.N = c.Ring.N
	if c.Quorum.R == 0 {
		c.Quorum.R = min(d.Quorum.R, c.Ring.N)
	}
	if c.Quorum.W == 0 {
		c.Quorum.W = min(d.Quorum.W, c.Ring.N)
	}
	if c.MaxKeyBytes == 0 {
		c.MaxKeyBytes = d.MaxKeyBytes
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = d.MaxValueBytes
	}
	if c.MaxSiblings == 0 {
		c.MaxSiblings = d.MaxSiblings
	}
	if c.MaxRESPConns == 0 {
		c.MaxRESPConns = d.MaxRESPConns
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MaxRequestTimeout == 0 {
		c.MaxRequestTimeout = d.MaxRequestTimeout
	}
	if c.ReadRepair == "" {
		c.ReadRepair = d.ReadRepair
	}
	if c.ReadFanout == "" {
		c.ReadFanout = d.ReadFanout
	}
	if c.SpeculativeRetry == 0 {
		c.SpeculativeRetry = d.SpeculativeRetry
	}
	if c.GCInterval == 0 {
		c.GCInterval = d.GCInterval
	}
	if c.HandoffInterval == 0 {
		c.HandoffInterval = d.HandoffInterval
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = d.StatsInterval
	}
	if c.StatsWindow == 0 {
		c.StatsWindow = d.StatsWindow
	}
	c.Hints = c.Hints.WithDefaults()
	if c.TransferRate == 0 {
		c.TransferRate = d.TransferRate
	}
	if c.AAE.Interval == 0 {
		c.AAE.Interval = d.AAE.Interval
	}
	if c.AAE.Concurrency == 0 {
		c.AAE.Concurrency = d.AAE.Concurrency
	}
	if c.AAE.KeysPerSec == 0 {
		c.AAE.KeysPerSec = d.AAE.KeysPerSec
	}
	if c.AAE.BytesPerSec == 0 {
		c.AAE.BytesPerSec = d.AAE.BytesPerSec
	}
	if c.AAE.P99Target == 0 {
		c.AAE.P99Target = d.AAE.P99Target
	}
	if c.AAE.RebuildInterval == 0 {
		c.AAE.RebuildInterval = d.AAE.RebuildInterval
	}
	if c.AAE.TombstoneGrace == 0 {
		c.AAE.TombstoneGrace = d.AAE.TombstoneGrace
	}
	if c.Gossip.ProbeInterval == 0 {
		c.Gossip.ProbeInterval = d.Gossip.ProbeInterval
	}
	if c.Gossip.ProbeTimeout == 0 {
		c.Gossip.ProbeTimeout = d.Gossip.ProbeTimeout
	}
	if c.Gossip.SuspicionMult == 0 {
		c.Gossip.SuspicionMult = d.Gossip.SuspicionMult
	}
	if c.Gossip.GossipInterval == 0 {
		c.Gossip.GossipInterval = d.Gossip.GossipInterval
	}
	c.Limits = c.Limits.withDefaults(c)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	return c
}

// Validate reports every problem with c (after defaults are applied) at
// once, joined with errors.Join.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("node: "+format, args...)) }
	if c.Name == "" {
		bad("a name is required")
	}
	addrs := []struct{ flag, addr string }{{"http", c.HTTPAddr}, {"rpc", c.RPCAddr}, {"gossip", c.GossipAddr}}
	if c.RESPAddr != "" {
		addrs = append(addrs, struct{ flag, addr string }{"resp", c.RESPAddr})
	}
	// Port 0 is allowed (tests): the node then advertises the port it
	// got, but a restart gets another one and rejoins as itself only with
	// internode mutual TLS (rebind.go).
	for _, a := range addrs {
		if err := checkBindAddr(a.addr); err != nil {
			bad("%s address %q: %w", a.flag, a.addr, err)
		}
	}
	if c.Advertise != "" {
		if err := checkAdvertiseHost(c.Advertise); err != nil {
			bad("advertise host %q: %w", c.Advertise, err)
		}
	}
	for _, a := range []struct{ flag, bind, own string }{
		{"http", c.HTTPAddr, c.AdvertiseHTTP}, {"rpc", c.RPCAddr, c.AdvertiseRPC}, {"gossip", c.GossipAddr, c.AdvertiseGossip},
	} {
		if a.own != "" {
			if err := checkAdvertiseAddr(a.own); err != nil {
				bad("advertise-%s address %q: %w", a.flag, a.own, err)
			}
			continue
		}
		if host, _, err := net.SplitHostPort(a.bind); err == nil && c.Advertise == "" && unspecifiedHost(host) {
			bad("%s address %q binds every interface: say what peers dial with an advertise address (--advertise or --advertise-%s)", a.flag, a.bind, a.flag)
		}
	}
	if msg := c.checkExposure(); msg != "" {
		bad("%s", msg)
	}
	if in := c.TLS.Internode; in != nil && !in.Names(c.Name) {
		bad("the node certificate is for %q, not for this node (%q)", in.Name(), c.Name)
	}
	for _, err := range []error{c.Ring.Validate(), c.Quorum.Validate(), c.Hints.Validate()} {
		if err != nil {
			bad("%w", err)
		}
	}
	switch c.ReadRepair {
	case ReadRepairAsync, ReadRepairBlocking, ReadRepairOff:
	default:
		bad("read repair %q: want async, blocking or off", c.ReadRepair)
	}
	switch c.ReadFanout {
	case ReadFanoutAll, ReadFanoutQuorum:
	default:
		bad("read fanout %q: want all or quorum", c.ReadFanout)
	}
	if c.SpeculativeRetry < 0 {
		bad("speculative retry %v: must not be negative", c.SpeculativeRetry)
	}
	if c.StatsInterval < 0 || c.StatsWindow < c.StatsInterval {
		bad("stats interval %v and window %v: want a positive interval no longer than the window", c.StatsInterval, c.StatsWindow)
	}
	if c.AAE.Interval < 0 || c.AAE.Concurrency < 1 || c.AAE.KeysPerSec < 1 || c.AAE.BytesPerSec < 1 ||
		c.AAE.P99Target < 0 || c.AAE.RebuildInterval < 0 || c.AAE.TombstoneGrace < 0 {
		bad("anti-entropy settings must be positive")
	}
	if c.MaxKeyBytes < 1 || c.MaxValueBytes < 0 || c.MaxSiblings < 1 || c.MaxRESPConns < 1 {
		bad("limits must be positive")
	}
	if c.RequestTimeout < 0 || c.MaxRequestTimeout < c.RequestTimeout {
		bad("request timeout must be positive and at most the max request timeout")
	}
	errs = append(errs, c.Limits.validate(c)...)
	if c.Gossip.SuspicionMult < 1 || c.Gossip.ProbeTimeout <= 0 || c.Gossip.ProbeInterval <= 0 {
		bad("gossip timings must be positive")
	}
	if err := checkGossipKey(c.GossipKey); len(c.GossipKey) > 0 && err != nil {
		bad("gossip key: %w", err)
	}
	if p := c.ProtocolVersion; p != 0 && (p < rpc.MinProtocol || p > rpc.MaxProtocol) {
		bad("protocol version %d: this build speaks %d to %d", p, rpc.MinProtocol, rpc.MaxProtocol)
	}
	if len(c.ClusterLabel) > 255 {
		bad("cluster label is %d bytes, at most 255 (memberlist's limit)", len(c.ClusterLabel))
	}
	return errors.Join(errs...)
}

// reapMinAge is the least time this node keeps a tombstone after storing
// it (its own steady clock): the grace period, and with hinted handoff on
// at least the hint window plus reapMargin, so that hints delivered within
// the window land on the tombstone that suppresses what they hold.
//
// Reaping is safe from hints of any age because of the confirmation, not
// this wait: hints are never dropped for age (a write acknowledged by
// fallbacks alone lives only there), so with hinted handoff on every member
// counts as a holder of every partition it is not a primary of, and a
// tombstone is reaped only once each of them confirmed it (holderRound):
// its data and hints were fetched, the tombstone pushed where they did not
// descend it (which supersedes the hints it covers, receiveHandoff), in a
// round that started more than reapMargin after the tombstone was stored
// here (a hint holding a pre-delete value is created at most
// MaxRequestTimeout after the delete began: a write's late replication)
// and ended more than reapMargin ago (a delivery the holder sent from a
// hint before the push is in flight at most hintCallTimeout, a read reply
// it served from one reaches a primary within MaxRequestTimeout, and
// node/rpc's stall guard drops a request read only after a pause of the
// whole process). A member that is down holds up reaping until it is back
// or removed: it may hold the only copy of a write the tombstone covers.
func (c Config) reapMinAge() time.Duration {
	if c.NoHintedHandoff || c.AAE.ReapUnconfirmed {
		return c.AAE.TombstoneGrace
	}
	return max(c.AAE.TombstoneGrace, c.Hints.MaxAge+c.reapMargin())
}

// reapMargin bounds how late a value can land after the request that
// carried it began (see reapMinAge).
func (c Config) reapMargin() time.Duration {
	return 2*c.MaxRequestTimeout + c.hintCallTimeout()
}

// hintCallTimeout bounds one hint delivery call.
func (c Config) hintCallTimeout() time.Duration { return 2 * c.RequestTimeout }

// staleWait covers requests coordinated under the previous placement: a
// few request timeouts.
func (c Config) staleWait() time.Duration { return 3 * c.RequestTimeout }

// LimitsConfig bounds what clients and peers can make a node hold: open
// connections, requests in flight, request bodies in memory, and how long
// a connection may take to send a request or sit idle. Each limit, when
// hit, is an error the caller sees (a closed connection, 413, 431, 503
// with Retry-After, RESP -BUSY) and a counter an operator sees
// (dynago_shed_total). Zero fields take the defaults below.
type LimitsConfig struct {
	// MaxConns bounds the connections open at once on the HTTP and on the
	// RPC listener (each); one past it is closed at once. RESP has its own
	// (Config.MaxRESPConns).
	MaxConns int
	// MaxConnsPerPeer bounds the RPC connections one remote IP address
	// holds open at once.
	MaxConnsPerPeer int
	// MaxInflight bounds the client requests (HTTP, and RESP data
	// commands) a node serves at once; one past it is answered at once
	// with 503 + Retry-After (RESP: -BUSY) instead of being queued.
	// /health and /metrics are not counted.
	MaxInflight int
	// InflightLatencyTarget makes the in-flight limit adaptive: while the
	// requests a node serves take longer than this on average (they are
	// waiting for a CPU, a disk or each other: a queue), the limit
	// shrinks toward MinInflight, and it grows back toward MaxInflight
	// while they are fast and the limit is what holds them back. So past
	// its capacity a node answers the excess with a fast 503 instead of
	// admitting more than it can answer before their timeouts. Negative:
	// off (MaxInflight is the limit).
	InflightLatencyTarget time.Duration
	// MinInflight is the floor of the adaptive limit.
	MinInflight int
	// MaxInflightBodyBytes bounds the request body bytes a node holds in
	// memory at once (by Content-Length, or MaxValueBytes for a body of
	// unknown length); a request past it is answered 503 before its body
	// is read. At least MaxValueBytes.
	MaxInflightBodyBytes int64
	// ReadHeaderTimeout bounds how long an HTTP client may take to send a
	// request's headers from their first byte, ReadTimeout the whole
	// request with its body, WriteTimeout the request and its answer
	// (zero: MaxRequestTimeout plus ReadTimeout, so no request that may
	// run is cut), IdleTimeout how long a connection may wait for its
	// first request (idleUntilFirstByte) or a keep-alive one for its next.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxHeaderBytes bounds an HTTP request's headers (431 past it).
	MaxHeaderBytes int
	// RPCFrameTimeout bounds how long a peer may take to send the rest of
	// an RPC frame once its first byte arrived; RPCIdleTimeout how long an
	// RPC connection with no request in flight stays open without one.
	RPCFrameTimeout time.Duration
	RPCIdleTimeout  time.Duration
}

// Limit defaults, each with the reason it has this value.
const (
	// DefaultMaxConns: 4096 connections is many times what client pools
	// and a cluster's peers open, and at a few KB of buffers each (plus
	// bodies, bounded apart) stays far inside a node's memory; it sits
	// below common file descriptor limits once raised (systemd's 512k),
	// so the node refuses before the kernel does.
	DefaultMaxConns = 4096
	// DefaultMaxConnsPerPeer: a peer's client holds one connection to us
	// (two while it reconnects); 64 leaves room for several nodes behind
	// one address (tests, NAT) while one host can't take every slot.
	DefaultMaxConnsPerPeer = 64
	// DefaultMaxInflight: a node here serves ~5,000 requests/s at a p99
	// near 45 ms; by Little's law 512 requests in flight are already
	// ~100 ms of queue, and past that a fast 503 (the client retries or
	// goes elsewhere) beats a queue that pushes every request's p99 to
	// seconds (1,500 concurrent writers measured 1.2 s).
	DefaultMaxInflight = 512
	// DefaultInflightLatencyTarget: a served request takes 1-10 ms here
	// on average (p99 ~45 ms at capacity); an average of 100 ms means
	// requests mostly wait in a queue, and it is a fiftieth of the 5 s
	// request timeout, so what is admitted is answered in time.
	DefaultInflightLatencyTarget = 100 * time.Millisecond
	// DefaultMinInflight: a request spends most of its time waiting for
	// replicas' answers, so 16 at once still keep two cores busy, and a
	// node never sheds everything because of a few slow requests.
	DefaultMinInflight = 16
	// DefaultMaxInflightBodyBytes: 64 MiB of bodies is 16 max-size values
	// or 64k 1 KB ones being received at once, far more than the
	// concurrency above needs for typical values, and keeps 200 stalled
	// 4 MiB uploads from costing a gigabyte.
	DefaultMaxInflightBodyBytes = 64 << 20
	// DefaultReadHeaderTimeout: headers are a few hundred bytes; 10 s
	// rides out a congested link and cuts a slowloris off.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout: 30 s reads a 4 MiB value at ~140 KB/s, slower
	// than any link a client of a datacenter store is on.
	DefaultReadTimeout = 30 * time.Second
	// DefaultIdleTimeout is nginx's keepalive_timeout order (75 s) rounded
	// up: pools reuse connections, idle ones don't pile up.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxHeaderBytes: our headers (a causal context, a report) are
	// at most a few KB; 64 KiB is nginx's largest header buffers x2, a
	// sixteenth of Go's default.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultRPCFrameTimeout: a frame is at most 64 MiB (rpc.MaxFrameBytes),
	// which arrives in 30 s at ~2 MB/s; a peer that pauses mid-frame
	// longer than that is gone or hostile.
	DefaultRPCFrameTimeout = 30 * time.Second
	// DefaultRPCIdleTimeout: a live peer calls far more often (anti-entropy
	// compares roots every 10 s, gossip-driven work continually), so an
	// RPC connection quiet for 5 minutes is one no peer uses.
	DefaultRPCIdleTimeout = 5 * time.Minute
)

// withDefaults fills l's zero fields; writeTimeout follows the request
// timeouts of c.
func (l LimitsConfig) withDefaults(c Config) LimitsConfig {
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	if l.MaxConnsPerPeer == 0 {
		l.MaxConnsPerPeer = DefaultMaxConnsPerPeer
	}
	if l.MaxInflight == 0 {
		l.MaxInflight = DefaultMaxInflight
	}
	if l.InflightLatencyTarget == 0 {
		l.InflightLatencyTarget = DefaultInflightLatencyTarget
	}
	if l.MinInflight == 0 {
		l.MinInflight = DefaultMinInflight
	}
	l.MinInflight = min(l.MinInflight, l.MaxInflight) // a small MaxInflight is the floor too
	if l.MaxInflightBodyBytes == 0 {
		l.MaxInflightBodyBytes = max(DefaultMaxInflightBodyBytes, int64(c.MaxValueBytes))
	}
	if l.ReadHeaderTimeout == 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout == 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	if l.WriteTimeout == 0 {
		l.WriteTimeout = c.MaxRequestTimeout + l.ReadTimeout
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.RPCFrameTimeout == 0 {
		l.RPCFrameTimeout = DefaultRPCFrameTimeout
	}
	if l.RPCIdleTimeout == 0 {
		l.RPCIdleTimeout = DefaultRPCIdleTimeout
	}
	return l
}

// validate reports the problems of l (defaults applied) against c.
func (l LimitsConfig) validate(c Config) []error {
	var errs []error
	if l.MaxConns < 1 || l.MaxConnsPerPeer < 1 || l.MaxInflight < 1 || l.MaxHeaderBytes < 1 {
		errs = append(errs, errors.New("node: connection, in-flight and header limits must be positive"))
	}
	if l.MinInflight < 1 {
		errs = append(errs, fmt.Errorf("node: min in-flight %d must be positive", l.MinInflight))
	}
	if l.MaxInflightBodyBytes < int64(c.MaxValueBytes) {
		errs = append(errs, fmt.Errorf("node: max in-flight body bytes %d is below the max value bytes %d (no such value could be written)",
			l.MaxInflightBodyBytes, c.MaxValueBytes))
	}
	if l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.IdleTimeout < 0 || l.RPCFrameTimeout < 0 || l.RPCIdleTimeout < 0 {
		errs = append(errs, errors.New("node: timeouts must not be negative"))
	}
	if l.WriteTimeout <= c.MaxRequestTimeout {
		errs = append(errs, fmt.Errorf("node: the HTTP write timeout %v must be longer than the max request timeout %v", l.WriteTimeout, c.MaxRequestTimeout))
	}
	return errs
}
