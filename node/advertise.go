package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Bind and advertise. A node binds its listeners at Config.HTTPAddr,
// RPCAddr and GossipAddr, and tells its peers (in its membership record
// and gossip metadata) to dial the advertised addresses: Config's
// AdvertiseHTTP, AdvertiseRPC and AdvertiseGossip when set, else the host
// Config.Advertise with the port each listener bound, else the bound
// address itself. So a node can bind 0.0.0.0 or [::] (a container, a
// pod) and advertise the address its peers reach it at (a NAT's, a pod's
// DNS name).
//
// What a record carries: the RPC and HTTP addresses exactly as advertised,
// host names included, and dialed through the resolver each time, so a
// name that follows a restarted pod to its new IP keeps working. The
// gossip address is resolved to an IP once, at start: memberlist
// identifies members by IP:port and gossips only IPs. A node whose
// advertised addresses change between runs (a pod's new IP) rejoins under
// its name only when internode mutual TLS proves it is that node
// (rebind.go).

// checkBindAddr reports what is wrong with a bind address ("host:port";
// the host an IP, a host name, or empty for every interface).
func checkBindAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if err := checkPort(port); err != nil {
		return err
	}
	if host == "" || net.ParseIP(host) != nil {
		return nil
	}
	return checkHostName(host)
}

// checkAdvertiseAddr reports what is wrong with an advertised address: a
// host peers can dial (an IP that is not unspecified, or a host name),
// and a port (0: the bound one).
func checkAdvertiseAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if err := checkPort(port); err != nil {
		return err
	}
	return checkAdvertiseHost(host)
}

func checkAdvertiseHost(host string) error {
	if ip := net.ParseIP(host); ip != nil {
		if ip.IsUnspecified() {
			return fmt.Errorf("%s is not an address a peer can dial", host)
		}
		return nil
	}
	if host == "" {
		return errors.New("the host is missing")
	}
	return checkHostName(host)
}

func checkPort(port string) error {
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 0 || p > 65535 || fmt.Sprint(p) != port {
		return fmt.Errorf("port %q: want a number from 0 to 65535", port)
	}
	return nil
}

// checkHostName accepts a DNS name (RFC 1123 labels: letters, digits,
// hyphens, dots; underscores too, as some resolvers do).
func checkHostName(host string) error {
	if len(host) > 253 {
		return fmt.Errorf("host name %.20q… is longer than 253 bytes", host)
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q: want an IP address or a host name", host)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("host %q: want an IP address or a host name", host)
			}
		}
	}
	return nil
}

// unspecifiedHost reports whether a bind host means "every interface":
// empty, 0.0.0.0 or ::. Peers can't dial such an address.
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// advertised is what peers dial for a listener bound at bound (its real
// address, port chosen): own ("host:port", port 0 meaning the bound
// port) if set, else host with the bound port, else bound itself, which
// must then name a host peers can dial.
func advertised(bound, own, host string) (string, error) {
	bhost, bport, err := net.SplitHostPort(bound)
	if err != nil {
		return "", err
	}
	switch {
	case own != "":
		h, p, err := net.SplitHostPort(own)
		if err != nil {
			return "", err
		}
		if p == "0" || p == "" {
			p = bport
		}
		return net.JoinHostPort(h, p), nil
	case host != "":
		return net.JoinHostPort(host, bport), nil
	case unspecifiedHost(bhost):
		return "", fmt.Errorf("bound at %s, every interface: say what peers dial with an advertise address (--advertise)", bound)
	}
	return bound, nil
}

// resolveIPAddr resolves addr's host to an IP address ("ip:port"); an IP
// is returned as it is. IPv4 is preferred when a name has both, since
// memberlist gossips one address per member.
func resolveIPAddr(ctx context.Context, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host == "" || net.ParseIP(host) != nil {
		return addr, nil
	}
	ips, err := net.DefaultResolver.LookupIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolving %s: %w", host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("resolving %s: no addresses", host)
	}
	best := ips[0]
	for _, ip := range ips {
		if ip.To4() != nil {
			best = ip
			break
		}
	}
	return net.JoinHostPort(best.String(), port), nil
}

// dialFromIP is the local IP outbound connections are dialed from for a
// listener bound at host: the host itself when it is one IP, else ""
// (the kernel picks: a bind on every interface, or a name).
func dialFromIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		return ""
	}
	return host
}
