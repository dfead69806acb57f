package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/test/jepsen/history"
	"github.com/dynago/dynago/vclock"
)

// Workload kinds, each with the fault suite's meaning (test/jepsen
// workload.go) and its keys' prefix.
const (
	// Register: reads, and writes with the context of the client's last
	// read or write of the key (a tenth of them blind), on sloppy quorum.
	Register = "register"
	// StrictRegister: the same on strict quorum (R=W=PR=PW=2, primaries
	// only), where P1 and P2 are promised.
	StrictRegister = "strict-register"
	// SetKind: each add reads the key, unions the siblings, adds a new
	// element and writes back with the read's context (Jepsen's set).
	SetKind = "set"
	// DeleteKind: blind puts, reads, and deletes with the context of the
	// client's last read.
	DeleteKind = "delete"
	// Churn: each client owns its keys and walks each through a life
	// cycle (churnSteps): read, create, read, update, read, delete, then
	// a rest of up to churnRest, again and again. Only one client writes a
	// key, so a delete leaves only tombstones, which are reaped (with
	// short windows) while the key rests or after it is created again.
	Churn = "churn"
)

// churnSteps is one life cycle of a churn key; "rest" pauses the key.
var churnSteps = []string{"read", "write", "read", "write", "read", "delete", "rest"}

// churnRest bounds a churn key's rest after its delete: some keys are
// created again before their tombstones are reaped, some after.
const churnRest = 20 * time.Second

// churnKey is where one churn key is in its cycle.
type churnKey struct {
	step      int
	notBefore time.Time
}

// Spec is one workload: Clients logical clients on Keys keys.
type Spec struct {
	Kind    string
	Clients int
	Keys    int
}

// Key is the workload's i-th key.
func (s Spec) Key(i int) string { return fmt.Sprintf("%s-%d", s.Kind, i) }

func (s Spec) strict() bool { return s.Kind == StrictRegister }

// Request timeouts: the node gives up after serverTimeout; the client
// waits clientTimeout in all, so a client timeout means no answer at all.
const (
	serverTimeout = 2 * time.Second
	clientTimeout = 3 * time.Second
)

// cached is what a client knows of a key: the context of its last read or
// write and the values that context covers.
type cached struct {
	ctx      string
	siblings []string
	found    bool
}

// worker is one logical client: one goroutine, its own seeded randomness,
// a history process id. Each op goes to a node drawn from the cluster's
// members at that moment, through that node only (no failover), so the
// history names the node that answered.
type worker struct {
	id    int
	spec  Spec
	c     *Cluster
	rec   *history.Recorder
	rng   *rand.Rand
	think time.Duration
	seq   int
	cache map[string]cached
	kv    map[string]*client.Client
	close []func()
	// churn: the keys this client owns (Churn), by key.
	churn map[string]*churnKey
	owned []string
}

func newWorker(id int, spec Spec, c *Cluster, rec *history.Recorder, seed uint64, think time.Duration) *worker {
	w := &worker{id: id, spec: spec, c: c, rec: rec, think: think,
		rng:   rand.New(rand.NewPCG(seed, uint64(id)+1)),
		cache: map[string]cached{}, kv: map[string]*client.Client{}}
	return w
}

// client returns the worker's client of one node.
func (w *worker) client(name string) *client.Client {
	if cl, ok := w.kv[name]; ok {
		return cl
	}
	hc, done := w.c.HTTPClient(clientTimeout)
	cl, err := client.New([]string{w.c.URL(name)}, client.WithHTTPClient(hc))
	if err != nil {
		panic(err)
	}
	w.kv[name] = cl
	w.close = append(w.close, done)
	return cl
}

// run issues ops until stop is closed, then closes its connections.
func (w *worker) run(stop <-chan struct{}) {
	defer func() {
		for _, f := range w.close {
			f()
		}
	}()
	for {
		select {
		case <-stop:
			return
		default:
		}
		members := w.c.Members()
		if len(members) > 0 {
			via := members[w.rng.IntN(len(members))]
			if w.spec.Kind == Churn {
				w.churnStep(via)
			} else {
				w.step(via, w.spec.Key(w.rng.IntN(w.spec.Keys)))
			}
		}
		select {
		case <-time.After(time.Duration(w.rng.Int64N(int64(w.think)) + 1)):
		case <-stop:
			return
		}
	}
}

func (w *worker) step(via, key string) {
	switch w.spec.Kind {
	case Register, StrictRegister:
		if w.rng.IntN(2) == 0 {
			w.read(via, key)
		} else {
			w.write(via, key)
		}
	case SetKind:
		w.add(via, key)
	case DeleteKind:
		switch r := w.rng.IntN(10); {
		case r < 3:
			w.put(via, history.Write, key, w.nextID(), 0, cached{})
		case r < 7:
			w.read(via, key)
		default:
			w.delete(via, key)
		}
	}
}

