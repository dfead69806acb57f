package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/dynago/dynago/node/auth"
	"github.com/dynago/dynago/node/security"
)

// routeRoles is the role each HTTP route needs, by its ServeMux pattern
// (routes): the one place this is decided. A route not listed needs
// admin (cluster operations, /debug/*, and any route added later), so a
// new route is closed until someone opens it here.
var routeRoles = map[string]auth.Role{
	"GET /kv/{key...}":    auth.RoleRead,
	"PUT /kv/{key...}":    auth.RoleWrite,
	"DELETE /kv/{key...}": auth.RoleWrite,
	"/kv/{key...}":        auth.RoleRead, // another method: answered 405
	"GET /health":         auth.RoleNone, // load balancers and probes carry no token
	"GET /metrics":        auth.RoleNone, // Config.MetricsAuth: admin
	// The web console (console.go): its files are open, like /health,
	// so a browser without a token gets the sign-in prompt; the data it
	// shows comes from the routes above and below, with their roles.
	"GET /ui/":             auth.RoleNone,
	"GET /ui":              auth.RoleNone,
	"GET /auth/whoami":     auth.RoleRead, // any valid token learns its own role
	"GET /metrics/history": auth.RoleNone, // /metrics' figures, sampled: its rule (metricsRoute)
}

// metricsRoute reports whether pattern serves the node's metrics, open
// unless Config.MetricsAuth makes them admin's (and then not audited:
// scrapers poll them).
func metricsRoute(pattern string) bool {
	return pattern == "GET /metrics" || pattern == "GET /metrics/history"
}

// authOn reports whether requests need credentials (Config.Auth,
// Config.AuthPrincipal).
func (h *httpAPI) authOn() bool { return h.cfg.authOn() }

// authOn reports whether clients need credentials: a token file
// (Auth), a principal hook (AuthPrincipal), or verified client
// certificates (--tls-client-ca), whose roles they name (certPrincipal).
func (c *Config) authOn() bool {
	return c.Auth != nil || c.AuthPrincipal != nil || c.clientCertsVerified()
}

// clientCertsVerified reports whether the client listeners require a
// client certificate signed by --tls-client-ca.
func (c *Config) clientCertsVerified() bool {
	return c.TLS.Client != nil && c.TLS.Client.ClientAuth == tls.RequireAndVerifyClientCert
}

// certPrincipal is who a verified client certificate says made a
// request: its common name, with the role it names (security.ClientRoles;
// one this node does not know is ignored; the lowest when it names
// several), or auth.RoleNone when it names none. false without a verified
// certificate.
func certPrincipal(cs *tls.ConnectionState) (auth.Principal, bool) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return auth.Principal{}, false
	}
	cert := cs.VerifiedChains[0][0]
	p := auth.Principal{Name: cert.Subject.CommonName}
	for _, name := range security.ClientRoles(cert) {
		// Several roles: the lowest, so an odd certificate (a CA whose
		// requesters choose their OUs) grants no more than the least.
		if r, err := auth.ParseRole(name); err == nil && (p.Role == auth.RoleNone || r < p.Role) {
			p.Role = r
		}
	}
	return p, true
}

// roleFor is the role a request to the route of pattern needs.
func (h *httpAPI) roleFor(pattern string) auth.Role {
	if metricsRoute(pattern) && h.cfg.MetricsAuth {
		return auth.RoleAdmin
	}
	if r, ok := routeRoles[pattern]; ok {
		return r
	}
	return auth.RoleAdmin
}

// principal is who made r: Config.AuthPrincipal's answer, else its
// verified client certificate's (certPrincipal), else the principal of
// its bearer token.
func (h *httpAPI) principal(r *http.Request) (p auth.Principal, presented, ok bool) {
	if h.cfg.AuthPrincipal != nil {
		if p, ok := h.cfg.AuthPrincipal(r); ok {
			return p, true, true
		}
	}
	// A certificate that names a role wins; one that names none (made
	// before roles, or a node's) leaves the request to its bearer token,
	// and without one it is that certificate's principal, with no role.
	cert, hasCert := certPrincipal(r.TLS)
	if hasCert && cert.Role != auth.RoleNone {
		return cert, true, true
	}
	tok, found := bearerToken(r)
	if hasCert && (!found || h.cfg.Auth == nil) {
		return cert, true, true
	}
	if !found || h.cfg.Auth == nil {
		return auth.Principal{}, found, false
	}
	p, ok = h.cfg.Auth.Authenticate(tok)
	return p, true, ok
}

// bearerToken is the token of r's "Authorization: Bearer <token>"
// header (the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", false
	}
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", true // credentials of another scheme: not valid here
	}
	return strings.TrimSpace(tok), true
}

