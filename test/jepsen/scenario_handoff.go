package jepsen

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// s6Keys are the keys S6 writes.
func s6Keys() []string {
	keys := make([]string, 12)
	for i := range keys {
		keys[i] = fmt.Sprintf("s6-%d", i)
	}
	return keys
}

// s6Script: isolate the second primary of s6-0 (the owner), add set
// elements to every S6 key through the other nodes for a while, so
// fallbacks keep hints for the owner; SIGKILL the fallback that holds the
// most hints, restart it on its data dir and check it still holds them;
// then heal. The harness's passive convergence wait then needs the hints
// delivered, and the set and durable checkers need every acked add kept.
func s6Script(ctx context.Context, r *Run) error {
	keys := s6Keys()
	pl, err := r.C.Preflist(ctx, keys[0])
	if err != nil {
		return err
	}
	owner := r.C.Node(pl[1])
	order := []string{owner.Name}
	var others []*Node
	for _, n := range r.C.Nodes {
		if n != owner {
			order = append(order, n.Name)
			others = append(others, n)
		}
	}
	r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "start", Shape: IsolateOne, Grudge: Shape(IsolateOne, order), Nodes: order})
	if err := r.C.WaitView(ctx, others, func(n string) bool { return n != owner.Name }, 30*time.Second); err != nil {
		return fmt.Errorf("S6: the others did not see %s dead: %w", owner.Name, err)
	}

	// Writers on every other node: read, union, add, write with context.
	spec := WorkloadSpec{Kind: SetWorkload, Name: "script", Params: Params{TimeoutMS: DefaultServerTimeoutMS}}
	writeFor := 15 * time.Second
	deadline := time.Now().Add(writeFor)
	done := make(chan error, len(others))
	for i, n := range others {
		c := &client{id: 200 + i, spec: spec, kv: NewKV(n.Name, n.HTTP, ClientTimeout), rec: r.Rec, cache: map[string]cached{}}
		go func() {
			for j := 0; time.Now().Before(deadline) && ctx.Err() == nil; j++ {
				s6Add(ctx, c, keys[j%len(keys)])
				time.Sleep(defaultThink) // pacing the client, as the workloads do
			}
			done <- nil
		}()
	}
	for range others {
		<-done
	}

	// The fallback with the most hints for the owner dies and restarts.
	var holder *Node
	most := 0
	for _, n := range others {
		h, err := r.C.Hints(ctx, n)
		if err != nil {
			return err
		}
		if h > most {
			holder, most = n, h
		}
	}
	if holder == nil {
		return fmt.Errorf("S6: no node holds hints for %s after %v of writes", owner.Name, writeFor)
	}
	r.Logf("S6: %s holds %d hints for %s; SIGKILL and restart it", holder.Name, most, owner.Name)
	// Crash and restart through the nemesis, so both are in the history.
	// Start joins every node's gossip; the isolated owner's address just
	// fails to answer.
	r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "start", Nodes: []string{holder.Name}})
	r.Nem.Apply(ctx, Event{Fault: FaultCrash, Phase: "stop", Nodes: []string{holder.Name}})
	if !holder.Running() {
		return fmt.Errorf("S6: %s did not restart", holder.Name)
	}
	after, err := r.C.Hints(ctx, holder)
	if err != nil {
		return err
	}
	if after < most {
		return fmt.Errorf("S6: %s held %d hints before SIGKILL and %d after restart: hints were lost", holder.Name, most, after)
	}
	r.Logf("S6: %s restarted holding %d hints", holder.Name, after)
	r.Nem.Apply(ctx, Event{Fault: FaultPartition, Phase: "stop", Shape: IsolateOne})
	return r.C.WaitAllAlive(ctx, 60*time.Second)
}

// s6Add is one set add on key: read, union the siblings, add a new
// element, write with the read's context.
func s6Add(ctx context.Context, c *client, key string) {
	res, ok := c.read(ctx, key)
	if !ok {
		return
	}
	var elems []int64
	for _, s := range res.Siblings {
		if e, ok := history.ParseSetValue(s); ok {
			elems = append(elems, e...)
		}
	}
	slices.Sort(elems)
	elems = slices.Compact(elems)
	if len(elems) >= SetMaxElements {
		return
	}
	c.seq++
	elem := int64(c.id+1)*1_000_000 + c.seq
	c.put(ctx, history.Add, key, history.SetValue(c.nextID(), append(elems, elem)), elem, cached{ctx: res.Context, siblings: res.Siblings})
}
