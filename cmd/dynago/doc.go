// Command dynago is the dynago binary: the server (`dynago agent`), a local
// cluster in one process (`dynago demo`), a load generator (`dynago bench`)
// and client commands that talk to any node over the HTTP API (get, put,
// delete, members, ring, join, leave (which follows the handoff to its end),
// remove, hints, aae, transfers, health (a container's health check);
// DESIGN.md §5, §6), sending --token or
// DYNAGO_TOKEN as a bearer token, and `dynago token create`, which makes
// client tokens for an agent's --token-file (reloaded on SIGHUP).
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
//     or extra argument, a bad value, including one from the environment).
//     exitCode is the only place that decides them; usage errors are
//     *usageError, everything else is a failure.
//   - Every flag also reads DYNAGO_<FLAG>, upper-cased with '-' replaced by
//     '_' (--data-dir reads DYNAGO_DATA_DIR); withEnv sets this for every
//     flag, so none can forget. A flag on the command line beats the
//     environment.
//   - The server's error message, code and extra fields are always shown
//     on failure; -v prints the X-Dynago-Report header; --json prints the
//     server's JSON on stdout.
//   - Flags go before positional arguments (Go's flag parsing stops at the
//     first argument); a command's own flag after an argument is a usage
//     error, never silently taken as a value.
//
// How to use: see `dynago --help` and `dynago COMMAND --help`. Tests build
// the app with newApp, set Reader/Writer/ErrWriter, and call run.
package main
