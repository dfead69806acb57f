// Command dynago is the dynago binary: the server (`dynago agent`), a local
// cluster in one process (`dynago demo`), a load generator (`dynago bench`)
// and client commands that talk to any node over the HTTP API (get, put,
// delete, members, ring, join, leave (which follows the handoff to its end),
// remove, hints, aae, transfers, health (a container's health check);
// docs/http-api.md, docs/cli.md), `dynago version` (internal/buildinfo),
// sending --token or
// DYNAGO_TOKEN as a bearer token, and `dynago token create`, which makes
// client tokens for an agent's --token-file (reloaded on SIGHUP).
// `dynago backup` and `dynago restore` (backup.go) move backups in
// node/backup's format: over HTTP streams of their own (package client
// reads whole answers), or, with restore --data-dir, into a stopped
// node's store opened as the agent opens it (node.RestoreDataDir).
//
// What it must not do: hold protocol logic (agent only maps flags to a
// node.Config and runs node; client commands only speak the HTTP contract
// through package client), call os.Exit anywhere but main, or read flags
// or environment variables outside its commands' flag definitions.
//
// Invariants:
//   - Exit codes: 0 on success, 1 when a request failed (a server error, an
//     unmet quorum, a refused connection, a key not found, a bench with any
//     failed request), 2 on bad usage (an unknown flag or command, a missing
//     or extra argument, a bad value, including one from the environment,
//     and a request the node refused as malformed: a 400 with the
//     contract's error body), 3 when --addr answered but is not a dynago
//     node (*notDynago: no X-Dynago-Report header, no dynago error body).
//     exitCode is the only place that decides them; usage errors are
//     *usageError, everything else is a failure.
//   - Every flag also reads DYNAGO_<FLAG>, upper-cased with '-' replaced by
//     '_' (--data-dir reads DYNAGO_DATA_DIR); withEnv sets this for every
//     flag that names no variable itself, so none can forget. The one that
//     does: the client commands' --timeout reads DYNAGO_CLIENT_TIMEOUT,
//     apart from the agent's DYNAGO_TIMEOUT. A flag on the command line
//     beats the environment.
//   - The server's error message, code and extra fields are always shown
//     on failure; a failed write says whether it is definite or
//     indeterminate; -v prints the X-Dynago-Report header; --json prints
//     JSON on stdout for every outcome (the server's, or jsonOutcomes'
//     {"error", "code", "exit"}).
//   - Flags go before positional arguments (Go's flag parsing stops at the
//     first argument); a command's own flag after an argument is a usage
//     error, never silently taken as a value.
//
// How to use: see `dynago --help` and `dynago COMMAND --help`. Tests build
// the app with newApp, set Reader/Writer/ErrWriter, and call run.
package main
