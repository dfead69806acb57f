package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/handoff"
	"github.com/dynago/dynago/node/internal/logflood"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// ErrClosed is returned by Run on a node that was already run and closed.
var ErrClosed = errors.New("node: closed")

// Node is one dynago server: storage, membership, internode RPC and the
// HTTP API. Create it with New and serve with Run.
type Node struct {
	recoverer
	cfg Config
	// keys is the gossip encryption keyring's changes (keyring.go).
	keys  *gossipKeyring
	log   *slog.Logger
	store storage.Store
	// inc is this node's incarnation (record.go, boot.go), published whole
	// so a write never pairs one incarnation with another's verification.
	inc     atomic.Pointer[incarnation]
	metrics *metrics
	ready   chan struct{}
	clock   *clock
	faults  faults

	hints   *hintedhandoff.Store
	handoff *handoff.Service
	// rep is this node's replica of the data (replica.go); aae is its
	// trees and anti-entropy state (aae.go), shared with rep.
	rep *replica
	// ae is the anti-entropy service (aae.go, holders.go).
	ae *antiEntropy
	// transfers pulls partitions this node gained and reclaims those it
	// lost (transfer.go, stale.go).
	transfers *transferService
	// web serves the HTTP API (http.go).
	web *httpAPI
	// stats samples request rates and latencies for the console
	// (stats.go).
	stats *statsHistory
	// resp serves the Redis protocol (resp.go); nil when Config.RESPAddr
	// is empty.
	resp *respAPI
	// coord coordinates requests (coordinator.go).
	coord   *coordinator
	aae     *aaeState
	xfer    transferState
	leaving *leaver
	// freshJoin: a new data directory joining an existing cluster (it
	// enters the ring as joining and pulls its partitions).
	// Set in New, cleared by the transfer loop once every partition is in.
	freshJoin atomic.Bool

	tr     Transport
	gossip *gossip.Member
	// incompatible is the peers gossip refused for their protocol
	// versions (versions.go).
	incompatible *incompatiblePeers

	// quietLog is n.log with repeated lines rate-limited (limits.go),
	// for what a remote party can make the node log: memberlist's lines,
	// connection errors of the HTTP and RPC servers.
	quietLog *slog.Logger
	// adm counts client requests and body bytes in flight (limits.go).
	adm *admission

	rpcLn   net.Listener
	httpLn  net.Listener
	respLn  net.Listener
	rpcSrv  *rpc.Server
	httpSrv *http.Server

	// members owns the membership and the placement (members.go).
	members *members

	// peers is each other node's liveness, as gossip reports it.
	peers *gossip.Peers

	// net is this node's RPC clients and its calls to peers (view.go).
	net *peering

	// bg tracks background work started by requests (read repair, late
	// replication); it is closed to new work when shutdown begins.
	bg tasks
	// bgCtx ends when the node shuts down.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	// handlers tracks HTTP handlers, so shutdown waits for every one
	// (net/http's Shutdown gives up on them after its timeout); httpCtx is
	// their base context, cancelled when the grace runs out.
	handlers   tasks
	httpCtx    context.Context
	httpCancel context.CancelFunc
	// leaveTask runs the leave loop (leave.go), apart from bg: shutdown
	// cancels it at once instead of waiting out the requests' grace.
	leaveTask   tasks
	leaveCtx    context.Context
	leaveCancel context.CancelFunc
	// stop asks Run to shut down (Shutdown) with the caller's context
	// bounding the grace; stopped is closed when Run has returned.
	stop     chan context.Context
	stopOnce sync.Once
	stopped  chan struct{}
	// left is closed when the node has left the ring and should stop.
	left     chan struct{}
	leftOnce sync.Once

	runOnce sync.Once

	// bound holds the addresses the listeners are bound at; cfg's are the
	// advertised ones (advertise.go). Set in New.
	bound struct{ http, rpc, gossip string }
}

