package security

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA makes a CA and node certificates for names.
func testCA(t *testing.T, caName string) (*CA, []byte) {
	t.Helper()
	c, k, err := CreateCA(caName, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ParseCA(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return ca, c
}

func internode(t *testing.T, ca *CA, caPEM []byte, name string) *Internode {
	t.Helper()
	c, k, err := CreateNode(ca, name, []net.IP{net.ParseIP("127.0.0.1")}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInternode(caPEM, c, k)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// handshake runs a TLS handshake over an in-memory pipe between a server
// and a client configuration; it returns the peer name the server saw,
// the client's error and the server's error.
func handshake(t *testing.T, server, client *tls.Config) (peer string, cerr, serr error) {
	t.Helper()
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		peer, serr = Handshake(ctx, tls.Server(a, server))
		a.Close()
	}()
	cerr = tls.Client(b, client).HandshakeContext(ctx)
	b.Close()
	<-done
	return peer, cerr, serr
}

func TestInternodeMutualTLS(t *testing.T) {
	ca, caPEM := testCA(t, "cluster")
	n1, n2 := internode(t, ca, caPEM, "n1"), internode(t, ca, caPEM, "n2")
	rogueCA, roguePEM := testCA(t, "rogue")
	rogue := internode(t, rogueCA, roguePEM, "n2") // its own CA, a member's name
	n9 := internode(t, ca, caPEM, "n9")
	cc, ck, err := CreateClient(ca, "alice", "write", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := tls.X509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	withClientCert := n2.Client("n1")
	withClientCert.Certificates = []tls.Certificate{clientPair}

	for _, tc := range []struct {
		name           string
		server, client *tls.Config
		wantPeer       string // "" = the handshake must fail
		wantErr        error
	}{
		{"members", n1.Server(), n2.Client("n1"), "n2", nil},
		{"rogue dials a member", n1.Server(), rogue.Client("n1"), "", nil},
		{"member dials a rogue", rogue.Server(), n2.Client("n2"), "", nil},
		{"n9 answers for n3", n9.Server(), n1.Client("n3"), "", ErrWrongPeer},
		{"client certificate as a node", n1.Server(), withClientCert, "", ErrNotNodeCert},
		{"no certificate", n1.Server(), &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, "", nil},
		{"TLS 1.2 only", n1.Server(), func() *tls.Config {
			c := n2.Client("n1")
			c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
			return c
		}(), "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer, cerr, serr := handshake(t, tc.server, tc.client)
			if tc.wantPeer != "" {
				if cerr != nil || serr != nil || peer != tc.wantPeer {
					t.Fatalf("client err %v, server err %v, peer %q; want peer %q", cerr, serr, peer, tc.wantPeer)
				}
				return
			}
			if cerr == nil && serr == nil {
				t.Fatalf("handshake succeeded (peer %q); want it refused", peer)
			}
			if tc.wantErr != nil && !errors.Is(cerr, tc.wantErr) && !errors.Is(serr, tc.wantErr) {
				t.Fatalf("client err %v, server err %v; want %v", cerr, serr, tc.wantErr)
			}
		})
	}
}

func TestNewInternodeRefusesForeignCert(t *testing.T) {
	ca, caPEM := testCA(t, "cluster")
	other, _ := testCA(t, "other")
	c, k, err := CreateNode(other, "n1", nil, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewInternode(caPEM, c, k); err == nil {
		t.Fatal("a node certificate of another CA was accepted")
	}
	cc, ck, err := CreateClient(ca, "alice", "write", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewInternode(caPEM, cc, ck); !errors.Is(err, ErrNotNodeCert) {
		t.Fatalf("a client certificate as node certificate: %v, want ErrNotNodeCert", err)
	}
	if _, err := NewInternode([]byte("junk"), c, k); err == nil {
		t.Fatal("a CA file without a certificate was accepted")
	}
}

func TestInternodeName(t *testing.T) {
	ca, caPEM := testCA(t, "cluster")
	in := internode(t, ca, caPEM, "n1")
	if in.Name() != "n1" || !in.Names("n1") || in.Names("n2") || in.Names("") {
		t.Fatalf("Name %q, Names(n1) %v, Names(n2) %v", in.Name(), in.Names("n1"), in.Names("n2"))
	}
}

func TestServerConfigRequiresClientCert(t *testing.T) {
	dir := t.TempDir()
	ca, caPEM := testCA(t, "cluster")
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, k, err := CreateNode(ca, "n1", []net.IP{net.ParseIP("127.0.0.1")}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cc, ck, err := CreateClient(ca, "alice", "write", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile := write("ca.crt", caPEM), write("n1.crt", c), write("n1.key", k)
	ccFile, ckFile := write("client.alice.crt", cc), write("client.alice.key", ck)

	open, err := ServerConfig(certFile, keyFile, "")
	if err != nil {
		t.Fatal(err)
	}
	verifying, err := ServerConfig(certFile, keyFile, caFile)
	if err != nil {
		t.Fatal(err)
	}
	anon, err := ClientConfig(caFile, "", "")
	if err != nil {
		t.Fatal(err)
	}
	anon.ServerName = "127.0.0.1"
	alice, err := ClientConfig(caFile, ccFile, ckFile)
	if err != nil {
		t.Fatal(err)
	}
	alice.ServerName = "127.0.0.1"
	untrusting, err := ClientConfig("", "", "")
	if err != nil {
		t.Fatal(err)
	}
	untrusting.ServerName = "127.0.0.1"

	// run returns the first error either end saw.
	run := func(server, client *tls.Config) error {
		cerr, serr := pipeHandshake(t, server, client)
		return errors.Join(cerr, serr)
	}
	if err := run(open, anon); err != nil {
		t.Fatalf("no client CA, no client certificate: %v", err)
	}
	if err := run(open, untrusting); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client that does not trust the CA connected: %v", err)
	}
	if err := run(verifying, alice); err != nil {
		t.Fatalf("client certificate of the client CA: %v", err)
	}
	if err := run(verifying, anon); err == nil {
		t.Fatal("a client without a certificate was accepted by a server that requires one")
	}
	if _, err := ClientConfig(caFile, ccFile, ""); err == nil {
		t.Fatal("a client certificate without its key was accepted")
	}
}

// pipeHandshake runs a plain crypto/tls handshake on both ends of a pipe.
func pipeHandshake(t *testing.T, server, client *tls.Config) (cerr, serr error) {
	a, b := tcpPair(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		serr = tls.Server(a, server).HandshakeContext(ctx)
		a.Close()
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cerr = tls.Client(b, client).HandshakeContext(ctx)
	b.Close()
	<-done
	return cerr, serr
}

// tcpPair is a connected pair of loopback TCP connections (a pipe would
// deadlock when both ends write at once, as a failing handshake does).
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	return server, client
}
