package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
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
	// HTTPAddr, RPCAddr and GossipAddr are host:port addresses the node
	// binds and advertises exactly. Outbound connections to peers are dialed
	// from the host of RPCAddr / GossipAddr, so source-address firewall
	// rules in fault tests see the right node.
	HTTPAddr   string
	RPCAddr    string
	GossipAddr string
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
	// memory and costs CPU while it runs; it moves behind the admin role
	// once the API has authentication.
	Pprof bool
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
		Hints:            hintedhandoff.DefaultConfig(),
		HandoffInterval:  DefaultHandoffInterval,
		Gossip:           DefaultGossipConfig(),
		TransferRate:     DefaultTransferRate,
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
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a.addr)
		if err != nil {
			bad("%s address %q: %w", a.flag, a.addr, err)
			continue
		}
		// Port 0 is allowed (tests): the node then advertises the port it
		// got, but a restart gets another one and cannot rejoin as itself.
		if net.ParseIP(host) == nil {
			bad("%s address %q: host must be an IP address (it is bound and advertised exactly)", a.flag, a.addr)
		}
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
	if c.Gossip.SuspicionMult < 1 || c.Gossip.ProbeTimeout <= 0 || c.Gossip.ProbeInterval <= 0 {
		bad("gossip timings must be positive")
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
