package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/node/security"
)

// TLSConfig holds a node's TLS material, loaded by its caller (cmd/dynago
// reads the files; node never opens one). The zero value serves and dials
// plain TCP.
type TLSConfig struct {
	// Client, if set, serves the HTTP API and the RESP front end over TLS
	// with it (security.ServerConfig: a certificate, and client
	// certificates required when it has a client CA).
	Client *tls.Config
	// Internode, if set, makes internode RPC mutual TLS: each node presents
	// its node certificate, trusts only the cluster CA, and checks that the
	// node it dials is the one it meant (security.Internode). Gossip is not
	// covered (its own key secures it).
	Internode *security.Internode
}

// handshakeTimeout bounds an internode TLS handshake: a peer on the same
// network completes one in milliseconds; one that sends nothing must not
// hold a connection goroutine for long.
const handshakeTimeout = 5 * time.Second

// What the peer's certificate binds (internode mutual TLS on). Every RPC
// needs a node certificate of the cluster CA. Beyond that:
//   - MethodHandoff carries its sender (HandoffRequest.From): it must be
//     the certificate's node.
//   - MethodState (a membership push) must come from a certificate naming
//     a member: one this node knows, or one whose own record the push
//     carries (a node introducing itself as it joins).
//   - Every other method carries no sender identity: any node of the
//     cluster CA may call it (reads and applies name the key's Owner, the
//     node a fallback holds a hint for, not the sender).
//
// Gossip (memberlist) is not TLS: a membership change it brings is not
// bound to a certificate, so a name gossip brings that this node does not
// know is proved over mutual TLS before its record is merged (prove.go).

// errPeerIdentity is wrapped by a refusal of a request whose content does
// not match the node its peer's certificate names.
var errPeerIdentity = errors.New("node: request does not match the peer's certificate")

// internodeListener wraps the RPC listener in TLS when internode TLS is on.
func (c *Config) internodeListener(ln net.Listener) net.Listener {
	if c.TLS.Internode == nil {
		return ln
	}
	return tls.NewListener(ln, c.TLS.Internode.Server())
}

// clientListener wraps a client-facing listener (HTTP, RESP) in TLS when
// it is configured.
func (c *Config) clientListener(ln net.Listener) net.Listener {
	if c.TLS.Client == nil {
		return ln
	}
	return tls.NewListener(ln, c.TLS.Client)
}

// rpcHandshake is the RPC server's per-connection hook with internode TLS
// on: it completes the handshake (refusing a peer without a node
// certificate of the cluster CA) and puts the peer's node name in the
// context of the connection's requests.
func (n *Node) rpcHandshake(ctx context.Context, c net.Conn) (context.Context, error) {
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	name, err := security.Handshake(hctx, c)
	if err != nil {
		n.quietLog.Warn("rpc: refused a connection", "remote", c.RemoteAddr(), "err", err)
		return nil, err
	}
	return security.WithPeer(ctx, name), nil
}

// dial returns the RPC dialer: the transport's, wrapped in TLS to the node
// that advertises addr when internode TLS is on.
func (p *peering) dial() rpc.DialFunc {
	in := p.cfg.TLS.Internode
	if in == nil {
		return p.tr.Dial
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		name, ok := p.nameAt(addr)
		if !ok {
			return nil, fmt.Errorf("node: no known node at rpc address %s to check its certificate against", addr)
		}
		return p.tlsDial(ctx, name, addr, in.Client(name)) // prove.go
	}
}

// nameAt is the member that advertises RPC address addr, in its gossip
// metadata (which rpcAddrOf prefers) or its membership record.
func (p *peering) nameAt(addr string) (string, bool) {
	members := p.members.clusterView().Members
	for name := range members {
		if peer, ok := p.peers.Get(name); ok && peer.Meta.RPC == addr {
			return name, true
		}
	}
	for name, r := range members {
		if r.RPC == addr {
			return name, true
		}
	}
	return "", false
}

// checkSender refuses a request that names its sender (from) on a
// connection whose certificate names another node. Without internode TLS
// there is no peer name and nothing to bind.
func checkSender(ctx context.Context, from string) error {
	if peer, ok := security.Peer(ctx); ok && from != peer {
		return fmt.Errorf("%w: sent as %q on a connection of %q", errPeerIdentity, from, peer)
	}
	return nil
}

// checkStatePush refuses a membership push from a peer whose certificate
// names neither a member this node knows nor one the push introduces.
func (n *Node) checkStatePush(ctx context.Context, payload []byte) error {
	peer, ok := security.Peer(ctx)
	if !ok {
		return nil
	}
	if _, ok := n.members.clusterView().Members[peer]; ok {
		return nil
	}
	c, err := n.members.decodeState(payload, "pushing membership")
	if err != nil {
		return err
	}
	if _, ok := c.Members[peer]; !ok {
		return fmt.Errorf("%w: a membership push from %q, which is not a member", errPeerIdentity, peer)
	}
	return nil
}
