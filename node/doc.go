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
// (httperr.go) turns them into statuses.
//
// # Owners of state
//
//   - Membership (member records, ownership table, staging hold) is owned
//     by the roster's goroutine (roster.go), which applies every change in
//     order and publishes an immutable snapshot with a version that only
//     goes up, then the placement built from it (view, ring). Readers load
//     the pointers and never lock.
//   - Each partition's Merkle tree is owned by its partTree (aae.go),
//     guarded by its mutex; writes to a partition go through updateData,
//     which keeps tree and store in step under the partition's gate.
//   - Hint delivery state is owned by the handoff service's Run
//     (node/internal/handoff); transfer jobs and ready
//     flags by transferState (transfer.go); a leave's progress by
//     leaveState (leave.go).
//
// # Goroutines
//
// Every goroutine has an owner that waits for it:
//
//   - Run's group: the HTTP and RPC servers' accept loops, rejoinLoop,
//     persistLoop, gcLoop, the handoff service's Run, aaeLoop (and its exchange rounds,
//     awaited by the loop), transferLoop, claimLoop, holdsLoop. They stop
//     when bgCtx is cancelled; Run waits for all of them.
//   - n.handlers: every HTTP handler (admission refuses new ones once
//     shutdown began); n.bg: work requests start after answering (late
//     replication, read repair); n.leaveTask: the leave loop. Shutdown
//     closes each group to new members and waits for it (tasks.go).
//   - The RPC server's connections and handlers (node/rpc: Close waits),
//     memberlist's, which call the delegates of node/internal/gossip
//     (Shutdown), the roster's goroutine (stopped last, after
//     the membership was saved).
//
// Shutdown order (node.go, shutdown): leave loop cancelled; HTTP stops
// accepting, in-flight handlers get a grace (5 s, or Shutdown's deadline),
// then their contexts are cancelled and each is waited for; RPC closes and
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
// calling out (aaeState.mu, latencyWindow.mu,
// leaveState.mu, transferState.mu, viewState.mu and syncMu,
// gossip.Peers' (its callback only wakes loops and sets a gauge),
// clientsMu, tasks.mu, the rpc client's and server's). Functions that
// must be called with a lock held are named …Locked.
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