// New creates a node on st and tr (nil: TCP from the host of
// cfg.RPCAddr), binds its listeners and creates its gossip
// member, so its addresses are known (HTTPAddr) before Run is called.
//
// The node owns st from then on: Run closes it when it returns, and New
// closes it when it fails. st must be durable as the caller promises its
// users (cmd/dynago opens badger with fsync unless --sync=false); node
// never opens a store itself. A node that New returned must be Run (or its
// resources leak until Run returns).
func New(cfg Config, st storage.Store, tr Transport) (_ *Node, err error) {
	if st == nil {
		return nil, errors.New("node: New needs a store")
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		st.Close()
		return nil, err
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("node", cfg.Name),
		ready:   make(chan struct{}),
		left:    make(chan struct{}),
		stop:    make(chan context.Context, 1),
		stopped: make(chan struct{}),
	}
	n.bgCtx, n.bgCancel = context.WithCancel(context.Background())
	n.httpCtx, n.httpCancel = context.WithCancel(context.Background())
	n.leaveCtx, n.leaveCancel = context.WithCancel(context.Background())
	n.peers = n.newPeers()
	n.incompatible = &incompatiblePeers{}
	n.metrics = newMetrics()
	n.metrics.preset(&cfg)
	n.metrics.versionMetrics(&cfg)
	n.adm = newAdmission(cfg.Limits, cfg.Clock.Elapsed)
	n.metrics.watchAdmission(n.adm)
	n.recoverer = recoverer{log: n.log, metrics: n.metrics}
	if gaps := cfg.securityGaps(); cfg.Insecure && len(gaps) > 0 {
		n.log.Error("!!!!!!!! "+insecureBanner+" !!!!!!!!", "missing", gaps, "exposed", cfg.exposedAddrs())
	}

	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()

	n.store = st
	cleanup = append(cleanup, func() { n.store.Close() })
	ctx := context.Background()
	if err := n.checkDataFormat(ctx); err != nil { // versions.go
		return nil, err
	}
	if c, ok := st.(storage.Committer); ok {
		n.metrics.watchCommits(c)
	}
	if d, ok := st.(storage.DiskReporter); ok {
		if _, err := d.DiskSpace(); err == nil { // in memory: no disk
			n.metrics.watchDisk(d)
		}
	}
	n.aae = newAAE(cfg)
	n.rep = &replica{recoverer: n.recoverer, cfg: &n.cfg, store: st, clock: n.clock, aae: n.aae, xfer: &n.xfer, failed: make(chan struct{})} // clock: loadClock
	if err := n.rep.loadClock(ctx); err != nil {
		return nil, err
	}
	n.clock = n.rep.clock
	n.quietLog = slog.New(logflood.New(n.log.Handler(), logFloodInterval, n.clock.Steady))
	inc, err := n.rep.loadIncarnation(ctx)
	if err != nil {
		return nil, err
	}
	n.inc.Store(&incarnation{Epoch: inc})
	n.members = &members{
		recoverer: n.recoverer, cfg: &n.cfg, store: st, rep: n.rep, peers: n.peers, inc: &n.inc,
		faults: &n.faults, freshJoin: &n.freshJoin,
		persist: make(chan struct{}, 1), claimWake: make(chan struct{}, 1),
		proofs: proofs{queue: make(chan proofTarget, proveQueue)},
		clock:  n.clock, quietLog: n.quietLog,
	}
	n.net = &peering{
		recoverer: n.recoverer, cfg: &n.cfg, clock: n.clock, members: n.members, peers: n.peers,
		clients: map[string]*rpc.Client{}, refused: n.protocolRefused("client"), connected: n.protocolConnected("client"),
	}
	n.members.net = n.net
	if err := n.members.checkIdentity(ctx); err != nil {
		return nil, err
	}
	if err := n.members.loadBoot(ctx); err != nil {
		return nil, err
	}
	if _, err := n.store.Get(ctx, metaCluster); errors.Is(err, storage.ErrNotFound) && len(cfg.Join) > 0 {
		n.freshJoin.Store(true)
	}
	loaded, err := n.members.loadCluster(ctx)
	if err != nil {
		return nil, err
	}
	n.members.roster = startRoster(loaded, n.members.publishRoster)
	cleanup = append(cleanup, n.members.roster.close)
	if err := n.rep.loadReady(ctx, n.freshJoin.Load()); err != nil {
		return nil, err
	}
	if n.hints, err = hintedhandoff.Open(ctx, n.store, cfg.Hints); err != nil {
		return nil, fmt.Errorf("node: open hints: %w", err)
	}
	n.rep.hints = n.hints
	n.handoff = n.newHandoff()
	n.ae = &antiEntropy{
		recoverer: n.recoverer, members: n.members, cfg: &n.cfg, clock: n.clock, store: n.store, rep: n.rep, peers: n.peers,
		aae: n.aae, xfer: &n.xfer, ring: &n.members.ring, cluster: n.net,
	}
	n.transfers = &transferService{
		recoverer: n.recoverer, members: n.members, cfg: &n.cfg, clock: n.clock, store: n.store, rep: n.rep, ae: n.ae, peers: n.peers,
		aae: n.aae, xfer: &n.xfer, ring: &n.members.ring, freshJoin: &n.freshJoin, cluster: n.net,
	}
	n.members.transfers = n.transfers
	n.coord = &coordinator{
		recoverer: n.recoverer, members: n.members, cfg: &n.cfg, clock: n.clock, rep: n.rep, peers: n.peers,
		hints: n.hints, handoff: n.handoff, inc: &n.inc, ring: &n.members.ring, quietLog: n.quietLog,
		bg: &n.bg, bgCtx: n.bgCtx, cluster: n.net,
	}
	if err := n.rep.buildTrees(ctx); err != nil {
		return nil, err
	}

	n.tr = tr
	if n.tr == nil {
		n.tr = TCP(dialFromIP(cfg.RPCAddr), gossip.Logger(n.quietLog))
	}
	n.net.tr = n.tr
	if n.rpcLn, err = n.tr.Listen(cfg.RPCAddr); err != nil {
		return nil, fmt.Errorf("node: rpc listen: %w", err)
	}
	cleanup = append(cleanup, func() { n.rpcLn.Close() })
	n.rpcLn = n.limitConns(n.rpcLn, "rpc")
	n.bound.rpc = n.rpcLn.Addr().String()
	if n.cfg.RPCAddr, err = advertised(n.bound.rpc, cfg.AdvertiseRPC, cfg.Advertise); err != nil {
		return nil, fmt.Errorf("node: rpc address: %w", err)
	}
	n.rpcLn = n.cfg.internodeListener(n.rpcLn) // tls.go
	if n.httpLn, err = n.tr.Listen(cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("node: http listen: %w", err)
	}
	cleanup = append(cleanup, func() { n.httpLn.Close() })
	n.httpLn = n.limitConns(n.httpLn, "http")
	n.httpLn = idleUntilFirstByte(n.httpLn, n.cfg.Limits.IdleTimeout, n.cfg.Limits.ReadHeaderTimeout) // limits.go
	n.bound.http = n.httpLn.Addr().String()
	if n.cfg.HTTPAddr, err = advertised(n.bound.http, cfg.AdvertiseHTTP, cfg.Advertise); err != nil {
		return nil, fmt.Errorf("node: http address: %w", err)
	}
	n.httpLn = n.cfg.clientListener(n.httpLn)
	if cfg.RESPAddr != "" {
		if n.respLn, err = n.tr.Listen(cfg.RESPAddr); err != nil {
			return nil, fmt.Errorf("node: resp listen: %w", err)
		}
		cleanup = append(cleanup, func() { n.respLn.Close() })
		n.cfg.RESPAddr = n.respLn.Addr().String()
		n.respLn = n.cfg.clientListener(n.respLn)
	}

	// memberlist binds first: with port 0 it decides the gossip address
	// that the node's own membership record advertises.
	if n.gossip, err = n.newGossip(); err != nil {
		return nil, err
	}
	cleanup = append(cleanup, func() { n.gossip.Shutdown() })
	n.members.gossip = n.gossip
	n.keys = &gossipKeyring{g: n.gossip, file: n.cfg.GossipKeyringFile}
	n.members.noteMove() // rebind.go
	n.members.claimSelf()
	// Alone, there is no later run of this node for the cluster to know.
	n.inc.Store(&incarnation{Epoch: inc, Verified: n.members.aloneInCluster()})
	if err := n.members.rebuildView(false); err != nil {
		return nil, err
	}
	n.leaving = &leaver{
		recoverer: n.recoverer, members: n.members, cfg: &n.cfg, clock: n.clock, store: n.store, rep: n.rep,
		ae: n.ae, peers: n.peers, net: n.net, gossip: n.gossip, handoff: n.handoff, transfers: n.transfers,
		bgCtx: n.bgCtx, task: &n.leaveTask, ctx: n.leaveCtx, left: n.left, leftOnce: &n.leftOnce,
	}
	n.stats = newStatsHistory(n.recoverer, n.clock, &n.cfg)
	n.web = &httpAPI{
		stats: n.stats, recoverer: n.recoverer, quietLog: n.quietLog, members: n.members, cfg: &n.cfg, clock: n.clock, rep: n.rep, coord: n.coord, ae: n.ae,
		peers: n.peers, gossip: n.gossip, hints: n.hints, handoff: n.handoff, aae: n.aae,
		xfer: &n.xfer, ring: &n.members.ring, faults: &n.faults, ready: n.ready, bgCtx: n.bgCtx, leaving: n.leaving, net: n.net,
		keys: n.keys, incompatible: n.incompatible,
	}
	if n.respLn != nil {
		n.resp = newRESP(n.recoverer, &n.cfg, n.clock, n.coord, n.aae, n.respLn)
		n.resp.adm = n.adm
		n.resp.quietLog = n.quietLog
	}
	n.rpcSrv = rpc.NewServer(func(ctx context.Context, method uint8, payload []byte) (resp []byte, err error) {
		err = n.safely(fmt.Sprintf("rpc method %d", method), func() error {
			resp, err = n.serveRPC(ctx, method, payload)
			return err
		})
		return resp, err
	}, n.quietLog.With("component", "rpc"))
	n.rpcSrv.SetLimits(rpc.ServerLimits{FrameTimeout: cfg.Limits.RPCFrameTimeout, IdleTimeout: cfg.Limits.RPCIdleTimeout,
		MaxConnsPerIP: cfg.Limits.MaxConnsPerPeer})
	if n.cfg.TLS.Internode != nil {
		n.rpcSrv.Handshake = n.rpcHandshake // tls.go; the hello follows it, inside TLS
	}
	n.rpcSrv.SetHello(n.cfg.hello()) // versions.go
	n.rpcSrv.OnRefused = n.protocolRefused("server")
	n.rpcSrv.OnConnect = n.protocolConnected("server")
	n.httpSrv = &http.Server{
		Handler:     n.admit(n.shed(n.web.routes())),
		BaseContext: func(net.Listener) context.Context { return n.httpCtx },
		// Limits (LimitsConfig): a client can't hold a connection or a
		// handler longer than these by sending slowly.
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		ReadTimeout:       cfg.Limits.ReadTimeout,
		WriteTimeout:      cfg.Limits.WriteTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(n.quietLog.With("component", "http").Handler(), slog.LevelWarn),
	}
	n.log.Info("node created", "incarnation", inc, "http", n.cfg.HTTPAddr, "resp", n.cfg.RESPAddr, "rpc", n.cfg.RPCAddr,
		"gossip", n.cfg.GossipAddr, "bound_http", n.bound.http, "bound_rpc", n.bound.rpc, "bound_gossip", n.bound.gossip,
		"data_dir", cfg.DataDir)
	return n, nil
}

