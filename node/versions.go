package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dynago/dynago/internal/buildinfo"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/storage"
)

// Versions (README, Upgrades). Two things a node reads from outside its
// own process carry a version: its data directory (the data format,
// recorded in the store) and its peers' connections (the internode
// protocol, agreed per connection by node/rpc's hello). The policy is
// N-1: a release reads the previous release's data format and speaks
// the previous release's protocol, so a cluster is upgraded one node at
// a time with every node serving.

// Data format versions. DataFormat is the layout this build writes:
// stored records (record.go: recordV2 or a bare vclock state), hints
// (hintedhandoff), the node metadata keys (the name, epoch, membership
// JSON, clock, boot, ready flags, transfer cursors). A data dir without
// a recorded format was written before formats were recorded, in the
// same layout: format 1.
const (
	DataFormat    = 1
	MinDataFormat = 1
)

// metaFormat is the data format of the store, as a decimal number.
var metaFormat = storage.MetaKey("format")

// ErrDataFormat is wrapped by New's error for a data directory in a
// format this build does not read.
var ErrDataFormat = errors.New("node: unsupported data directory format")

// parseDataFormat decodes metaFormat's value.
func parseDataFormat(b []byte) (int, error) {
	// Only the canonical decimal form (what checkDataFormat writes):
	// strconv.Atoi alone would take "+1" too.
	if len(b) == 0 || len(b) > 9 || b[0] == '0' {
		return 0, fmt.Errorf("node: data format %q is not a version number", b)
	}
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("node: data format %q is not a version number", b)
		}
		v = v*10 + int(c-'0')
	}
	return v, nil
}

// checkDataFormat refuses a store written in a format this build does not
// read, and records DataFormat in one that has none (a new directory, or
// one from before formats were recorded: the same layout). It runs before
// anything else reads the store.
func (n *Node) checkDataFormat(ctx context.Context) error {
	dir := "the store"
	if n.cfg.DataDir != "" {
		dir = "data dir " + n.cfg.DataDir
	}
	b, err := n.store.Get(ctx, metaFormat)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if err := n.store.Update(ctx, metaFormat, func([]byte, bool) ([]byte, error) {
			return []byte(strconv.Itoa(DataFormat)), nil
		}); err != nil {
			return fmt.Errorf("node: recording the data format: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("node: reading the data format: %w", err)
	}
	v, err := parseDataFormat(b)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDataFormat, dir, err)
	}
	switch {
	case v > DataFormat:
		return fmt.Errorf("%w: %s is in data format %d, and this dynago (%s) reads formats %d to %d: "+
			"it was written by a newer release; run that release (or a newer one) on it, or give this node an empty data dir and let it rejoin",
			ErrDataFormat, dir, v, softwareVersion(), MinDataFormat, DataFormat)
	case v < MinDataFormat:
		return fmt.Errorf("%w: %s is in data format %d, and this dynago (%s) reads formats %d to %d: "+
			"upgrade one release at a time (each release rewrites the previous release's format), or give this node an empty data dir and let it rejoin",
			ErrDataFormat, dir, v, softwareVersion(), MinDataFormat, DataFormat)
	}
	return nil
}

// softwareVersion is this build's version as `dynago version` prints it
// (internal/buildinfo: -ldflags, the module version, or "dev").
func softwareVersion() string { return buildinfo.Get().Version }

// protocols is the range of internode protocol versions this node speaks:
// this build's, its top lowered to Config.ProtocolVersion when set.
func (c *Config) protocols() rpc.Versions {
	v := rpc.Versions{Min: rpc.MinProtocol, Max: rpc.MaxProtocol}
	if c.ProtocolVersion != 0 {
		v.Max = c.ProtocolVersion
	}
	return v
}

// hello is what this node says when a connection starts.
func (c *Config) hello() rpc.Hello {
	return rpc.Hello{Versions: c.protocols(), Name: c.Name, Software: softwareVersion()}
}

