// Package demo starts a local dynago cluster inside one process: N nodes
// on 127.0.0.1 with fixed ports and on-disk badger storage in a temporary
// directory. `dynago demo` runs it for people to try; `dynago bench --demo`
// and end-to-end tests reuse it.
//
// What it must not do: bind anything but 127.0.0.1, leave a node running
// or a temporary directory behind after Stop, or print (it logs through
// Config.Logger only).
//
// Invariants:
//   - Ports are fixed by Layout: node i (1-based) listens for HTTP on
//     BasePort+2(i-1), RPC on BasePort+2(i-1)+1 and gossip on
//     GossipBasePort+(i-1). With the defaults: n1 8080/8081/7946,
//     n2 8082/8083/7947, n3 8084/8085/7948.
//   - Start returns only when every node is Ready and node 1's
//     GET /cluster/members lists every node alive, or with an error after
//     stopping whatever it started.
//   - Every node's Run goroutine is owned by the Cluster: Stop cancels them
//     all and waits for each to return.
//
// How to use:
//
//	cl, err := demo.Start(ctx, demo.DefaultConfig())
//	if err != nil { ... }
//	defer cl.Stop()
//	urls := cl.URLs() // "http://127.0.0.1:8080", ...
package demo
