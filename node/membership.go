package node

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
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/internal/membership"
)

// memberlistLog is memberlist's logger: its lines go to the node's slog.
func (n *Node) memberlistLog() *log.Logger {
	return log.New(slogWriter{n.log.With("component", "memberlist")}, "", 0)
}

// slogWriter routes memberlist's "[LEVEL] memberlist: msg" lines to slog.
type slogWriter struct{ log *slog.Logger }

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

// newMemberlist creates (binds) the node's memberlist.
func (n *Node) newMemberlist() (*memberlist.Memberlist, error) {
	mt, addr, err := n.tr.Gossip(n.cfg.GossipAddr)
	if err != nil {
		return nil, fmt.Errorf("node: gossip listen on %s: %w", n.cfg.GossipAddr, err)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		mt.Shutdown()
		return nil, fmt.Errorf("node: gossip address: %w", err)
	}
	n.cfg.GossipAddr = addr
	mc := gossipProfile(host)
	mc.Name = n.cfg.Name
	mc.BindAddr = host
	mc.BindPort = port
	mc.AdvertiseAddr = host
	mc.AdvertisePort = port
	mc.Transport = mt
	mc.Logger = n.memberlistLog()
	mc.ProbeInterval = n.cfg.Gossip.ProbeInterval
	mc.ProbeTimeout = n.cfg.Gossip.ProbeTimeout
	mc.SuspicionMult = n.cfg.Gossip.SuspicionMult
	mc.GossipInterval = n.cfg.Gossip.GossipInterval
	// A restarted node keeps its name and ports; let it reclaim its entry
	// even if peers still hold it as dead.
	mc.DeadNodeReclaimTime = time.Second
	d := &gossipDelegate{n: n}
	mc.Delegate = d
	mc.Events = d
	mc.Merge = d
	mc.Alive = d
	ml, err := memberlist.Create(mc)
	if err != nil {
		mt.Shutdown()
		return nil, fmt.Errorf("node: start gossip: %w", err)
	}
	n.bcast = &memberlist.TransmitLimitedQueue{NumNodes: ml.NumMembers, RetransmitMult: 4}
	return ml, nil
}

// gossipProfile is memberlist's profile for a node gossiping from host:
// the local profile (short TCP timeouts, fast push-pull) on loopback,
// where every peer is on this machine, and the LAN profile anywhere else,
// whose timeouts tolerate a real network's latency and loss. Config.Gossip
// then sets the failure detector's timings on either.
func gossipProfile(host string) *memberlist.Config {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return memberlist.DefaultLocalConfig()
	}
	return memberlist.DefaultLANConfig()
}

// gossipDelegate connects memberlist to the node. memberlist calls it from
// its own goroutines, so it never calls back into memberlist and never
// blocks: events go to a buffered channel consumed by the node.
type gossipDelegate struct{ n *Node }

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	b, _ := json.Marshal(nodeMeta{
		RPC: d.n.cfg.RPCAddr, HTTP: d.n.HTTPAddr(), Zone: d.n.cfg.Zone,
		Partitions: d.n.cfg.Ring.Partitions, N: d.n.cfg.Ring.N,
	})
	if len(b) > limit {
		panic(fmt.Sprintf("node: gossip meta is %d bytes, limit %d", len(b), limit))
	}
	return b
}

// NotifyMsg receives one gossiped membership record.
func (d *gossipDelegate) NotifyMsg(b []byte) {
	defer d.n.guard("gossip message")
	var r membership.Record
	if err := json.Unmarshal(b, &r); err != nil {
		d.n.log.Warn("gossip: bad membership record", "err", err)
		return
	}
	d.n.mergeRecords(r)
}

func (d *gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.n.bcast.GetBroadcasts(overhead, limit)
}

// LocalState is the full membership, exchanged on push/pull.
func (d *gossipDelegate) LocalState(join bool) []byte {
	return d.n.clusterSnapshot().Marshal()
}

func (d *gossipDelegate) MergeRemoteState(buf []byte, join bool) {
	defer d.n.guard("gossip state")
	c, err := membership.Unmarshal(buf)
	if err != nil {
		d.n.log.Warn("gossip: bad remote state", "err", err)
		return
	}
	if c.Partitions != d.n.cfg.Ring.Partitions || c.N != d.n.cfg.Ring.N {
		d.n.log.Error("gossip: refusing membership of a cluster with another ring configuration",
			"partitions", c.Partitions, "n", c.N)
		return
	}
	d.n.mergeState(d.n.faultFilter(c))
}

