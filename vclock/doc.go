// Package vclock implements dotted version vectors: the per-key causality
// metadata of dynago (DESIGN.md §3).
//
// # What it is
//
// Each replica keeps, per key, a State: a dotted causal container (Preguiça
// et al., "Dotted Version Vectors", 2012; Almeida et al., DVVSet; Riak 2.0).
// Every stored Version carries the Dot (actor, counter) of the write that
// made it; the State carries a version vector (VV) Context covering every
// dot the replica has seen, kept or superseded. Clients read a Context
// (EncodeContext, the X-Dynago-Context header) and send it back with their
// next write; State.Write replaces exactly the versions that context covers
// and keeps everything else as a sibling. Replicas reconcile with Merge.
//
// Unlike vector clocks ticked with the coordinator's ID (Dynamo §4.4), the
// causal past of a write is the client's context, not the coordinator's
// clock. So two clients that read the same context and write through the
// same coordinator get two siblings, not a silently lost update, and the
// number of siblings is bounded by the number of concurrent writers, not
// by the number of writes (no sibling explosion).
//
// An Actor is a node ID plus an incarnation epoch. A node that starts with
// an empty or lost data directory must take a new epoch, so that it never
// hands out a counter it used before (Riak kv679: a reused dot is taken for
// one already seen, and the new write is silently dropped on Merge).
//
// # What it must not do
//
// vclock imports only the standard library. It does no I/O, reads no
// clock, uses no randomness, never logs, starts no goroutines and holds no
// locks: every function is a pure function of its arguments, and values
// (VV, State) are never modified after they are made, so they may be shared
// between goroutines without synchronisation. It does not know about keys,
// nodes, storage or the network.
//
// # Invariants
//
// A VV maps each actor to its highest counter (entries sorted, counters
// > 0). It means "every event 1..counter of that actor". Its algebra:
//
//   - VV.Merge is commutative, associative and idempotent (a join
//     semilattice), and the empty VV is its identity.
//   - Compare(a, b) == Before ⇔ Compare(b, a) == After;
//     Compare(a, b) == Equal ⇔ a.Equal(b); Concurrent is symmetric.
//   - Compare(a, a.Merge(b)) is Before or Equal.
//
// A well-formed State (any State made from the zero State by Write, Merge
// and UnmarshalBinary) satisfies:
//
//   - Versions are sorted by Dot with no duplicates.
//   - Context covers every version's dot and every version's own Context.
//   - The versions form an antichain: no version's dot is covered by
//     another version's Context.
//
// and the container algebra:
//
//   - Merge is commutative, associative and idempotent, and the zero State
//     is its identity; Merge(a, b) Descends a and b.
//   - s.Descends(o) ⇔ Merge(s, o).Equal(s).
//   - After s2, d := s.Write(actor, ctx, ...), s2 holds the new version d
//     plus exactly those versions of s whose dots ctx does not cover.
//
// Counter uniqueness is the caller's promise: an Actor issues counters for
// a key only from one State lineage that has known every counter it issued
// for that key since its first (dynago's node mints a fresh actor per key
// lineage; Riak's per-key epochs). A replica that forgot (a reaped
// tombstone, a lost disk) must write with a new actor. Conflicts finds the
// evidence when that promise is broken: one dot naming two versions.
// Contexts must come from reads: a forged context that covers dots not yet
// written would hide those future writes. Write's arithmetic is total: a
// context at MaxCounter makes it return ErrCounterExhausted, never panic.
//
// Encodings are versioned by a leading format byte and canonical: equal
// values encode to equal bytes, and decoders (State.UnmarshalBinary,
// DecodeContext) accept exactly what the encoders produce, reject anything
// else with an error (ErrBadState, ErrBadContext), never panic, and never
// allocate more than a small multiple of their input.
//
// # How to use it
//
// A coordinator handling a PUT or DELETE with context token tok:
//
//	ctx, err := vclock.DecodeContext(tok) // "" is the empty context; err → 400
//	st, dot, err := local.Write(self, ctx, value, isDelete) // err: counter exhausted, use another actor
//	// store st locally, send st to the other replicas
//
// A replica receiving a State from a coordinator, hinted handoff,
// read repair or anti-entropy stores vclock.Merge(local, received).
// A coordinator answering a GET merges the replies with Merge, returns
// merged.Live() (siblings if more than one) and
// vclock.EncodeContext(merged.Context), and repairs every replica whose
// state does not Descend the merged one.
package vclock
