package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/antientropy"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Partition transfers (ownership handoff). A node that is a primary of a
// partition it holds no complete copy of (it joined, or the ring changed
// under it) is not *ready* for that partition: it takes writes for it at
// once, but its reads of it don't count toward R (a replica answers
// errNotReady) until it has pulled the partition from every node that was
// a primary of it before the change, in batches over RPC, paced by
// --transfer-rate and resumable from a cursor persisted after every batch.
// A node in the ring as joining becomes valid when it is ready for all its
// partitions. Which partitions a node is ready for survives restarts.

var (
	metaReady = storage.MetaKey("ready")
	// errNotReady answers a read of a partition whose transfer to this
	// node has not finished; the coordinator does not count it toward R.
	errNotReady = errors.New("node: partition not ready: its transfer to this node has not finished")
)

// transferState is the node's transfer machinery.
type transferState struct {
	mu    sync.Mutex
	ready []bool // by partition; guarded by mu
	// readyFor is the table the ready flags were last reconciled with
	// (transferRound); saved with them. Guarded by mu.
	readyFor membership.TableID
	jobs     map[uint32]*transferJob
	wake     chan struct{}

	bucket *antientropy.TokenBucket // guarded by mu
	// lostAt is when this node was first seen holding data of a partition
	// it is not a primary of (stale.go). Guarded by mu.
	lostAt      map[uint32]time.Time
	stale       atomic.Int64 // stale keys deleted
	stalePushed atomic.Int64 // stale keys pushed to primaries that lacked them
	keys        atomic.Int64
	bytes       atomic.Int64
	done        atomic.Int64
}

// transferJob is one partition's pull; /debug/transfers shows it as an
// api.TransferJob.
type transferJob struct {
	Partition uint32
	Sources   []string
	Done      []string
	State     string // running, waiting, error
	Keys      int64
	Bytes     int64
	Error     string
}

func metaCursor(p uint32, source string) []byte {
	return storage.MetaKey(fmt.Sprintf("xfer/%d/%s", p, source))
}

// transferService is the transfer service: its loop (transferLoop, run
// by Run until its context ends) pulls each partition this node gained from its
// previous owners (streaming, then an exchange to catch up) and marks it
// ready; its reclaimer (staleRound, stale.go) deletes what this node lost,
// once the new primaries hold it. Its state (jobs, ready flags, lostAt) is
// transferState, guarded by xfer.mu.
type transferService struct {
	recoverer
	members *members // the membership and the placement
	cfg     *Config  // the node's (its addresses are set in New, before any goroutine)
	clock   *clock
	store   storage.Store
	rep     *replica
	ae      *antiEntropy
	peers   *gossip.Peers
	aae     *aaeState
	xfer    *transferState
	ring    *atomic.Pointer[ring.Ring]
	// freshJoin is the node's: set when a new data directory joined, cleared
	// here once every partition is transferred.
	freshJoin *atomic.Bool
	cluster   transferDeps
}

// transferDeps is what transfers need of the rest of the node: the view and
// membership (to mark this node valid or joining), and calls to peers.
type transferDeps interface {
	rpcAddrOf(name string) (string, bool)
	callNow(ctx context.Context, addr string, method uint8, payload []byte) ([]byte, error)
	fetchStates(ctx context.Context, addr string, p uint32, keys [][]byte) ([]vclock.State, error)
	sendHandoff(ctx context.Context, target string, req wire.HandoffRequest) error
}

func (t *transferService) wakeTransfers() {
	if t.xfer.wake == nil {
		return
	}
	select {
	case t.xfer.wake <- struct{}{}:
	default:
	}
}

// transferInterval is how often pending transfers are retried (a source
// that was down, a failed batch); ring changes start them at once.
const transferInterval = time.Second

// Run runs the transfer loop until ctx ends, restarting it after a panic
// (logged and counted), and returns once it has returned.
func (t *transferService) Run(ctx context.Context) error {
	t.supervise(ctx, "transferLoop", func() { t.transferLoop(ctx) })()
	return ctx.Err()
}

func (t *transferService) transferLoop(ctx context.Context) {
	tick := time.NewTicker(transferInterval)
	defer tick.Stop()
	for {
		t.transferRound(ctx)
		t.staleRound(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.xfer.wake:
		case <-tick.C:
		}
	}
}