// Name is the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Ready is closed once the node serves requests.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// StorageFailed is closed once a write failed to reach stable storage
// (storage.ErrNotDurable): the store has failed stop, and the node refuses
// writes and answers 503 storage_failed on /health until it runs on the
// reopened store. StorageErr says why. The agent exits then without
// closing the store (a clean close would flush what the failed sync left
// in memory), so that its supervisor restarts it and the store recovers
// from its own log, as PostgreSQL does after a failed fsync.
func (n *Node) StorageFailed() <-chan struct{} { return n.rep.failed }

// StorageErr is the error that failed the store, or nil (StorageFailed).
func (n *Node) StorageErr() error {
	if p := n.rep.storageErr.Load(); p != nil {
		return *p
	}
	return nil
}

// HTTPAddr is the address the HTTP API advertises (where it listens,
// unless Config advertises another; BoundAddrs has those).
func (n *Node) HTTPAddr() string { return n.cfg.HTTPAddr }

// BoundAddrs are the addresses the HTTP API, the RPC server and gossip
// listen on (the advertised ones are HTTPAddr, RPCAddr, GossipAddr).
func (n *Node) BoundAddrs() (http, rpc, gossip string) {
	return n.bound.http, n.bound.rpc, n.bound.gossip
}

// RESPAddr is the address the Redis protocol front end listens on, or
// "" when it is off (Config.RESPAddr).
func (n *Node) RESPAddr() string { return n.cfg.RESPAddr }

