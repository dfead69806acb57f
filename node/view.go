package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/ring"
)

// Table versions on the wire (issue 10: strict quorum during membership
// changes). A node that missed the claimant's push coordinates on the old
// placement; if the replicas it writes to accept whatever placement the
// writer used, a write acknowledged by W replicas of the old table and a
// read answered by R replicas of the new one need not meet, and a strict
// (R+W>N) read can miss an acknowledged write. So every internode read,
// write, coordination, transfer and anti-entropy call carries the identity
// of the caller's ownership table (version and digest), and a replica
// whose table differs refuses it, doing nothing, and answers with its own
// table's identity. The caller then fetches the replica's membership and
// merges it (adopting the newer table), and pushes its own if it is the
// newer; the refused call counts as failed (the request is not retried on
// another placement). So every replica that acknowledges a write, and every
// one that answers a read, has the same table as the coordinator.
//
// With that, a write acknowledged under table v sits on W primaries of v
// that had not adopted a newer table when they stored it, and the new
// owners a newer table adds count toward R only once they are ready,
// which takes a pull from every primary of the previous table, each after
// it adopted the new one (the pull is a checked call too). Writes count a
// primary's acknowledgement toward W only if that primary is ready for the
// partition (it holds a complete copy), as reads already count only ready
// primaries, so a write acknowledged under v is also on R+W>N terms with
// the ready primaries of v that a reader under v uses.

// view is one consistent placement: the ring and the table it was built
// from. Views are immutable; the node publishes a new one on every change.
type view struct {
	ring  *ring.Ring
	table *membership.Table
	id    membership.TableID
	line  membership.TableID // table.LineID()
	// prev is the placement of table.Prev (nil without one): the owners
	// the table was claimed from.
	prev *ring.Ring
}

// viewState serializes view changes so the published view never goes
// back to an older table.
type viewState struct {
	mu sync.Mutex

	syncMu sync.Mutex
	synced map[string]time.Time // by peer address: when syncTable last ran
}

// syncMinGap spaces the syncs with one peer: a table spreads by push and
// gossip in well under that, so a sync per gap suffices.
const syncMinGap = 200 * time.Millisecond

// errTableMismatch wraps a refused call: the peer's ownership table is not
// the caller's. Nothing was done.
var errTableMismatch = errors.New("node: the peer has another ownership table")

// currentView returns the published view.
func (m *members) currentView() *view { return m.view.Load() }

// publishView builds the view of c and publishes it, unless the published
// one has a newer table (a concurrent rebuild from a later snapshot won).
// It reports whether the ring changed.
func (m *members) publishView(c membership.State, force bool) (bool, error) {
	r, err := c.Ring()
	if err != nil {
		return false, err
	}
	m.viewMu.mu.Lock()
	defer m.viewMu.mu.Unlock()
	old := m.view.Load()
	// Most rebuilds follow a member record's change under the same table
	// (the pointer survives membership.State clones): keep its identity and
	// previous placement instead of encoding and hashing it again.
	same := old != nil && old.table == c.Table
	if old != nil && !force && !same && old.table.Newer(c.Table) {
		return false, nil // c is older than what is published
	}
	nv := &view{ring: r, table: c.Table}
	if same {
		nv.id, nv.line, nv.prev = old.id, old.line, old.prev
	} else {
		nv.id, nv.line = c.Table.ID(), c.Table.LineID()
		if c.Table != nil && c.Table.Prev != nil {
			if nv.prev, err = c.PreviousRing(); err != nil {
				return false, err
			}
		}
	}
	if old != nil && old.id == nv.id && old.ring.Equal(r) {
		return false, nil
	}
	m.view.Store(nv)
	changed := old == nil || !old.ring.Equal(r)
	if changed {
		m.ring.Store(r)
	}
	return changed, nil
}