// transferRound pulls every partition this node is a primary of but not
// ready for, and marks the node valid once it is ready for all of them.
func (t *transferService) transferRound(ctx context.Context) {
	r := t.ring.Load()
	if r.Len() <= 1 {
		// Alone: a founding node is ready for everything, and a joining
		// one has not learned the cluster yet (no source to pull from).
		return
	}
	self := ring.NodeID(t.cfg.Name)
	primary := map[uint32]bool{}
	for _, p := range r.PartitionsOf(self) {
		primary[uint32(p)] = true
	}
	_, inRing := r.Member(self)
	if !inRing && t.members.clusterSnapshot().Members[t.cfg.Name].Status == membership.StatusJoining {
		// Not placed yet: the claimant has not claimed for this node.
		return
	}
	var need []uint32
	changed := false
	v := t.members.currentView()
	var gained map[int]bool
	if v.prev != nil {
		// A partition this node owns in the table but not in the one it
		// was claimed from is one it gained, whatever this node saw of
		// the tables in between (it may have skipped some, or followed a
		// table that lost): it pulls it again (issue 10: a node cut off
		// while another claimant placed its partitions elsewhere came back
		// calling them complete).
		gained = map[int]bool{}
		for p := range primary {
			if !slices.Contains(v.prev.Primaries(int(p)), self) {
				gained[int(p)] = true
			}
		}
	}
	line := v.line
	t.xfer.mu.Lock()
	if t.xfer.readyFor != line {
		reset := gained
		if v.table != nil && v.table.Prev != nil && t.xfer.readyFor != v.table.Prev.ID() {
			// This node's flags were reconciled with some other table
			// than the one this one was claimed from (it skipped tables,
			// or followed one that lost): it can't tell what it missed,
			// so every partition it owns is pulled again (by Merkle
			// exchange where it holds keys: cheap when nothing differs).
			reset = map[int]bool{}
			for p := range primary {
				reset[int(p)] = true
			}
		}
		for p := range reset {
			if t.xfer.ready[p] {
				t.xfer.ready[p] = false
			}
		}
		t.xfer.readyFor = line
		changed = true
	}
	for p := range t.xfer.ready {
		switch {
		case primary[uint32(p)] && !t.xfer.ready[p]:
			need = append(need, uint32(p))
		case !primary[uint32(p)] && t.xfer.ready[p] && inRing:
			// Lost the partition: regaining it later means pulling it again.
			t.xfer.ready[p] = false
			changed = true
		}
	}
	for p := range t.xfer.jobs {
		if !primary[p] {
			delete(t.xfer.jobs, p)
		}
	}
	t.xfer.mu.Unlock()
	if changed {
		if err := t.rep.saveReady(ctx); err != nil {
			t.log.Warn("saving transfer state", "err", err)
		}
	}
	t.metrics.transferPending.Set(float64(len(need)))
	if len(need) == 0 {
		me := t.members.clusterView().Members[t.cfg.Name]
		if me.Status == membership.StatusJoining {
			t.log.Info("every partition transferred; now valid")
			t.members.setSelfStatus(membership.StatusValid)
		}
		t.freshJoin.Store(false)
		return
	}
	if t.freshJoin.Load() {
		// A new data directory for a name the cluster knows as valid (a
		// lost disk): it is joining again until its partitions are back.
		me := t.members.clusterView().Members[t.cfg.Name]
		if me.Status == membership.StatusValid {
			t.members.setSelfStatus(membership.StatusJoining)
		}
	}
	prev, err := t.members.clusterSnapshot().PreviousRing()
	if err != nil || prev.Len() == 0 {
		prev = r
	}
	for _, p := range need {
		if ctx.Err() != nil {
			return
		}
		t.pullPartition(ctx, r, prev, p)
	}
}

