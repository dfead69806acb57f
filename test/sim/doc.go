// Package sim is dynago's deterministic cluster simulator (issue 11):
// whole clusters in one process, under testing/synctest's virtual time, on
// the in-memory network (node/memnet) and in-memory disks
// (storage/memory), driven by a seeded schedule of faults and a client
// workload, and judged by the fault suite's checkers (test/jepsen/checker)
// over the recorded history and the replicas' final states.
//
// # What it is
//
// A seed decides a Schedule (Generate, a pure function of the seed): 3 or
// 4 nodes, N=3 R=2 W=2 on a ring of 16 partitions, async or blocking read
// repair, default or short tombstone and hint windows (short: a tombstone
// may be reaped 13 s after it is stored and hints are overdue after 5 s,
// so runs reap, and deliver hints past their window), 20 to 40 virtual
// seconds of workload, and three
// lanes of faults that overlap one another:
//
//   - network: partitions between nodes (halves, one node isolated, a
//     bridge, a one-way cut, a ring of majorities) or packet loss, connect
//     loss, latency and jitter on some node-to-node paths, each held 1 to
//     12 s and then healed;
//   - processes, one node at a time: a crash (its disk fails every call
//     from that instant, so the dying process's clean-shutdown bookkeeping
//     is lost as in a real crash; its host resets every connection; its
//     goroutines are stopped and waited for) and a restart 1 to 12 s later
//     on the same disk, or a pause (memnet.Pause) and resume;
//   - membership: maybe a new, empty node joins; maybe a node (never the
//     founder, never leaving fewer than N) leaves by POST /cluster/leave
//     and stops by itself once it has handed its partitions over.
//
// The workload is 10 logical clients on their own host (10.0.1.1), each
// drawing its node per op from the members of the moment (no failover, so
// the history names the node): a register with causal contexts and some
// blind writes (sloppy quorum), the same on strict quorum (R=W=PR=PW=2,
// primaries only), Jepsen's set (read, union, add, write back), blind puts
// and reads and deletes with contexts, and a churn of keys each owned by
// one client (create, update, delete, rest up to 20 s) so tombstones are
// reaped while writes go on. Every request has a server timeout (2 s) and
// a client timeout (3 s). Ops are recorded as the fault suite records them
// (history.Recorder, on the virtual clock); faults are recorded as nemesis
// ops.
//
// Then Run heals everything (network, pauses, crashed nodes restarted),
// waits for the cluster to settle (leavers stopped; every node lists every
// member alive and valid, nothing to pull) and to converge (no hint
// queued, every key's replicas equal, reading keys whose replicas differ
// in more than tombstones at R=N to drive read repair; with short
// windows, every tombstone reaped), reads every key at R=N through every
// node, collects every replica's own state (GET /debug/replica), sums some
// of the nodes'
// counters (GET /metrics: hints delivered, repairs, reaps,
// transfers; and bug counters that must stay 0: dot conflicts, panics,
// trees that drifted from storage), shuts every node down and runs the
// checkers:
//
//	over every workload   P0 no phantom, P0' antichain, durable, set, convergence,
//	                      no resurrection, paused ops are info
//	strict register only  P1 visibility after ack, P2 no revert
//
// (sloppy quorum does not promise P1 and P2 while faults last; the fault
// suite claims them the same way). A run fails if a checker is invalid or
// the run had a problem: a fault that could not be applied, a node whose
// goroutines did not stop, a cluster that did not settle or converge
// within 90 virtual seconds of heal, a bug counter above 0; unless a known
// bug explains the finding (see Findings).
//
// Faults are applied by one goroutine in schedule order. A restart or a
// join returns once the new process runs (its listeners are up), not once
// it has rejoined, as a real restarted process serves its peers and
// clients before memberlist has reached its seeds; so a slow rejoin does
// not hold the other lanes back.
//
// # What it must not do
//
// It does no real I/O: no socket, file, DNS or badger (the import rule in
// test/arch_test.go keeps badger out; only the test, not Run, writes a
// failed seed's history to $TMPDIR). It reads no real clock: every
// timer, deadline and time.Now is synctest's. It reaches nodes only as a
// user and an operator would (node.New, Run, Shutdown, the HTTP API
// through package client), never through node's internals, so what it
// finds is what a deployment would see. It leaves no goroutine behind:
// every node is shut down and waited for, every client's idle connection
// closed, and memberlist's last probe timers (its Shutdown does not wait
// for them) are let run out before Run returns, or synctest.Test fails.
//
// # Invariants
//
//   - Generate is pure: one seed, one schedule, on every machine.
//   - A Cluster's nodes never outlive Run; a disk outlives its node's
//     processes (crash, restart) and nothing else.
//   - Faults act between nodes at the transport: clients always reach a
//     node that is neither paused nor down, as in the fault suite, whose
//     clients reach every node over loopback.
//   - The history is well formed (history.Complete): one nemesis op in
//     flight at a time (faults are applied by one goroutine, in schedule
//     order), at most one op in flight per client process.
//   - A checker flags only what the history proves (test/jepsen/checker),
//     so a flagged seed is a finding, or a bug of the simulator.
//
// # How to use it
//
//	go test ./test/sim                         # CI: 200 seeds (4 under -race), the must-fail control, the regressions
//	go test ./test/sim -run TestSimSeeds -sim.seed=N -v               # replay one seed, with its timeline
//	DYNAGO_SIM_LOG=1 go test ./test/sim -run TestSimSeeds -sim.seed=N # ... and every node's debug log
//	go test ./test/sim -run TestSimSeeds -sim.seeds=2000 -sim.first=1000 -timeout 60m   # a longer sweep
//	go test ./test/sim -run TestSimSeeds -sim.strict ...              # fail on known bugs too (none is open)
//	go test ./test/sim -run TestSimReplay -sim.seed=N -sim.replays=20 # how exactly does N replay?
//
// A failing seed prints its schedule, each problem, each invalid checker
// with its examples (history indexes), and the command that replays it.
// TestSimSeeds logs the seeds per second and what the seeds exercised in
// all (ops by outcome, faults by kind, hints, repairs, reaps, transfers).
// TestSimControlFlagsAckWithoutStore is the must-fail control: n1's disk
// acknowledges writes of data keys and stores nothing, W=1, and n1 is cut
// off for 8 s; the test fails unless the checkers flag lost acknowledged
// writes (durable or set) for at least one of its seeds.
//
// Inside a program, Run(Options{Schedule: Generate(seed)}) inside
// synctest.Test returns a *Result (claims, problems, history, replicas,
// counters, memnet stats). Cluster is the harness underneath, usable on
// its own in a bubble: Boot, Join, Crash, Restart, Pause, Resume, Leave,
// Close.
//
// # What is deterministic, and what is not
//
// Deterministic: the schedule (every fault, its time, its targets; the
// workload's shape), each client's choices (node, key, op, think time:
// rand/v2 seeded by the seed and the client), memnet's loss and jitter
// draws per path (seeded by the seed), and time itself: synctest's clock
// is virtual and exact, so a run of 150 virtual seconds takes well under
// a second of CPU, and timeouts fire exactly when due.
//
// Not deterministic:
//
//   - The interleaving. synctest makes time deterministic, not the
//     scheduler: goroutines runnable at the same virtual instant run in
//     any order (on any number of threads), timers due at the same instant
//     fire in any order, and two senders on one memnet path may draw each
//     other's loss or jitter.
//   - Gossip. memberlist picks probe targets, gossip peers and start-up
//     staggers with math/rand's global source, which nothing here seeds
//     (its Config has no source to inject), and node seeds its
//     anti-entropy jitter from the global source too and draws write
//     epochs from crypto/rand. memberlist runs unmodified on memnet's
//     memberlist.Transport, so liveness is decided by real probes over the
//     simulated network: faults are simulated at the transport, and the
//     failure detector sees them as it would a real network's.
//
// So a seed replays its schedule exactly and its run only closely: ten
// runs of seed 7 (TestSimReplay) gave ten distinct histories, with op
// counts within 2% of one another, and GOMAXPROCS=1 does not change that.
// A failing seed reproduces often, not always (the failure message says
// so: seed 2142 of an earlier generator failed one run in four), and the
// checkers assert properties of whatever history a run produced, never
// an exact trace. To chase a flaky seed, run it with -count=20.
//
// Known differences from real processes: a memnet pause freezes a node's
// traffic but not its goroutines and timers (SIGSTOP freezes both), so a
// paused node's own timeouts still fire and node/rpc's stall guard never
// sees a process pause; a memory disk makes every write durable at once
// (fsync on every write); there is no clock skew between nodes (every node
// reads the same virtual clock); no disk fills or fails except at a crash.
//
// # Findings
//
// Two dynago bugs, both fixed:
//
//   - hint-expiry (fixed): a sloppy write acknowledged by fallbacks alone
//     (X-Dynago-Report primaries=0) lives only in their hints; when the
//     primaries stayed out of reach for longer than the hint window the
//     hints expired, no primary ever had the value, anti-entropy had
//     nothing to repair from, and the write was lost, which README says
//     never happens. With the default 3 h window it took a 3 h
//     partition. First seen as seed 2142 of an earlier generator. Fixed
//     by never dropping hints for age (the hint window now only marks
//     them overdue; the byte cap bounds them, and a full queue refuses
//     the write instead) and by keeping deletes safe another way: with
//     hinted handoff on, every member counts as a holder of every
//     partition it is not a primary of, so a tombstone is reaped only
//     once each member confirmed it with its data and its hints (node's
//     holder round). TestSimHintWindow, the old reproduction (10 to 40
//     lost writes a run), now passes strictly.
//
//   - read-repair-tombstones: read repair copied a deleted key's merged
//     state to every replica lacking part of it, so a replica that had
//     reaped the tombstone got it back as a new one (its wait starting
//     again), and a deleted key that clients kept reading never drained
//     (seed 962 kept 18 tombstones through the whole convergence wait).
//     Fixed in quorum.Stale: a replica with nothing is not stale for a
//     state that is only tombstones (both read as deleted; anti-entropy
//     still copies young tombstones). TestSimReadRepairTombstones runs
//     seed 962, whose convergence wait now reads every divergent key,
//     tombstones included, and fails without the fix.
//
// No known bug is open (known.go).
//
// Apart from those, the sweeps found nothing: no checker invalid, no bug
// counter above 0, every cluster settled, converged and drained its
// tombstones after heal (seeds 1-400, 10000-11999 and 20000-21999 of
// this generator, before the hint-expiry fix; seeds 1-1000 and 1000-2999
// of earlier ones found only the two above; after the fix, seeds 1-200).
//
// # Cost
//
// A seed is about 0.5 to 0.7 s of CPU (30 to 50 virtual seconds: boot,
// workload, heal, convergence), so two cores run 3 to 4 seeds a second:
// the default 200 seeds and the control take about a minute, 2000 seeds
// ten. Under -race a seed costs about ten times as much; the 4 seeds and
// the control take about 30 s.
package sim
