// Package handoff is the delivery side of dynago's hinted handoff (Dynamo,
// DeCandia et al., SOSP 2007, §4.6): a node that took a write as a
// fallback for a down primary keeps it as a durable hint (package
// hintedhandoff), and this service streams those hints to the primary
// once gossip says it is back (Wake) and on a periodic retry (Interval),
// in batches paced by each target's token bucket and backed off after
// failures (hintedhandoff.Delivery). Hints for keys their target is no
// longer a primary of (it left, was removed, or lost the partition while
// down) go instead to the keys' current primaries, this node's own data
// included. It never drops a hint for age: a hint past the hint window
// (Hints.MaxAge) is overdue, logged, and delivered like the others, since
// a write acknowledged by fallbacks alone lives nowhere else (as Riak's
// fallback vnodes keep their data until handoff succeeds). It also counts
// refused hints (Refused), publishes each target's delivery state for
// /debug/hints (Statuses), and lets a leaving node hand its hints on
// before it exits (Drain). The receiving side, which merges delivered
// hints into the local replica, stays in node.
//
// # What it must not import or do
//
// handoff never sees *node.Node: it takes consumer-side interfaces
// (Placement, Peers, Local, Clock, Metrics) and the hint store in Deps. It
// imports no storage implementation and no transport: hints live in the
// *hintedhandoff.Store it is given, batches leave through Peers.Send
// (which stamps the table id and picks the address). It reads time only
// from the injected Clock (never time.Now); its waits use real timers, as
// node's loops do. The only goroutines it runs are Run's own (the caller's)
// and the hint deletions Run starts and waits for; Drain runs on its
// caller's goroutine. The import rule in test/arch_test.go enforces what
// it imports, and TestNodeWallClock that it reads no wall clock.
//
// # Invariants
//
//   - A hint is deleted only after its target (or, for a target out of
//     the placement, every current primary of its key) merged it durably:
//     Peers.Send and Local.Receive returned nil for the batch holding it.
//     A failed or refused batch keeps every hint it carried, and the
//     target's Delivery backs off.
//   - A hint is never dropped for age. Every batch carries each hint's
//     age (for the receiver's logs); what keeps an old hint from bringing
//     back a reaped delete is node's reaper, which confirms each tombstone
//     with every member that may hold hints before it reaps it.
//   - Only live targets, or targets out of the placement, are sent to; a
//     moved hint goes to a down primary never (the batch fails and stays).
//   - One goroutine (Run) owns every target's Delivery; Statuses are
//     published whole, never modified once published.
//
// # How to use
//
//	s := handoff.New(handoff.Config{Name: name, Interval: 5 * time.Second,
//		CallTimeout: 2 * reqTimeout, Hints: hintsCfg}, handoff.Deps{...})
//	go s.Run(ctx)          // returns nil once ctx ends and its work is done
//	s.Wake()               // a peer came back
//	s.Refused(owner)       // a hint was refused: the target's queue is full
//	s.Statuses()           // for /debug/hints
//	s.Drain(ctx, 30*time.Second) // a leaving node hands its hints on
//
// Shutdown: cancel Run's ctx; Run stops between rounds, or aborts a batch in
// flight (its hints stay, to be sent after a restart), and returns after
// the deletions it started ended.
package handoff
