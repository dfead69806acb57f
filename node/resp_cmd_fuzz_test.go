package node

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/redcon"

	"github.com/dynago/dynago/node/auth"
)

// respRecorder is a redcon.Conn that keeps the replies written to it, so
// a command runs through respAPI.serveCommand without a socket. A method
// it lacks (the embedded nil Conn's) panics when called, which
// serveCommand recovers and the fuzzer reports.
type respRecorder struct {
	redcon.Conn
	out    []byte
	closed bool
	ctx    any
}

func (c *respRecorder) RemoteAddr() string       { return "fuzz" }
func (c *respRecorder) Close() error             { c.closed = true; return nil }
func (c *respRecorder) WriteError(msg string)    { c.out = redcon.AppendError(c.out, msg) }
func (c *respRecorder) WriteString(s string)     { c.out = redcon.AppendString(c.out, s) }
func (c *respRecorder) WriteBulk(b []byte)       { c.out = redcon.AppendBulk(c.out, b) }
func (c *respRecorder) WriteBulkString(s string) { c.out = redcon.AppendBulkString(c.out, s) }
func (c *respRecorder) WriteInt(n int)           { c.out = redcon.AppendInt(c.out, int64(n)) }
func (c *respRecorder) WriteInt64(n int64)       { c.out = redcon.AppendInt(c.out, n) }
func (c *respRecorder) WriteUint64(n uint64)     { c.out = redcon.AppendUint(c.out, n) }
func (c *respRecorder) WriteArray(n int)         { c.out = redcon.AppendArray(c.out, n) }
func (c *respRecorder) WriteNull()               { c.out = redcon.AppendNull(c.out) }
func (c *respRecorder) WriteRaw(b []byte)        { c.out = append(c.out, b...) }
func (c *respRecorder) WriteAny(v any)           { c.out = redcon.AppendAny(c.out, v) }
func (c *respRecorder) Context() any             { return c.ctx }
func (c *respRecorder) SetContext(v any)         { c.ctx = v }

// readRESPReply reads one RESP2 reply from the front of b and returns the
// rest.
func readRESPReply(b []byte) ([]byte, error) {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || len(line) == 0 {
		return nil, fmt.Errorf("no reply line in %q", b)
	}
	switch line[0] {
	case '+', '-':
		if bytes.ContainsAny(line[1:], "\r\n") {
			return nil, fmt.Errorf("a line break inside %q", line)
		}
		return rest, nil
	case ':':
		if _, err := strconv.ParseInt(string(line[1:]), 10, 64); err != nil {
			return nil, fmt.Errorf("integer reply %q: %v", line, err)
		}
		return rest, nil
	case '$':
		n, err := strconv.Atoi(string(line[1:]))
		switch {
		case err != nil || n < -1:
			return nil, fmt.Errorf("bulk length %q", line)
		case n == -1:
			return rest, nil
		case len(rest) < n+2 || string(rest[n:n+2]) != "\r\n":
			return nil, fmt.Errorf("bulk of %d bytes cut short: %q", n, rest)
		}
		return rest[n+2:], nil
	case '*':
		n, err := strconv.Atoi(string(line[1:]))
		if err != nil || n < -1 {
			return nil, fmt.Errorf("array length %q", line)
		}
		for range n {
			if rest, err = readRESPReply(rest); err != nil {
				return nil, err
			}
		}
		return rest, nil
	}
	return nil, fmt.Errorf("unknown reply type in %q", line)
}

// fuzzRESPTokens are the tokens (testAuth's) a fuzz session authenticates
// with before its command, by role; none for RoleNone.
var fuzzRESPTokens = map[auth.Role]string{auth.RoleRead: tokRead, auth.RoleWrite: tokWrite, auth.RoleAdmin: tokAdmin}

