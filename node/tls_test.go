package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/node/security"
)

// testPKI is a cluster CA that issues node and client certificates in
// memory, for tests.
type testPKI struct {
	t     testing.TB
	ca    *security.CA
	caPEM []byte
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	c, k, err := security.CreateCA(name, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := security.ParseCA(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{t: t, ca: ca, caPEM: c}
}

// node issues a node certificate for name (IP SAN 127.0.0.1).
func (p *testPKI) node(name string) (*security.Internode, tls.Certificate) {
	p.t.Helper()
	c, k, err := security.CreateNode(p.ca, name, []net.IP{net.ParseIP("127.0.0.1")}, time.Now(), 0)
	if err != nil {
		p.t.Fatal(err)
	}
	in, err := security.NewInternode(p.caPEM, c, k)
	if err != nil {
		p.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		p.t.Fatal(err)
	}
	return in, pair
}

// client issues an admin client certificate for name.
func (p *testPKI) client(name string) tls.Certificate {
	p.t.Helper()
	return p.clientAs(name, "admin")
}

// clientAs issues a client certificate for name granting role.
func (p *testPKI) clientAs(name, role string) tls.Certificate {
	p.t.Helper()
	c, k, err := security.CreateClient(p.ca, name, role, time.Now(), 0)
	if err != nil {
		p.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		p.t.Fatal(err)
	}
	return pair
}

// secure gives cfg internode mutual TLS and HTTPS/RESP over TLS that
// requires a client certificate of the same CA.
func (p *testPKI) secure(cfg *Config) {
	in, pair := p.node(cfg.Name)
	pool, err := security.ParsePool(p.caPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	cfg.TLS = TLSConfig{
		Internode: in,
		Client: &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
			ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
	}
	admin := p.client("harness")
	cfg.test.clientCert = &admin
}

// clientTLS trusts the CA and presents cert (if any).
func (p *testPKI) clientTLS(cert *tls.Certificate) *tls.Config {
	pool, err := security.ParsePool(p.caPEM)
	if err != nil {
		p.t.Fatal(err)
	}
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

// harnessHTTPS is the harness's client for a node serving HTTPS with srv:
// it trusts the server's client CA (the tests here use one CA for all) and
// presents cert (testPKI.secure's admin client certificate), or else the
// node's own, which the TLS handshake accepts but which grants no role.
func harnessHTTPS(srv *tls.Config, cert *tls.Certificate) *http.Client {
	certs := srv.Certificates
	if cert != nil {
		certs = []tls.Certificate{*cert}
	}
	c := &tls.Config{RootCAs: srv.ClientCAs, Certificates: certs, MinVersion: tls.VersionTLS12}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = c
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// rpcCall makes one internode call to addr over conns made by dial.
func rpcCall(t *testing.T, addr string, dial rpc.DialFunc, method uint8, payload []byte) ([]byte, error) {
	t.Helper()
	c := rpc.NewClient(addr, dial, nil)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return c.Call(ctx, method, payload)
}

// tlsDial dials addr over TCP and runs a TLS handshake with cfg.
func tlsDial(cfg *tls.Config) rpc.DialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		raw, err := rpc.TCPDial("127.0.0.1")(ctx, addr)
		if err != nil {
			return nil, err
		}
		c := tls.Client(raw, cfg)
		if err := c.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return c, nil
	}
}

// TestTLSCluster: a 3-node cluster with internode mutual TLS and HTTPS
// (client certificates required) joins, replicates and serves, over
// HTTPS and RESP over TLS; plain HTTP, HTTPS without a client certificate
// and plain RESP are refused.
func TestTLSCluster(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, mutate: func(_ int, c *Config) { pki.secure(c) }})

	alice := pki.client("alice")
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientTLS(&alice)}}
	put, err := http.NewRequest("PUT", "https://"+nodes[0].node.HTTPAddr()+"/kv/k?w=3", strings.NewReader("v1"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(put)
	if err != nil {
		t.Fatalf("https put: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 && resp.StatusCode != 200 {
		t.Fatalf("https put: %d", resp.StatusCode)
	}
	// W=3: every replica stored it, which takes the internode RPC.
	for _, tn := range nodes {
		if r := tn.get("k", "r=1"); r.status != 200 || string(r.body) != "v1" {
			t.Fatalf("get from %s: %d %q", tn.cfg.Name, r.status, r.body)
		}
	}

	// Plain HTTP to the TLS port: Go's TLS server answers 400 and serves
	// nothing.
	if resp, err := http.Get("http://" + nodes[1].node.HTTPAddr() + "/kv/k"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || strings.Contains(string(b), "v1") {
			t.Fatalf("plain HTTP to a TLS node: %d %q", resp.StatusCode, b)
		}
	}
	// HTTPS without a client certificate: the handshake is refused.
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientTLS(nil)}}
	if resp, err := anon.Get("https://" + nodes[1].node.HTTPAddr() + "/kv/k"); err == nil {
		resp.Body.Close()
		t.Fatalf("https without a client certificate: %d, want a refused handshake", resp.StatusCode)
	}

	// RESP over TLS with go-redis.
	rc := redis.NewClient(&redis.Options{Addr: nodes[2].node.RESPAddr(), TLSConfig: pki.clientTLS(&alice), MaxRetries: -1})
	defer rc.Close()
	if v, err := rc.Get(t.Context(), "k").Result(); err != nil || v != "v1" {
		t.Fatalf("RESP over TLS: %q, %v", v, err)
	}
	plain := redis.NewClient(&redis.Options{Addr: nodes[2].node.RESPAddr(), MaxRetries: -1, ReadTimeout: 5 * time.Second})
	defer plain.Close()
	if v, err := plain.Get(t.Context(), "k").Result(); err == nil {
		t.Fatalf("plain RESP to a TLS node answered %q", v)
	}
}

