package gossip

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/internal/membership"
)

// Config is the member's configuration; node fills it from its own.
type Config struct {
	// Name is this node's name, its memberlist node name.
	Name string
	// Addr is where to bind gossip ("host:port"; port 0 picks one).
	Addr string
	// Advertise maps the address the transport bound ("ip:port") to the
	// one peers are told to dial, an "ip:port" (memberlist gossips IPs).
	// Nil: the bound address is advertised.
	Advertise func(bound string) (string, error)
	// Rebind lets a member's name move to other addresses, because
	// internode mutual TLS proves who holds a name (node's rebind.go):
	// memberlist may then move a dead member's name to the address Known
	// gives it, and this node accepts a cluster that still lists its own
	// name at its old address. False: a name never moves.
	Rebind bool
	// Meta is what this node gossips about itself; its Partitions and N
	// are also the ring configuration a peer must share.
	Meta Meta
	// ProbeInterval, ProbeTimeout, SuspicionMult and GossipInterval tune
	// memberlist's failure detector (node's Config.Gossip).
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	SuspicionMult  int
	GossipInterval time.Duration
	// Keys are the gossip encryption keys (AES-GCM, 16, 24 or 32 bytes
	// each), the primary first: it encrypts, every key decrypts. None:
	// gossip is neither encrypted nor authenticated.
	Keys [][]byte
	// Label is memberlist's label: it prefixes every packet and stream
	// (with Keys, it is authenticated data), and packets without it or
	// with another are dropped. Empty: no label.
	Label string
	// Known returns the gossip address the membership binds name to ("":
	// none). A memberlist member claiming a bound name from another
	// address is refused (the name-takeover rule). Nil: no binding.
	Known func(name string) string
}

// Transport binds a memberlist transport at addr (port 0 picks one) and
// returns it with the "host:port" it advertises. node.Transport is one.
type Transport interface {
	Gossip(addr string) (memberlist.Transport, string, error)
}

// State is the node's membership as gossip sees it. Its methods are
// called from memberlist's goroutines: they must be safe for concurrent
// use, must not block for long, and must never call back into memberlist
// (Member's methods included, except Broadcast, which only queues).
type State interface {
	// LocalState returns the full membership, marshalled
	// (membership.State.Marshal), for a push/pull exchange. The caller
	// owns the returned slice.
	LocalState() []byte
	// MergeRecords merges gossiped membership records.
	MergeRecords(recs ...membership.Record)
	// MergeState merges a peer's full membership (push/pull). It is only
	// given states of a cluster with this node's ring configuration.
	MergeState(s membership.State)
}

// Deps is what the member needs from the node. Every field is required.
type Deps struct {
	Transport Transport
	State     State
	// Peers is the liveness table the member keeps up to date.
	Peers *Peers
	// Log receives the member's lines; memberlist's own go to it too,
	// tagged component=memberlist.
	Log *slog.Logger
	// NetLog, when set, receives memberlist's own lines instead of Log:
	// a flood-limited logger, since a remote party can make memberlist
	// log one line per packet (junk UDP).
	NetLog *slog.Logger
	// Recovered is given a panic recovered in a delegate, and where.
	Recovered func(where string, v any)
	// NameRefused, if set, is called once for each member the
	// name-takeover rule refuses (the node counts them). It must not
	// block.
	NameRefused func()
	// Incompatible, if set, is told of each peer refused because it
	// gossips no internode protocol version this node speaks, with its
	// metadata. Called from memberlist's goroutines: it must not block.
	Incompatible func(name string, m Meta)
}

// Member is this node's member of the gossip cluster: its memberlist and
// the queue of membership records it gossips.
type Member struct {
	cfg Config
	ml  *memberlist.Memberlist
	// mlp is ml for the queue's NumNodes, which memberlist's goroutines
	// may call before New has set ml.
	mlp   atomic.Pointer[memberlist.Memberlist]
	bcast *memberlist.TransmitLimitedQueue
	addr  string
	// bound is where the transport listens (addr is advertised).
	bound string
	// refusals counts the gossip members and merges refused by the
	// name-takeover rule.
	refusals atomic.Uint64
	// keyring is memberlist's (nil: gossip not encrypted).
	keyring *memberlist.Keyring
}