// RPCAddr is the address the internode RPC advertises.
func (n *Node) RPCAddr() string { return n.cfg.RPCAddr }

// GossipAddr is the address gossip advertises.
func (n *Node) GossipAddr() string { return n.cfg.GossipAddr }

// Ring returns the current ring. It is immutable.
func (n *Node) Ring() *ring.Ring { return n.members.ring.Load() }

// Run serves until ctx is cancelled, Shutdown is called or the node leaves
// the cluster, then shuts down cleanly: in-flight requests finish (up to
// a grace of 5 s, or the Shutdown context's deadline if sooner, after which
// their contexts are cancelled and they are waited for), background work
// started by requests gets the same grace, every goroutine the node
// started is waited for, gossip says goodbye and storage is closed. It
// returns nil after a clean shutdown. Run may be called once.
func (n *Node) Run(ctx context.Context) error {
	err := ErrClosed
	n.runOnce.Do(func() {
		defer close(n.stopped)
		err = n.run(ctx)
	})
	return err
}

// Shutdown stops a running node as cancelling Run's context would, and
// waits until Run has returned (every handler and goroutine the node
// started has ended and storage is closed) or ctx is done. ctx's deadline
// also bounds the grace given to in-flight requests. Like net/http's
// Server.Shutdown; safe to call more than once.
func (n *Node) Shutdown(ctx context.Context) error {
	n.stopOnce.Do(func() { n.stop <- ctx })
	select {
	case <-n.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// admit tracks every HTTP handler in n.handlers, and answers 503 once
// shutdown has begun instead of starting one.
func (n *Node) admit(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.handlers.enter() {
			w.Header().Set("Connection", "close")
			writeError(w, errUnavailable("shutting_down", "this node is shutting down; try another"))
			return
		}
		defer n.handlers.wg.Done()
		h.ServeHTTP(w, r)
	})
}