func (w *worker) nextID() string {
	w.seq++
	return fmt.Sprintf("c%d-%d", w.id, w.seq)
}

func (w *worker) readOpts() *client.ReadOptions {
	o := &client.ReadOptions{Timeout: serverTimeout}
	if w.spec.strict() {
		o.R, o.PR = client.Replicas(2), client.Replicas(2)
	}
	return o
}

func (w *worker) writeOpts(ctx string) *client.WriteOptions {
	o := &client.WriteOptions{Context: ctx, Timeout: serverTimeout}
	if w.spec.strict() {
		o.W, o.PW = client.Replicas(2), client.Replicas(2)
	}
	return o
}

// params renders a request's quorum parameters for the history.
func (w *worker) params(read bool) string {
	q := url.Values{}
	if w.spec.strict() {
		if read {
			q.Set("r", "2")
			q.Set("pr", "2")
		} else {
			q.Set("w", "2")
			q.Set("pw", "2")
		}
	}
	q.Set("timeout", fmt.Sprint(serverTimeout.Milliseconds()))
	return q.Encode()
}

func (w *worker) invoke(f history.F, key, via string) history.Op {
	return history.Op{Type: history.Invoke, Process: w.id, F: f, Key: key, Workload: w.spec.Kind, Node: via}
}

// read reads key through via, records it, and remembers the result for
// later writes.
func (w *worker) read(via, key string) (cached, bool) {
	op := w.invoke(history.Read, key, via)
	op.Params = w.params(true)
	inv := w.rec.Append(op)
	res, err := w.client(via).Get(context.Background(), key, w.readOpts())
	comp, cc, ok := readCompletion(inv, res, err)
	if ok {
		w.cache[key] = cc
	}
	w.rec.Append(comp)
	return cc, ok
}

// readCompletion classifies a read's answer. A read changes nothing, so
// any failure is Fail except one whose answer never came (Info, as the
// fault suite records it).
func readCompletion(inv history.Op, res *client.Result, err error) (history.Op, cached, bool) {
	var e *client.Error
	switch {
	case err == nil:
		comp := inv.Completion(history.OK)
		comp.Report, comp.Context = res.Report, res.Context
		for _, s := range res.Siblings {
			comp.Siblings = append(comp.Siblings, string(s))
		}
		return comp, cached{ctx: res.Context, siblings: comp.Siblings, found: true}, true
	case errors.Is(err, client.ErrNotFound) && errors.As(err, &e):
		comp := inv.Completion(history.OK)
		comp.Report, comp.Context = e.Report, e.Context
		return comp, cached{ctx: e.Context}, true
	case errors.As(err, &e):
		comp := inv.Completion(history.Fail)
		comp.Report, comp.Error = e.Report, fmt.Sprintf("%d %s", e.Status, e.Code)
		return comp, cached{}, false
	}
	comp := inv.Completion(transportType(err))
	comp.Error = err.Error()
	return comp, cached{}, false
}

// transportType classifies a request that got no answer: Fail if it was
// surely never sent (the dial failed), else Info (it may have reached the
// node, and a read's answer may still be on its way: the fault suite's
// rule).
func transportType(err error) history.Type {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return history.Fail
	}
	return history.Info
}

// writeType classifies a write's error: only a definite answer (nothing
// was written) or a request never sent is Fail.
func writeType(err error) history.Type {
	switch {
	case errors.Is(err, client.ErrUnavailable), errors.Is(err, client.ErrBadRequest):
		return history.Fail
	case errors.Is(err, client.ErrIndeterminate):
		return history.Info
	}
	return transportType(err)
}

// put writes (or deletes) with the context cc, recording cc's values as
// what the write covers, and returns the answer's context.
func (w *worker) put(via string, f history.F, key, value string, elem int64, cc cached) (string, bool) {
	op := w.invoke(f, key, via)
	op.Value, op.Element, op.Covered, op.Context = value, elem, cc.siblings, cc.ctx
	op.Params = w.params(false)
	inv := w.rec.Append(op)
	var resp *client.Response
	var err error
	if f == history.Delete {
		resp, err = w.client(via).Delete(context.Background(), key, w.writeOpts(cc.ctx))
	} else {
		resp, err = w.client(via).Put(context.Background(), key, []byte(value), w.writeOpts(cc.ctx))
	}
	if err != nil {
		comp := inv.Completion(writeType(err))
		comp.Error = err.Error()
		var e *client.Error
		if errors.As(err, &e) {
			comp.Report, comp.Error = e.Report, fmt.Sprintf("%d %s", e.Status, e.Code)
		}
		w.rec.Append(comp)
		return "", false
	}
	comp := inv.Completion(history.OK)
	comp.Report, comp.Context = resp.Report, resp.Context
	w.rec.Append(comp)
	return resp.Context, true
}

