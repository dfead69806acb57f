package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// WithTLS: a client that trusts the server's CA reaches an https:// node
// (and presents its certificate when asked); one without it fails.
func TestWithTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// The server's own certificate serves as a client certificate here.
	cert := srv.TLS.Certificates[0]

	c, err := New([]string{srv.URL}, WithTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context(), "k", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get over https with the CA and a certificate: %v, want ErrNotFound (the server's answer)", err)
	}
	plain, err := New([]string{srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Get(t.Context(), "k", nil); err == nil || errors.Is(err, ErrNotFound) {
		t.Fatalf("get over https without trusting the CA: %v, want a TLS failure", err)
	}
}
