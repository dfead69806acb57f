// Package client speaks dynago's HTTP API (DESIGN.md §5) for the dynago CLI:
// key-value reads and writes with their causal context, and the cluster
// administration endpoints.
//
// What it must not do: import node or any server package (it is a client
// of the wire contract only, so it can be tested against a fake server),
// print, log, or exit. It spawns no goroutines; concurrency belongs to the
// caller's *http.Client.
//
// Invariants:
//   - Every response the server sent is returned to the caller, failures
//     included: a non-success status becomes an *Error that carries the
//     server's JSON message, code, any extra fields (a 503 write lists its
//     acks) and the X-Dynago-Report header. Nothing is retried or hidden.
//   - GET's 300 Multiple Choices and 404 Not Found are outcomes, not errors:
//     Get returns them in a GetResult with Found and Values set.
//   - Keys are path-escaped, so any byte string of 1..1024 bytes round-trips.
//
// How to use:
//
//	c, err := client.New("127.0.0.1:8080", http.DefaultClient)
//	res, err := c.Get(ctx, "k", client.ReadParams{R: "2"})
//	if err == nil && res.Found { use(res.Values, res.Context) }
//	_, err = c.Put(ctx, "k", []byte("v"), res.Context, client.WriteParams{W: "quorum"})
package client
