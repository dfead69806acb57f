// Package bench is dynago's closed-loop HTTP load generator and its
// reference server, used by `dynago bench` to measure dynago side by side
// with a bare Go net/http map server (DESIGN.md §8).
//
// What it must not do: import node or any server package (node/api's names
// only; it measures any server that speaks PUT/GET /kv/{key}, and sends
// raw requests rather than package client's, so the client's decoding and
// failover are not in what it measures), print anywhere but the io.Writer
// it is given, read global randomness (every worker's generator derives from
// Config.Seed), or hide a failed request. It owns the goroutines it starts
// (the workers of one run, the reference server) and waits for all of them
// before returning or closing.
//
// Invariants:
//   - Closed loop: each of Concurrency workers has at most one request in
//     flight, so offered load adapts to the server and latency is not
//     hidden by queueing inside the generator.
//   - Requests = OK + Errors, and Reads + Writes = Requests. The latency
//     histogram holds exactly the OK requests (1 µs .. 60 s, 3 significant
//     figures).
//   - A response is OK when it is 2xx, a 300 (siblings) on a read, or a 404
//     on a read of a key that no acknowledged write of this Keyspace has
//     touched. A 404 for a key whose write was acknowledged before the read
//     began is an error of its own kind ("GET 404 after acked write"), as
//     is every other status and every transport failure. Each error kind
//     keeps a count and its first message.
//   - Writes carry the last causal context seen for their key (from a read
//     or a write), so concurrent blind writes do not pile up siblings.
//   - Round i of every target uses seed Seed+i, so interleaved rounds offer
//     identical load to dynago and to the reference.
//
// How to use:
//
//	tr := bench.NewTransport(cfg.Concurrency)
//	rep, err := bench.RunRounds(ctx, bench.Plan{Config: cfg, Rounds: 3,
//		Targets: []bench.Target{{Name: "dynago", URLs: urls}, {Name: "reference", URLs: []string{ref.URL}}}},
//		&http.Client{Transport: tr, Timeout: cfg.Timeout}, nil)
//	rep.WriteText(os.Stdout)
package bench
