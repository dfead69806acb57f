package jepsen

import (
	"context"
	"fmt"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Ring returns each partition's preference list (GET /cluster/ring),
// asking the first running node.
func (c *Cluster) Ring(ctx context.Context) (map[int][]string, error) {
	var lastErr error
	for _, n := range c.Nodes {
		if !n.Running() || n.Paused() {
			continue
		}
		out, err := c.RingOf(ctx, n)
		if err != nil {
			lastErr = err
			continue
		}
		return out, nil
	}
	return nil, fmt.Errorf("jepsen: no node answered GET /cluster/ring: %v", lastErr)
}

// MerkleTrees returns the Merkle trees a node holds (GET /debug/merkle: one
// root per partition it keeps a tree for). Any failure, a 404 from a store
// without the endpoint included, comes back as one Tree with Error set, so
// the convergence check fails instead of passing unseen.
func (c *Cluster) MerkleTrees(ctx context.Context, n *Node) []history.Tree {
	var body struct {
		Node       string         `json:"node"`
		Partitions []history.Tree `json:"partitions"`
	}
	if err := c.getJSON(ctx, n.URL()+"/debug/merkle", &body); err != nil {
		return []history.Tree{{Node: n.Name, Error: err.Error()}}
	}
	for i := range body.Partitions {
		body.Partitions[i].Node = n.Name // the harness's name, whatever the node calls itself
	}
	return body.Partitions
}

// AllMerkleTrees collects every node's trees.
func (c *Cluster) AllMerkleTrees(ctx context.Context) []history.Tree {
	var out []history.Tree
	for _, n := range c.Nodes {
		out = append(out, c.MerkleTrees(ctx, n)...)
	}
	return out
}

// AAETotals are a node's anti-entropy counters since it started (GET
// /debug/aae, "totals"): a restarted node counts from zero again.
type AAETotals struct {
	Exchanges        int64 `json:"exchanges"`
	ExchangeErrors   int64 `json:"exchange_errors"`
	Differences      int64 `json:"differences"`
	KeysRepaired     int64 `json:"keys_repaired"`
	BytesSent        int64 `json:"bytes_sent"`
	Tombstones       int64 `json:"tombstones"` // stored now
	TombstonesReaped int64 `json:"tombstones_reaped"`
}

func (a *AAETotals) add(b AAETotals) {
	a.Exchanges += b.Exchanges
	a.ExchangeErrors += b.ExchangeErrors
	a.Differences += b.Differences
	a.KeysRepaired += b.KeysRepaired
	a.BytesSent += b.BytesSent
	a.Tombstones += b.Tombstones
	a.TombstonesReaped += b.TombstonesReaped
}

// AAE returns a node's anti-entropy totals (GET /debug/aae).
func (c *Cluster) AAE(ctx context.Context, n *Node) (AAETotals, error) {
	var body struct {
		Totals AAETotals `json:"totals"`
	}
	err := c.getJSON(ctx, n.URL()+"/debug/aae", &body)
	return body.Totals, err
}

// AAEReport is every node's anti-entropy totals and their sum, taken
// after convergence (results.json "aae").
type AAEReport struct {
	Nodes  map[string]AAETotals `json:"nodes"`
	Sum    AAETotals            `json:"sum"`
	Errors []string             `json:"errors,omitempty"`
}

// AAEReport asks every node for its anti-entropy totals.
func (c *Cluster) AAEReport(ctx context.Context) *AAEReport {
	rep := &AAEReport{Nodes: map[string]AAETotals{}}
	for _, n := range c.Nodes {
		t, err := c.AAE(ctx, n)
		if err != nil {
			rep.Errors = append(rep.Errors, fmt.Sprintf("%s: %v", n.Name, err))
			continue
		}
		rep.Nodes[n.Name] = t
		rep.Sum.add(t)
	}
	return rep
}
