package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Role is what a principal may do. Roles are ordered: each allows what
// the ones below it allow.
type Role int8

const (
	// RoleNone allows nothing that needs a role (the zero value; the
	// routes open to everyone need none).
	RoleNone Role = iota
	// RoleRead allows reading keys (HTTP GET /kv/*; RESP GET, EXISTS,
	// MGET, DYNAGO.GET).
	RoleRead
	// RoleWrite adds writing and deleting keys (HTTP PUT and DELETE
	// /kv/*; RESP SET, DEL, MSET, DYNAGO.PUT).
	RoleWrite
	// RoleAdmin adds everything else: cluster operations, debug views,
	// and any route or command not given a lower role.
	RoleAdmin
)

// String is the role's name in token files: read, write, admin ("none"
// for RoleNone).
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return fmt.Sprintf("Role(%d)", int8(r))
}

// Allows reports whether a principal with role r may do what needs
// role need.
func (r Role) Allows(need Role) bool { return r >= need }

// ParseRole parses a role's name: read, write or admin.
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("auth: unknown role %q: want read, write or admin", s)
}

// Principal is who made a request: the name a token file gives a token
// (or, later, a client certificate), and its role.
type Principal struct {
	Name string
	Role Role
}

// HashPrefix starts every hash in a token file: the algorithm, so a
// later format can name another.
const HashPrefix = "sha256:"

// MaxLineBytes bounds one line of a token file: a hash, a role and a
// name fit many times over; a longer line is a mistake (a pasted key,
// a binary file).
const MaxLineBytes = 4096

// maxNameBytes bounds a principal's name: it goes into every log line
// about its requests.
const maxNameBytes = 128

type entry struct {
	sum [sha256.Size]byte
	p   Principal
}

// Table is a parsed token file: token hashes mapped to principals. It is
// immutable, so a *Table may be shared by any number of goroutines.
type Table struct {
	entries []entry
}

// Len is the number of tokens in the table.
func (t *Table) Len() int { return len(t.entries) }

// Lookup returns the principal of token. It hashes token and compares
// the hash with every entry's in constant time, without stopping at a
// match, so neither the time taken nor its variation tells which
// entry matched or how much of a hash did.
func (t *Table) Lookup(token string) (Principal, bool) {
	if token == "" {
		return Principal{}, false
	}
	sum := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].sum[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return t.entries[found].p, true
}

// LineError is a token file's line that does not parse.
type LineError struct {
	Line int // from 1
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("auth: token file line %d: %s", e.Line, e.Msg) }

// ErrNoTokens is a token file with no token: with authentication on,
// nobody could do anything, which is a mistake rather than a mode.
var ErrNoTokens = errors.New("auth: the token file has no tokens")

// Parse parses a token file (README "Tokens and roles"; doc.go): one
// token a line,
//
//	sha256:<64 hex digits of SHA-256 of the token> <role> <name>
//
// fields separated by spaces or tabs, blank lines and lines starting
// with # ignored. A name is 1 to 128 bytes of letters, digits and
// ._@:- (it appears in logs). Two lines with the same hash are an
// error. An error names its line (a *LineError).
func Parse(data []byte) (*Table, error) {
	t := &Table{}
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 512), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		e, msg := parseLine(s)
		if msg != "" {
			return nil, &LineError{Line: line, Msg: msg}
		}
		if prev, dup := seen[e.sum]; dup {
			return nil, &LineError{Line: line, Msg: fmt.Sprintf("the same token hash as line %d", prev)}
		}
		seen[e.sum] = line
		t.entries = append(t.entries, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &LineError{Line: line + 1, Msg: fmt.Sprintf("longer than %d bytes", MaxLineBytes)}
		}
		return nil, fmt.Errorf("auth: token file: %w", err)
	}
	if len(t.entries) == 0 {
		return nil, ErrNoTokens
	}
	return t, nil
}

func parseLine(s string) (entry, string) {
	f := strings.Fields(s)
	if len(f) != 3 {
		return entry{}, fmt.Sprintf("want 3 fields (sha256:<hex> <role> <name>), got %d", len(f))
	}
	hexSum, ok := strings.CutPrefix(f[0], HashPrefix)
	if !ok {
		return entry{}, fmt.Sprintf("the hash must start with %q (the file holds hashes, never tokens; `dynago token create` writes lines)", HashPrefix)
	}
	var e entry
	if len(hexSum) != 2*sha256.Size {
		return entry{}, fmt.Sprintf("the hash must be %d hex digits, got %d characters", 2*sha256.Size, len(hexSum))
	}
	if _, err := hex.Decode(e.sum[:], []byte(hexSum)); err != nil {
		return entry{}, "the hash is not hex"
	}
	role, err := ParseRole(f[1])
	if err != nil {
		return entry{}, fmt.Sprintf("unknown role %q: want read, write or admin", f[1])
	}
	if err := CheckName(f[2]); err != nil {
		return entry{}, strings.TrimPrefix(err.Error(), "auth: ")
	}
	e.p = Principal{Name: f[2], Role: role}
	return e, ""
}

// CheckName checks a principal's name: 1 to 128 bytes of ASCII letters,
// digits and ._@:-.
func CheckName(name string) error {
	if name == "" || len(name) > maxNameBytes {
		return fmt.Errorf("auth: a name must be 1 to %d bytes, got %d", maxNameBytes, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._@:-", c) >= 0) {
			return fmt.Errorf("auth: name %q: only letters, digits and ._@:- are allowed", name)
		}
	}
	return nil
}

// Line returns the token file line of token: its hash, role and name.
func Line(token string, role Role, name string) string {
	sum := sha256.Sum256([]byte(token))
	return HashPrefix + hex.EncodeToString(sum[:]) + " " + role.String() + " " + name
}
