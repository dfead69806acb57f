package jepsen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Membership changes (issue 6) as the harness drives them: a node laid out
// and started mid-run with --join (FaultJoin), a dead node taken out of the
// ring with POST /cluster/remove (FaultRemove), and the wait until every
// node has settled on the new ring. The cluster's Nodes follow the ring:
// an added node is a member from the moment it is laid out, a removed one
// is forgotten once the remove is accepted, so heal, convergence, final
// reads and the checkers see the final membership.

// settleWithin bounds the wait after a join or a remove until every node
// lists exactly the members, all alive and valid, with no partition
// transfer pending.
const settleWithin = 60 * time.Second

// AddNode lays out node i (ni at 127.0.0.(10+i), 1..9) and makes it a
// member of the harness's cluster: Nodes, Node and the firewall know it.
// It does not start it (FaultJoin does). Not safe for concurrent use with
// anything that reads Nodes (see Cluster).
func (c *Cluster) AddNode(i int) (*Node, error) {
	if i < 1 || i > 9 {
		return nil, fmt.Errorf("jepsen: node %d: want 1..9 (127.0.0.11..19)", i)
	}
	n := c.layout(i)
	if c.by[n.Name] != nil {
		return nil, fmt.Errorf("jepsen: %s is already a node of the cluster", n.Name)
	}
	c.Nodes = append(slices.Clone(c.Nodes), n)
	c.by[n.Name] = n
	c.FW.AddNode(n.Name, n.IP)
	return n, nil
}

// Forget drops a stopped node that was removed from the ring: the harness
// no longer heals (restarts), converges, reads through or stops it. It
// refuses a running node, whose process the harness must keep stopping.
// Not safe for concurrent use with anything that reads Nodes.
func (c *Cluster) Forget(n *Node) error {
	if n.Running() {
		return fmt.Errorf("jepsen: refusing to forget %s while it runs", n.Name)
	}
	c.Nodes = slices.DeleteFunc(slices.Clone(c.Nodes), func(o *Node) bool { return o == n })
	delete(c.by, n.Name)
	return nil
}

// ReplicaOf is Replica of the node called name; a name that is not a node
// of the cluster (a removed member a stale ring still lists) comes back as
// a replica with Error set.
func (c *Cluster) ReplicaOf(ctx context.Context, name, key, workload string) history.Replica {
	n := c.Node(name)
	if n == nil {
		return history.Replica{Key: key, Workload: workload, Node: name, Versions: []history.Version{},
			Error: fmt.Sprintf("%s is not a node of the cluster (removed?)", name)}
	}
	return c.Replica(ctx, n, key, workload)
}

// seeds returns the gossip addresses of the running nodes other than n.
func (c *Cluster) seeds(n *Node) []string {
	var out []string
	for _, o := range c.Nodes {
		if o != n && o.Running() && !o.Paused() {
			out = append(out, o.Gossip)
		}
	}
	return out
}