// FuzzRESPCommand runs arbitrary commands (name and arguments, as the
// framer hands them over) through serveCommand on a running one-node
// store, with authentication off and on, on a connection authenticated
// as each role or not at all. Every command gets exactly one well-formed
// RESP reply and no panic; an error reply has a known prefix and is
// never "ERR internal"; a command a connection may not run is refused
// (NOAUTH, NOPERM) whatever its arguments; an unknown command and a
// wrong arity get Redis's errors; only QUIT closes the connection; only a
// successful AUTH or HELLO changes who the connection is, and only a
// successful HELLO SETNAME or CLIENT SETNAME its name; and the connection
// still answers PING afterwards.
//
// session picks the node (bit 0: authentication on) and the role the
// connection authenticates as first (bits 1-2, with authentication on:
// none, read, write, admin). argv holds the arguments after the name,
// separated by NUL bytes.
func FuzzRESPCommand(f *testing.F) {
	nodes := startCluster(f, clusterOpts{n: 2, noJoin: true, inMemory: true, resp: true, mutate: func(i int, c *Config) {
		alone(i, c)
		c.MaxKeyBytes, c.MaxValueBytes, c.MaxSiblings = 32, 64, 4
		if i == 1 {
			c.Auth = testAuth(f)
		}
	}})
	for _, s := range []struct {
		session uint8
		name    string
		argv    string
	}{
		{0, "PING", ""},
		{1, "ping", "hello"},
		{0, "PING", "a\x00b"},
		{1, "ECHO", "x"},
		{3, "ECHO", "x"},
		{1, "AUTH", tokWrite},
		{1, "AUTH", "app\x00" + tokWrite},
		{1, "AUTH", "dash\x00" + tokWrite},
		{1, "AUTH", "not-a-token"},
		{1, "AUTH", "a\x00b\x00c"},
		{0, "AUTH", tokWrite},
		{1, "HELLO", "2\x00AUTH\x00default\x00" + tokAdmin + "\x00SETNAME\x00conn"},
		{1, "HELLO", "2\x00AUTH\x00default"},
		{3, "HELLO", "2\x00SETNAME\x00x"},
		{0, "HELLO", "3"},
		{0, "HELLO", "two"},
		{0, "HELLO", "2\x00SETNAME"},
		{0, "HELLO", "2\x00BOGUS"},
		{0, "HELLO", ""},
		{0, "CLIENT", "SETNAME\x00me"},
		{3, "CLIENT", "GETNAME"},
		{0, "CLIENT", "SETINFO\x00lib-name\x00x"},
		{0, "client", "id"},
		{0, "CLIENT", "ID\x00extra"},
		{0, "CLIENT", "KILL\x00x"},
		{0, "CONFIG", "GET\x00maxmemory"},
		{0, "CONFIG", "GET"},
		{0, "CONFIG", "SET\x00a\x00b"},
		{0, "COMMAND", ""},
		{0, "COMMAND", "COUNT"},
		{0, "COMMAND", "INFO\x00get\x00nosuch\x00DYNAGO.PUT"},
		{0, "COMMAND", "DOCS"},
		{0, "COMMAND", "LIST"},
		{0, "SELECT", "0"},
		{0, "SELECT", "1"},
		{0, "INFO", "server\x00keyspace\x00bogus"},
		{1, "QUIT", ""},
		{0, "SET", "k\x00v"},
		{5, "SET", "k\x00v"},
		{3, "SET", "k\x00v"},
		{0, "SET", "k\x00v\x00EX\x0010"},
		{0, "SET", strings.Repeat("k", 33) + "\x00v"},
		{0, "SET", "k\x00" + strings.Repeat("v", 65)},
		{0, "GET", "k"},
		{0, "GET", ""},
		{0, "GET", "a\x00b"},
		{0, "MSET", "a\x001\x00b\x002"},
		{0, "MSET", "a\x001\x00b"},
		{0, "MGET", "a\x00b\x00missing"},
		{0, "EXISTS", "a\x00missing"},
		{0, "DEL", "a\x00missing"},
		{0, "DYNAGO.PUT", "s\x00v1"},
		{0, "DYNAGO.PUT", "s\x00v\x00CONTEXT\x00garbage!\x00W\x00all"},
		{0, "DYNAGO.PUT", "s\x00v\x00W\x009"},
		{0, "DYNAGO.GET", "s\x00R\x001\x00PR\x00one"},
		{0, "DYNAGO.GET", "s\x00R"},
		{0, "NOSUCH", "a\x00b\x00c\x00d"},
		{1, "FLUSHALL", ""},
		{0, "", ""},
		{0, "G\r\nET", "k"},
	} {
		f.Add(s.session, s.name, []byte(s.argv))
	}
	f.Fuzz(func(t *testing.T, session uint8, name string, argv []byte) {
		args := [][]byte{[]byte(name)}
		if len(argv) > 0 {
			args = append(args, bytes.Split(argv, []byte{0})...)
		}
		if len(args) > 64 {
			return // as many keys as MGET needs to fan out; more only slows the fuzzer
		}
		authOn := session&1 == 1
		r := nodes[session&1].node.resp
		rc := &respConn{id: 1}
		conn := &respRecorder{ctx: rc}
		run := func(args ...[]byte) []byte {
			conn.out = nil
			r.serveCommand(conn, redcon.Command{Args: args})
			return conn.out
		}
		if role := auth.Role(session >> 1 & 3); authOn && role != auth.RoleNone {
			if got := run([]byte("AUTH"), []byte(fuzzRESPTokens[role])); string(got) != "+OK\r\n" || !rc.authed || rc.principal.Role != role {
				t.Fatalf("AUTH with the %s token: %q (authed %v as %+v)", role, got, rc.authed, rc.principal)
			}
		}
		before := *rc

		out := run(args...)
		if rest, err := readRESPReply(out); err != nil || len(rest) > 0 {
			t.Fatalf("%q: replies %q: not one RESP reply (%v, %d bytes after it)", args, out, err, len(rest))
		}
		reply, isErr := "", out[0] == '-'
		if isErr {
			reply = strings.TrimSuffix(string(out[1:]), "\r\n")
			if strings.Contains(reply, "recovered from a panic") {
				t.Fatalf("%q: panicked: %s", args, reply)
			}
			if respErrorPrefix(reply) == "other" || strings.HasPrefix(reply, "ERR internal") {
				t.Fatalf("%q: error reply %q", args, reply)
			}
		}
		c := findRESPCommand(respCommandName(args[0]))
		cmd := ""
		if c != nil {
			cmd = c.name
		}
		if conn.closed != (cmd == "quit") {
			t.Fatalf("%q: connection closed %v", args, conn.closed)
		}

		// Authorization comes first.
		mustRefuse := ""
		switch {
		case !authOn || (c != nil && c.role == auth.RoleNone):
		case !before.authed:
			mustRefuse = respNoAuth
		case c != nil && !before.principal.Role.Allows(c.role):
			mustRefuse = "NOPERM "
		}
		switch {
		case mustRefuse != "":
			if !strings.HasPrefix(reply, mustRefuse) {
				t.Fatalf("%q as %+v: %q, want %q", args, before, out, mustRefuse)
			}
		case strings.HasPrefix(reply, "NOAUTH") && !(authOn && cmd == "hello"), strings.HasPrefix(reply, "NOPERM"):
			// HELLO without AUTH on a connection not authenticated is
			// NOAUTH (respHelloAuth); nothing else the connection may run.
			t.Fatalf("%q as %+v: refused %q", args, before, reply)
		case c == nil:
			if !strings.HasPrefix(reply, "ERR unknown command ") {
				t.Fatalf("%q: %q, want an unknown command error", args, out)
			}
		case (c.arity > 0 && len(args) != c.arity) || (c.arity < 0 && len(args) < -c.arity):
			if reply != errRESPArity(c.name).Msg {
				t.Fatalf("%q: %q, want an arity error", args, out)
			}
		}

		// Who the connection is and its name change only as documented.
		if rc.id != before.id {
			t.Fatalf("%q: connection id %d became %d", args, before.id, rc.id)
		}
		if (rc.authed != before.authed || rc.principal != before.principal) && (isErr || (cmd != "auth" && cmd != "hello")) {
			t.Fatalf("%q (reply %q): connection went from %+v to %+v", args, out, before, *rc)
		}
		if authOn && !isErr && (cmd == "auth" || cmd == "hello") && !rc.authed {
			t.Fatalf("%q: answered %q but not authenticated", args, out)
		}
		if rc.name != before.name && (isErr || (cmd != "client" && cmd != "hello")) {
			t.Fatalf("%q (reply %q): connection name went from %q to %q", args, out, before.name, rc.name)
		}

		if cmd != "quit" {
			if got := run([]byte("PING")); string(got) != "+PONG\r\n" {
				t.Fatalf("PING after %q: %q", args, got)
			}
		}
	})
}

// The recorder's reader agrees with what redcon writes, and refuses what
// it would not.
func TestReadRESPReply(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"+OK\r\n", true},
		{"-ERR x\r\n", true},
		{":-12\r\n", true},
		{"$-1\r\n", true},
		{"$3\r\nabc\r\n", true},
		{"*2\r\n$0\r\n\r\n*1\r\n:1\r\n", true},
		{"*0\r\n", true},
		{"", false},
		{"+OK", false},
		{"$3\r\nab\r\n", false},
		{"*2\r\n:1\r\n", false},
		{":x\r\n", false},
		{"?\r\n", false},
	} {
		rest, err := readRESPReply([]byte(tc.in))
		if ok := err == nil && len(rest) == 0; ok != tc.ok {
			t.Errorf("readRESPReply(%q) = %q, %v; want ok=%v", tc.in, rest, err, tc.ok)
		}
	}
}
