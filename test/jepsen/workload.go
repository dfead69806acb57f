package jepsen

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
	"github.com/dynago/dynago/vclock"
)

// Workload kinds.
const (
	// Register: reads, and writes with the context of the client's last
	// read of the key (some blind): a multi-value register.
	Register = "register"
	// SetWorkload: each add reads the key, unions the siblings, adds a new
	// element and writes with the read's context (Jepsen's set test). A set
	// key holds at most SetMaxElements; a client that reads a full one moves
	// to the slot's next generation, so values stay small however long the
	// run.
	SetWorkload = "set"
	// DeleteWorkload: blind puts, reads, and deletes with the context of
	// the client's last read (no resurrection).
	DeleteWorkload = "delete"
	// LinReg: a register at R = W = N, checked for linearizability.
	LinReg = "linreg"
	// BlindWrite: blind puts only (no context, no reads), so only
	// anti-entropy can repair a replica that missed some (S7).
	BlindWrite = "blind"
	// Churn: each client owns some keys and walks each through a life
	// cycle again and again (churnSteps): read, create with the read's
	// context, read, update with context, read, update, a rest, read,
	// delete with context, a rest. A rest lasts up to ChurnRest, so some
	// keys are re-created before their tombstone is reaped and some after,
	// and some stay live long enough for a replay (S16). With Replayers,
	// the context read before every delete is also kept for replay.
	Churn = "churn"
)

// WorkloadSpec is one workload of a scenario.
type WorkloadSpec struct {
	// Kind is what the clients do (Register, SetWorkload, ...).
	Kind string
	// Name tags the workload's keys and ops (default: Kind); two
	// workloads of one kind need different names.
	Name    string
	Clients int
	Keys    int
	// Params are the requests' quorum parameters (zero: node defaults).
	Params Params
	// LWW makes set clients keep one sibling instead of merging them: the
	// last-write-wins client of must-fail control S14.
	LWW bool
	// BlindPct is the percentage of register writes sent without a context.
	BlindPct int
	// Think is the longest pause between one client's ops.
	Think time.Duration
	// Replayers (churn) are extra clients that write with the contexts
	// captured before deletes, ReplayAfter or later: a client that read a
	// key long ago and writes it back with that old context (S16).
	Replayers   int
	ReplayAfter time.Duration
	// ChurnRest (churn) bounds each rest of a churn cycle, after the last
	// update and after the delete (drawn uniformly in [0, ChurnRest)).
	ChurnRest time.Duration
	// WriteVia sends the clients' writes through this node while their
	// reads go through the node each client is bound to, never this one
	// (S20: writes through the node that missed an ownership table).
	WriteVia string
	// ReadAfterWrite (register) reads the key again at once after each
	// acknowledged write: the read begins right after the ack, while the
	// write may still be landing on its last replicas.
	ReadAfterWrite bool
}

// Tag is the workload's name: its keys' prefix and its ops' Workload.
func (w WorkloadSpec) Tag() string {
	if w.Name != "" {
		return w.Name
	}
	return w.Kind
}

// Key returns the workload's i-th key (a set workload's first generation).
func (w WorkloadSpec) Key(i int) string {
	if w.Kind == SetWorkload {
		return w.SetKey(i, 0)
	}
	return fmt.Sprintf("%s-%d", w.Tag(), i)
}

// SetKey is generation gen of set slot i.
func (w WorkloadSpec) SetKey(i, gen int) string { return fmt.Sprintf("%s-%d-%d", w.Tag(), i, gen) }

// SetMaxElements bounds one set key: past it, adds go to the next
// generation of the slot.
const SetMaxElements = 150

// KeyNames returns all the workload's keys.
func (w WorkloadSpec) KeyNames() []string {
	out := make([]string, w.Keys)
	for i := range out {
		out[i] = w.Key(i)
	}
	return out
}

// ClientTimeout bounds every client request end to end. The server gives
// up after Params.TimeoutMS (a forwarded write one second later), so a
// client timeout means the node did not answer at all.
const ClientTimeout = 5 * time.Second

// MaxHistory bounds a run's history (ops, invokes and completions
// counted apart): clients stop issuing ops past it, whatever the duration.
const MaxHistory = 400_000

