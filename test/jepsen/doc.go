// Package jepsen is dynago's fault-test harness (issue 3, DESIGN.md §7):
// real `dynago agent` processes in a network namespace of their own, real
// faults, recorded histories and checkers that can fail. Jepsen's structure
// is the model: generator (Plan and the Generator compositions), client
// (one goroutine per logical client, KV), nemesis (Nemesis, Firewall),
// history (package history) and checker (package checker).
//
// # What it is
//
// TestJepsen (jepsen_test.go) creates a namespace per scenario
// (dynago-jepsen-<pid>-<n>, loopback up) and re-executes the test binary
// inside it with `ip netns exec`; TestMain turns that process into the
// runner (ChildMain). The runner starts five agents at 127.0.0.11..15, runs
// the scenario's workload and nemesis, heals, waits for convergence, takes
// the final reads, replica states, Merkle roots (GET /debug/merkle) and
// anti-entropy totals (GET /debug/aae), runs the checkers and writes the
// run directory: results.json, report.md, history.jsonl, replicas.json,
// merkle.json, schedule.json, harness.log and nodes/*.log. The test
// process judges results.json and deletes the namespace, also on failure
// or interrupt.
//
// A Scenario is data: the cluster configuration (extra agent flags in
// ClusterConfig.AgentArgs), the workloads (WorkloadSpec), the nemesis (a
// Generator: PartitionCycle, Periodic, CrashOnce, Script, Compose), an
// optional deterministic Script, the checkers, which workloads each
// checker's claim covers, and the verdicts the must-fail controls require.
// Later issues add scenarios to Scenarios.
//
// Cluster.Nodes is the current ring's members, and heal, convergence,
// final reads and the checkers use it. A membership scenario (S12) changes
// it from its Script: AddNode lays out a new node (n6 at 127.0.0.16) that
// a FaultJoin event starts with --join; a FaultRemove event takes a dead
// node out of the ring (POST /cluster/remove) and Forget drops it, so it is
// neither restarted by heal nor read. Each change's stop event waits until
// every node lists exactly the members, alive and valid, with no partition
// transfer pending (GET /debug/transfers). S20 joins n6 the same way; S19's
// FaultLeave stop event forgets the node that left once it has exited.
//
// # What it must not do
//
// It never touches the firewall outside its own namespace: every iptables
// call first checks (CheckInside) that the process is in the named
// namespace and not in the test process's. Agents bind only to
// 127.0.0.11..19 inside that namespace. Processes are stopped by PID, never
// by name; agents die with the runner (Pdeathsig) and the runner with the
// test process. Every run is bounded in time (workload duration plus a
// fixed overhead) and in size (MaxHistory). It never works around a store
// bug: a violation is reported, not retried away.
//
// # Invariants
//
//   - Client ops are recorded invoke-then-completion by their own
//     goroutine; a write is OK only on 2xx, Fail only when the store
//     promised nothing was written (503 unavailable, 4xx, a failed dial),
//     and Info otherwise (503 write_indeterminate, a timeout, a reset).
//   - Values are unique per write; a write records the values its context
//     covered, so checkers rebuild causal ancestry from the history.
//   - The same -seed plans the same nemesis schedule and the same client
//     choices (timing still varies).
//
// # How to use it
//
//	sudo go test ./test/jepsen -run TestJepsen -v                     # the CI smoke set
//	sudo go test ./test/jepsen -run TestJepsen -v -timeout 60m -scenarios=all
//	sudo go test ./test/jepsen -run TestJepsen -v -scenarios=S2,S4 -duration=5m -seed=42
//	sudo go test ./test/jepsen -run 'TestJepsen$' -v -scenarios=soak -timeout 20m  # the 10-minute soak (soak.go), named only
//	DYNAGO_JEPSEN_OUT=/tmp/runs ... ; DYNAGO_JEPSEN_AGENT_LOG=debug ...
//
// See README.md in this directory for the scenarios and what each checker
// asserts.
package jepsen
