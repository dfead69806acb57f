package security

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"slices"
	"strings"
	"time"
)

// Errors a caller may test for with errors.Is.
var (
	// ErrNotNodeCert is wrapped when an internode peer presents a
	// certificate of the cluster CA that is not a node certificate (a
	// client certificate: no server use, no DNS name).
	ErrNotNodeCert = errors.New("security: peer certificate is not a node certificate")
	// ErrWrongPeer is wrapped when the node dialed presents a valid node
	// certificate for another name.
	ErrWrongPeer = errors.New("security: peer certificate names another node")
	// ErrNoPeerCert is wrapped when a peer presented no certificate.
	ErrNoPeerCert = errors.New("security: peer presented no certificate")
)

// CA is a certificate authority: its certificate and private key, able to
// sign node and client certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Validity of what Create* make: long enough that a small cluster is not
// re-keyed by surprise, short enough that a leaked key is not forever.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 2 * 365 * 24 * time.Hour
)

// clockSkew back-dates NotBefore so a certificate made on one machine is
// valid at once on another whose clock is slightly behind.
const clockSkew = time.Hour

// CreateCA makes a new self-signed CA named name, valid from now for
// validity (CAValidity if zero). It returns the certificate and key as PEM.
func CreateCA(name string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("security: a CA needs a name")
	}
	if validity == 0 {
		validity = CAValidity
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name, Organization: []string{"dynago"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	return create(tmpl, nil)
}

// CreateNode makes a node certificate signed by ca: its name is both the
// common name and the one DNS SAN (the identity internode TLS checks), ips
// are added as IP SANs, and it serves both ends of a connection (server
// and client auth), as a node both accepts and dials.
func CreateNode(ca *CA, name string, ips []net.IP, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("security: a node certificate needs the node's name")
	}
	if validity == 0 {
		validity = CertValidity
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name, Organization: []string{"dynago node"}},
		DNSNames:    []string{name},
		IPAddresses: ips,
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	return create(tmpl, ca)
}

// CreateClient makes a client certificate signed by ca with common name
// name and role (one of ClientRoleNames, in its OrganizationalUnit: see
// RoleOUPrefix), for client auth only: it can't serve, and internode TLS
// refuses it (ErrNotNodeCert).
func CreateClient(ca *CA, name, role string, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if name == "" {
		return nil, nil, errors.New("security: a client certificate needs a name")
	}
	if !slices.Contains(ClientRoleNames, role) {
		return nil, nil, fmt.Errorf("security: a client certificate needs a role: %q is not one of %s", role, strings.Join(ClientRoleNames, ", "))
	}
	if validity == 0 {
		validity = CertValidity
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{CommonName: name, Organization: []string{"dynago client"},
			OrganizationalUnit: []string{RoleOUPrefix + role}},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return create(tmpl, ca)
}

// RoleOUPrefix starts the OrganizationalUnit of a client certificate that
// names the role its holder has on the HTTP API and RESP:
// "dynago-role:write". The CA that signs the certificate grants the role,
// as Kubernetes reads a client certificate's groups from its Organization.
const RoleOUPrefix = "dynago-role:"

// ClientRoleNames are the roles a client certificate may name, lowest
// first (node/auth's read, write and admin).
var ClientRoleNames = []string{"read", "write", "admin"}

// ClientRoles lists the roles cert names (its OrganizationalUnit entries
// that start with RoleOUPrefix, without it), as written: the caller
// decides what an unknown one means.
func ClientRoles(cert *x509.Certificate) []string {
	var roles []string
	for _, ou := range cert.Subject.OrganizationalUnit {
		if r, ok := strings.CutPrefix(ou, RoleOUPrefix); ok {
			roles = append(roles, r)
		}
	}
	return roles
}

// create signs tmpl with a fresh P-256 key, by ca (self-signed if nil).
func create(tmpl *x509.Certificate, ca *CA) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("security: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("security: serial: %w", err)
	}
	tmpl.SerialNumber = serial
	parent, signer := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, signer = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, nil, fmt.Errorf("security: sign certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("security: encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

// ParseCA decodes a CA's certificate and key from PEM.
func ParseCA(certPEM, keyPEM []byte) (*CA, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("security: CA: %w", err)
	}
	if !pair.Leaf.IsCA {
		return nil, errors.New("security: CA: the certificate is not a CA's")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, errors.New("security: CA: the key can't sign")
	}
	return &CA{Cert: pair.Leaf, Key: signer}, nil
}

// LoadCA reads a CA's certificate and key from PEM files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	c, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	k, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	return ParseCA(c, k)
}

// ParsePool decodes one or more PEM certificates into a pool.
func ParsePool(pemCerts []byte) (*x509.CertPool, error) {
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemCerts) {
		return nil, errors.New("security: no PEM certificate found")
	}
	return p, nil
}

// LoadPool reads a PEM file of CA certificates into a pool.
func LoadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("security: %w", err)
	}
	p, err := ParsePool(b)
	if err != nil {
		return nil, fmt.Errorf("%w in %s", err, file)
	}
	return p, nil
}

