package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

// roleless issues a client certificate of p's CA that names no role, as
// `dynago cert create-client` made them before roles.
func (p *testPKI) roleless(name string) tls.Certificate {
	p.t.Helper()
	return p.withOUs(name)
}

// withOUs issues a client certificate of p's CA with these
// OrganizationalUnits, which create-client never writes.
func (p *testPKI) withOUs(name string, ous ...string) tls.Certificate {
	p.t.Helper()
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"dynago client"}, OrganizationalUnit: ous},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca.Cert, leafKey.Public(), p.ca.Key)
	if err != nil {
		p.t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: leafKey}
}

// TestClientCertRoles: with --tls-client-ca and no token file, a client
// certificate's role (its "dynago-role:" OrganizationalUnit, from
// `dynago cert create-client --role`) decides what its holder may do on
// HTTP and RESP, as a token's does: read reads, write writes, admin runs
// cluster operations, and a certificate naming no role reaches only the
// open routes. Before, every certificate of the CA could do everything.
func TestClientCertRoles(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	tn := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, resp: true, mutate: func(i int, c *Config) {
		alone(i, c)
		pki.secure(c)
	}})[0]
	url := "https://" + tn.node.HTTPAddr()
	as := func(cert tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientTLS(&cert)}}
	}
	do := func(hc *http.Client, method, path, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	reader, writer, admin, none := as(pki.clientAs("rita", "read")), as(pki.clientAs("will", "write")), as(pki.clientAs("ada", "admin")), as(pki.roleless("old"))
	for _, tc := range []struct {
		who          string
		hc           *http.Client
		method, path string
		want         int
	}{
		{"write", writer, "PUT", "/kv/k", 204},
		{"read", reader, "GET", "/kv/k", 200},
		{"read", reader, "PUT", "/kv/k", 403},
		{"read", reader, "DELETE", "/kv/k", 403},
		{"write", writer, "GET", "/cluster/members", 403},
		{"admin", admin, "GET", "/cluster/members", 200},
		{"none", none, "GET", "/kv/k", 403},
		{"none", none, "GET", "/health", 200},
	} {
		if got := do(tc.hc, tc.method, tc.path, "v"); got != tc.want {
			t.Errorf("%s certificate: %s %s = %d, want %d", tc.who, tc.method, tc.path, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(tn.node.metrics.authRefused.WithLabelValues("http", "forbidden")); got != 4 {
		t.Errorf("http forbidden refusals counted %v, want 4", got)
	}

	// RESP over TLS: the certificate authenticates the connection.
	rc := func(cert tls.Certificate) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: tn.node.RESPAddr(), TLSConfig: pki.clientTLS(&cert), MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return c
	}
	if v, err := rc(pki.clientAs("rita", "read")).Get(t.Context(), "k").Result(); err != nil || v != "v" {
		t.Errorf("RESP GET with a read certificate: %q %v", v, err)
	}
	if err := rc(pki.clientAs("rita", "read")).Set(t.Context(), "k", "w", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("RESP SET with a read certificate: %v, want NOPERM", err)
	}
	if err := rc(pki.clientAs("will", "write")).Set(t.Context(), "k", "w", 0).Err(); err != nil {
		t.Errorf("RESP SET with a write certificate: %v", err)
	}
	if err := rc(pki.roleless("old")).Get(t.Context(), "k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("RESP GET with a certificate naming no role: %v, want NOAUTH (it is left to AUTH)", err)
	}
	// RESP over TLS without a client certificate: the handshake fails.
	anon := redis.NewClient(&redis.Options{Addr: tn.node.RESPAddr(), TLSConfig: pki.clientTLS(nil), MaxRetries: -1})
	defer anon.Close()
	if v, err := anon.Get(t.Context(), "k").Result(); err == nil {
		t.Errorf("RESP over TLS without a client certificate answered %q", v)
	}
}

// With a token file as well: a certificate that names a role wins over a
// bearer token; one that names none leaves the request to its token (a
// deployment whose certificates predate roles keeps working with its
// tokens); a certificate naming several roles has the lowest.
func TestClientCertRolesWithTokens(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	tn := startCluster(t, clusterOpts{n: 1, noJoin: true, inMemory: true, resp: true, mutate: func(i int, c *Config) {
		alone(i, c)
		pki.secure(c)
		c.Auth = testAuth(t)
	}})[0]
	url := "https://" + tn.node.HTTPAddr()
	get := func(cert tls.Certificate, token, path string) int {
		t.Helper()
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientTLS(&cert)}}
		req, err := http.NewRequest("GET", url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		what  string
		cert  tls.Certificate
		token string
		want  int
	}{
		{"no role, admin token", pki.roleless("old"), tokAdmin, 200},
		{"no role, read token", pki.roleless("old"), tokRead, 403},
		{"no role, no token", pki.roleless("old"), "", 403},
		{"no role, bad token", pki.roleless("old"), "nope", 401},
		{"write certificate, admin token", pki.clientAs("will", "write"), tokAdmin, 403},
		{"admin certificate, no token", pki.clientAs("ada", "admin"), "", 200},
		{"read and admin roles", pki.withOUs("odd", "dynago-role:admin", "dynago-role:read"), "", 403},
		{"an unknown role", pki.withOUs("odd", "dynago-role:Admin"), "", 403},
	} {
		if got := get(tc.cert, tc.token, "/cluster/members"); got != tc.want {
			t.Errorf("%s: GET /cluster/members = %d, want %d", tc.what, got, tc.want)
		}
	}
	// RESP: a certificate naming no role is left to AUTH.
	old := pki.roleless("old")
	c := redis.NewClient(&redis.Options{Addr: tn.node.RESPAddr(), TLSConfig: pki.clientTLS(&old), Password: tokWrite, MaxRetries: -1})
	defer c.Close()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Errorf("RESP SET by a role-less certificate with a write token: %v", err)
	}
}
