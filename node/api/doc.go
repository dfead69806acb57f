// Package api is dynago's HTTP contract (DESIGN.md §5) as Go types: the
// header and query parameter names, the paths, and the JSON bodies of
// every endpoint, requests and answers, errors included. The server
// (package node) encodes these types, and the Go client (package client)
// and the CLI (cmd/dynago) decode them, so the three can't drift apart.
//
// What it must not import or do: anything but the standard library (no
// node, no client, no vclock: the causal context is an opaque token here).
// It holds data and names only: no I/O, no HTTP handlers, no goroutines,
// no validation beyond what a type says.
//
// Invariants:
//   - The JSON these types encode is the contract. Renaming a field,
//     changing its JSON name, its type or its omitempty/omitzero, or
//     removing a field is a breaking change for every client and script;
//     adding a field is not. Struct field order decides the order of keys
//     in the body, which no client may rely on.
//   - A field without omitempty is always sent: a list the server has
//     nothing for is [] (or null where the field's doc says so), never
//     absent. Details of an Error are pointers or omitzero lists so that
//     "absent" and "zero" stay different: acks=0 is not "no acks reported".
//   - []byte fields are standard base64 in JSON (encoding/json's rule);
//     sibling values travel that way in every JSON answer.
//   - The X-Dynago-Context token is opaque to clients: send back exactly
//     what a read or write answered.
//
// How to use: a server writes a value with encoding/json, e.g.
//
//	json.NewEncoder(w).Encode(api.Health{Status: api.StatusOK})
//
// and a client decodes the body into the same type:
//
//	var ms []api.Member
//	err := json.Unmarshal(body, &ms)
//
// Failures of every endpoint share one body, Error: {"error": message,
// "code": word} plus the details of a quorum failure. Key paths are built
// with KeyPath, which escapes any key of 1 to MaxKeyBytes bytes.
package api