func (d *gossipDelegate) NotifyJoin(m *memberlist.Node)   { d.n.peerEvent(m, true) }
func (d *gossipDelegate) NotifyLeave(m *memberlist.Node)  { d.n.peerEvent(m, false) }
func (d *gossipDelegate) NotifyUpdate(m *memberlist.Node) { d.n.peerEvent(m, true) }

// NotifyMerge refuses to join a cluster whose ring configuration differs.
func (d *gossipDelegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.checkPeer(p); err != nil {
			return err
		}
	}
	return nil
}

// NotifyAlive refuses a node whose ring configuration differs.
func (d *gossipDelegate) NotifyAlive(p *memberlist.Node) error { return d.checkPeer(p) }

func (d *gossipDelegate) checkPeer(p *memberlist.Node) error {
	if p.Name == d.n.cfg.Name {
		return nil
	}
	var m nodeMeta
	if err := json.Unmarshal(p.Meta, &m); err != nil {
		return fmt.Errorf("node: peer %s sent unreadable metadata: %w", p.Name, err)
	}
	return membership.CheckCompatible(d.n.cfg.Ring.Partitions, d.n.cfg.Ring.N, m.Partitions, m.N, p.Name)
}

// recordBroadcast gossips one membership record.
type recordBroadcast struct {
	name string
	msg  []byte
}

// recordBroadcast is a memberlist.UniqueBroadcast: it never invalidates
// another queued broadcast, not even an older record of the same node
// (the receiver keeps the newer by version anyway). Invalidation is what
// triggers memberlist v0.7.0's queue bug: removing the only queued item
// resets the id counter, and a later broadcast of the same length then
// takes a queued one's id and silently replaces it, losing a record of
// another node (hashicorp/memberlist PRs #263, #322, unmerged;
// TestQueuedRecordsAllSent). The cost is an older record's retransmits.
func (b *recordBroadcast) Invalidates(memberlist.Broadcast) bool { return false }

// UniqueBroadcast marks recordBroadcast as never invalidating others.
func (b *recordBroadcast) UniqueBroadcast() {}

func (b *recordBroadcast) Message() []byte { return b.msg }
func (b *recordBroadcast) Finished()       {}

// nodeMeta is what memberlist gossips about each node (under 512 bytes).
type nodeMeta struct {
	RPC        string `json:"rpc"`
	HTTP       string `json:"http"`
	Zone       string `json:"zone,omitempty"`
	Partitions int    `json:"q"`
	N          int    `json:"n"`
}

// peer is what the node knows of another node's liveness.
type peer struct {
	name  string
	alive bool
	meta  nodeMeta
	addr  string // gossip address
}

// peerEvent records a memberlist event. It runs on memberlist's goroutine:
// it only updates the liveness map.
func (n *Node) peerEvent(m *memberlist.Node, alive bool) {
	if m.Name == n.cfg.Name {
		return
	}
	var meta nodeMeta
	_ = json.Unmarshal(m.Meta, &meta)
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	next := make(map[string]peer, len(*n.peers.Load())+1)
	for k, v := range *n.peers.Load() {
		next[k] = v
	}
	next[m.Name] = peer{name: m.Name, alive: alive, meta: meta, addr: m.Address()}
	n.peers.Store(&next)
	n.wakeClaim()
	if alive {
		n.log.Debug("peer alive", "peer", m.Name)
		n.handoff.Wake()
	} else {
		n.log.Info("peer down", "peer", m.Name)
	}
	n.metrics.setAlive(next)
}

// alive reports whether a node is up as far as gossip knows.
func (n *Node) alive(name string) bool {
	if name == n.cfg.Name {
		return true
	}
	p, ok := (*n.peers.Load())[name]
	return ok && p.alive
}

// joinCluster joins the gossip cluster through seeds. A configuration
// mismatch is returned wrapped in membership.ErrClusterMismatch.
func (n *Node) joinCluster(seeds []string) error {
	if len(seeds) == 0 {
		return nil
	}
	_, err := n.ml.Join(seeds)
	if err != nil {
		// The only match by text in node: our delegate's refusal
		// (NotifyMerge, membership.CheckCompatible) reaches us through memberlist,
		// which flattens it ("failed to join %s: %v" in Join), so
		// errors.Is can't find membership.ErrClusterMismatch in err.
		if strings.Contains(err.Error(), membership.ErrClusterMismatch.Error()) {
			return fmt.Errorf("%w: %v", membership.ErrClusterMismatch, err)
		}
		return fmt.Errorf("node: join %v: %w", seeds, err)
	}
	return nil
}

var _ io.Writer = slogWriter{}
