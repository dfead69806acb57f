// Package node is one dynago server: it wires the pure packages (ring,
// vclock, quorum, antientropy, hintedhandoff) to storage, the network and
// time, and serves the HTTP API (Dynamo §4-§6).
//
// # What it is
//
//	New(cfg, store, transport) → Run(ctx) … Shutdown(ctx)
//
// New takes everything with side effects from its caller: a storage.Store
// (cmd/dynago opens badger; tests use storage/memory or badger in memory),
// a Transport (TCP, or node/memnet's in-memory network), and a Clock in
// Config (SystemClock, or a simulation's). So a whole cluster can run in
// one process on virtual time (test/sim).
//
// # What it must not do
//
// It imports no storage implementation (test/arch_test.go's import rule)
// and reads the time only through its Clock (TestNodeWallClock). It never
// decides anything from a wall-clock reading: ages that rules use come
// from the node's Steady clock (clock.go). Errors of coordination are
// typed values (errors.go) that cross the wire whole; only the HTTP layer
// (httperr.go) turns them into statuses, and the RESP layer (resperr.go)
// into error replies.
//
// # Services
//
// *Node is wiring: New builds the services below, each a type with its own
// small dependencies (the services it calls, never *Node), and Run starts
// them; Shutdown stops them in order. Each has its own file(s):
//
//	replica         replica.go      this node's data: the one write path (updateRecord keeps each
//	                                partition's Merkle tree in step with the store), local reads and
//	                                merges, tree builds, ready flags, the clock checkpoint, incarnation
//	members         members.go      the roster (membership, ownership table, staging hold), the
//	                view.go         published placement (view, ring), this node's own record,
//	                claim.go        the claimant's loop and the saved membership
//	peering         view.go         RPC clients and calls to peers (call checks the table ids)
//	coordinator     coordinator.go  coordination, forwarding, sloppy writes, read repair
//	antiEntropy     aae.go          exchanges, the reaper, holder confirmation (holders.go),
//	                                repair pacing
//	transferService transfer.go     partition pulls and the stale reclaimer (stale.go)
//	leaver          leave.go        the leave (decommission) and its progress
//	httpAPI         http.go         routes, handlers, debug views; httperr.go is the only place
//	                                an error becomes an HTTP status; httpauth.go checks credentials
//	                                and roles (node/auth) before any route and writes the audit log
//	respAPI         resp.go         the Redis protocol (RESP2, on redcon): commands, pipelining;
//	                respargs.go     argument decoding, respframe.go the framing guard before redcon,
//	                resperr.go      the only place an error becomes a RESP error reply,
//	                respauth.go     AUTH and each command's role
//	(TLS)           tls.go          Config.TLS: HTTPS/RESP listeners, internode mutual TLS (the
//	                                RPC dialer checks the member it dials; the RPC server's
//	                                handshake puts the peer's name in each request's context),
//	                                and what a request must match of its peer's certificate
//	(security)      secure.go       the secure-by-default rule (Validate) and the --insecure banner
//	(limits)        limits.go       admission: connection caps, in-flight requests and body bytes
//	                                (503 overloaded / RESP BUSY), HTTP server timeouts
//	(identity)      identity.go     the node name recorded in its store (a foreign data dir is refused)
//	(backup)        backupapi.go    GET /admin/backup (one store snapshot, node/backup's format),
//	                                POST /admin/restore (a checked batch merged into each key's replicas
//	                                as read repair does), RestoreDataDir (a stopped node's store)
//	(disk full)     diskfull.go     how a full disk is reported: replicas' refusals, 507, /health
//	(addresses)     advertise.go    bind vs advertised addresses, host names; rebind.go: a node
//	                                that moved proves its name over mutual TLS to keep it
//	(versions)      versions.go     the data format recorded in its store (a newer one is refused),
//	                                the internode protocol range (rpc's hello), refusal counts and
//	                                the versions /health, /cluster/members and /metrics show
//	(gossip keys)   keyring.go      the gossip keyring and its file; http_keyring.go the rotation route
//	(console)       console.go      the web console (node/ui) at /ui/ and the routes it reads that the
//	                                API lacked: /auth/whoami, /cluster/nodes (MethodStatus), /debug/replicas;
//	                stats.go        /metrics/history: the request-rate and latency samples and their loop
//
// Hint delivery is node/internal/handoff's Service, gossip is
// node/internal/gossip's, the membership CRDT and plan math are
// node/internal/membership's (pure), and the wire codecs node/internal/wire's.
// These services stay types in package node, not packages: they share the
// node's Config, metrics, clock and view types, which would otherwise have
// to be exported from an internal package for no reader's benefit; the
// packages under node/internal are the parts with a boundary of their own.
//
// A request: net/http → admit (tracked handler) → httpAPI → coordinator
// (view from members, a preference list from its ring) → replica for this
// node's copy, peering (node/rpc) for the others → serve.go on the peer →
// its replica. Background: antiEntropy and transferService call peers
// through peering and write through replica; members applies membership
// changes that gossip (node/internal/gossip) and RPC bring.
//
// # Owners of state
//
//   - Membership (member records, ownership table, staging hold) is owned
//     by the roster's goroutine (roster.go), which applies every change in
//     order and publishes an immutable snapshot with a version that only
//     goes up, then the placement built from it (view, ring), both held by
//     members. Readers load the pointers and never lock.
//   - Each partition's Merkle tree is owned by its partTree (aae.go),
//     guarded by its mutex; writes to a partition go through
//     replica.updateData, which keeps tree and store in step under the
//     partition's gate.
//   - Hint delivery state is owned by the handoff service's Run
//     (node/internal/handoff); transfer jobs and ready flags by
//     transferState (transfer.go); a leave's progress by leaver (leave.go);
//     RPC clients by peering.
//
// # Goroutines
//
// Every goroutine has an owner that waits for it:
//
//   - Run's group: the HTTP, RESP and RPC servers' accept loops, rejoinLoop,
//     gcLoop, statsLoop (stats.go), and each service's Run: members (persistLoop, claimLoop),
//     antiEntropy (aaeLoop, and the exchange rounds it awaits; holdsLoop),
//     transferService (transferLoop), the handoff service. Each Run
//     supervises its loops (a panic is logged, counted and the loop
//     restarted) and returns once they have; they stop when bgCtx is
//     cancelled, and Run waits for all of them.
//   - respAPI's conns and cmds: each RESP connection's goroutine
//     (redcon's) and each command it runs (with the goroutines of an
//     MGET's or DEL's reads, which end before the command does).
//   - n.handlers: every HTTP handler (admission refuses new ones once
//     shutdown began); n.bg: work requests start after answering (late
//     replication, read repair: the coordinator's); n.leaveTask: the leave
//     loop. Shutdown closes each group to new members and waits for it
//     (tasks.go).
//   - The RPC server's connections and handlers (node/rpc: Close waits),
//     memberlist's, which call the delegates of node/internal/gossip
//     (Shutdown), the roster's goroutine (stopped last, after
//     the membership was saved).
//
// Shutdown order (node.go, shutdown): leave loop cancelled; HTTP and
// RESP stop accepting (RESP refuses new commands), in-flight handlers and
// commands get a grace (5 s, or Shutdown's deadline), then their contexts
// are cancelled and each is waited for, and RESP's connections are closed
// and their goroutines waited for; RPC closes and
// waits; request-started work gets the rest of the grace, is cancelled
// and waited for; gossip leaves; the loops are waited for; state is saved;
// the roster stops; the store closes. TestNoGoroutineOutlivesNodes checks
// that nothing outlives Run.
//
// # Locks and their order
//
// Locks are held for memory only, never across I/O, except the partition
// gate, whose purpose is to span a store commit:
//
//	partTree.gate (shared: a write; exclusive: a rebuild)
//	  → the store's commit
//	  → partTree.mu (the tree and its bookkeeping)
//
// Every other mutex is a leaf: it is never held while taking another or
// calling out (aaeState.mu, latencyWindow.mu, statsHistory.mu, leaver.mu,
// transferState.mu, viewState.mu and syncMu, gossip.Peers' (its callback
// only wakes loops and sets a gauge), peering.clientsMu, tasks.mu, the rpc
// client's and server's). Functions that must be called with a lock held
// are named …Locked.
//
// # How to use it
//
//	st, _ := badger.Open(badger.Options{Dir: dir})
//	n, err := node.New(cfg, st, nil) // nil: TCP on cfg's addresses
//	go n.Run(ctx)
//	<-n.Ready()
//	…
//	n.Shutdown(ctx)
package node
