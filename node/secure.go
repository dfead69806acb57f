package node

import (
	"net"
	"os"
	"strings"
)

// Secure by default (CockroachDB's rule). A node that listens beyond
// loopback (any of its HTTP, RESP, RPC or gossip addresses) must have
// every protection on: TLS for the client-facing servers, mutual TLS
// between nodes, a gossip key, and client authentication (a token file or
// required client certificates). Otherwise Validate refuses the
// configuration, unless Config.Insecure, which New then announces with a
// banner in the log and on /health. On loopback nothing is required: the
// demo and tests stay as easy as ever.

// insecureBanner is the warning an insecure node logs at start and shows
// on /health.
const insecureBanner = "INSECURE: this node runs without some of TLS, internode mutual TLS, a gossip key and client authentication; anyone who can reach its ports can read and write its data and join its cluster (started with --insecure)"

// exposedAddrs returns c's listen addresses that are not loopback.
func (c Config) exposedAddrs() []string {
	var out []string
	for _, a := range []string{c.HTTPAddr, c.RESPAddr, c.RPCAddr, c.GossipAddr} {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil || checkBindAddr(a) != nil {
			continue // Validate reports it as such
		}
		// Every interface (empty, 0.0.0.0, [::]) is beyond loopback; so is
		// a host name other than localhost (it is not resolved here, and
		// may resolve to anything).
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || strings.EqualFold(host, "localhost") {
			continue
		}
		out = append(out, a)
	}
	return out
}

// securityGaps lists, as the flags that close them, the protections c
// lacks.
func (c Config) securityGaps() []string {
	var gaps []string
	if c.TLS.Client == nil {
		gaps = append(gaps, "TLS for the HTTP API and RESP (--tls-cert, --tls-key)")
	}
	if c.TLS.Internode == nil {
		gaps = append(gaps, "mutual TLS between nodes (--cluster-ca, --node-cert, --node-key)")
	}
	if !c.gossipEncrypted() {
		gaps = append(gaps, "a gossip key (--gossip-key)")
	}
	if !c.authOn() {
		gaps = append(gaps, "client authentication (--token-file, or --tls-client-ca)")
	}
	return gaps
}

// gossipEncrypted reports whether gossip will be encrypted: a key given,
// or a keyring file left by an earlier run (it wins over the flag; see
// gossipKeys).
func (c Config) gossipEncrypted() bool {
	if len(c.GossipKey) > 0 {
		return true
	}
	if c.GossipKeyringFile == "" {
		return false
	}
	st, err := os.Stat(c.GossipKeyringFile)
	return err == nil && st.Size() > 2 // more than an empty JSON array
}

// checkExposure is Validate's rule: an error naming the exposed addresses
// and every missing protection, or "".
func (c Config) checkExposure() string {
	exposed := c.exposedAddrs()
	if len(exposed) == 0 || c.Insecure {
		return ""
	}
	gaps := c.securityGaps()
	if len(gaps) == 0 {
		return ""
	}
	return "listening beyond loopback (" + strings.Join(exposed, ", ") + ") needs " + strings.Join(gaps, ", ") +
		"; or start with --insecure to run without them (see README, Security)"
}
