// Package bench is dynago's closed-loop load generator and its reference
// server, used by `dynago bench` to measure dynago side by side with a bare
// Go net/http map server and with redis-server (DESIGN.md §8). It speaks
// HTTP (GET and PUT /kv/{key}) or RESP (GET and SET, with
// github.com/redis/go-redis as the client: one client per address, a pool
// of Concurrency connections, no retries).
//
// What it must not do: import node or any server package (node/api's names
// only; it measures any server that speaks PUT/GET /kv/{key} or RESP's GET
// and SET, and sends raw requests rather than package client's, so the
// client's decoding and failover are not in what it measures), print
// anywhere but the io.Writer it is given, read global randomness (every
// worker's generator derives from Config.Seed), or hide a failed request.
// It owns the goroutines it starts (the workers of one run, the progress
// ticker, the reference server) and waits for all of them before returning
// or closing.
//
// Invariants:
//   - Closed loop: each of Concurrency workers has at most one request in
//     flight, so offered load adapts to the server and latency is not
//     hidden by queueing inside the generator.
//   - Requests = OK + Errors, and Reads + Writes = Requests. The latency
//     histogram holds exactly the OK requests (1 µs .. 60 s, 3 significant
//     figures).
//   - An HTTP response is OK when it is 2xx, a 300 (siblings) on a read, or
//     a 404 on a read of a key that no acknowledged write of this Keyspace
//     has touched. A RESP reply is OK when it is not an error reply, and a
//     nil GET reply is OK under the same condition as a 404. A 404 or nil
//     for a key whose write was acknowledged before the read began is an
//     error of its own kind ("GET 404 after acked write", "GET nil after
//     acked write"), as is every other status, every RESP error reply
//     (named by its first word: "GET -UNAVAILABLE"; a GET of a key with
//     siblings is one) and every transport failure. Each error kind keeps
//     a count and its first message.
//   - HTTP writes carry the last causal context seen for their key (from a
//     read or a write), so concurrent blind writes do not pile up siblings.
//     RESP's SET is an overwrite and carries none.
//   - Round i of every target uses seed Seed+i, so interleaved rounds offer
//     identical load to dynago and to the references. A preload (Preload,
//     Plan.Preload) writes every key exactly once before the rounds and
//     marks it written; its order is not seeded.
//   - CPU per operation is the user+system CPU time of Target.PIDs (every
//     thread, from /proc/PID/stat, 10 ms resolution per process) over one
//     round, divided by that round's OK requests.
//
// How to use:
//
//	cl := &bench.Clients{HTTP: &http.Client{Transport: bench.NewTransport(cfg.Concurrency), Timeout: 10 * time.Second}}
//	defer cl.Close()
//	rep, err := bench.RunRounds(ctx, bench.Plan{Config: cfg, Rounds: 3, Preload: true,
//		Targets: []bench.Target{{Name: "dynago", URLs: urls, PIDs: pids}, {Name: "reference", URLs: []string{ref.URL}}}},
//		cl, nil)
//	rep.WriteText(os.Stdout)
package bench