func (n *Node) run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = n.rpcSrv.Serve(n.rpcLn) })
	wg.Go(func() {
		if err := n.httpSrv.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("http server stopped", "err", err)
		}
	})
	if n.resp != nil {
		wg.Go(n.resp.serve)
	}

	var runErr error
	graceCtx := context.Background()
	// A node that moved proves its name to the members before gossip
	// meets them at its new address (rebind.go).
	n.members.announceMove(n.bgCtx)
	if err := n.gossip.Join(n.cfg.Join); err != nil {
		if errors.Is(err, membership.ErrClusterMismatch) || errors.Is(err, membership.ErrNameTaken) {
			runErr = err
		} else {
			n.log.Warn("join failed; retrying in the background", "seeds", n.cfg.Join, "err", err)
		}
	}
	if runErr == nil && len(n.cfg.Join) > 0 {
		// With internode mutual TLS, gossip's membership is merged only
		// once proved (prove.go): prove the nodes joined by now, so this
		// node starts with the cluster's membership and table.
		n.members.proveJoined(n.bgCtx)
	}
	if runErr == nil {
		// The first node of a new cluster claims its table before it says
		// it is ready: otherwise a request made at once meets table version
		// 0 (no owners) and a write can land while the table changes under
		// it (indeterminate). The claim loop would do the same round a
		// moment later; a node that is not the claimant does nothing here.
		if err := n.members.claimRound(n.bgCtx); err != nil {
			n.log.Error("claiming ownership", "err", err)
		}
		wg.Go(n.supervise(n.bgCtx, "rejoinLoop", n.rejoinLoop))
		wg.Go(n.supervise(n.bgCtx, "gcLoop", n.gcLoop))
		wg.Go(n.supervise(n.bgCtx, "handoffLoop", func() { _ = n.handoff.Run(n.bgCtx) }))
		// Each service's Run owns its loops and returns once they have.
		wg.Go(func() { _ = n.members.Run(n.bgCtx) })
		wg.Go(func() { _ = n.ae.Run(n.bgCtx) })
		wg.Go(func() { _ = n.transfers.Run(n.bgCtx) })
		wg.Go(n.supervise(n.bgCtx, "statsLoop", func() { _ = n.stats.Run(n.bgCtx) }))
		resume := n.members.clusterView().Members[n.cfg.Name].Status == membership.StatusLeaving
		if resume {
			n.log.Info("resuming the leave this node had started")
			n.leaving.leave()
		}
		close(n.ready)
		n.log.Info("node serving", "http", n.cfg.HTTPAddr)
		select {
		case <-ctx.Done():
		case graceCtx = <-n.stop:
		case <-n.left:
			n.log.Info("node left the cluster; stopping")
		}
	}
	n.shutdown(graceCtx)
	wg.Wait()
	n.net.closeClients()
	n.members.saveCluster(context.Background())
	if err := n.rep.markClean(context.Background()); err != nil {
		n.log.Warn("could not record clean shutdown", "err", err)
	}
	n.members.roster.close()
	if err := n.store.Close(); err != nil {
		n.log.Error("closing storage", "err", err)
	}
	n.log.Info("node stopped")
	return runErr
}

// shutdownGrace bounds how long in-flight requests, and the background
// work they started (late replication, read repair), may take to finish
// at shutdown: most requests end in milliseconds, and 5 s rides out an
// fsync stall without holding a restart up for long.
const shutdownGrace = 5 * time.Second