// DefaultServerTimeoutMS is the server-side timeout clients ask for.
const DefaultServerTimeoutMS = 2000

type cached struct {
	ctx      string
	siblings []string // what ctx covers, as values
	found    bool
}

// client is one logical client: one goroutine, its own HTTP client, its
// own seeded randomness.
type client struct {
	id    int
	spec  WorkloadSpec
	kv    *KV
	rec   *history.Recorder
	rng   *rand.Rand
	keys  []string
	seq   int64
	cache map[string]cached
	gen   []int // set workload: the generation this client writes per slot
	// wkv, if set, carries the writes (WorkloadSpec.WriteVia).
	wkv *KV
	// churn: each owned key's place in churnSteps and when it may move on;
	// replay is the pool deletes' contexts go to (nil: none kept).
	churn  map[string]*churnKey
	replay *replayPool
}

func newClient(id int, spec WorkloadSpec, n *Node, rec *history.Recorder, seed int64) *client {
	if spec.Params.TimeoutMS == 0 {
		spec.Params.TimeoutMS = DefaultServerTimeoutMS
	}
	return &client{
		id: id, spec: spec, kv: NewKV(n.Name, n.HTTP, ClientTimeout), rec: rec,
		rng:   rand.New(rand.NewPCG(uint64(seed), uint64(id)+1)),
		keys:  spec.KeyNames(),
		cache: map[string]cached{},
	}
}

// churnKey is where one key is in its churn cycle.
type churnKey struct {
	step      int
	notBefore time.Time
}

// run issues ops until stop is closed. Requests use ctx, which is only
// cancelled when the whole run is aborted, so an op in flight at the end
// of the workload still completes (or times out) normally.
func (c *client) run(ctx context.Context, stop <-chan struct{}) {
	defer c.kv.Close()
	if c.wkv != nil {
		defer c.wkv.Close()
	}
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		if c.rec.Len() >= MaxHistory {
			return // the run's count bound
		}
		slot := c.rng.IntN(len(c.keys))
		key := c.keys[slot]
		switch c.spec.Kind {
		case Register, LinReg:
			if c.rng.IntN(2) == 0 {
				c.read(ctx, key)
			} else {
				c.write(ctx, key)
			}
		case SetWorkload:
			c.add(ctx, slot)
		case BlindWrite:
			c.blindPut(ctx, key)
		case Churn:
			if c.churn == nil {
				c.replayOne(ctx)
			} else {
				c.churnStep(ctx)
			}
		case DeleteWorkload:
			switch r := c.rng.IntN(10); {
			case r < 3:
				c.blindPut(ctx, key)
			case r < 7:
				c.read(ctx, key)
			default:
				c.delete(ctx, key)
			}
		}
		if c.spec.Think > 0 {
			select {
			case <-time.After(time.Duration(c.rng.Int64N(int64(c.spec.Think)))):
			case <-stop:
			}
		}
	}
}

func (c *client) nextID() string {
	c.seq++
	return fmt.Sprintf("c%d-%d", c.id, c.seq)
}

func (c *client) invoke(f history.F, key string) history.Op {
	return history.Op{Type: history.Invoke, Process: c.id, F: f, Key: key, Workload: c.spec.Tag(), Node: c.kv.Node}
}

// read reads key, records it, and remembers the result for later writes.
func (c *client) read(ctx context.Context, key string) (ReadResult, bool) {
	op := c.invoke(history.Read, key)
	op.Params = c.spec.Params.read().Encode()
	inv := c.rec.Append(op)
	res, out := c.kv.Get(ctx, key, c.spec.Params)
	comp := inv.Completion(out.Type)
	comp.Report, comp.Error = out.Report, out.Error()
	if out.Type == history.OK {
		comp.Siblings, comp.Context = res.Siblings, res.Context
		c.cache[key] = cached{ctx: res.Context, siblings: res.Siblings, found: res.Found}
	}
	c.rec.Append(comp)
	return res, out.Type == history.OK
}

