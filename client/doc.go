// Package client is dynago's Go client: reads and writes of keys with
// their causal context, a read-resolve-write Update, and the cluster's
// admin calls, over the HTTP API (DESIGN.md §5) whose types are in
// node/api. The dynago CLI uses it for every request it makes.
//
// What it must not do: import node or any server package (only the
// standard library and node/api, so a program can talk to a cluster
// without linking the server), log, print, exit, or start goroutines
// (concurrency belongs to the caller and its *http.Client).
//
// Invariants:
//   - Nothing the node said is hidden: a failure status is an *Error with
//     the status, message, code, every detail of the body, and the
//     X-Dynago-Report header. It matches (errors.Is) the sentinel its
//     status means: ErrNotFound (a read of a key with no live value),
//     ErrBadRequest (400), ErrUnauthorized (401: WithToken), ErrForbidden
//     (403: the token's role), ErrUnavailable (definite: nothing happened) or
//     ErrIndeterminate (a write that may have been stored).
//   - A write is never sent twice: key requests fail over to the next node
//     of the list only when the node gave no answer, and a write only when
//     the connection was never made. A write sent without an answer is
//     ErrIndeterminate (and ErrNoResponse). An HTTP error answer never
//     fails over. Nothing else is retried, except Update's documented
//     rounds.
//   - Key requests go first to the node that answered last; admin calls
//     go to the first node of the list only, since they are about that
//     node.
//   - Keys are path-escaped, so any byte string of 1 to api.MaxKeyBytes
//     bytes round-trips; other keys fail with ErrBadKey before anything
//     is sent.
//
// How to use:
//
//	c, err := client.New([]string{"127.0.0.1:8080", "127.0.0.1:8082"})
//	res, err := c.Get(ctx, "k", &client.ReadOptions{R: client.Quorum})
//	switch {
//	case errors.Is(err, client.ErrNotFound):
//	case err != nil:
//		return err
//	case len(res.Siblings) > 1:
//		// concurrent writes: resolve them, write back with res.Context
//	}
//	_, err = c.Put(ctx, "k", v, &client.WriteOptions{Context: res.Context, W: client.Replicas(2)})
//	if errors.Is(err, client.ErrIndeterminate) {
//		// may be stored: read before writing again
//	}
//
// Or let Update do the read, the resolution and the write:
//
//	err = c.Update(ctx, "cart", func(siblings [][]byte) ([]byte, error) {
//		return union(siblings), nil
//	})
package client