// peering is this node's RPC clients (one per peer address, kept) and its
// calls to peers: call checks that both sides place with the same table
// (and syncs the table when they don't), callNow doesn't. It starts no
// goroutine; closeClients (at shutdown) closes every client.
type peering struct {
	recoverer
	cfg     *Config // the node's (its addresses are set in New, before any goroutine)
	clock   *clock
	members *members
	peers   *gossip.Peers
	// tr is the node's transport (set in New once it is chosen).
	tr Transport

	// refused counts and logs a connection refused for its protocol
	// version (versions.go).
	refused func(*rpc.ProtocolError)
	// connected counts a connection by its protocol version.
	connected func(uint8)

	clientsMu sync.Mutex
	clients   map[string]*rpc.Client // by RPC address; guarded by clientsMu
}

// call makes an internode call. Checked methods carry the identity of id's
// table (the view the caller computed its request from); a peer with
// another table refuses, and call then syncs the two nodes' memberships
// and returns an error wrapping errTableMismatch.
func (p *peering) call(ctx context.Context, addr string, id membership.TableID, method uint8, payload []byte) ([]byte, error) {
	if !wire.Checked(method) {
		return p.client(addr).Call(ctx, method, payload)
	}
	resp, err := p.client(addr).Call(ctx, method, wire.WrapRequest(id, payload))
	if err != nil {
		return nil, err
	}
	out, theirs, refused, err := wire.UnwrapResponse(resp)
	if err != nil {
		return nil, err
	}
	if refused {
		p.metrics.tableMismatches.Inc()
		p.syncTable(ctx, addr, theirs)
		return nil, fmt.Errorf("%w: theirs is %d, this request's %d", errTableMismatch, theirs.Version, id.Version)
	}
	return out, nil
}

// callNow is call with the current view's table.
func (p *peering) callNow(ctx context.Context, addr string, method uint8, payload []byte) ([]byte, error) {
	return p.call(ctx, addr, p.members.currentView().id, method, payload)
}

// syncTable brings this node and the peer at addr to one table: it merges
// the peer's membership (adopting its table if newer) and, if this node's
// table is then still not the peer's, pushes its own.
func (p *peering) syncTable(ctx context.Context, addr string, theirs membership.TableID) {
	// Many calls are refused at once while a table spreads: one sync per
	// peer at a time, and not more often than every syncMinGap.
	now := p.clock.Steady()
	p.members.viewMu.syncMu.Lock()
	if last, ok := p.members.viewMu.synced[addr]; ok && now.Sub(last) < syncMinGap {
		p.members.viewMu.syncMu.Unlock()
		return
	}
	if p.members.viewMu.synced == nil {
		p.members.viewMu.synced = map[string]time.Time{}
	}
	p.members.viewMu.synced[addr] = now
	p.members.viewMu.syncMu.Unlock()
	if theirs != p.members.currentView().id {
		// Merged whatever a test fault drops: this is how a node that
		// missed every push learns the table (S20).
		if b, err := p.client(addr).Call(ctx, wire.MethodStatePull, nil); err == nil {
			if c, err := p.members.decodeState(b, addr); err == nil {
				p.members.mergeState(c)
			}
		}
	}
	if p.members.clusterSnapshot().Table.ID() != theirs {
		payload := p.members.clusterSnapshot().Marshal()
		if _, err := p.client(addr).Call(ctx, wire.MethodState, payload); err != nil {
			p.log.Debug("pushing membership after a table mismatch", "peer", addr, "err", err)
		}
	}
}

// serveChecked runs a checked method's handler if the caller's table is
// this node's, and wraps the answer.
func (p *peering) serveChecked(ctx context.Context, method uint8, payload []byte, h func(context.Context, uint8, []byte) ([]byte, error)) ([]byte, error) {
	id, inner, err := wire.UnwrapRequest(payload)
	if err != nil {
		return nil, err
	}
	if mine := p.members.currentView().id; id != mine {
		return wire.WrapMismatch(mine), nil
	}
	out, err := h(ctx, method, inner)
	if err != nil {
		return nil, err
	}
	if method == wire.MethodApply {
		// The table may have changed while the write waited for its
		// commit: a new owner's pull may then have passed the key before
		// the write landed. The write is stored, but its acknowledgement
		// must not count under the old table.
		if mine := p.members.currentView().id; id != mine {
			return wire.WrapMismatch(mine), nil
		}
	}
	return wire.WrapOK(out), nil
}
