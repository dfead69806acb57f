package jepsen

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dynago/dynago/node/security"
)

// pki is a secure cluster's credentials, made per run (ClusterConfig.Secure):
// a cluster CA, a node certificate per node (named for it), and a gossip
// key, written under Dir/pki.
type pki struct {
	dir       string
	gossipKey string // base64, as --gossip-key takes it
}

// newPKI makes the CA, a certificate and key for each name, and a random
// 32-byte gossip key.
func newPKI(dir string, names []string) (*pki, error) {
	p := &pki{dir: filepath.Join(dir, "pki")}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caCert, caKey, err := security.CreateCA("jepsen", now, 0)
	if err != nil {
		return nil, err
	}
	ca, err := security.ParseCA(caCert, caKey)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.dir, "ca.crt"), caCert, 0o600); err != nil {
		return nil, err
	}
	for _, name := range names {
		c, k, err := security.CreateNode(ca, name, nil, now, 0)
		if err != nil {
			return nil, fmt.Errorf("jepsen: certificate for %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(p.dir, name+".crt"), c, 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(p.dir, name+".key"), k, 0o600); err != nil {
			return nil, err
		}
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	p.gossipKey = base64.StdEncoding.EncodeToString(key)
	return p, nil
}

// args are node n's agent flags for internode mutual TLS and gossip
// encryption.
func (p *pki) args(n *Node) []string {
	return []string{"--cluster-ca", filepath.Join(p.dir, "ca.crt"),
		"--node-cert", filepath.Join(p.dir, n.Name+".crt"), "--node-key", filepath.Join(p.dir, n.Name+".key"),
		"--gossip-key", p.gossipKey}
}
