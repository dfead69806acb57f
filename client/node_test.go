package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/storage/memory"
)

// testNode is a real dynago node running in this process, with in-memory
// storage, on 127.0.0.1 ports the kernel picks.
type testNode struct {
	name   string
	url    string
	gossip string
	cancel context.CancelFunc
	done   chan error
}

// nodeConfig is a test node's configuration: in memory, fast failure
// detection, q partitions and n replicas with R = W = n/2+1.
func nodeConfig(name string, q, n int) node.Config {
	c := node.DefaultConfig()
	c.Name = name
	c.HTTPAddr, c.RPCAddr, c.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.Logger = slog.New(slog.DiscardHandler)
	c.Ring.Partitions, c.Ring.N = q, n
	c.Quorum.N, c.Quorum.R, c.Quorum.W = n, n/2+1, n/2+1
	c.RequestTimeout = 2 * time.Second
	c.Gossip = node.GossipConfig{ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 500 * time.Millisecond,
		SuspicionMult: 4, GossipInterval: 50 * time.Millisecond}
	return c
}

// startNode starts a node and waits until it serves.
func startNode(cfg node.Config) (*testNode, error) {
	n, err := node.New(cfg, memory.New(), nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{name: cfg.Name, url: "http://" + n.HTTPAddr(), gossip: n.GossipAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
		return tn, nil
	case err := <-tn.done:
		cancel()
		return nil, fmt.Errorf("node %s stopped at start: %v", cfg.Name, err)
	case <-time.After(20 * time.Second):
		tn.stop()
		return nil, fmt.Errorf("node %s not ready in 20s", cfg.Name)
	}
}

// stop shuts the node down and waits for it (idempotent).
func (tn *testNode) stop() {
	tn.cancel()
	if tn.done != nil {
		<-tn.done
		tn.done = nil
	}
}

// startCluster starts n nodes, n2... joining n1, with q partitions and N =
// min(3, n), and waits until every node sees all of them alive and valid
// with nothing left to transfer. On error it stops what it started.
func startCluster(n, q int) ([]*testNode, error) {
	var nodes []*testNode
	stopAll := func() {
		for _, tn := range nodes {
			tn.stop()
		}
	}
	for i := range n {
		cfg := nodeConfig(fmt.Sprintf("n%d", i+1), q, min(3, n))
		if i > 0 {
			cfg.Join = []string{nodes[0].gossip}
		}
		tn, err := startNode(cfg)
		if err != nil {
			stopAll()
			return nil, err
		}
		nodes = append(nodes, tn)
	}
	if err := waitSettled(nodes, 60*time.Second); err != nil {
		stopAll()
		return nil, err
	}
	return nodes, nil
}

// waitSettled polls every node's members, transfers and pending changes
// until all agree the cluster is whole and placed.
func waitSettled(nodes []*testNode, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for {
		last = settled(ctx, nodes)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not settled after %s: %w", timeout, last)
		case <-time.After(50 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}

func settled(ctx context.Context, nodes []*testNode) error {
	for _, tn := range nodes {
		c, err := client.New([]string{tn.url})
		if err != nil {
			return err
		}
		ms, _, err := c.Members(ctx)
		if err != nil {
			return err
		}
		if len(ms) != len(nodes) || slices.ContainsFunc(ms, func(m api.Member) bool { return !m.Alive || m.State != "valid" }) {
			return fmt.Errorf("%s sees %+v", tn.name, ms)
		}
		tr, _, err := c.Transfers(ctx)
		if err != nil {
			return err
		}
		if tr.PartitionsPending != 0 {
			return fmt.Errorf("%s has %d partitions to pull", tn.name, tr.PartitionsPending)
		}
		p, _, err := c.Plan(ctx, api.PlanChange{Op: api.PlanPending})
		if err != nil {
			return err
		}
		if len(p.Pending) != 0 {
			return fmt.Errorf("%s has pending changes %v", tn.name, p.Pending)
		}
	}
	return nil
}

// waitDown waits until the node at url sees name as down.
func waitDown(url, name string, timeout time.Duration) error {
	c, err := client.New([]string{url})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		ms, _, err := c.Members(ctx)
		if err == nil && slices.ContainsFunc(ms, func(m api.Member) bool { return m.Name == name && !m.Alive }) {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s still sees %s alive after %s", url, name, timeout), err)
		case <-time.After(50 * time.Millisecond): // polling interval, not synchronisation
		}
	}
}