// put writes value with the given context, recording covered as what the
// context covers, and returns the answer's context.
func (c *client) put(ctx context.Context, f history.F, key, value string, elem int64, cc cached) (string, Outcome) {
	kv := c.kv
	if c.wkv != nil {
		kv = c.wkv
	}
	op := c.invoke(f, key)
	op.Node = kv.Node
	op.Value, op.Element, op.Covered, op.Context = value, elem, cc.siblings, cc.ctx
	op.Params = c.spec.Params.write().Encode()
	inv := c.rec.Append(op)
	var newCtx string
	var out Outcome
	if f == history.Delete {
		newCtx, out = kv.Delete(ctx, key, cc.ctx, c.spec.Params)
	} else {
		newCtx, out = kv.Put(ctx, key, value, cc.ctx, c.spec.Params)
	}
	comp := inv.Completion(out.Type)
	comp.Report, comp.Error, comp.Context = out.Report, out.Error(), newCtx
	c.rec.Append(comp)
	return newCtx, out
}

// write puts a new value with the context of the client's last read or
// write of the key (or blind, BlindPct of the time). When the answer's
// context differs from the one sent, it covers the new value and its
// ancestors, so the next write can build on it.
func (c *client) write(ctx context.Context, key string) {
	cc := c.cache[key]
	if c.rng.IntN(100) < c.spec.BlindPct {
		cc = cached{}
	}
	val := c.nextID()
	newCtx, out := c.put(ctx, history.Write, key, val, 0, cc)
	if out.Type == history.OK && ContextGrew(cc.ctx, newCtx) {
		c.cache[key] = cached{ctx: newCtx, siblings: []string{val}, found: true}
	}
	if out.Type == history.OK && c.spec.ReadAfterWrite {
		c.read(ctx, key)
	}
}

// ContextGrew reports whether a write's returned context differs from the
// one sent (compared as version vectors, not as tokens: "" and the token of
// the empty vector are the same context). dynago returns a different
// context only when it covers the new write (and so its causal past);
// otherwise it returns the client's own (the write became a sibling of one
// the client has not read).
func ContextGrew(sent, returned string) bool {
	a, err1 := vclock.DecodeContext(sent)
	b, err2 := vclock.DecodeContext(returned)
	if err1 != nil || err2 != nil {
		return false
	}
	return !a.Equal(b)
}

func (c *client) blindPut(ctx context.Context, key string) {
	c.put(ctx, history.Write, key, c.nextID(), 0, cached{})
}

// delete deletes what the client's last read of the key returned.
func (c *client) delete(ctx context.Context, key string) {
	cc, ok := c.cache[key]
	if !ok || !cc.found {
		c.read(ctx, key)
		return
	}
	delete(c.cache, key)
	c.put(ctx, history.Delete, key, "", 0, cc)
}

// add is one set add: read, union the siblings (or keep one, LWW), add a
// new element, write with the read's context.
func (c *client) add(ctx context.Context, slot int) {
	if c.gen == nil {
		c.gen = make([]int, len(c.keys))
	}
	key := c.spec.SetKey(slot, c.gen[slot])
	res, ok := c.read(ctx, key)
	if !ok {
		return
	}
	var elems, all []int64
	sibs := res.Siblings
	for _, s := range sibs {
		if e, ok := history.ParseSetValue(s); ok {
			all = append(all, e...)
		}
	}
	if len(all) >= SetMaxElements {
		c.gen[slot]++ // full: the next add goes to the next generation
		return
	}
	if c.spec.LWW && len(sibs) > 1 {
		i := c.rng.IntN(len(sibs))
		sibs = sibs[i : i+1]
	}
	for _, s := range sibs {
		if e, ok := history.ParseSetValue(s); ok {
			elems = append(elems, e...)
		}
	}
	id := c.nextID()
	elem := int64(c.id+1)*1_000_000 + c.seq
	c.put(ctx, history.Add, key, history.SetValue(id, append(elems, elem)), elem, cached{ctx: res.Context, siblings: res.Siblings})
}

// churnSteps is one life cycle of a churn key; a step named "rest" ends
// with a pause of up to ChurnRest before the key's next step.
var churnSteps = []string{"read", "write", "read", "write", "read", "write", "rest", "read", "delete", "rest"}