// ServerConfig is the TLS configuration of a client-facing server (the
// HTTP API, the RESP front end) from its certificate and key files. If
// clientCAFile is not empty, every client must present a certificate that
// verifies against it (RequireAndVerifyClientCert); otherwise clients are
// not asked for one. TLS 1.2 is the minimum: 1.3 where the client has it,
// 1.2 for the tools that don't yet.
func ServerConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("security: server certificate: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pool, err := LoadPool(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("security: client CA: %w", err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientConfig is the TLS configuration of a client of the HTTP API or
// RESP: caFile (if not empty) is trusted in place of the system roots, and
// certFile/keyFile (both or neither) is presented to a server that asks.
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := LoadPool(caFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("security: a client certificate needs both its certificate and its key")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("security: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Internode is a node's material for mutual TLS with its peers: its own
// node certificate and the cluster CA, the only authority it trusts for
// peers (never the system roots). It is immutable and safe for concurrent
// use.
type Internode struct {
	cert tls.Certificate
	pool *x509.CertPool
	name string // the name in this node's own certificate
}

// LoadInternode reads the cluster CA certificate and this node's
// certificate and key from PEM files.
func LoadInternode(caFile, certFile, keyFile string) (*Internode, error) {
	var bs [3][]byte
	for i, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("security: %w", err)
		}
		bs[i] = b
	}
	return NewInternode(bs[0], bs[1], bs[2])
}

// NewInternode builds a node's internode TLS material from PEM: the
// cluster CA's certificate(s), and the node's certificate and key, which
// must be a node certificate the cluster CA signed.
func NewInternode(caPEM, certPEM, keyPEM []byte) (*Internode, error) {
	pool, err := ParsePool(caPEM)
	if err != nil {
		return nil, fmt.Errorf("security: cluster CA: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("security: node certificate: %w", err)
	}
	name, err := verifyNode(pair.Certificate, pool, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, fmt.Errorf("security: node certificate: %w", err)
	}
	return &Internode{cert: pair, pool: pool, name: name}, nil
}

// Name is the node name this node's own certificate carries.
func (in *Internode) Name() string { return in.name }

// Names reports whether the node certificate names node (as its DNS SAN
// or common name).
func (in *Internode) Names(node string) bool { return names(in.cert.Leaf, node) }

// Client is the TLS configuration for dialing the node named expected:
// this node presents its certificate, and the peer's must be a node
// certificate of the cluster CA that names expected (a DNS SAN or the
// common name). Node names are not host names, so the check is ours
// (VerifyConnection), not crypto/tls's host name check. TLS 1.3 minimum.
func (in *Internode) Client(expected string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{in.cert},
		// The chain and the name are verified by VerifyConnection below,
		// against the cluster CA only.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if _, err := verifyNode(rawCerts(cs), in.pool, x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			if !names(cs.PeerCertificates[0], expected) {
				return fmt.Errorf("%w: dialed %q, certificate is for %q", ErrWrongPeer, expected, certName(cs.PeerCertificates[0]))
			}
			return nil
		},
	}
}

// Server is the TLS configuration of the internode RPC listener: this node
// presents its certificate and requires the peer's, which must be a node
// certificate of the cluster CA. PeerName gives the verified peer's name
// once the handshake is done. TLS 1.3 minimum.
func (in *Internode) Server() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{in.cert},
		// Asked for, then verified by VerifyConnection against the cluster
		// CA only, as a node certificate.
		ClientAuth: tls.RequireAnyClientCert,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyNode(rawCerts(cs), in.pool, x509.ExtKeyUsageClientAuth)
			return err
		},
	}
}

// PeerName is the node name of a verified internode peer: the DNS SAN of
// its node certificate (its common name if it has none). Call it only on
// the state of a connection whose handshake Server's or Client's
// configuration completed.
func PeerName(cs tls.ConnectionState) (string, error) {
	if !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return "", ErrNoPeerCert
	}
	return certName(cs.PeerCertificates[0]), nil
}

// Handshake completes the TLS handshake of an accepted internode
// connection (bounded by ctx) and returns the verified peer's node name.
// A connection that is not TLS fails.
func Handshake(ctx context.Context, c net.Conn) (string, error) {
	tc, ok := c.(*tls.Conn)
	if !ok {
		return "", errors.New("security: not a TLS connection")
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return "", fmt.Errorf("security: handshake: %w", err)
	}
	return PeerName(tc.ConnectionState())
}

type peerKey struct{}

// WithPeer returns ctx carrying the verified peer node name of the
// connection a request came in on.
func WithPeer(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, peerKey{}, name)
}

// Peer returns the verified peer node name WithPeer stored in ctx, and
// whether there is one (none when internode TLS is off).
func Peer(ctx context.Context) (string, bool) {
	s, ok := ctx.Value(peerKey{}).(string)
	return s, ok
}

func rawCerts(cs tls.ConnectionState) [][]byte {
	out := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		out[i] = c.Raw
	}
	return out
}

// verifyNode verifies a peer's chain (leaf first) against pool for usage,
// and that the leaf is a node certificate: a DNS name and both server and
// client use. It returns the node's name.
func verifyNode(raw [][]byte, pool *x509.CertPool, usage x509.ExtKeyUsage) (string, error) {
	if len(raw) == 0 {
		return "", ErrNoPeerCert
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return "", fmt.Errorf("security: peer certificate: %w", err)
		}
		certs[i] = c
	}
	leaf := certs[0]
	if len(leaf.DNSNames) == 0 || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		return "", fmt.Errorf("%w (%q)", ErrNotNodeCert, leaf.Subject.CommonName)
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	// The verification time is the zero value: crypto/x509 uses the
	// current time (a node certificate is checked at the handshake).
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return "", fmt.Errorf("security: peer certificate not from the cluster CA: %w", err)
	}
	return certName(leaf), nil
}

// certName is a node certificate's name: its first DNS SAN, else its
// common name.
func certName(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}

// names reports whether c is for node: one of its DNS SANs, or its common
// name when it has none (so a certificate names the same node on both ends
// of a connection).
func names(c *x509.Certificate, node string) bool {
	if node == "" {
		return false
	}
	if len(c.DNSNames) > 0 {
		return slices.Contains(c.DNSNames, node)
	}
	return c.Subject.CommonName == node
}
