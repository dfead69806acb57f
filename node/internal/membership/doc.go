// Package membership is the pure state machine of dynago's ring
// membership: the membership CRDT (one Record per node, merged by a
// deterministic "newer wins" rule), the ownership tables the claimant
// computes from it (Table) and the staging hold (Hold), all in one State
// value; and the math on it: who claims and what (Claimant, Claim, with the
// sources carried from unfinished changes), a table's identity on the wire
// (TableID), who besides the primaries holds a partition's data (Holders),
// and what a join, leave or remove would move (CheckChange, PlanAfter,
// MakePlan), as Riak's `cluster plan` shows it.
//
// Membership is explicit, as in Dynamo (DeCandia et al., SOSP 2007, §4.8.1:
// "an administrator uses a command line tool or a browser to connect to a
// Dynamo node and issue a membership change"): a node enters the ring by
// join and leaves it by leave or remove; crashes and partitions change only
// liveness, which this package never sees (callers pass it in as a
// predicate). Like Dynamo's, the membership spreads by gossip and every node
// merges what it hears with the same rule, so all converge (§4.8.1's
// "gossip-based protocol propagates membership changes and maintains an
// eventually consistent view"). Unlike Dynamo's tokens, placement keeps
// history (ring.Claim), so one node, the claimant, computes each new
// ownership table and the others adopt it, as Riak's claimant does.
//
// # What it must not import or do
//
// membership is pure, the way etcd's raft separates its state machine from
// the node.run loop that owns it: it does no I/O, reads no clock (not even
// for types), sets no timers, starts no goroutines, takes no locks, uses no
// randomness and never logs. It imports only ring, node/api (plans are
// computed as the HTTP contract's types, which are data only), the
// standard library's pure parts (encoding/json, fmt, errors, slices, maps,
// cmp, strconv, math, ...) and xxhash (a table's digest, TableID, as ring
// hashes keys). It knows nothing of HTTP statuses: a refused change is a
// *ChangeError that node maps to a status. Package node owns the one
// goroutine that holds the current State (node/roster.go), gossips it,
// stores it and publishes the placement built from it. The import rule in
// test/arch_test.go enforces this.
//
// # Invariants
//
//   - State.Merge is commutative, associative and idempotent over records:
//     any order of delivering any multiset of records gives the same State
//     (TestClusterMergeConverges). This assumes that two records of one
//     node that tie on everything the order compares (generation, status,
//     Version, zone and addresses) are equal: a node bumps its Version at
//     every change of its record. Within one generation (Record.Gen) a left
//     or removed record is final: no later version puts the node back.
//   - Table.Newer is a total order (version, then more members, then the
//     lower claimant, then the larger encoding), so concurrent claims
//     converge to one table everywhere; MergeTable only ever replaces a
//     table with a newer one, so a node's table version never goes down.
//     The same holds for Hold (a higher version, then On).
//   - A State is a value: no method modifies its receiver's map or tables;
//     they return changed copies (Clone copies the map, shares the tables).
//     A *Table is never modified once built.
//   - The JSON encoding (State.Marshal, a Record) is stored on disk and
//     gossiped between nodes of different versions: field names and tags
//     are a wire format (TestWireFormat pins the bytes). Unmarshal refuses
//     input that would make a State inconsistent (a misfiled record, a
//     table that does not fit the partitions).
//   - Error texts keep the "node:" prefix they had before this package was
//     split from node: they reach operators, logs and peers unchanged.
//
// # How to use
//
// The owner of the state applies every change as a pure function of the
// current State and publishes the result; nothing here is safe to modify
// concurrently, and nothing needs to be: values are replaced, not changed.
//
//	next, changed := cur.Merge(gossiped...)   // records from a peer
//	next, tch := next.MergeTable(peer.Table)   // a claimed table
//	r, err := next.Ring()                      // the placement to publish
//
// It decodes what arrives from disk or the network with Unmarshal, then
// checks it with CheckCompatible against its own ring configuration. The
// claim loop asks who claims, and if it is this node, what:
//
//	if c.Claimant(alive) == self {
//		t, moved, err := c.Claim(self) // nil: nothing to claim
//		...                            // merge State{Table: t}, push it
//	}
//
// A plan is CheckChange, then PlanAfter (or PendingAfter for the pending
// changes) from c.Ring(), then MakePlan with the key counts the caller
// gathered (MergeMaxKeys) and MemberWarnings first.
package membership