// New binds and creates the node's memberlist. It does not join anyone
// (Join does). The error texts are node's: "node: gossip listen on ...",
// "node: gossip address: ..." and "node: start gossip: ...".
func New(cfg Config, deps Deps) (*Member, error) {
	mt, bound, err := deps.Transport.Gossip(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("node: gossip listen on %s: %w", cfg.Addr, err)
	}
	addr := bound
	if cfg.Advertise != nil {
		if addr, err = cfg.Advertise(bound); err != nil {
			mt.Shutdown()
			return nil, fmt.Errorf("node: gossip address: %w", err)
		}
	}
	bhost, bport, err := splitHostPort(bound)
	if err != nil {
		mt.Shutdown()
		return nil, fmt.Errorf("node: gossip address: %w", err)
	}
	host, port, err := splitHostPort(addr)
	if err == nil && net.ParseIP(host) == nil {
		err = fmt.Errorf("advertised gossip host %q is not an IP address", host)
	}
	if err != nil {
		mt.Shutdown()
		return nil, fmt.Errorf("node: gossip address: %w", err)
	}
	m := &Member{cfg: cfg, addr: addr, bound: bound}
	mc := Profile(host)
	mc.Name = cfg.Name
	mc.BindAddr = bhost
	mc.BindPort = bport
	mc.AdvertiseAddr = host
	mc.AdvertisePort = port
	mc.Transport = mt
	mc.Logger = Logger(deps.Log)
	if deps.NetLog != nil {
		mc.Logger = Logger(deps.NetLog)
	}
	mc.ProbeInterval = cfg.ProbeInterval
	mc.ProbeTimeout = cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.GossipInterval = cfg.GossipInterval
	// A dead node's name is never reclaimed from another address (0 is
	// "never" in memberlist v0.7.0): a restarted node keeps its name and
	// addresses, so it needs no reclaim, and another process must not take
	// a down node's name (the name-takeover rule, doc.go).
	mc.DeadNodeReclaimTime = 0
	if cfg.Rebind {
		// A proven name may move (Config.Rebind): memberlist lets a dead
		// member's name take a new address at once, and the alive
		// delegate's Known check, which runs first, admits only the
		// address the membership record binds it to.
		mc.DeadNodeReclaimTime = time.Nanosecond
	}
	if len(cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(cfg.Keys, cfg.Keys[0])
		if err != nil {
			mt.Shutdown()
			return nil, fmt.Errorf("node: gossip keyring: %w", err)
		}
		mc.Keyring, m.keyring = kr, kr
		// Both directions must be encrypted (memberlist's defaults, kept
		// explicit): an unencrypted packet is dropped.
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	mc.Label = cfg.Label
	check := checker{name: cfg.Name, partitions: cfg.Meta.Partitions, n: cfg.Meta.N, addr: addr, known: cfg.Known, refused: deps.NameRefused, rebind: cfg.Rebind, refusals: &m.refusals,
		protoMin: cfg.Meta.ProtoMin, protoMax: cfg.Meta.ProtoMax, incompatible: deps.Incompatible}
	mc.Delegate = &delegate{m: m, meta: cfg.Meta, state: deps.State, check: check, log: deps.Log, recovered: deps.Recovered}
	mc.Events = &events{self: cfg.Name, peers: deps.Peers}
	mc.Merge = mergeDelegate{check}
	mc.Alive = aliveDelegate{check}
	// The queue exists before memberlist can call GetBroadcasts.
	m.bcast = &memberlist.TransmitLimitedQueue{NumNodes: m.numNodes, RetransmitMult: 4}
	ml, err := memberlist.Create(mc)
	if err != nil {
		mt.Shutdown()
		return nil, fmt.Errorf("node: start gossip: %w", err)
	}
	m.ml = ml
	m.mlp.Store(ml)
	return m, nil
}

func (m *Member) numNodes() int {
	if ml := m.mlp.Load(); ml != nil {
		return ml.NumMembers()
	}
	return 1
}

// Keyring is memberlist's gossip encryption keyring (safe for concurrent
// use), nil when gossip is not encrypted (Config.Keys).
func (m *Member) Keyring() *memberlist.Keyring { return m.keyring }

// Addr is the "host:port" this member advertises.
func (m *Member) Addr() string { return m.addr }

// NameRefusals is how many gossip members and merges this member refused
// by the name-takeover rule since it started.
func (m *Member) NameRefusals() uint64 { return m.refusals.Load() }

// BoundAddr is the "host:port" this member's transport listens on.
func (m *Member) BoundAddr() string { return m.bound }

// NumMembers is how many members memberlist knows, this node included.
func (m *Member) NumMembers() int { return m.ml.NumMembers() }

// Broadcast queues a membership record for gossip. It never blocks and is
// safe for concurrent use (delegates included).
func (m *Member) Broadcast(r membership.Record) {
	msg, err := json.Marshal(r)
	if err != nil {
		panic("node: marshal: " + err.Error())
	}
	m.bcast.QueueBroadcast(&recordBroadcast{name: r.Name, msg: msg})
}

// Queued is how many broadcasts are still queued.
func (m *Member) Queued() int { return m.bcast.NumQueued() }

// Join joins the gossip cluster through seeds (none: nothing to do). It
// blocks while memberlist contacts them. A configuration mismatch is
// returned wrapped in membership.ErrClusterMismatch, a refusal of this
// node's name from its addresses (the name-takeover rule) wrapped in
// membership.ErrNameTaken.
func (m *Member) Join(seeds []string) error {
	if len(seeds) == 0 {
		return nil
	}
	_, err := m.ml.Join(seeds)
	if err != nil {
		// The only match by text in node: our delegate's refusal
		// (NotifyMerge, membership.CheckCompatible) reaches us through memberlist,
		// which flattens it ("failed to join %s: %v" in Join), so
		// errors.Is can't find membership.ErrClusterMismatch in err.
		for _, refusal := range []error{membership.ErrClusterMismatch, membership.ErrNameTaken} {
			if strings.Contains(err.Error(), refusal.Error()) {
				return fmt.Errorf("%w: %v", refusal, err)
			}
		}
		return fmt.Errorf("node: join %v: %w", seeds, err)
	}
	return nil
}

// Leave tells the cluster this member is leaving, waiting up to timeout.
func (m *Member) Leave(timeout time.Duration) error { return m.ml.Leave(timeout) }

// Shutdown stops memberlist's goroutines and closes its transport.
func (m *Member) Shutdown() error { return m.ml.Shutdown() }

// Profile is memberlist's profile for a node gossiping from host:
// the local profile (short TCP timeouts, fast push-pull) on loopback,
// where every peer is on this machine, and the LAN profile anywhere else,
// whose timeouts tolerate a real network's latency and loss. Config's
// timings then tune the failure detector on either.
func Profile(host string) *memberlist.Config {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return memberlist.DefaultLocalConfig()
	}
	return memberlist.DefaultLANConfig()
}

// Logger is memberlist's logger: its lines go to l, tagged
// component=memberlist, at the level memberlist gave them.
func Logger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l.With("component", "memberlist")}, "", 0)
}

// slogWriter routes memberlist's "[LEVEL] memberlist: msg" lines to slog.
type slogWriter struct{ log *slog.Logger }

var _ io.Writer = slogWriter{}

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	for _, l := range []struct {
		tag string
		lvl slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}} {
		if i := strings.Index(line, l.tag); i >= 0 {
			level = l.lvl
			line = strings.TrimSpace(line[i+len(l.tag):])
			break
		}
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}
