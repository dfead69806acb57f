// Package history records and reads the operation histories of the fault
// tests (test/jepsen): Jepsen's model of invoke, then ok / fail / info.
//
// # What it is
//
// An Op is one line of a history: a client (Process) invokes an operation
// (F: read, write, delete, add) on a key through a node, and later the same
// process completes it as ok (it happened), fail (it definitely did not
// happen) or info (indeterminate: it may have happened, or may happen
// later). Nemesis actions are ops of process NemesisProcess. A Recorder
// appends ops from many goroutines, stamps each with an index and a strictly
// increasing monotonic time, and streams them to a JSONL file. Complete
// pairs each invoke with its completion into an Operation, the unit the
// checkers work on.
//
// Values written by the tests are unique, so a value names its write.
// A write records in Covered the values its causal context covered (the
// siblings of the read it was based on, or its own previous write), so a
// checker can rebuild causal ancestry from the history alone.
//
// # What it must not do
//
// The types and Complete are pure. Only Recorder does I/O (its file) and
// reads the clock; it never talks to the cluster.
//
// # Invariants
//
//   - Indexes are 0, 1, 2, ... in append order; Times strictly increase.
//   - A process has at most one operation in flight: every completion
//     follows its invoke and precedes that process's next invoke.
//   - An op that never completes is treated as info by Complete.
//
// # How to use it
//
//	rec, _ := history.NewRecorder(path)
//	inv := rec.Append(history.Op{Type: history.Invoke, Process: 3, F: history.Write, Key: "k", Value: "v3-1", Node: "n2"})
//	// ... do the request ...
//	rec.Append(inv.Completion(history.OK))
//	ops := rec.Ops()
//	calls, err := history.Complete(ops)
package history
