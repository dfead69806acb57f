package node

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// members is this node's side of the membership: it owns the roster (the
// one goroutine that applies membership changes in order, roster.go) and
// the placement published from it (view, ring: view.go), this node's own
// record and boot id (boot.go), the saved copy of the membership
// (persistLoop) and the claimant's loop (claim.go). Readers load view and
// ring and never lock; changes go through updateCluster.
//
// Its goroutines: the roster's (stopped by roster.close, after the state
// is saved), persistLoop and claimLoop (run by Run until its context ends).
type members struct {
	recoverer
	cfg       *Config // the node's (its addresses are set in New, before any goroutine)
	store     storage.Store
	rep       *replica
	peers     *gossip.Peers
	inc       *atomic.Pointer[incarnation]
	faults    *faults
	freshJoin *atomic.Bool
	// Set by New once they exist: gossip after the listeners, transfers
	// after the services; net is the node's RPC clients.
	gossip    *gossip.Member
	transfers *transferService
	net       memberNet

	// boot is this run's id, prevBoot the data directory's previous run's
	// (boot.go).
	boot, prevBoot string

	// ring is the current placement, swapped whole on membership changes;
	// view is the same placement with the table it came from (view.go).
	// Both change only under viewMu, and never back to an older table.
	ring   atomic.Pointer[ring.Ring]
	view   atomic.Pointer[view]
	viewMu viewState

	// roster owns the membership state (records, ownership table,
	// staging hold) and publishes it; read it with clusterView or
	// clusterSnapshot, change it with updateCluster (roster.go).
	roster *roster
	// persist is signalled when cluster changed and must be saved.
	persist chan struct{}
	// claimWake is signalled when the membership changed (claim.go).
	claimWake chan struct{}
	// move is this node's rebinding to new addresses (rebind.go).
	move moveState
	// proofs are the gossiped names waiting to be proved (prove.go).
	proofs proofs

	clock    *clock
	quietLog *slog.Logger // log lines a peer can cause, rate-limited
}

// memberNet is what members needs of the node's RPC clients.
type memberNet interface {
	client(addr string) *rpc.Client
	rpcAddrOf(name string) (string, bool)
	pullAs(ctx context.Context, name, addr string) ([]byte, error)
}