// pullPartition pulls partition p from each of its sources (its primaries
// before and after the change, but this node) and marks it ready once every
// source has streamed all of it.
func (t *transferService) pullPartition(ctx context.Context, r, prev *ring.Ring, p uint32) {
	var sources []string
	c := t.members.clusterSnapshot()
	members := c.Members
	candidates := append(prev.Primaries(int(p)), r.Primaries(int(p))...)
	if c.Table != nil {
		// Older owners an unsettled earlier change left to pull from.
		for _, s := range c.Table.Sources[int(p)] {
			candidates = append(candidates, ring.NodeID(s))
		}
	}
	for _, id := range candidates {
		if rec, ok := members[string(id)]; ok && !membership.InRing(rec.Status) {
			continue // removed, or left after its handoff: nothing to wait for
		}
		if string(id) != t.cfg.Name && !slices.Contains(sources, string(id)) {
			sources = append(sources, string(id))
		}
	}
	slices.Sort(sources)
	t.xfer.mu.Lock()
	job, ok := t.xfer.jobs[p]
	if !ok || !slices.Equal(job.Sources, sources) {
		job = &transferJob{Partition: p, Sources: sources, Done: []string{}}
		t.xfer.jobs[p] = job
	}
	done := slices.Clone(job.Done)
	t.xfer.mu.Unlock()
	setState := func(state, msg string) {
		t.xfer.mu.Lock()
		job.State, job.Error = state, msg
		t.xfer.mu.Unlock()
	}
	// Live sources first: the stream comes from one of them, and a down
	// source holds up only its own exchange.
	order := slices.Clone(sources)
	slices.SortStableFunc(order, func(a, b string) int {
		switch aa, ab := t.peers.Alive(a), t.peers.Alive(b); {
		case aa && !ab:
			return -1
		case ab && !aa:
			return 1
		}
		return 0
	})
	for _, src := range order {
		if slices.Contains(done, src) {
			continue
		}
		if !t.peers.Alive(src) {
			setState("waiting", fmt.Sprintf("source %s is down; the transfer resumes when it is back (or removed)", src))
			return
		}
		setState("running", "")
		// The first source streams the whole partition; from the others
		// only what differs is fetched, by a Merkle exchange. A node that
		// already holds keys of the partition (it pulls it again) compares
		// with every source.
		pt := t.aae.parts[p]
		pt.mu.Lock()
		have := pt.tree.Keys() > 0
		pt.mu.Unlock()
		pull := t.streamFrom
		if len(done) > 0 || have {
			pull = func(ctx context.Context, p uint32, src string, job *transferJob) error {
				return t.exchangeWith(ctx, p, src, job, false)
			}
		}
		if err := pull(ctx, p, src, job); err != nil {
			setState("error", err.Error())
			t.log.Warn("partition transfer", "partition", p, "source", src, "err", err)
			return
		}
		t.xfer.mu.Lock()
		job.Done = append(job.Done, src)
		t.xfer.mu.Unlock()
		done = append(done, src)
	}
	t.xfer.mu.Lock()
	t.xfer.ready[p] = true
	delete(t.xfer.jobs, p)
	t.xfer.mu.Unlock()
	if err := t.rep.saveReady(ctx); err != nil {
		t.log.Warn("saving transfer state", "err", err)
		return
	}
	for _, src := range sources {
		_ = t.store.Update(ctx, metaCursor(p, src), func([]byte, bool) ([]byte, error) { return nil, storage.ErrDeleteKey })
	}
	t.xfer.done.Add(1)
	t.metrics.transferPartitions.Inc()
	t.log.Debug("partition transferred", "partition", p, "sources", sources)
}

