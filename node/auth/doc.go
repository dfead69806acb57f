// Package auth is client authentication for a node: a token file of
// hashed tokens, each mapped to a principal's name and a role, and an
// Authenticator that answers who a token belongs to (README "Tokens and
// roles").
//
// # What it is
//
// A token file has one token a line:
//
//	# comments and blank lines are ignored
//	sha256:<64 hex digits: SHA-256 of the token> <role> <name>
//
// The file never holds a token itself, only its hash, so reading the
// file (a backup, a config repository) does not give away credentials;
// a token is a 256-bit random string (NewToken), so an unsalted hash is
// enough. Roles are ordered, read < write < admin (Role.Allows): read
// reads keys, write also writes and deletes them, admin does everything,
// including what no lower role names. `dynago token create` makes a
// token, prints it once and appends its line with Append (mode 0600).
//
// # What it must not do
//
// It imports nothing of the module and only the standard library. It
// never logs, never holds a token after hashing it, and compares hashes
// in constant time (Table.Lookup checks every entry). Parse, Table and
// Role are pure; only Open, Reload and Append touch the file system, and
// nothing here starts a goroutine or watches a signal: node and
// cmd/dynago decide when to reload (the agent does on SIGHUP).
//
// # Invariants
//
//   - A *Table is immutable; an Authenticator's current table only ever
//     changes to a table that parsed: a bad file is refused whole and the
//     old table stays in use.
//   - A parsed table has at least one token and no hash twice; every
//     error names its line (LineError).
//
// # How to use it
//
//	a, err := auth.Open(path)     // fails on a missing or bad file
//	p, ok := a.Authenticate(tok)  // p.Name, p.Role
//	if ok && p.Role.Allows(auth.RoleWrite) { … }
//	err = a.Reload()              // on SIGHUP; err: kept the old table
package auth