// shutdown stops serving, in an order that lets nothing touch the store
// after Run closes it:
//  1. the leave loop is cancelled (it would otherwise hold the grace);
//  2. HTTP and RESP stop accepting (RESP refuses new commands); in-flight
//     handlers and commands get the grace, then their contexts are
//     cancelled and every one is waited for, and RESP's connections are
//     closed and their goroutines waited for;
//  3. RPC stops: its Close cancels and waits for its handlers;
//  4. background work started by requests is closed to new work, gets
//     what is left of the grace, is cancelled (with the loops) and
//     waited for;
//  5. gossip says goodbye.
//
// graceCtx (Shutdown's) may shorten the grace.
func (n *Node) shutdown(graceCtx context.Context) {
	n.leaveCancel()
	n.leaveTask.close()
	sctx, cancel := context.WithTimeout(graceCtx, shutdownGrace)
	defer cancel()
	if n.resp != nil {
		n.resp.stopAccepting()
	}
	if err := n.httpSrv.Shutdown(sctx); err != nil {
		n.log.Warn("http shutdown: cancelling the requests still running", "err", err)
		n.httpCancel()
		n.httpSrv.Close()
	}
	n.handlers.close()
	n.handlers.wait()
	n.httpCancel()
	if n.resp != nil {
		n.resp.finish(sctx.Done())
	}
	// No new coordination may start once background work is awaited.
	n.rpcSrv.Close()
	n.bg.close()
	n.bg.waitOr(sctx.Done())
	n.bgCancel()
	n.bg.wait()
	n.leaveTask.wait()
	if err := n.gossip.Leave(time.Second); err != nil {
		n.log.Debug("gossip leave", "err", err)
	}
	if err := n.gossip.Shutdown(); err != nil {
		n.log.Warn("gossip shutdown", "err", err)
	}
}

// client returns the pooled RPC client for a peer's RPC address.
func (p *peering) client(addr string) *rpc.Client {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	c, ok := p.clients[addr]
	if !ok {
		c = rpc.NewClient(addr, p.dial(), p.log.With("component", "rpc"))
		c.SetHello(p.cfg.hello())
		c.OnRefused, c.OnConnect = p.refused, p.connected
		p.clients[addr] = c
	}
	return c
}

func (p *peering) closeClients() {
	p.clientsMu.Lock()
	defer p.clientsMu.Unlock()
	for _, c := range p.clients {
		c.Close()
	}
	p.clients = map[string]*rpc.Client{}
}

// rpcAddrOf returns the RPC address of a ring member.
func (p *peering) rpcAddrOf(name string) (string, bool) {
	if peer, ok := p.peers.Get(name); ok && peer.Meta.RPC != "" {
		return peer.Meta.RPC, true
	}
	r, ok := p.members.clusterView().Members[name]
	return r.RPC, ok && r.RPC != ""
}

// Epoch bookkeeping (Riak kv679): a node whose data directory is new or
// lost, or that was not shut down cleanly, takes a fresh epoch, so it can
// never reuse a counter it handed out before. The last case matters even
// with fsync: a write is visible to concurrent readers (and so to read
// repair on other nodes) a moment before its sync completes, and with
// --sync=false much longer.
var (
	metaEpoch   = storage.MetaKey("epoch")
	metaClean   = storage.MetaKey("clean")
	metaCluster = storage.MetaKey("cluster")
)

func (m *members) loadCluster(ctx context.Context) (membership.State, error) {
	b, err := m.store.Get(ctx, metaCluster)
	if errors.Is(err, storage.ErrNotFound) {
		return membership.State{Partitions: m.cfg.Ring.Partitions, N: m.cfg.Ring.N, Members: map[string]membership.Record{}}, nil
	}
	if err != nil {
		return membership.State{}, fmt.Errorf("node: load membership: %w", err)
	}
	c, err := membership.Unmarshal(b)
	if err != nil {
		return c, err
	}
	if err := membership.CheckCompatible(m.cfg.Ring.Partitions, m.cfg.Ring.N, c.Partitions, c.N, "in data dir"); err != nil {
		return c, fmt.Errorf("node: data dir %s belongs to a cluster with partitions=%d n=%d: %w", m.cfg.DataDir, c.Partitions, c.N, err)
	}
	return c, nil
}

// claimSelf makes this node's own record current: a new node founding a
// cluster enters the ring as valid, a new node joining one as joining; a
// known node refreshes its addresses. A node that left or was
// removed stays out until it is joined again explicitly.
func (m *members) claimSelf() {
	m.updateCluster(func(c membership.State) (membership.State, bool) {
		return c.Merge(m.selfRecord(c))
	})
}

// selfRecord is this node's own record as claimSelf makes it current in c.
func (m *members) selfRecord(c membership.State) membership.Record {
	me, ok := c.Members[m.cfg.Name]
	want := membership.Record{Name: m.cfg.Name, Zone: m.cfg.Zone, Status: membership.StatusValid, Version: 1,
		Gossip: m.cfg.GossipAddr, RPC: m.cfg.RPCAddr, HTTP: m.cfg.HTTPAddr, Boot: m.boot}
	if m.freshJoin.Load() {
		want.Status = membership.StatusJoining // valid once its partitions are transferred
	}
	if ok {
		// Every run says so (boot.go): the record changes at every start.
		want.Status = me.Status
		want.Version = me.Version + 1
		want.Holds, want.HoldsAt, want.ReadyAt = me.Holds, me.HoldsAt, me.ReadyAt
		if !membership.InRing(me.Status) {
			m.log.Warn("this node has left the ring; use `dynago join` to bring it back", "status", me.Status)
		}
	}
	return want
}

