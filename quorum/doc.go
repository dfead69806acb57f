// Package quorum holds a coordinator's decisions for one request: how many
// replies it needs, whether it has succeeded or can no longer succeed, how
// read replies merge and which replicas need read repair.
//
// # What it is
//
// Dynamo §4.5: a write succeeds once W of the key's N replicas acknowledge
// it, a read once R replicas answer, and with R + W > N every read quorum
// overlaps every write quorum. With sloppy quorums (§4.6) a fallback node
// can stand in for an unreachable primary, which keeps requests available
// but weakens that overlap; Riak's pr and pw parameters say how many of
// the replies must come from primaries (nodes on the key's preference
// list) for the request to count. quorum implements exactly this:
//
//   - Config: N, R, W, PR, PW with DefaultConfig (3, 2, 2, 0, 0) and
//     Validate; ParseCount and ParsePrimaryCount for the r, w, pr, pw
//     request parameters ("one", "quorum", "all" or a number).
//   - Decide: the pure decision rule, and Tracker, which feeds it one
//     request's replies from its targets (ring.Target: primaries and
//     fallbacks).
//   - MergeReplies and Stale: a read's answer is the causal merge of the
//     replies (vclock.Merge); replicas whose state does not already
//     contain it are stale and get read repair.
//
// # What it must not do
//
// quorum imports only the standard library, ring and vclock. It does no
// I/O, sends nothing, reads no clock, has no timers, uses no randomness,
// never logs and starts no goroutines. Timeouts are node's business: when
// the deadline passes, node stops waiting and reports Tracker.Outcome
// (still Pending means not enough replies: 503, and for a write
// indeterminate, with Tracker.Acked saying which replicas acknowledged).
//
// # Invariants
//
//   - Decide(...) == Succeeded ⇔ ok >= need and okPrimary >= needPrimary.
//   - Decide(...) == Failed ⇔ not Succeeded and no way of answering the
//     outstanding targets could make it Succeeded (checked against a
//     brute-force enumeration in the tests).
//   - A Tracker's outcome is monotone: once Succeeded or Failed it never
//     changes, because replies only move targets from pending to acked
//     or failed. Each target counts at most once; unknown nodes count
//     never.
//   - Config.Validate: 1 <= R, W <= N and 0 <= PR, PW <= N. PR > R is
//     allowed and means the read waits for PR primary replies (Riak).
//   - Stale(MergeReplies(rs), rs) is empty ⇔ every reply already holds
//     the merged state.
//
// # How to use it
//
// A coordinator handling a write:
//
//	w, err := quorum.ParseCount(q.Get("w"), cfg.N) // absent param: use cfg.W; err → 400
//	tr := quorum.NewTracker(w, pw, targets)        // targets from the ring
//	// send the write to every target; for each reply (in node's loop):
//	switch tr.Record(from, err == nil) {
//	case quorum.Succeeded: // 204
//	case quorum.Failed:    // 503, indeterminate: tr.Acked() may hold it
//	}
//
// A read does the same with R and PR, collects ReadReply values, answers
// with MergeReplies(replies), and sends the merged state to
// Stale(merged, replies).
package quorum