// streamFrom pulls partition p from src in batches, from the persisted
// cursor on, merging each batch durably before the cursor moves past it.
func (t *transferService) streamFrom(ctx context.Context, p uint32, src string, job *transferJob) error {
	addr, ok := t.cluster.rpcAddrOf(src)
	if !ok {
		return fmt.Errorf("no address for %s", src)
	}
	var after []byte
	if b, err := t.store.Get(ctx, metaCursor(p, src)); err == nil {
		after = b
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, t.cfg.RequestTimeout)
		resp, err := t.cluster.callNow(cctx, addr, wire.MethodTransfer, wire.TransferRequest{Partition: p, After: after}.Marshal())
		cancel()
		if err != nil {
			t.metrics.rpcErrors.WithLabelValues("transfer").Inc()
			return err
		}
		batch, err := wire.UnmarshalTransferBatch(resp)
		if err != nil {
			return err
		}
		if err := t.rep.receiveHandoff(ctx, wire.HandoffRequest{Items: batch.Items}); err != nil {
			return err
		}
		if len(batch.Items) > 0 {
			after = batch.Items[len(batch.Items)-1].Key
			if err := t.store.Update(ctx, metaCursor(p, src), func([]byte, bool) ([]byte, error) { return after, nil }); err != nil {
				return err
			}
		}
		t.xfer.mu.Lock()
		job.Keys += int64(len(batch.Items))
		job.Bytes += int64(len(resp))
		t.xfer.mu.Unlock()
		wait := t.takeTransfer(len(resp))
		t.xfer.keys.Add(int64(len(batch.Items)))
		t.xfer.bytes.Add(int64(len(resp)))
		t.metrics.transferKeys.Add(float64(len(batch.Items)))
		t.metrics.transferBytes.Add(float64(len(resp)))
		if batch.Done {
			return nil
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}

// takeTransfer charges bytes of transfer work (pulls, and the comparisons
// that reclaim stale copies) to the --transfer-rate budget and returns how
// long to wait before the next.
func (t *transferService) takeTransfer(bytes int) time.Duration {
	t.xfer.mu.Lock()
	defer t.xfer.mu.Unlock()
	return t.xfer.bucket.Take(t.clock.Steady(), float64(bytes))
}

// exchangeWith brings partition p up to date with src's copy by Merkle
// exchanges (anti-entropy's), until one is complete. push also repairs
// src's copy: a leaving node pushes to the new primaries; a new owner
// pulling from its sources does not (a source may be a former owner).
func (t *transferService) exchangeWith(ctx context.Context, p uint32, src string, job *transferJob, push bool) error {
	addr, ok := t.cluster.rpcAddrOf(src)
	if !ok {
		return fmt.Errorf("no address for %s", src)
	}
	for range 1000 {
		id := t.members.currentView().id
		roots, _, err := t.ae.rootsOf(ctx, id, addr, []uint32{p})
		if err != nil {
			return fmt.Errorf("roots from %s: %w", src, err)
		}
		pt := t.aae.parts[p]
		pt.mu.Lock()
		equal := pt.tree.Root() == roots[0].Root
		pt.mu.Unlock()
		if equal {
			return nil
		}
		rec, complete := t.ae.exchange(ctx, id, p, src, addr, roots[0], push)
		t.xfer.mu.Lock()
		job.Keys += int64(rec.Repaired)
		job.Bytes += rec.Bytes
		t.xfer.mu.Unlock()
		t.xfer.keys.Add(int64(rec.Repaired))
		t.xfer.bytes.Add(rec.Bytes)
		if rec.Result == "error" {
			return errors.New(rec.Err)
		}
		if complete {
			return nil
		}
	}
	return fmt.Errorf("partition %d still differs from %s after 1000 exchanges", p, src)
}

// Transfer batch bounds: big enough that per-call overhead is small, small
// enough that a batch merges in well under a request timeout.
const (
	transferBatchKeys  = 512
	transferBatchBytes = 1 << 20
)

// serveTransfer answers a pull: the keys of partition p after the cursor,
// with their states, up to a batch's bounds.
func (t *transferService) serveTransfer(ctx context.Context, req wire.TransferRequest) ([]byte, error) {
	if int(req.Partition) >= t.cfg.Ring.Partitions {
		return nil, fmt.Errorf("node: partition %d outside the ring", req.Partition)
	}
	start, end := storage.PartitionRange(req.Partition)
	if len(req.After) > 0 {
		start = append(storage.DataKey(req.Partition, req.After), 0)
	}
	var out wire.TransferBatch
	size := 0
	errFull := errors.New("batch full")
	err := t.store.Scan(ctx, start, end, func(k, v []byte) error {
		if len(out.Items) >= transferBatchKeys || (len(out.Items) > 0 && size+len(k)+len(v) > transferBatchBytes) {
			return errFull
		}
		_, key, _ := storage.SplitDataKey(k)
		enc, err := stateBytes(v)
		if err != nil {
			return fmt.Errorf("node: stored state of %q is corrupt: %w", key, err)
		}
		out.Items = append(out.Items, wire.TransferItem{Key: slices.Clone(key), State: slices.Clone(enc)})
		size += len(k) + len(enc)
		return nil
	})
	switch {
	case errors.Is(err, errFull):
	case err != nil:
		return nil, err
	default:
		out.Done = true
	}
	return out.Marshal(), nil
}

// handleTransfers serves GET /debug/transfers.
func (h *httpAPI) handleTransfers(w http.ResponseWriter, r *http.Request) {
	rg := h.ring.Load()
	h.xfer.mu.Lock()
	ready := 0
	for _, ok := range h.xfer.ready {
		if ok {
			ready++
		}
	}
	jobs := []api.TransferJob{}
	for _, j := range h.xfer.jobs {
		jobs = append(jobs, api.TransferJob{Partition: int(j.Partition), Sources: slices.Clone(j.Sources), Done: slices.Clone(j.Done),
			State: j.State, Keys: j.Keys, Bytes: j.Bytes, Error: j.Error})
	}
	h.xfer.mu.Unlock()
	slices.SortFunc(jobs, func(a, b api.TransferJob) int { return a.Partition - b.Partition })
	pending := 0
	for _, p := range rg.PartitionsOf(ring.NodeID(h.cfg.Name)) {
		if !h.rep.partReady(p) {
			pending++
		}
	}
	status := h.members.clusterView().Members[h.cfg.Name].Status
	writeJSON(w, http.StatusOK, api.Transfers{
		Node:              h.cfg.Name,
		Status:            status,
		PartitionsReady:   ready,
		PartitionsPending: pending,
		RateBytesPerSec:   h.cfg.TransferRate,
		Jobs:              jobs,
		Totals: api.TransferTotals{
			Keys: h.xfer.keys.Load(), Bytes: h.xfer.bytes.Load(), Partitions: h.xfer.done.Load(),
			StaleKeysDropped: h.xfer.stale.Load(), StaleKeysPushed: h.xfer.stalePushed.Load(),
		},
		Leaving: h.leaving.leaveJSON(),
	})
}