// setSelfStatus changes this node's own status and gossips it.
func (m *members) setSelfStatus(status string) {
	var me membership.Record
	m.updateCluster(func(c membership.State) (membership.State, bool) {
		me = c.Members[m.cfg.Name]
		me.Name, me.Zone, me.Gossip, me.RPC, me.HTTP = m.cfg.Name, m.cfg.Zone, m.cfg.GossipAddr, m.cfg.RPCAddr, m.cfg.HTTPAddr
		me.Status = status
		me.Version++
		return c.Merge(me)
	})
	m.announce(me)
}

// announce gossips a locally made record change (updateCluster already
// published, persisted and woke the loops).
func (m *members) announce(r membership.Record) {
	if m.gossip != nil {
		m.gossip.Broadcast(r)
	}
}

func recordMap(recs []membership.Record) map[string]membership.Record {
	m := make(map[string]membership.Record, len(recs))
	for _, r := range recs {
		m[r.Name] = r
	}
	return m
}

// mergeState merges another view of the membership (records, owner table
// and hold; any may be empty) and reports whether anything changed.
func (m *members) mergeState(in membership.State) bool { return m.mergeStateFrom(in, "") }

// mergeStateFrom is mergeState of a state sent by the node whose
// certificate names proven ("": no proof): that node's own record is
// taken even at other addresses than its name is bound to (rebind.go).
func (m *members) mergeStateFrom(in membership.State, proven string) bool {
	recs, table := in.Records(), in.Table
	// The name-takeover rule (membership.State.Bound): a record of a known
	// name from other addresses is refused, unless its own node sent it
	// over mutual TLS (proven); one of this node's own name means the
	// sender's cluster binds this name to another process, and nothing of
	// its state is taken.
	recs, taken := m.unbound(m.clusterView(), recs, true, proven)
	if taken {
		return false
	}
	for _, r := range recs {
		m.checkOwnRecord(r)
	}
	var changed, tableChanged, holdChanged bool
	after, _ := m.updateCluster(func(c membership.State) (membership.State, bool) {
		if recs, taken = m.unbound(c, recs, false, proven); taken {
			return c, false
		}
		merged, ch := c.Merge(recs...)
		merged, tch := merged.MergeTable(table)
		merged, hch := merged.MergeHold(in.Hold)
		changed, tableChanged, holdChanged = ch, tch, hch
		return merged, ch || tch || hch
	})
	if !changed && !tableChanged && !holdChanged {
		return false
	}
	if holdChanged {
		m.log.Info("staging changed", "staged", in.Hold.On, "version", in.Hold.Version)
	}
	if tableChanged {
		m.log.Info("adopted ownership", "version", table.Version, "claimant", table.Claimant, "members", len(table.Members))
	}
	if !changed {
		return true
	}
	// Re-gossip what was new to us, so it spreads epidemically.
	if m.gossip != nil {
		for _, r := range recs {
			m.gossip.Broadcast(r)
		}
	}
	if me, ok := after.Members[m.cfg.Name]; ok && me.Status == membership.StatusRemoved {
		m.log.Warn("this node was removed from the ring by another node")
	}
	return true
}

// unbound returns recs without the records c refuses by the name-takeover
// rule (membership.State.Bound), logging each refusal if log, and whether
// one of them was of this node's own name. The record of proven (the
// sender, proved by its certificate; never this node) is not refused.
func (m *members) unbound(c membership.State, recs []membership.Record, log bool, proven string) ([]membership.Record, bool) {
	var ok []membership.Record
	for _, r := range recs {
		if !c.Bound(r) {
			ok = append(ok, r)
			continue
		}
		if proven != "" && r.Name == proven && proven != m.cfg.Name {
			if log {
				old := c.Members[r.Name]
				m.log.Info("a member moved: its certificate proves its name", "name", r.Name,
					"old_gossip", old.Gossip, "gossip", r.Gossip, "old_rpc", old.RPC, "rpc", r.RPC, "http", r.HTTP)
			}
			ok = append(ok, r)
			continue
		}
		if log {
			m.metrics.nameTakeoverRefused.Inc()
			m.log.Warn("refusing a member record: its name is bound to other addresses",
				"err", membership.ErrNameTaken, "name", r.Name, "gossip", r.Gossip, "rpc", r.RPC, "bound", c.Members[r.Name].Gossip)
		}
		if r.Name == m.cfg.Name {
			return nil, true
		}
	}
	return ok, false
}

