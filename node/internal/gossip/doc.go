// Package gossip is dynago's failure detection and membership
// dissemination (Dynamo, DeCandia et al., SOSP 2007, §4.8) over
// hashicorp/memberlist, a SWIM implementation: a node's Member binds
// memberlist on the node's transport, joins the cluster through seeds
// (Join), gossips membership records (Broadcast) and, on push/pull,
// exchanges the full membership with a peer; Peers is the liveness table
// memberlist's events keep (Alive). memberlist's interfaces are met by one
// small delegate each: delegate (memberlist.Delegate: this node's Meta,
// gossiped records, push/pull), events (memberlist.EventDelegate: the
// liveness table), mergeDelegate and aliveDelegate (memberlist's
// MergeDelegate and AliveDelegate: the cluster-mismatch rule). The
// membership itself, its merge rules and what a change sets off stay in
// node, behind the State interface.
//
// # What it must not import or do
//
// gossip never sees *node.Node: it takes consumer-side interfaces
// (Transport, State) and callbacks in Deps and NewPeers. It imports no
// storage and no transport implementation (the memberlist transport comes
// from Deps.Transport), and reads no clock (never time.Now): memberlist
// keeps its own timers. Its goroutines are memberlist's own, which call
// the delegates: a delegate never blocks and never calls back into
// memberlist; it decodes, checks, and hands over to State or to Peers'
// changed callback, which must not block either. Join, Leave and Shutdown
// block on memberlist and run on their caller's goroutine. The import rule
// in test/arch_test.go enforces what it imports, and TestNodeWallClock
// that it reads no wall clock.
//
// # Invariants
//
//   - A peer whose ring configuration (partitions, N) differs from this
//     node's is refused (NotifyAlive, NotifyMerge with
//     membership.ErrClusterMismatch), and a pushed membership of another
//     configuration is never merged; Join reports a refusal as
//     membership.ErrClusterMismatch although memberlist flattens it to
//     text (the one match by text).
//   - With Config.Keys, every packet and stream is encrypted and
//     authenticated (memberlist's keyring, verified both ways); with
//     Config.Label, one without this label is dropped.
//   - A name is never taken over (the name-takeover rule): memberlist
//     never lets another address reclaim a dead member's name
//     (DeadNodeReclaimTime 0), a member claiming a name Config.Known binds
//     to another gossip address is refused, and so is a peer list naming
//     this node at another address; Join reports that as
//     membership.ErrNameTaken (matched by text, like the mismatch).
//     With Config.Rebind (internode mutual TLS proves names), a dead
//     member's name may move, but only to the address Known binds it to
//     (the alive delegate runs before memberlist's address check), and a
//     cluster listing this node at its old address is joined.
//     NameRefusals counts the refusals.
//   - Every broadcast record is sent: recordBroadcast never invalidates
//     another (memberlist v0.7.0's queue bug, TestQueuedRecordsAllSent).
//   - The liveness table is replaced whole on each event and never
//     modified once published; its changed callback sees the events in
//     the order they were applied. This node is always alive to itself.
//   - A panic in State, in a delegate's goroutine, is recovered and given
//     to Deps.Recovered; it never reaches memberlist.
//
// # How to use
//
//	peers := gossip.NewPeers(name, log, func(all map[string]gossip.Peer, p gossip.Peer) {...})
//	m, err := gossip.New(gossip.Config{Name: name, Addr: addr, Meta: meta, ...},
//		gossip.Deps{Transport: tr, State: st, Peers: peers, Log: log, Recovered: rec})
//	m.Addr()              // the gossip address it advertises
//	err = m.Join(seeds)   // errors.Is(err, membership.ErrClusterMismatch): refused
//	m.Broadcast(record)   // a local membership change
//	peers.Alive("b")      // gossip's view of b
//
// Shutdown: m.Leave(timeout) tells the cluster, then m.Shutdown() stops
// memberlist (its goroutines and transport).
package gossip