// RemoveMember asks via to take the dead node name out of the ring (POST
// /cluster/remove; 409 if via still sees it alive).
func (c *Cluster) RemoveMember(ctx context.Context, via *Node, name string) error {
	body := fmt.Sprintf(`{"node": %q}`, name)
	req, err := http.NewRequestWithContext(ctx, "POST", via.URL()+"/cluster/remove", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.api.Do(req)
	if err != nil {
		return fmt.Errorf("jepsen: remove %s through %s: %w", name, via.Name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("jepsen: remove %s through %s: %d %s", name, via.Name, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return nil
}

// TransferTotals are what a node has pulled since it started (GET
// /debug/transfers "totals"): keys, bytes and partitions whose transfer
// finished.
type TransferTotals struct {
	Keys       int64 `json:"keys"`
	Bytes      int64 `json:"bytes"`
	Partitions int64 `json:"partitions"`
}

func (t TransferTotals) sub(u TransferTotals) TransferTotals {
	return TransferTotals{Keys: t.Keys - u.Keys, Bytes: t.Bytes - u.Bytes, Partitions: t.Partitions - u.Partitions}
}

func (t *TransferTotals) add(u TransferTotals) {
	t.Keys += u.Keys
	t.Bytes += u.Bytes
	t.Partitions += u.Partitions
}

// Transfers is the part of a node's GET /debug/transfers the harness reads.
type Transfers struct {
	Status            string         `json:"status"` // the node's own ring status
	PartitionsReady   int            `json:"partitions_ready"`
	PartitionsPending int            `json:"partitions_pending"`
	Totals            TransferTotals `json:"totals"`
	Jobs              []TransferJob  `json:"jobs"`
}

// TransferJob is one partition a node still pulls (GET /debug/transfers
// "jobs"; a finished pull leaves the list).
type TransferJob struct {
	Partition int    `json:"partition"`
	State     string `json:"state"`
	Error     string `json:"error,omitempty"`
}

// Transfers returns a node's GET /debug/transfers.
func (c *Cluster) Transfers(ctx context.Context, n *Node) (Transfers, error) {
	var t Transfers
	err := c.getJSON(ctx, n.URL()+"/debug/transfers", &t)
	return t, err
}

// AllTransfers returns every node's transfer totals (nodes that do not
// answer are left out).
func (c *Cluster) AllTransfers(ctx context.Context) map[string]TransferTotals {
	out := map[string]TransferTotals{}
	for _, n := range c.Nodes {
		if t, err := c.Transfers(ctx, n); err == nil {
			out[n.Name] = t.Totals
		}
	}
	return out
}

// ringSettled says why the views are not yet those of a settled ring of
// exactly the members want ("" when they are): every member answered
// (views and pending have an entry for it), lists exactly want as ring
// members, each alive and valid, and has no partition pending.
func ringSettled(want []string, views map[string][]Member, pending map[string]int) string {
	for _, v := range want {
		ms, ok := views[v]
		if !ok {
			return fmt.Sprintf("%s did not answer GET /cluster/members", v)
		}
		var names []string
		for _, m := range ms {
			names = append(names, m.Name)
			switch {
			case !slices.Contains(want, m.Name):
				return fmt.Sprintf("%s still lists %s (state %s, alive=%v) as a member", v, m.Name, m.State, m.Alive)
			case !m.Alive:
				return fmt.Sprintf("%s sees %s dead", v, m.Name)
			case m.State != "valid":
				return fmt.Sprintf("%s sees %s %s", v, m.Name, m.State)
			}
		}
		for _, w := range want {
			if !slices.Contains(names, w) {
				return fmt.Sprintf("%s does not list %s as a member", v, w)
			}
		}
		p, ok := pending[v]
		switch {
		case !ok:
			return fmt.Sprintf("%s did not answer GET /debug/transfers", v)
		case p > 0:
			return fmt.Sprintf("%s has %d partitions pending", v, p)
		}
	}
	return ""
}

// WaitSettled waits until every node of the cluster lists exactly the
// cluster's nodes as ring members, each alive and valid, and no node has a
// partition transfer pending: a join or a remove has finished everywhere.
func (c *Cluster) WaitSettled(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	want := c.Names()
	for {
		views := map[string][]Member{}
		pending := map[string]int{}
		for _, n := range c.Nodes {
			if ms, err := c.Members(ctx, n); err == nil {
				views[n.Name] = ms
			}
			if t, err := c.Transfers(ctx, n); err == nil {
				pending[n.Name] = t.PartitionsPending
			}
		}
		why := ringSettled(want, views, pending)
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jepsen: the ring did not settle on %s within %s: %s", strings.Join(want, ","), within, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond): // polling interval
		}
	}
}

// membership applies a FaultJoin or FaultRemove event to its one node.
func (n *Nemesis) membership(ctx context.Context, e Event) error {
	if len(e.Nodes) != 1 {
		return fmt.Errorf("jepsen: %s names %d nodes, want one", e.Fault, len(e.Nodes))
	}
	name := e.Nodes[0]
	nd := n.c.Node(name)
	switch {
	case e.Phase == "stop":
		return n.c.WaitSettled(ctx, settleWithin)
	case nd == nil:
		return fmt.Errorf("jepsen: %s is not a node of the cluster", name)
	case e.Fault == FaultJoin:
		seeds := n.c.seeds(nd)
		if len(seeds) == 0 {
			return fmt.Errorf("jepsen: no running node for %s to join", name)
		}
		return n.c.Start(ctx, nd, seeds)
	}
	// FaultRemove start.
	if nd.Running() {
		return fmt.Errorf("jepsen: refusing to remove %s while it runs (remove is for dead nodes)", name)
	}
	var via *Node
	for _, o := range n.c.Nodes {
		if o != nd && o.Running() && !o.Paused() {
			via = o
			break
		}
	}
	if via == nil {
		return fmt.Errorf("jepsen: no running node to remove %s through", name)
	}
	if err := n.c.RemoveMember(ctx, via, name); err != nil {
		return err
	}
	n.log("nemesis: %s removed from the ring through %s", name, via.Name)
	return n.c.Forget(nd)
}

// describeMembership is Event.Describe for FaultJoin and FaultRemove.
func describeMembership(e Event) string {
	who := strings.Join(e.Nodes, ",")
	switch {
	case e.Fault == FaultJoin && e.Phase == "start":
		return "join " + who + " (empty data dir, --join the running nodes)"
	case e.Fault == FaultJoin:
		return "wait until " + who + " is valid on every node, no transfer pending"
	case e.Phase == "start":
		return "remove " + who + " from the ring (POST /cluster/remove)"
	}
	return "wait until " + who + "'s partitions are rebuilt: every node lists the rest valid, no transfer pending"
}
