// Package checker holds the fault tests' checkers (DESIGN.md §7): pure
// functions from a completed history (and the replicas' final states) to a
// Result that says whether a property held, with counts and up to
// MaxExamples violations.
//
// # What it is
//
//	NoPhantom       P0   every value read was written, by a put that began before the read ended and did not definitely fail
//	Antichain       P0'  a read never returns a value together with one of its causal ancestors
//	Visibility      P1   a read that begins after a put was acked returns it or a causal successor
//	Durable              no acked write is lost: the final reads return it or a causal successor (P1 on the final reads)
//	NoRevert        P2   after a put (or delete) that superseded v was acked, later reads never return v
//	MonotonicReads  P3   a read returns every value an earlier-completed read returned, or a successor
//	Set                  Jepsen's set checker: ok / lost / unexpected / recovered over the final reads
//	Convergence          every replica of every key stores the same versions; final reads agree with them
//	MerkleRoots          the replicas of every partition that hold a Merkle tree report one root (joined into convergence with Combine)
//	NoResurrection       no value removed by an acked delete is in the final state, nor in a watch read begun after the delete's ack
//	PausedInfo           a paused node answers nothing while it is stopped: its in-flight ops end info
//	Linearizable         porcupine over a multi-value register, per key (strict-quorum runs)
//
// Causal ancestry comes from the history alone: a write's Covered lists the
// values its context covered, so the ancestors of value v are the values v's
// write covered, their ancestors, and so on. A delete's tombstone supersedes
// what it covered. Values are unique per write, so a value names its write.
//
// # What it must not do
//
// Checkers do no I/O (except LinearizableVisualize, which writes the HTML
// file it is asked for), read no clock, use no randomness and never talk to
// the cluster. They never modify their inputs.
//
// # Invariants
//
// A checker flags only what the history proves. Where the history cannot
// tell (an info write may or may not have happened; a delete may be in a
// read's causal past without the read showing it, since tombstones are not
// returned), the checker assumes the store's favour, so a flagged violation
// is a real one. Every checker is valid on an empty history.
//
// # How to use it
//
//	ops, _ := history.Complete(rec.Ops())
//	results := []checker.Result{checker.NoPhantom(ops), checker.Visibility(ops), checker.Set(ops)}
//	for _, r := range results {
//		if !r.Valid { ... r.Examples ... }
//	}
package checker
