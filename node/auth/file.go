package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync/atomic"
)

// Authenticator answers who a token belongs to, from the table of a
// token file. It holds the current table behind an atomic pointer:
// Authenticate never locks, and Reload swaps in a new table only if the
// file parses, so a bad edit keeps the tokens that worked. It is safe
// for concurrent use.
type Authenticator struct {
	path  string
	table atomic.Pointer[Table]
}

// Open reads and parses the token file at path.
func Open(path string) (*Authenticator, error) {
	a := &Authenticator{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// New returns an Authenticator on t with no file to reload (Reload
// fails): tests, and callers that build the table themselves.
func New(t *Table) *Authenticator {
	a := &Authenticator{}
	a.table.Store(t)
	return a
}

// Path is the token file's path ("" for New's).
func (a *Authenticator) Path() string { return a.path }

// Reload reads and parses the token file again and, if it parses,
// makes its table the current one. On an error the table in use is
// kept and the error says why the file was refused.
func (a *Authenticator) Reload() error {
	if a.path == "" {
		return fmt.Errorf("auth: no token file to reload")
	}
	b, err := readFile(a.path)
	if err != nil {
		return err
	}
	t, err := Parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", a.path, err)
	}
	a.table.Store(t)
	return nil
}

// maxFileBytes bounds a token file: a million tokens' lines fit; more is
// not a token file.
const maxFileBytes = 256 << 20

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: token file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: token file %s: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("auth: token file %s is larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}

// Tokens is the number of tokens in the current table.
func (a *Authenticator) Tokens() int { return a.table.Load().Len() }

// Authenticate returns the principal of token in the current table.
func (a *Authenticator) Authenticate(token string) (Principal, bool) {
	return a.table.Load().Lookup(token)
}

// tokenPrefix starts every token `dynago token create` makes, so a
// leaked one is recognisable (secret scanners, logs).
const tokenPrefix = "dynago_"

// NewToken returns a new random token: 256 bits from crypto/rand.
func NewToken() string {
	return tokenPrefix + rand.Text() + rand.Text() // 2×128 bits, base32
}

// Append appends the line of token (Line) to the token file at path,
// creating it with mode 0600 (only its owner reads who may do what). It
// checks that the file, with the line added, still parses, and adds no
// line otherwise.
func Append(path, token string, role Role, name string) error {
	if role == RoleNone {
		return fmt.Errorf("auth: a token needs a role: read, write or admin")
	}
	if err := CheckName(name); err != nil {
		return err
	}
	line := Line(token, role, name)
	old, err := readFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	prefix := ""
	if len(old) > 0 && old[len(old)-1] != '\n' {
		prefix = "\n"
	}
	if len(old) > 0 {
		if _, err := Parse(append(append(old, prefix...), line+"\n"...)); err != nil {
			return fmt.Errorf("%s: %w (fix the file first; nothing was added)", path, err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("auth: token file: %w", err)
	}
	if _, err := f.WriteString(prefix + line + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("auth: token file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("auth: token file %s: %w", path, err)
	}
	return f.Close()
}
