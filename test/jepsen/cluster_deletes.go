package jepsen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// What the delete and membership-fault scenarios (S16–S20,
// scenario_deletes.go) ask of the cluster besides the rest of the
// harness: where a key is placed as one node sees it (fallbacks included),
// a node's own ring, a leave's plan, a leave, and the test-only fault that
// makes a node drop the ownership tables it is sent (--test-faults).

// Placement is a key's placement as one node sees it (GET
// /debug/preflist/{key}): its partition, its primaries, and for each
// primary that node sees down the live fallback that stands in for it.
type Placement struct {
	Partition int
	Primaries []string
	Fallbacks map[string]string // down primary -> fallback
}

// PlacementVia asks via where key is placed.
func (c *Cluster) PlacementVia(ctx context.Context, via *Node, key string) (Placement, error) {
	var body struct {
		Partition int `json:"partition"`
		Preflist  []struct {
			Node string `json:"node"`
		} `json:"preflist"`
		Fallbacks []struct {
			Node string `json:"node"`
			For  string `json:"for"`
		} `json:"fallbacks"`
	}
	if err := c.getJSON(ctx, via.URL()+"/debug/preflist/"+url.PathEscape(key), &body); err != nil {
		return Placement{}, err
	}
	pl := Placement{Partition: body.Partition, Fallbacks: map[string]string{}}
	for _, e := range body.Preflist {
		pl.Primaries = append(pl.Primaries, e.Node)
	}
	for _, f := range body.Fallbacks {
		pl.Fallbacks[f.For] = f.Node
	}
	return pl, nil
}

// RingOf returns each partition's primaries as n sees them (GET
// /cluster/ring).
func (c *Cluster) RingOf(ctx context.Context, n *Node) (map[int][]string, error) {
	var body struct {
		Preflists []struct {
			Partition int      `json:"partition"`
			Nodes     []string `json:"nodes"`
		} `json:"preflists"`
	}
	if err := c.getJSON(ctx, n.URL()+"/cluster/ring", &body); err != nil {
		return nil, err
	}
	out := make(map[int][]string, len(body.Preflists))
	for _, p := range body.Preflists {
		out[p.Partition] = p.Nodes
	}
	return out, nil
}

// RingDiff counts the partitions whose primaries differ between two rings.
func RingDiff(a, b map[int][]string) int {
	d := 0
	for p, na := range a {
		if strings.Join(na, ",") != strings.Join(b[p], ",") {
			d++
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			d++
		}
	}
	return d
}

// PlanGains returns, per node, the partitions it would gain if name left
// (GET /cluster/plan?leave=NAME through via: the claim that the leave
// would make, computed but not made).
func (c *Cluster) PlanGains(ctx context.Context, via *Node, name string) (map[string][]int, error) {
	var body struct {
		Nodes []struct {
			Node string `json:"node"`
			Gain []int  `json:"gain"`
		} `json:"nodes"`
	}
	if err := c.getJSON(ctx, via.URL()+"/cluster/plan?leave="+url.QueryEscape(name), &body); err != nil {
		return nil, err
	}
	out := map[string][]int{}
	for _, n := range body.Nodes {
		out[n.Node] = n.Gain
	}
	return out, nil
}

// post sends a small JSON body (or none) and wants one of the statuses.
func (c *Cluster) post(ctx context.Context, u, body string, want ...int) error {
	req, err := http.NewRequestWithContext(ctx, "POST", u, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.api.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, s := range want {
		if resp.StatusCode == s {
			return nil
		}
	}
	return fmt.Errorf("POST %s: %d %s", u, resp.StatusCode, strings.TrimSpace(string(b)))
}

// Leave asks n to leave the cluster (POST /cluster/leave): it hands its
// partitions to their new owners and then exits by itself.
func (c *Cluster) Leave(ctx context.Context, n *Node) error {
	if err := c.post(ctx, n.URL()+"/cluster/leave", "", http.StatusAccepted, http.StatusOK); err != nil {
		return fmt.Errorf("jepsen: leave %s: %w", n.Name, err)
	}
	return nil
}

// DropTables sets n's test-only fault (POST /debug/faults, agents started
// with --test-faults): while on, n ignores every ownership table gossip or
// the claimant's push brings it and keeps placing keys by its own.
func (c *Cluster) DropTables(ctx context.Context, n *Node, on bool) error {
	if err := c.post(ctx, n.URL()+"/debug/faults", fmt.Sprintf(`{"drop_tables": %v}`, on), http.StatusOK); err != nil {
		return fmt.Errorf("jepsen: drop_tables=%v on %s: %w", on, n.Name, err)
	}
	var got struct {
		DropTables bool `json:"drop_tables"`
	}
	if err := c.getJSON(ctx, n.URL()+"/debug/faults", &got); err != nil {
		return err
	}
	if got.DropTables != on {
		return fmt.Errorf("jepsen: GET /debug/faults on %s says drop_tables=%v after setting %v", n.Name, got.DropTables, on)
	}
	return nil
}

// WaitExit waits until n's process has exited by itself (a node that
// left), at most within.
func (c *Cluster) WaitExit(ctx context.Context, n *Node, within time.Duration) error {
	n.mu.Lock()
	p := n.mu.proc
	n.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(within):
		return fmt.Errorf("jepsen: %s still runs %s later", n.Name, within)
	}
}

// leaving applies a FaultLeave event: start asks the node to leave; stop
// waits until it has exited by itself (its handoff and last push done),
// forgets it and waits until the others have settled without it.
func (n *Nemesis) leaving(ctx context.Context, e Event) error {
	if len(e.Nodes) != 1 {
		return fmt.Errorf("jepsen: leave names %d nodes, want one", len(e.Nodes))
	}
	nd := n.c.Node(e.Nodes[0])
	if nd == nil {
		return fmt.Errorf("jepsen: %s is not a node of the cluster", e.Nodes[0])
	}
	if e.Phase == "start" {
		return n.c.Leave(ctx, nd)
	}
	if err := n.c.WaitExit(ctx, nd, leaveWithin); err != nil {
		return err
	}
	if err := n.c.Forget(nd); err != nil {
		return err
	}
	return n.c.WaitSettled(ctx, settleWithin)
}

// leaveWithin bounds the wait for a leaving node to finish and exit once
// nothing holds it up.
const leaveWithin = 90 * time.Second

// Metric returns the value of an unlabelled counter or gauge in n's GET
// /metrics (0 when n does not report it).
func (c *Cluster) Metric(ctx context.Context, n *Node, name string) (float64, error) {
	b, err := c.get(ctx, n.URL()+"/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}
