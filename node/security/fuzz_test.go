package security

import (
	"bytes"
	"testing"
	"time"
)

// FuzzNewInternode: whatever the three PEM files hold (they come from
// disk), NewInternode returns material or an error, never panics, and
// what it accepts names a node and verifies against the CA it was given.
func FuzzNewInternode(f *testing.F) {
	caCrt, caKey, err := CreateCA("fuzz", time.Now(), 0)
	if err != nil {
		f.Fatal(err)
	}
	ca, err := ParseCA(caCrt, caKey)
	if err != nil {
		f.Fatal(err)
	}
	nCrt, nKey, err := CreateNode(ca, "n1", nil, time.Now(), 0)
	if err != nil {
		f.Fatal(err)
	}
	cCrt, cKey, err := CreateClient(ca, "alice", "write", time.Now(), 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(caCrt, nCrt, nKey)
	f.Add(caCrt, cCrt, cKey)
	f.Add(nCrt, nCrt, nKey)
	f.Add(caCrt, nCrt[:len(nCrt)/2], nKey)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), nCrt, nKey)
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, caPEM, certPEM, keyPEM []byte) {
		in, err := NewInternode(caPEM, certPEM, keyPEM)
		if err != nil {
			return
		}
		if in.Name() == "" || !in.Names(in.Name()) {
			t.Fatalf("accepted material names no node (%q)", in.Name())
		}
		if _, err := ParsePool(caPEM); err != nil {
			t.Fatalf("accepted a CA file ParsePool refuses: %v", err)
		}
		if bytes.Equal(certPEM, cCrt) {
			t.Fatal("accepted a client certificate as a node's")
		}
	})
}
