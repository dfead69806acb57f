package node

import (
	"context"
	"fmt"
	"log"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/rpc"
)

// Transport gives a node its listeners, its dialer and its gossip
// transport: the machine's network (TCP, the default) or a simulated one
// (node/memnet), so a whole cluster can run in one process on virtual
// time. Implementations must be safe for concurrent use.
type Transport interface {
	// Listen binds a stream listener at addr ("host:port"; port 0 picks a
	// free port).
	Listen(addr string) (net.Listener, error)
	// Dial opens a stream to addr. It honours ctx's deadline.
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// Gossip binds a memberlist transport at addr (port 0 picks one) and
	// returns it with the "host:port" it advertises.
	Gossip(addr string) (memberlist.Transport, string, error)
}

// TCP returns the machine's network as a Transport whose outbound
// connections (RPC and gossip streams) originate from localIP, so
// source-address firewall rules in fault tests see the right node. log
// receives memberlist's log lines.
func TCP(localIP string, log *log.Logger) Transport {
	return tcpTransport{localIP: localIP, log: log}
}

type tcpTransport struct {
	localIP string
	log     *log.Logger
}

func (t tcpTransport) Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func (t tcpTransport) Dial(ctx context.Context, addr string) (net.Conn, error) {
	return rpc.TCPDial(t.localIP)(ctx, addr)
}

func (t tcpTransport) Gossip(addr string) (memberlist.Transport, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	addr, err := resolveIPAddr(ctx, addr) // memberlist binds IPs only
	if err != nil {
		return nil, "", fmt.Errorf("gossip address: %w", err)
	}
	host, port, err := splitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("gossip address: %w", err)
	}
	if host == "" {
		host = "0.0.0.0" // every interface, as for the TCP listeners
	}
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: t.log})
	if err != nil {
		return nil, "", err
	}
	if port == 0 {
		port = nt.GetAutoBindPort()
	}
	return &boundTransport{NetTransport: nt, localIP: t.localIP}, net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// boundTransport is memberlist's NetTransport with every outbound TCP stream
// dialed from the node's own IP, so source-address firewall rules see the
// right node. (UDP already leaves from the bound socket.)
type boundTransport struct {
	*memberlist.NetTransport
	localIP string
}

func (t *boundTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return rpc.Dialer(t.localIP, timeout).Dial("tcp", addr)
}

func (t *boundTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return t.DialTimeout(a.Addr, timeout)
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}