// churnStep moves one of the client's keys that is due one step on.
func (c *client) churnStep(ctx context.Context) {
	now := time.Now()
	var due []string
	for _, k := range c.keys {
		if !now.Before(c.churn[k].notBefore) {
			due = append(due, k)
		}
	}
	if len(due) == 0 {
		return
	}
	key := due[c.rng.IntN(len(due))]
	st := c.churn[key]
	switch churnSteps[st.step] {
	case "read":
		c.read(ctx, key)
	case "write": // create (the context of a read of nothing) or update
		c.write(ctx, key)
	case "delete":
		if cc, ok := c.cache[key]; ok && cc.found && c.replay != nil {
			c.replay.put(key, cc, now)
		}
		c.delete(ctx, key) // a read instead when the last read found nothing
	}
	if st.step++; st.step < len(churnSteps) && churnSteps[st.step] == "rest" {
		if c.spec.ChurnRest > 0 {
			st.notBefore = now.Add(time.Duration(c.rng.Int64N(int64(c.spec.ChurnRest))))
		}
		st.step++
	}
	st.step %= len(churnSteps)
}

// replayOne writes a new value with a context a churn client captured
// before a delete, ReplayAfter ago or earlier: its Covered is what that old
// context covered, so a value it silently supersedes beyond those is lost.
func (c *client) replayOne(ctx context.Context) {
	e, ok := c.replay.take(time.Now().Add(-c.spec.ReplayAfter))
	if !ok {
		return
	}
	c.put(ctx, history.Write, e.key, c.nextID(), 0, e.cc)
}

// replayPool holds the contexts churn clients read before their deletes.
type replayPool struct {
	mu      sync.Mutex
	entries []replayEntry // in capture order
}

type replayEntry struct {
	key string
	cc  cached
	at  time.Time
}

func (p *replayPool) put(key string, cc cached, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries = append(p.entries, replayEntry{key: key, cc: cc, at: at})
}

// take removes and returns the oldest entry captured at or before cutoff.
func (p *replayPool) take(cutoff time.Time) (replayEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.entries) == 0 || p.entries[0].at.After(cutoff) {
		return replayEntry{}, false
	}
	e := p.entries[0]
	p.entries = p.entries[1:]
	return e, true
}

// Workload runs a scenario's clients.
type Workload struct {
	clients []*client
	stop    chan struct{}
	wg      sync.WaitGroup
	started atomic.Bool
}

// NewWorkload creates the clients of specs, spread round-robin over nodes.
// Client i's randomness is seeded from seed and i.
func NewWorkload(specs []WorkloadSpec, nodes []*Node, rec *history.Recorder, seed int64) *Workload {
	w := &Workload{stop: make(chan struct{})}
	id := 0
	for _, s := range specs {
		readers := nodes
		var via *Node
		if s.WriteVia != "" {
			readers = nil
			for _, n := range nodes {
				if n.Name == s.WriteVia {
					via = n
				} else {
					readers = append(readers, n)
				}
			}
		}
		var pool *replayPool
		if s.Kind == Churn && s.Replayers > 0 {
			pool = &replayPool{}
		}
		for i := range s.Clients + s.Replayers {
			c := newClient(id, s, readers[id%len(readers)], rec, seed)
			if via != nil {
				c.wkv = NewKV(via.Name, via.HTTP, ClientTimeout)
			}
			if s.Kind == Churn {
				c.replay = pool
				if i < s.Clients {
					c.keys, c.churn = churnKeys(s, i), map[string]*churnKey{}
					for _, k := range c.keys {
						c.churn[k] = &churnKey{}
					}
				}
			}
			w.clients = append(w.clients, c)
			id++
		}
	}
	return w
}

// churnKeys are the keys churn client i of s owns: every Clients-th key.
func churnKeys(s WorkloadSpec, i int) []string {
	var out []string
	for j := i; j < s.Keys; j += s.Clients {
		out = append(out, s.Key(j))
	}
	return out
}

// Start starts one goroutine per client.
func (w *Workload) Start(ctx context.Context) {
	w.started.Store(true)
	for _, c := range w.clients {
		w.wg.Go(func() { c.run(ctx, w.stop) })
	}
}

// Stop tells the clients to stop and waits for their last ops to end
// (bounded by ClientTimeout).
func (w *Workload) Stop() {
	close(w.stop)
	w.wg.Wait()
}
