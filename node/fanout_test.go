package node

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// gateStore holds its reads of one stored key while closed (a slow
// replica: GC, compaction, a lost packet).
type gateStore struct {
	storage.Store
	key    atomic.Pointer[[]byte]
	open   chan struct{}
	closed atomic.Bool
}

func (g *gateStore) Get(ctx context.Context, k []byte) ([]byte, error) {
	if want := g.key.Load(); want != nil && g.closed.Load() && bytes.Equal(k, *want) {
		select {
		case <-g.open:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.Get(ctx, k)
}

// With --read-fanout quorum a read asks only R replicas, this node first,
// and asks the next one as well when those are slower than the speculative
// retry: a stalled replica does not hold the read up. With all, every
// replica is asked.
func TestReadFanout(t *testing.T) {
	gates := make([]*gateStore, 3)
	nodes := startCluster(t, clusterOpts{n: 3, inMemory: true, mutate: func(i int, c *Config) {
		// The default (ReadFanoutQuorum).
		gates[i] = &gateStore{open: make(chan struct{})}
		c.test.wrap = func(st storage.Store) storage.Store { gates[i].Store = st; return gates[i] }
	}})
	coord := nodes[0]
	key := "fanout"
	if r := coord.put(key, "v", "", "w=3"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	asked := func(r response) string {
		rep := r.header.Get(headerReport)
		return rep[strings.Index(rep, "asked="):]
	}
	if r := coord.get(key, "r=2"); r.status != 200 || asked(r) != "asked=2" {
		t.Fatalf("quorum fanout at r=2: %d, report %q", r.status, r.header.Get(headerReport))
	}

	// Stall the replica a quorum read asks after this node.
	rg := coord.node.members.ring.Load()
	p := rg.Partition([]byte(key))
	var next ring.NodeID
	for _, id := range rg.Primaries(p) {
		if string(id) != coord.cfg.Name {
			next = id
			break
		}
	}
	dk := storage.DataKey(uint32(p), []byte(key))
	var slow *gateStore
	for i, tn := range nodes {
		if tn.cfg.Name == string(next) {
			slow = gates[i]
		}
	}
	slow.key.Store(&dk)
	slow.closed.Store(true)
	r := coord.get(key, "r=2")
	slow.closed.Store(false)
	close(slow.open)
	if r.status != 200 || string(r.body) != "v" || asked(r) != "asked=3" || !strings.Contains(r.header.Get(headerReport), "replies=2") {
		t.Fatalf("read with %s stalled: %d %q, report %q; want the third replica asked and 2 replies", next, r.status, r.body, r.header.Get(headerReport))
	}
}

// --read-fanout all asks every replica (Dynamo's way).
func TestReadFanoutAll(t *testing.T) {
	nodes := startCluster(t, clusterOpts{n: 3, inMemory: true, mutate: func(_ int, c *Config) { c.ReadFanout = ReadFanoutAll }})
	if r := nodes[0].put("k", "v", "", "w=3"); r.status != 204 {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	r := nodes[0].get("k", "r=2")
	if r.status != 200 || !strings.HasSuffix(r.header.Get(headerReport), "asked=3") {
		t.Fatalf("fanout all: %d, report %q", r.status, r.header.Get(headerReport))
	}
}
