package node

import (
	"crypto/tls"

	"github.com/tidwall/redcon"

	"github.com/dynago/dynago/node/auth"
)

// RESP error replies of authentication: Redis's own texts, which
// clients and their users recognise.
const (
	respNoAuth    = "NOAUTH Authentication required."
	respWrongPass = "WRONGPASS invalid username-password pair or user is disabled."
	respNoPass    = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
	respHelloAuth = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time"
)

// authorize checks, when authentication is on (Config.Auth), that conn
// may run c (nil: a command dynago lacks, which needs authentication to
// be told so): a connection that has not authenticated gets NOAUTH for
// everything but AUTH, HELLO, PING and QUIT, and one whose role is below
// the command's (respCommand.role) NOPERM. Refusals are logged and
// counted.
func (r *respAPI) authorize(conn redcon.Conn, c *respCommand, name string) error {
	if !r.cfg.authOn() || (c != nil && c.role == auth.RoleNone) {
		return nil
	}
	rc := r.certLogin(conn)
	switch {
	case !rc.authed:
		r.refused(conn, "unauthenticated", name)
		return respErrf(respNoAuth)
	case c != nil && !rc.principal.Role.Allows(c.role):
		r.refused(conn, "forbidden", name)
		return respErrf("NOPERM User %s has no permissions to run the '%s' command (its role is %s; it needs %s)",
			rc.principal.Name, c.name, rc.principal.Role, c.role)
	}
	return nil
}

// certLogin authenticates conn by its verified client certificate
// (certPrincipal), once, if it has not authenticated, and returns its
// state. The TLS handshake is over by then: a command was read.
func (r *respAPI) certLogin(conn redcon.Conn) *respConn {
	rc := conn.Context().(*respConn)
	if rc.authed || !r.cfg.clientCertsVerified() {
		return rc
	}
	c := conn.NetConn()
	for {
		switch t := c.(type) {
		case *respGuardConn:
			c = t.Conn
			continue
		case *tls.Conn:
			// A certificate that names no role leaves the connection to
			// AUTH, as HTTP leaves such a request to its token.
			cs := t.ConnectionState()
			if p, ok := certPrincipal(&cs); ok && p.Role != auth.RoleNone {
				rc.principal, rc.authed = p, true
			}
		}
		return rc
	}
}

// refused logs and counts a command refused for its connection's
// credentials (never the token).
func (r *respAPI) refused(conn redcon.Conn, reason, command string) {
	rc := conn.Context().(*respConn)
	r.metrics.authRefused.WithLabelValues("resp", reason).Inc()
	log := r.log // a principal refused for its role: every time
	if reason == "unauthenticated" {
		log = r.quietLog // anyone can: rate-limited (one line per 10 s with a count)
	}
	log.Warn("command refused", "reason", reason, "principal", rc.principal.Name, "command", command,
		"conn", rc.id, "remote", conn.RemoteAddr())
}

// login authenticates conn with token (AUTH, HELLO AUTH). user is
// ignored when it is empty or Redis's "default"; any other must be the
// token's name. A failed login keeps what the connection had.
func (r *respAPI) login(conn redcon.Conn, user, token string, command string) error {
	if r.cfg.Auth == nil {
		return respErrf(respNoPass)
	}
	p, ok := r.cfg.Auth.Authenticate(token)
	if !ok || (user != "" && user != "default" && user != p.Name) {
		r.refused(conn, "unauthenticated", command)
		return respErrf(respWrongPass)
	}
	rc := conn.Context().(*respConn)
	rc.principal, rc.authed = p, true
	return nil
}

// cmdAuth is AUTH token or AUTH user token.
func (r *respAPI) cmdAuth(conn redcon.Conn, args [][]byte) error {
	var user, token string
	switch len(args) {
	case 2:
		token = string(args[1])
	case 3:
		user, token = string(args[1]), string(args[2])
	default:
		return errRESPSyntax
	}
	if err := r.login(conn, user, token, "auth"); err != nil {
		return err
	}
	conn.WriteString("OK")
	return nil
}

// helloAuth is HELLO's authentication: AUTH user pass if given (creds
// not nil), else a check that the connection already authenticated.
func (r *respAPI) helloAuth(conn redcon.Conn, creds [][]byte) error {
	if creds != nil {
		return r.login(conn, string(creds[0]), string(creds[1]), "hello")
	}
	if r.cfg.authOn() && !r.certLogin(conn).authed {
		r.refused(conn, "unauthenticated", "hello")
		return respErrf(respHelloAuth)
	}
	return nil
}
