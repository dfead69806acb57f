package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := Line("tok-r", RoleRead, "reader")
	for _, tc := range []struct {
		name, file string
		line       int    // expected error line; 0: parses
		msg        string // part of the error
	}{
		{name: "one", file: good + "\n"},
		{name: "comments and blanks", file: "# tokens\n\n  " + good + "  \n\t# more\n"},
		{name: "no newline at end", file: good},
		{name: "tabs", file: strings.ReplaceAll(good, " ", "\t")},
		{name: "empty", file: "", msg: "no tokens"},
		{name: "only comments", file: "# x\n\n", msg: "no tokens"},
		{name: "two fields", file: "# c\n" + "sha256:00 read\n", line: 2, msg: "want 3 fields"},
		{name: "plain token", file: "tok-r read reader\n", line: 1, msg: "must start with"},
		{name: "short hash", file: "sha256:abcd read r\n", line: 1, msg: "64 hex digits"},
		{name: "not hex", file: "sha256:" + strings.Repeat("zz", 32) + " read r\n", line: 1, msg: "not hex"},
		{name: "bad role", file: strings.Replace(good, " read ", " root ", 1), line: 1, msg: `unknown role "root"`},
		{name: "bad name", file: strings.Replace(good, "reader", "re/ader", 1), line: 1, msg: "only letters"},
		{name: "duplicate", file: good + "\n" + strings.Replace(good, "reader", "other", 1) + "\n", line: 2, msg: "same token hash as line 1"},
		{name: "long line", file: good + "\n" + strings.Repeat("x", MaxLineBytes+1) + "\n", line: 2, msg: "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := Parse([]byte(tc.file))
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if p, ok := tab.Lookup("tok-r"); !ok || p != (Principal{Name: "reader", Role: RoleRead}) {
					t.Fatalf("Lookup(tok-r) = %v, %v", p, ok)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Parse error %v, want one containing %q", err, tc.msg)
			}
			var le *LineError
			if tc.line > 0 && (!errors.As(err, &le) || le.Line != tc.line) {
				t.Fatalf("Parse error %v, want a LineError at line %d", err, tc.line)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	file := Line("a", RoleAdmin, "root") + "\n" + Line("w", RoleWrite, "app") + "\n"
	tab, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]Principal{"a": {"root", RoleAdmin}, "w": {"app", RoleWrite}} {
		if p, ok := tab.Lookup(tok); !ok || p != want {
			t.Errorf("Lookup(%q) = %v, %v; want %v", tok, p, ok, want)
		}
	}
	for _, tok := range []string{"", "b", "A", "a ", strings.TrimPrefix(Line("a", RoleAdmin, "x"), HashPrefix)[:64]} {
		if p, ok := tab.Lookup(tok); ok {
			t.Errorf("Lookup(%q) = %v, want no principal", tok, p)
		}
	}
}

func TestRoleOrder(t *testing.T) {
	if !RoleAdmin.Allows(RoleWrite) || !RoleWrite.Allows(RoleRead) || RoleRead.Allows(RoleWrite) || RoleWrite.Allows(RoleAdmin) || !RoleRead.Allows(RoleNone) {
		t.Fatal("roles are not ordered read < write < admin")
	}
	for _, r := range []Role{RoleRead, RoleWrite, RoleAdmin} {
		if got, err := ParseRole(r.String()); err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v", r, got, err)
		}
	}
}

// TestReloadKeepsTableOnBadFile: a reload swaps in a new file's table,
// and a file that does not parse (or is gone) leaves the old one in use.
func TestReloadKeepsTableOnBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	if err := Append(path, "t1", RoleRead, "one"); err != nil {
		t.Fatal(err)
	}
	a, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Append(path, "t2", RoleWrite, "two"); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Authenticate("t2"); ok {
		t.Fatal("t2 authenticated before the reload")
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if p, ok := a.Authenticate("t2"); !ok || p.Role != RoleWrite {
		t.Fatalf("after reload Authenticate(t2) = %v, %v", p, ok)
	}
	if err := os.WriteFile(path, []byte("t3 admin three\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("Reload of a bad file: %v, want a line 1 error", err)
	}
	if _, ok := a.Authenticate("t2"); !ok {
		t.Fatal("a bad file replaced the table in use")
	}
	os.Remove(path)
	if err := a.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if _, ok := a.Authenticate("t1"); !ok || a.Tokens() != 2 {
		t.Fatal("a missing file replaced the table in use")
	}
}

func TestAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	tok := NewToken()
	if len(tok) < 50 || tok == NewToken() {
		t.Fatalf("NewToken() = %q: too short or not random", tok)
	}
	if err := Append(path, tok, RoleAdmin, "ops"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), tok) {
		t.Fatal("the token file holds the token itself")
	}
	if err := Append(path, tok, RoleRead, "again"); err == nil || !strings.Contains(err.Error(), "same token hash") {
		t.Fatalf("Append of a token already there: %v", err)
	}
	if err := Append(path, "x", RoleNone, "n"); err == nil {
		t.Fatal("Append without a role succeeded")
	}
	if err := Append(path, "x", RoleRead, "bad name"); err == nil {
		t.Fatal("Append of a bad name succeeded")
	}
	if a, err := Open(path); err != nil || a.Tokens() != 1 {
		t.Fatalf("Open after refused appends: %v", err)
	}
}