// write puts a new value with the context of the client's last read or
// write of the key (a tenth of the time blind). When the answer's context
// differs from the one sent it covers the new value, so the next write
// builds on it.
func (w *worker) write(via, key string) {
	cc := w.cache[key]
	if w.rng.IntN(10) == 0 {
		cc = cached{}
	}
	val := w.nextID()
	if newCtx, ok := w.put(via, history.Write, key, val, 0, cc); ok && contextGrew(cc.ctx, newCtx) {
		w.cache[key] = cached{ctx: newCtx, siblings: []string{val}, found: true}
	}
}

// contextGrew reports whether a write's returned context differs from the
// one sent, as version vectors (see test/jepsen ContextGrew).
func contextGrew(sent, returned string) bool {
	a, err1 := vclock.DecodeContext(sent)
	b, err2 := vclock.DecodeContext(returned)
	if err1 != nil || err2 != nil {
		return false
	}
	return !a.Equal(b)
}

// delete deletes what the client's last read of the key returned (a read
// instead when it has none).
func (w *worker) delete(via, key string) {
	cc, ok := w.cache[key]
	if !ok || !cc.found {
		w.read(via, key)
		return
	}
	delete(w.cache, key)
	w.put(via, history.Delete, key, "", 0, cc)
}

// add is one set add: read, union the siblings, add a new element, write
// with the read's context.
func (w *worker) add(via, key string) {
	cc, ok := w.read(via, key)
	if !ok {
		return
	}
	var elems []int64
	for _, s := range cc.siblings {
		if e, ok := history.ParseSetValue(s); ok {
			elems = append(elems, e...)
		}
	}
	id := w.nextID()
	elem := int64(w.id+1)*1_000_000 + int64(w.seq)
	w.put(via, history.Add, key, history.SetValue(id, append(elems, elem)), elem, cc)
}

// churnStep moves one of the client's keys that is due one step on.
func (w *worker) churnStep(via string) {
	now := time.Now()
	var due []string
	for _, k := range w.owned {
		if !now.Before(w.churn[k].notBefore) {
			due = append(due, k)
		}
	}
	if len(due) == 0 {
		return
	}
	key := due[w.rng.IntN(len(due))]
	st := w.churn[key]
	switch churnSteps[st.step] {
	case "read":
		w.read(via, key)
	case "write": // create (with the context of a read of nothing) or update
		w.write(via, key)
	case "delete":
		w.delete(via, key) // a read instead when the last read found nothing
	}
	if st.step++; churnSteps[st.step%len(churnSteps)] == "rest" {
		st.notBefore = now.Add(time.Duration(w.rng.Int64N(int64(churnRest))))
		st.step++
	}
	st.step %= len(churnSteps)
}

// Workload runs the clients of some specs.
type Workload struct {
	workers []*worker
	stop    chan struct{}
	wg      sync.WaitGroup
}

// NewWorkload creates the clients of specs; client i's randomness derives
// from seed and i. Process ids are 0, 1, ... in spec order.
func NewWorkload(specs []Spec, c *Cluster, rec *history.Recorder, seed uint64, think time.Duration) *Workload {
	wl := &Workload{stop: make(chan struct{})}
	for _, s := range specs {
		for i := range s.Clients {
			w := newWorker(len(wl.workers), s, c, rec, seed, think)
			if s.Kind == Churn { // client i owns every Clients-th key from i
				w.churn = map[string]*churnKey{}
				for k := i; k < s.Keys; k += s.Clients {
					w.owned = append(w.owned, s.Key(k))
					w.churn[s.Key(k)] = &churnKey{}
				}
			}
			wl.workers = append(wl.workers, w)
		}
	}
	return wl
}

// Start starts one goroutine per client.
func (wl *Workload) Start() {
	for _, w := range wl.workers {
		wl.wg.Go(func() { w.run(wl.stop) })
	}
}

// Stop tells the clients to stop and waits for their last ops to end
// (bounded by the client timeout).
func (wl *Workload) Stop() {
	close(wl.stop)
	wl.wg.Wait()
}

// Keys lists every key of specs with its workload.
func Keys(specs []Spec) [][2]string {
	var out [][2]string
	for _, s := range specs {
		for i := range s.Keys {
			out = append(out, [2]string{s.Key(i), s.Kind})
		}
	}
	return out
}
