package jepsen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dynago/dynago/test/jepsen/checker"
)

// DropRule proves that the partitions of this suite cut what they claim:
// a DROP rule between two nodes cuts internode RPC between exactly those
// two (the agents dial from their own addresses), and DROP rules between
// one node and every other cut gossip, so the others declare it dead while
// the client on 127.0.0.1 still reaches it.
//
// A pairwise cut does not change liveness: memberlist's indirect probes go
// around it through the other nodes (SWIM), and a suspicion would be
// refuted through them too, so the proof of the gossip cut isolates a node
// from all of its peers.
func DropRule(ctx context.Context, spec RunSpec, logw io.Writer) (*Results, error) {
	sc, _ := Lookup("droprule")
	begin := time.Now()
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(logw, "[%7.2fs] %s\n", time.Since(begin).Seconds(), fmt.Sprintf(format, args...))
	}
	cfg := sc.Config()
	cfg.Binary, cfg.Dir, cfg.Namespace, cfg.OutsideNS, cfg.Logf = spec.Binary, spec.Dir, spec.Namespace, spec.OutsideNS, logf
	c, err := NewCluster(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	res := newResults(sc, spec, cfg)
	if err := c.StartAll(ctx); err != nil {
		return nil, err
	}
	logf("cluster up")
	n1, n2 := c.Node("n1"), c.Node("n2")
	pass := func(name, detail string, ok bool) {
		r := checker.Result{Name: name, Valid: ok, Counts: map[string]int{}}
		if !ok {
			r.Counts["violations"] = 1
			r.Examples = []checker.Violation{{Kind: "not_cut", Detail: detail}}
			res.Problems = append(res.Problems, name+": "+detail)
		}
		res.Checkers = append(res.Checkers, r)
		res.Verdicts = append(res.Verdicts, Verdict{Checker: name, Valid: ok, Expected: true, OK: ok})
		logf("%-45s %v: %s", name, ok, detail)
	}

	// Keys: k12 has replicas n1 and n2; k2 has n2 but not n1.
	var k12, k2 string
	var pl12, pl2 []string
	for i := 0; k12 == "" || k2 == ""; i++ {
		key := fmt.Sprintf("drop-%d", i)
		pl, err := c.Preflist(ctx, key)
		if err != nil {
			return nil, err
		}
		switch {
		case k12 == "" && slices.Contains(pl, "n1") && slices.Contains(pl, "n2"):
			k12, pl12 = key, pl
		case k2 == "" && slices.Contains(pl, "n2") && !slices.Contains(pl, "n1"):
			k2, pl2 = key, pl
		}
	}
	third := ""
	for _, n := range pl12 {
		if n != "n1" && n != "n2" {
			third = n
		}
	}
	coord := ""
	for _, n := range pl2 {
		if n != "n2" {
			coord = n
			break
		}
	}
	logf("keys: %s on %v, %s on %v", k12, pl12, k2, pl2)

	// Pairwise: DROP n1 <-> n2.
	if err := c.FW.Apply(ctx, Grudge{"n1": {"n2"}, "n2": {"n1"}}); err != nil {
		return nil, err
	}
	rules, _ := c.FW.Rules(ctx)
	logf("rules:\n%s", strings.TrimSpace(rules))
	for _, dir := range []struct{ from, to *Node }{{n1, n2}, {n2, n1}} {
		val := fmt.Sprintf("via-%s", dir.from.Name)
		status, body := rawPut(ctx, dir.from, k12, val, "w=3&timeout=1500")
		pending := stringsOf(body["pending"]) + stringsOf(body["failed"])
		acked := stringsOf(body["acked"])
		ok := status == 503 && body["code"] == "write_indeterminate" && strings.Contains(pending, dir.to.Name) &&
			strings.Contains(acked, dir.from.Name) && strings.Contains(acked, third)
		pass(fmt.Sprintf("RPC %s->%s cut", dir.from.Name, dir.to.Name),
			fmt.Sprintf("PUT %s w=3 via %s: %d %v (acked %s; pending/failed %s)", k12, dir.from.Name, status, body["code"], acked, pending), ok)
		has := replicaHas(ctx, c, dir.to, k12, val)
		pass(fmt.Sprintf("%s's write did not reach %s", dir.from.Name, dir.to.Name),
			fmt.Sprintf("/debug/replica/%s on %s holds %q: %v; on %s: %v", k12, dir.to.Name, val, has, third, replicaHas(ctx, c, c.Node(third), k12, val)),
			!has && replicaHas(ctx, c, c.Node(third), k12, val))
	}
	status, body := rawPut(ctx, c.Node(coord), k2, "via-"+coord, "w=3&timeout=1500")
	pass(fmt.Sprintf("RPC %s->n2 unaffected", coord), fmt.Sprintf("PUT %s w=3 via %s: %d %v", k2, coord, status, body["code"]),
		status == 204 && replicaHas(ctx, c, n2, k2, "via-"+coord))
	ms, err := c.Members(ctx, n1)
	if err == nil {
		for _, m := range ms {
			if m.Name == "n2" {
				logf("observation: with only n1<->n2 cut, n1 sees n2 alive=%v (memberlist probes n2 indirectly through n3..n5)", m.Alive)
			}
		}
	}

	// Gossip: DROP n2 <-> every other node.
	if err := c.FW.Apply(ctx, Shape(IsolateOne, []string{"n2", "n1", "n3", "n4", "n5"})); err != nil {
		return nil, err
	}
	var peers []*Node
	for _, n := range c.Nodes {
		if n != n2 {
			peers = append(peers, n)
		}
	}
	t0 := time.Now()
	err = c.WaitView(ctx, peers, func(n string) bool { return n != "n2" }, 30*time.Second)
	pass("gossip n2<->all cut: every peer sees n2 dead", fmt.Sprintf("after %.1fs: %v", time.Since(t0).Seconds(), err), err == nil)
	hs, herr := health(ctx, n2)
	pass("client on 127.0.0.1 still reaches isolated n2", fmt.Sprintf("GET /health: %d %v", hs, herr), herr == nil && hs == 200)
	err = c.WaitView(ctx, []*Node{n2}, func(n string) bool { return n == "n2" }, 30*time.Second)
	logf("observation: isolated n2 sees every peer dead: %v after %.1fs (Lifeguard slows a node that gets no acks)", err == nil, time.Since(t0).Seconds())

	// Heal.
	if err := c.FW.Heal(ctx); err != nil {
		return nil, err
	}
	t0 = time.Now()
	err = c.WaitAllAlive(ctx, 60*time.Second)
	pass("heal: every node sees every node alive again", fmt.Sprintf("after %.1fs: %v", time.Since(t0).Seconds(), err), err == nil)
	c.Close()
	res.Pass = len(res.Problems) == 0
	res.TotalSeconds = time.Since(begin).Seconds()
	return res, res.write(spec.Dir)
}

func rawPut(ctx context.Context, n *Node, key, val, query string) (int, map[string]any) {
	req, _ := http.NewRequestWithContext(ctx, "PUT", n.URL()+"/kv/"+url.PathEscape(key)+"?"+query, strings.NewReader(val))
	resp, err := (&http.Client{Timeout: ClientTimeout}).Do(req)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := map[string]any{}
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

func stringsOf(v any) string {
	s, _ := v.([]any)
	var out []string
	for _, x := range s {
		out = append(out, fmt.Sprint(x))
	}
	return strings.Join(out, ",")
}

func replicaHas(ctx context.Context, c *Cluster, n *Node, key, val string) bool {
	rep := c.Replica(ctx, n, key, "")
	for _, v := range rep.Versions {
		if v.Value == val {
			return true
		}
	}
	return false
}

func health(ctx context.Context, n *Node) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", n.URL()+"/health", nil)
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