// authorize checks every request's credentials against the role its
// route needs (routeRoles) before mux serves it: 401 without valid
// credentials, 403 for a role that does not allow the route, both
// logged (principal and route, never the token) and counted. Every
// request to an admin route is written to the audit log with its
// outcome (audit). With authentication off it only audits admin
// actions that change something.
func (h *httpAPI) authorize(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		on := h.authOn()
		if !on && (r.Method == http.MethodGet || r.Method == http.MethodHead || strings.HasPrefix(r.URL.Path, "/kv/")) {
			// Nothing to check, and nothing to audit: no route lookup on
			// the key path.
			mux.ServeHTTP(w, r)
			return
		}
		_, pattern := mux.Handler(r)
		need := h.roleFor(pattern)
		if !on {
			if need == auth.RoleAdmin {
				h.audit(mux, w, r, pattern, auth.Principal{})
				return
			}
			mux.ServeHTTP(w, r)
			return
		}
		if need == auth.RoleNone {
			mux.ServeHTTP(w, r)
			return
		}
		p, presented, ok := h.principal(r)
		var refused *apiError
		switch {
		case !ok:
			refused = errUnauthenticated(presented)
			w.Header().Set("WWW-Authenticate", `Bearer realm="dynago"`)
			if presented {
				w.Header().Set("WWW-Authenticate", `Bearer realm="dynago", error="invalid_token"`)
			}
		case !p.Role.Allows(need):
			refused = errForbidden(p, routeName(pattern, r), need)
		}
		if refused != nil {
			reason := "unauthenticated"
			if refused.Status == http.StatusForbidden {
				reason = "forbidden"
			}
			h.metrics.authRefused.WithLabelValues("http", reason).Inc()
			// Anyone can send a request without credentials: those
			// refusals go to the rate-limited log (one line per 10 s with
			// a count); a principal refused for its role is logged each time.
			log := h.log
			if refused.Status == http.StatusUnauthorized {
				log = h.quietLog
			}
			log.Warn("request refused", "status", refused.Status, "principal", p.Name, "role", p.Role.String(),
				"method", r.Method, "route", routeName(pattern, r), "remote", r.RemoteAddr)
			if need == auth.RoleAdmin && !metricsRoute(pattern) {
				// Every admin request is audited, refusals included:
				// never rate-limited.
				h.auditLine(h.log, r, pattern, p, refused.Status)
			}
			writeError(w, refused)
			return
		}
		if need == auth.RoleAdmin && !metricsRoute(pattern) {
			h.audit(mux, w, r, pattern, p)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// routeName names a request's route in logs: its pattern, or its path
// when no route matched.
func routeName(pattern string, r *http.Request) string {
	if pattern == "" {
		return r.Method + " " + r.URL.Path
	}
	return pattern
}

// audit serves an admin action and writes its audit line.
func (h *httpAPI) audit(mux http.Handler, w http.ResponseWriter, r *http.Request, pattern string, p auth.Principal) {
	rec := &statusRecorder{ResponseWriter: w}
	returned := false
	defer func() {
		status := rec.status
		switch {
		case !returned:
			status = http.StatusInternalServerError // it panicked: recoverHTTP answers 500
		case status == 0:
			status = http.StatusOK
		}
		h.auditLine(h.log, r, pattern, p, status)
	}()
	mux.ServeHTTP(rec, r)
	returned = true
}

// auditLine writes the audit log's line for one admin action: who
// (principal, role, remote address), what (method, route, path), when
// (the record's time) and its outcome (the HTTP status). Every audit line carries audit=true, so a log shipper can
// route them apart.
func (h *httpAPI) auditLine(log *slog.Logger, r *http.Request, pattern string, p auth.Principal, status int) {
	who := p.Name
	if who == "" {
		who = "anonymous"
	}
	log.Info("admin action", "audit", true, "principal", who, "role", p.Role.String(), "remote", r.RemoteAddr,
		"method", r.Method, "route", routeName(pattern, r), "path", r.URL.Path, "status", status)
}

// errUnauthenticated is the 401 of a request without valid credentials.
func errUnauthenticated(presented bool) *apiError {
	msg := "this node requires a token: send Authorization: Bearer <token> (the dynago CLI: --token or DYNAGO_TOKEN)"
	if presented {
		msg = "the token is not valid on this node (unknown, revoked, or not a Bearer token): check --token or DYNAGO_TOKEN"
	}
	return &apiError{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: msg}
}

// errForbidden is the 403 of a principal whose role does not allow the
// route.
func errForbidden(p auth.Principal, route string, need auth.Role) *apiError {
	return &apiError{Status: http.StatusForbidden, Code: "forbidden",
		Message: fmt.Sprintf("%q has the %s role; %s needs %s: use a token with that role", p.Name, p.Role, route, need)}
}