// TestTLSRPCRefusesStrangers: the RPC port answers nothing to a raw frame
// without TLS, nor to a node whose certificate is from another CA (even
// with a member's name); a certificate of the cluster CA for a node that
// is not a member may not push membership, nor deliver hints as another
// node; and a node dialing a member at its address refuses a process that
// presents another node's certificate there.
func TestTLSRPCRefusesStrangers(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	nodes := startCluster(t, clusterOpts{n: 3, mutate: func(_ int, c *Config) { pki.secure(c) }})
	n1 := nodes[0].node
	state := n1.members.clusterSnapshot().Marshal()

	// A member's own certificate: the positive control.
	n2in, _ := pki.node("n2")
	if _, err := rpcCall(t, n1.RPCAddr(), tlsDial(n2in.Client("n1")), wire.MethodStatePull, nil); err != nil {
		t.Fatalf("a member's call: %v", err)
	}
	if _, err := rpcCall(t, n1.RPCAddr(), tlsDial(n2in.Client("n1")), wire.MethodState, state); err != nil {
		t.Fatalf("a member's membership push: %v", err)
	}

	// A raw frame without TLS gets nothing back.
	if b, err := rpcCall(t, n1.RPCAddr(), rpc.TCPDial("127.0.0.1"), wire.MethodStatePull, nil); err == nil {
		t.Fatalf("plain RPC answered %d bytes", len(b))
	}

	// A node of its own CA, named like a member: no handshake, no data.
	rogue := newTestPKI(t, "rogue")
	rin, _ := rogue.node("n2")
	if b, err := rpcCall(t, n1.RPCAddr(), tlsDial(rin.Client("n1")), wire.MethodStatePull, nil); err == nil {
		t.Fatalf("a node of another CA got %d bytes", len(b))
	}
	rc := rin.Client("n1")
	rc.InsecureSkipVerify, rc.VerifyConnection = true, nil // it trusts anyone: the cluster still refuses it
	read := wire.WrapRequest(n1.members.currentView().id, wire.ReadRequest{Key: []byte("k")}.Marshal())
	if b, err := rpcCall(t, n1.RPCAddr(), tlsDial(rc), wire.MethodRead, read); err == nil {
		t.Fatalf("a node of another CA read %d bytes", len(b))
	}

	// A cluster-CA certificate for n9, not a member: it may call, but may
	// not push membership nor deliver hints as n3.
	n9in, _ := pki.node("n9")
	if _, err := rpcCall(t, n1.RPCAddr(), tlsDial(n9in.Client("n1")), wire.MethodState, state); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("n9's membership push: %v, want refused", err)
	}
	hints, err := wire.HandoffRequest{From: "n3"}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hints = wire.WrapRequest(n1.members.currentView().id, hints)
	if _, err := rpcCall(t, n1.RPCAddr(), tlsDial(n9in.Client("n1")), wire.MethodHandoff, hints); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("n9 delivering hints as n3: %v, want refused", err)
	}
	n3in, _ := pki.node("n3")
	if _, err := rpcCall(t, n1.RPCAddr(), tlsDial(n3in.Client("n1")), wire.MethodHandoff, hints); err != nil {
		t.Fatalf("n3 delivering its own (empty) hints: %v", err)
	}

	// n3 stops; a process with n9's certificate takes its RPC address.
	// n1 dialing n3 there refuses it: it gets no request.
	n3addr := nodes[2].node.RPCAddr()
	nodes[2].stop()
	var served atomic.Int64
	fake := rpc.NewServer(func(context.Context, uint8, []byte) ([]byte, error) {
		served.Add(1)
		return []byte("x"), nil
	}, nil)
	var ln net.Listener
	waitFor(t, "n3's RPC port to be free", 10*time.Second, func() (bool, string) {
		ln, err = net.Listen("tcp", n3addr)
		return err == nil, fmt.Sprint(err)
	})
	go func() { _ = fake.Serve(tls.NewListener(ln, n9in.Server())) }()
	defer fake.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = n1.net.client(n3addr).Call(ctx, wire.MethodStatePull, nil)
	if !errors.Is(err, security.ErrWrongPeer) {
		t.Fatalf("n1 calling n3's address served by n9's certificate: %v, want ErrWrongPeer", err)
	}
	if served.Load() != 0 {
		t.Fatalf("the impostor was sent %d requests", served.Load())
	}
}

func TestTLSConfigNameMismatch(t *testing.T) {
	pki := newTestPKI(t, "cluster")
	cfg := testConfig(t, "n3", true)
	in, _ := pki.node("n9")
	cfg.TLS.Internode = in
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"n9"`) {
		t.Fatalf("node n3 with n9's certificate: %v, want refused", err)
	}
}