// clusterSnapshot returns a copy of the membership state that the caller
// may change. Never blocks.
func (m *members) clusterSnapshot() membership.State { return m.roster.load().state.Clone() }

// clusterView returns the published membership state, read-only: never
// modify it (clone it, or use clusterSnapshot). Never blocks.
func (m *members) clusterView() membership.State { return m.roster.load().state }

// updateCluster changes the membership state with fn on its owner
// goroutine (roster.go): fn gets the current state, returns the next one
// and whether it changed, must not block, and must not modify its input
// (membership.State's merge methods return copies). A change is published
// (view and ring rebuilt by the owner, in order), persisted and wakes the
// claim loop. It returns the state after fn and whether fn changed it.
func (m *members) updateCluster(fn func(membership.State) (membership.State, bool)) (membership.State, bool) {
	return m.roster.update(fn)
}

// rebuildView publishes the view of the current membership again; force
// also publishes an older table (a node that forgot its own to join a
// cluster).
func (m *members) rebuildView(force bool) error { return m.roster.refresh(force) }

// publishRoster runs on the roster's goroutine after each change: it
// rebuilds the placement from v (so placement follows the membership in
// order and never goes back), then asks for the state to be saved and
// wakes the claim loop.
func (m *members) publishRoster(v rosterView, force bool) error {
	defer m.wakeClaim()
	defer m.requestPersist()
	changed, err := m.publishView(v.state, force)
	if err != nil || !changed {
		return err
	}
	r := m.ring.Load()
	m.metrics.setRing(r, m.cfg.Name)
	m.log.Info("ring changed", "members", r.Len())
	m.transfers.wakeTransfers()
	return nil
}

func (m *members) requestPersist() {
	select {
	case m.persist <- struct{}{}:
	default:
	}
}

// clockCheckpointInterval is how often the steady clock's checkpoint is
// saved: after a crash the clock resumes from the wall clock's reading of
// the downtime since the last checkpoint, so the interval costs nothing
// in accuracy; a minute keeps the write negligible.
const clockCheckpointInterval = time.Minute

func (m *members) persistLoop(ctx context.Context) {
	t := time.NewTicker(clockCheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.persist:
			m.saveCluster(ctx)
		case <-t.C:
			if err := m.rep.checkpointClock(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("saving the clock checkpoint", "err", err)
			}
		}
	}
}

func (m *members) saveCluster(ctx context.Context) {
	b := m.clusterSnapshot().Marshal()
	err := m.store.Update(ctx, metaCluster, func([]byte, bool) ([]byte, error) { return b, nil })
	if err != nil && !errors.Is(err, context.Canceled) {
		m.log.Error("saving membership", "err", err)
	}
}

// rejoinLoop reconnects, like serf's reconnect loop: every couple of
// seconds it tries to join each ring member that gossip doesn't list alive
// (and the configured seeds while no peer is known). memberlist alone stops
// talking to a node it declared dead after GossipToTheDeadTime, so without
// this two sides of a long partition, or a restarted node whose peers saw it
// leave, might never merge again.
func (n *Node) rejoinLoop() {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		n.members.announceMove(n.bgCtx) // members down when it moved (rebind.go)
		var seeds []string
		if n.gossip.NumMembers() <= 1 {
			seeds = append(seeds, n.cfg.Join...)
		}
		for _, r := range n.members.clusterSnapshot().Records() {
			if r.Name != n.cfg.Name && membership.InRing(r.Status) && r.Gossip != "" && !n.peers.Alive(r.Name) {
				seeds = append(seeds, r.Gossip)
			}
		}
		for _, seed := range seeds {
			if n.bgCtx.Err() != nil {
				return
			}
			if err := n.gossip.Join([]string{seed}); err != nil {
				n.log.Debug("reconnect attempt failed", "seed", seed, "err", err)
			}
		}
		select {
		case <-n.bgCtx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) gcLoop() {
	gc, ok := n.store.(storage.GCer)
	if !ok {
		return
	}
	t := time.NewTicker(n.cfg.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-n.bgCtx.Done():
			return
		case <-t.C:
			if err := gc.RunGC(n.bgCtx); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Warn("value log GC", "err", err)
			}
		}
	}
}

// Left is closed when the node has left the ring (after a leave request).
func (n *Node) Left() <-chan struct{} { return n.left }