// protocolRefused counts and logs (rate-limited: a peer retries) a
// connection refused for its protocol version; side is "server" (a peer
// dialed this node) or "client" (this node dialed it).
func (n *Node) protocolRefused(side string) func(*rpc.ProtocolError) {
	return func(e *rpc.ProtocolError) {
		n.metrics.protocolRefused.WithLabelValues(side).Inc()
		n.quietLog.Warn("internode connection refused: no common protocol version",
			"side", side, "peer", e.Peer, "addr", e.Addr, "peer_protocol", e.Remote.String(), "protocol", e.Local.String(), "err", e)
	}
}

// protocolConnected counts an internode connection by the protocol version
// it speaks.
func (n *Node) protocolConnected(side string) func(uint8) {
	return func(proto uint8) { n.metrics.rpcConns.WithLabelValues(side, strconv.Itoa(int(proto))).Inc() }
}

// versionMetrics registers the refusal and connection counters and the
// build's versions.
func (m *metrics) versionMetrics(c *Config) {
	m.rpcConns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_rpc_connections_total",
		Help: "Internode connections opened, by side (server: accepted; client: dialed) and the protocol version they speak (during a rolling upgrade, 1 with nodes of the previous release).",
	}, []string{"side", "protocol"})
	m.reg.MustRegister(m.rpcConns)
	m.protocolRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynago_protocol_refused_total",
		Help: "Internode connections refused because the two nodes speak no common protocol version, by side (server: a peer dialed this node; client: this node dialed it).",
	}, []string{"side"})
	p := c.protocols()
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "dynago_build_info",
		Help: "Always 1: this node's build (version, commit and Go version, as `dynago version`), the internode protocol versions it speaks and its data format.",
	}, []string{"version", "commit", "go_version", "protocol_min", "protocol_max", "data_format"})
	b := buildinfo.Get()
	info.WithLabelValues(b.Version, b.Commit, b.GoVersion, strconv.Itoa(int(p.Min)), strconv.Itoa(int(p.Max)), strconv.Itoa(DataFormat)).Set(1)
	m.reg.MustRegister(m.protocolRefused, info)
}

// versionsJSON is this node's versions as /health shows them.
func (c *Config) versionsJSON() *api.Versions {
	p := c.protocols()
	return &api.Versions{Software: softwareVersion(), Protocol: api.Protocol{Min: int(p.Min), Max: int(p.Max)}, DataFormat: DataFormat}
}

// peerProtocol is the protocol range a peer advertises in its gossip
// metadata, and whether this node shares a version with it. A peer that
// advertises none runs a release before versioning: the legacy protocol.
func (c *Config) peerProtocol(m gossip.Meta) (api.Protocol, bool) {
	v := rpc.Versions{Min: m.ProtoMin, Max: m.ProtoMax}
	if v.Min == 0 || v.Max == 0 {
		v = rpc.Versions{Min: rpc.ProtocolLegacy, Max: rpc.ProtocolLegacy}
	}
	return api.Protocol{Min: int(v.Min), Max: int(v.Max)}, rpc.Common(c.protocols(), v) != 0
}

// incompatiblePeers is the peers gossip refused because they speak no
// protocol version this node does, with the metadata they gossiped, for
// /cluster/members (a refused peer is never alive, so the liveness table
// has nothing of it). Safe for concurrent use; mu is a leaf.
type incompatiblePeers struct {
	mu    sync.Mutex
	peers map[string]gossip.Meta // guarded by mu
}

// refused is gossip's Deps.Incompatible: it records the peer and counts
// the refusal (memberlist logs it, rate-limited by the node's NetLog).
func (p *incompatiblePeers) refused(m *metrics) func(string, gossip.Meta) {
	return func(name string, meta gossip.Meta) {
		m.protocolRefused.WithLabelValues("gossip").Inc()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.peers == nil {
			p.peers = map[string]gossip.Meta{}
		}
		p.peers[name] = meta
	}
}

// get is what a refused peer last gossiped.
func (p *incompatiblePeers) get(name string) (gossip.Meta, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.peers[name]
	return m, ok
}
