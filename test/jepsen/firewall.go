package jepsen

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Grudge is a partition: for each node, the nodes whose packets it drops.
// Grudges built by the helpers in nemesis.go are symmetric.
type Grudge map[string][]string

// Pairs returns the grudge as sorted (from, to) pairs: traffic from "from"
// to "to" is dropped.
func (g Grudge) Pairs() [][2]string {
	var out [][2]string
	for to, froms := range g {
		for _, from := range froms {
			out = append(out, [2]string{from, to})
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return strings.Compare(a[0]+" "+a[1], b[0]+" "+b[1]) })
	return out
}

// String shows the grudge as the components each node can still reach.
func (g Grudge) String() string {
	keys := slices.Sorted(maps.Keys(g))
	var parts []string
	for _, k := range keys {
		if len(g[k]) > 0 {
			parts = append(parts, fmt.Sprintf("%s-x-%s", k, strings.Join(slices.Sorted(slices.Values(g[k])), ",")))
		}
	}
	return strings.Join(parts, " ")
}

// Firewall installs partitions as iptables DROP rules in the INPUT chain of
// the suite's own namespace, matched on source and destination address.
// Loopback traffic crosses INPUT once per packet, so a rule per direction
// cuts a pair of nodes; clients on 127.0.0.1 match no rule. Safe for
// concurrent use.
type Firewall struct {
	ns      string
	outside string            // the test process's namespace (CurrentNetNS)
	ips     map[string]string // node name -> IP

	mu sync.Mutex
}

// NewFirewall returns the firewall of namespace ns for nodes with the
// given IPs; outside identifies the namespace it must never act in.
func NewFirewall(ns, outside string, ips map[string]string) *Firewall {
	return &Firewall{ns: ns, outside: outside, ips: maps.Clone(ips)}
}

// AddNode lets grudges name a node that joined after the firewall was made.
func (f *Firewall) AddNode(name, ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips[name] = ip
}

// Apply replaces every rule with the grudge's.
func (f *Firewall) Apply(ctx context.Context, g Grudge) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.iptables(ctx, "-F", "INPUT"); err != nil {
		return err
	}
	for _, p := range g.Pairs() {
		from, ok1 := f.ips[p[0]]
		to, ok2 := f.ips[p[1]]
		if !ok1 || !ok2 {
			return fmt.Errorf("jepsen: grudge names an unknown node: %v", p)
		}
		if err := f.iptables(ctx, "-A", "INPUT", "-s", from, "-d", to, "-j", "DROP"); err != nil {
			return err
		}
	}
	return nil
}

// Heal removes every rule.
func (f *Firewall) Heal(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.iptables(ctx, "-F", "INPUT")
}

// Rules lists the INPUT chain (for the log).
func (f *Firewall) Rules(ctx context.Context) (string, error) {
	if err := CheckInside(f.ns, f.outside); err != nil {
		return "", err
	}
	return run(ctx, "iptables", "-w", "-S", "INPUT")
}

// Counters lists the INPUT chain's rules with the packets each dropped.
func (f *Firewall) Counters(ctx context.Context) (string, error) {
	if err := CheckInside(f.ns, f.outside); err != nil {
		return "", err
	}
	return run(ctx, "iptables", "-w", "-L", "INPUT", "-v", "-n", "-x")
}

func (f *Firewall) iptables(ctx context.Context, args ...string) error {
	if err := CheckInside(f.ns, f.outside); err != nil {
		return err
	}
	out, err := run(ctx, "iptables", append([]string{"-w"}, args...)...)
	if err != nil {
		return fmt.Errorf("jepsen: iptables %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
