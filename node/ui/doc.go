// Package ui is dynago's web console: plain HTML, CSS and JavaScript
// embedded in the binary (embed), served by every node at /ui/ (node's
// consoleRoutes), in the manner of Riak Control and the CockroachDB
// console. Its pages read the node's JSON API from the browser with
// fetch: the cluster overview (GET /cluster/members, /cluster/ring,
// /health), the ring (/cluster/ring, /debug/transfers), repair
// (/debug/hints, /debug/aae), request rates and p50/p99 per operation
// over the last minutes (/metrics/history, drawn as an inline SVG), a
// key inspector (/kv, /debug/preflist, /debug/replicas) and staged
// changes (/cluster/plan, /cluster/stage, /cluster/commit).
//
// What it must not do: load anything from another origin (no CDN, no
// web font; it must work offline), need a build step, or hold data of
// its own. It imports only the standard library. Authorization is the
// API's: every data route keeps its role (node/httpauth.go); the static
// files are open, like /health, so that a browser without a token can
// load the sign-in prompt.
//
// Invariants: the files are served with a Content-Security-Policy that
// allows only this origin ('self': no inline script, no eval), so a
// value shown by the key inspector can't run as code; values are put in
// the page as text, never as HTML. A destructive action (stage, commit,
// leave, remove) is offered only when GET /auth/whoami answers the admin
// role, and the API refuses it anyway for any other role.
//
// How to use: mount Handler at /ui/:
//
//	mux.Handle("GET /ui/", ui.Handler())
//
// In a cluster with tokens, the page asks for one, keeps it in the
// tab's sessionStorage and sends it as "Authorization: Bearer <token>";
// a link may carry it in the fragment (/ui/#token=...), which never
// reaches a server and is removed from the address bar once read.
package ui
