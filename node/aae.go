package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/antientropy"
	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Anti-entropy (Dynamo §4.7): every node keeps one antientropy.Tree per
// partition over its stored data, updated on every local write. Every
// Interval it sends each peer the roots of the partitions they both
// replicate (one small message), and for each partition whose roots differ
// runs an exchange: antientropy.Diff descends only into differing subtrees,
// then both sides' states of the differing keys are merged and written back
// where they were behind. Repair work is paced by token buckets that a
// foreground-latency backoff scales down (Dynamo §6.5).
//
// A tree is kept exact by writing through updateData, which holds the
// partition's gate (shared) across the store's commit and the tree's update;
// a rebuild from storage holds it exclusively, so no write slips between its
// scan and its swap.

// partTree is one partition's tree and its exchange bookkeeping.
type partTree struct {
	// gate is held shared by writers from before their store update to
	// after their tree update, and exclusively by a rebuild.
	gate sync.RWMutex

	mu   sync.Mutex // guards everything below
	tree *antientropy.Tree
	// built is when the tree was last built from storage; rebuildAt when
	// the next scheduled full rebuild is due.
	built, rebuildAt time.Time
	// tombs maps each key whose state is only tombstones to when this node
	// stored that state (the time it starts from after a restart).
	tombs map[string]time.Time
	// confirmed maps a peer to the start of the last exchange that left
	// both replicas of the partition equal.
	confirmed map[string]time.Time
	// peers records the last exchange with each peer.
	peers map[string]exchangeRecord
	// lastCheck is when a tree-versus-storage check last asked for a rebuild.
	lastCheck time.Time
	// reaped remembers the tombstones this node reaped lately (by key),
	// so that it does not store them, or anything they cover, again: a
	// replica whose copy is younger would otherwise copy it back, as a
	// new tombstone with its wait starting over, and reaping would chase
	// itself around the replicas (replica.mergeLocal). Bounded by
	// reapMemory entries and by age (2 reapMinAge).
	reaped map[string]reapedTomb
}

// reapedTomb is a tombstone this node reaped, and when.
type reapedTomb struct {
	state vclock.State
	at    time.Time
}

// reapMemory bounds the reaped tombstones a partition remembers; past it
// the oldest are forgotten (then a young copy elsewhere may come back
// once: the cost is a tombstone stored again, never a lost write).
const reapMemory = 4096

// exchangeRecord is what /debug/aae shows of one exchange.
type exchangeRecord struct {
	At          time.Time
	Result      string // "equal", "repaired" or "error"
	Compared    int    // keys compared (entries listed on both sides)
	Differences int
	Repaired    int
	Bytes       int64
	Err         string
}

// aaeState is the node's anti-entropy machinery.
type aaeState struct {
	parts []*partTree // by partition

	rebuild chan struct{} // a partition wants a rebuild (resize, drift)

	mu      sync.Mutex // guards keys, bytes, backoff
	keys    *antientropy.TokenBucket
	bytes   *antientropy.TokenBucket
	backoff *antientropy.Backoff

	sem     chan struct{}  // exchanges at a time
	running sync.Map       // peer name -> struct{}: a round with it is in flight
	wg      sync.WaitGroup // rounds in flight
	fg      latencyWindow  // foreground request latencies
	p99     atomic.Int64   // last window's foreground p99, ns
	base    atomic.Int64   // the backoff's quiet-window p99 baseline, ns
	active  atomic.Int32   // exchanges in flight
	worked  atomic.Bool    // an exchange ran since the last sample
	factor  atomic.Uint64  // math.Float64bits of the backoff factor
	totals  aaeTotals
	rng     *rand.Rand // jitter; guarded by mu
}

// aaeTotals are the node's cumulative anti-entropy counters.
type aaeTotals struct {
	exchanges, errors, differences, repaired, bytes, reaped atomic.Int64
	// reapRounds counts completed reaper passes (tests wait on it to
	// show that something was not reaped).
	reapRounds atomic.Int64
}

func newAAE(cfg Config) *aaeState {
	a := &aaeState{
		parts:   make([]*partTree, cfg.Ring.Partitions),
		rebuild: make(chan struct{}, 1),
		keys:    antientropy.NewTokenBucket(float64(cfg.AAE.KeysPerSec), float64(cfg.AAE.KeysPerSec)),
		bytes:   antientropy.NewTokenBucket(float64(cfg.AAE.BytesPerSec), float64(cfg.AAE.BytesPerSec)),
		backoff: antientropy.NewBackoff(cfg.AAE.P99Target),
		sem:     make(chan struct{}, cfg.AAE.Concurrency),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
	a.setFactor(1)
	for p := range a.parts {
		a.parts[p] = &partTree{
			tree:      antientropy.NewTree(1),
			tombs:     map[string]time.Time{},
			confirmed: map[string]time.Time{},
			peers:     map[string]exchangeRecord{},
			reaped:    map[string]reapedTomb{},
		}
	}
	return a
}

// nextRebuild draws the time of a tree's next scheduled rebuild: the
// interval ±25%, so that trees built together are not all rebuilt together.
func (a *aaeState) nextRebuild(now time.Time, interval time.Duration) time.Time {
	a.mu.Lock()
	f := 0.75 + 0.5*a.rng.Float64()
	a.mu.Unlock()
	return now.Add(time.Duration(float64(interval) * f))
}

func (a *aaeState) getFactor() float64  { return math.Float64frombits(a.factor.Load()) }
func (a *aaeState) setFactor(f float64) { a.factor.Store(math.Float64bits(f)) }

func (a *aaeState) wantRebuild() {
	select {
	case a.rebuild <- struct{}{}:
	default:
	}
}

// rememberReaped records that key's state st was reaped at now, and
// forgets what was reaped more than keep ago, or the oldest past
// reapMemory entries.
func (pt *partTree) rememberReaped(key string, st vclock.State, now time.Time, keep time.Duration) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.reaped[key] = reapedTomb{state: st, at: now}
	oldest, oldestAt := "", now
	for k, r := range pt.reaped {
		if now.Sub(r.at) > keep {
			delete(pt.reaped, k)
			continue
		}
		if r.at.Before(oldestAt) {
			oldest, oldestAt = k, r.at
		}
	}
	if len(pt.reaped) > reapMemory {
		delete(pt.reaped, oldest)
	}
}

// coveredByReaped reports whether this node reaped, lately, a tombstone of
// key that already covers st: storing st would bring back a delete that
// every replica confirmed (or store the same tombstone again).
func (pt *partTree) coveredByReaped(key []byte, st vclock.State) bool {
	pt.mu.Lock()
	r, ok := pt.reaped[string(key)]
	pt.mu.Unlock()
	return ok && r.state.Descends(st)
}

// onlyTombstones reports whether st holds versions and all are deletes.
func onlyTombstones(st vclock.State) bool {
	if len(st.Versions) == 0 {
		return false
	}
	for _, v := range st.Versions {
		if !v.Deleted {
			return false
		}
	}
	return true
}

// treeDelta is what one committed data write changes in its tree.
type treeDelta struct {
	set      bool
	old, new uint64
	tomb     bool
}

// builtPartition is a tree built from a scan, with its tombstones.
type builtPartition struct {
	hashes [][2]uint64 // key hash, entry hash
	tombs  []string
}

func (b *builtPartition) add(key, val []byte) error {
	rec, enc, err := decodeRecordEnc(val)
	if err != nil {
		return fmt.Errorf("node: stored state of %q is corrupt: %w", key, err)
	}
	b.hashes = append(b.hashes, [2]uint64{antientropy.KeyHash(key), antientropy.EntryHash(key, enc)})
	if onlyTombstones(rec.State) {
		b.tombs = append(b.tombs, string(key))
	}
	return nil
}

func (b *builtPartition) tree() *antientropy.Tree {
	t := antientropy.NewTree(antientropy.DepthFor(len(b.hashes)))
	for _, h := range b.hashes {
		t.Update(h[0], 0, h[1])
	}
	return t
}

// sharedPartitions maps each live peer to the partitions this node and it
// both replicate (as primaries).
func (a *antiEntropy) sharedPartitions() map[string][]uint32 {
	return a.sharedPartitionsOf(a.ring.Load())
}

// sharedPartitionsOf is sharedPartitions on the placement r.
func (a *antiEntropy) sharedPartitionsOf(r *ring.Ring) map[string][]uint32 {
	self := ring.NodeID(a.cfg.Name)
	out := map[string][]uint32{}
	for _, p := range r.PartitionsOf(self) {
		for _, id := range r.Primaries(p) {
			if id != self && a.peers.Alive(string(id)) {
				out[string(id)] = append(out[string(id)], uint32(p))
			}
		}
	}
	return out
}

// antiEntropy is the anti-entropy service (Dynamo §4.7): its loop
// (aaeLoop) runs exchanges with the peers this node shares partitions with,
// the tombstone reaper and the holder confirmations it depends on
// (holders.go), tree rebuilds and the foreground-latency sampler that paces
// repairs. The trees themselves are the replica's (rep, aaeState.parts);
// the exchange bookkeeping (partTree.confirmed, peers) is written only by
// exchanges, under the partition's mu.
//
// Its goroutines: aaeLoop and holdsLoop (run by Run, until its
// context ends) and the exchange rounds aaeLoop starts (a.wg, awaited by the
// loop before it returns).
type antiEntropy struct {
	recoverer
	members *members // the membership and the placement
	cfg     *Config  // the node's (its addresses are set in New, before any goroutine)
	clock   *clock
	store   storage.Store
	rep     *replica
	peers   *gossip.Peers
	aae     *aaeState
	xfer    *transferState
	ring    *atomic.Pointer[ring.Ring]
	// cluster is what anti-entropy needs of the rest of the node.
	cluster aaeDeps
}

// aaeDeps is what anti-entropy needs of the rest of the node: the
// view and membership (for the holders it must confirm and its own
// advertised holdings), calls to peers, and the handoff paths that move
// states between nodes.
type aaeDeps interface {
	call(ctx context.Context, addr string, id membership.TableID, method uint8, payload []byte) ([]byte, error)
	rpcAddrOf(name string) (string, bool)
	fetchStates(ctx context.Context, addr string, p uint32, keys [][]byte) ([]vclock.State, error)
	sendHandoff(ctx context.Context, target string, req wire.HandoffRequest) error
}

// Run runs the anti-entropy loop and the holdings loop until ctx ends,
// restarting either after a panic (logged and counted), and returns once
// both (and the exchange rounds they started) have returned.
func (a *antiEntropy) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(a.supervise(ctx, "aaeLoop", func() { a.aaeLoop(ctx) }))
	wg.Go(a.supervise(ctx, "holdsLoop", func() { a.holdsLoop(ctx) }))
	wg.Wait()
	return ctx.Err()
}

// aaeLoop runs exchanges, the tombstone reaper, tree rebuilds and the
// foreground-latency sampler until the node stops.
func (a *antiEntropy) aaeLoop(ctx context.Context) {
	defer a.aae.wg.Wait()
	tick := time.NewTicker(a.cfg.AAE.Interval)
	defer tick.Stop()
	sample := time.NewTicker(time.Second)
	defer sample.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sample.C:
			a.sampleForeground()
		case <-a.aae.rebuild:
			a.rep.rebuildDue(ctx)
		case <-tick.C:
			v := a.holderView()
			if !a.cfg.AAE.Disabled {
				a.aaeRound(ctx)
				a.holdersRound(ctx, v)
			}
			a.reapTombstones(ctx, v)
			a.rep.rebuildDue(ctx)
		}
	}
}

// aaeRound starts, for every live peer with no round in flight, a round:
// compare the roots of the shared partitions, then exchange those that
// differ.
//
// A round works on one view: the partitions it shares with each peer come
// from the view's placement, and every call of the round carries that
// view's table, so a peer on another table refuses instead of being
// repaired as a replica it no longer is (a round computed from an older
// placement once pushed a key to its former primary, which had lost the
// partition, with calls stamped with the newer table).
func (a *antiEntropy) aaeRound(ctx context.Context) {
	v := a.members.currentView()
	for peer, parts := range a.sharedPartitionsOf(v.ring) {
		if _, busy := a.aae.running.LoadOrStore(peer, struct{}{}); busy {
			continue
		}
		a.aae.wg.Go(func() {
			defer a.aae.running.Delete(peer)
			a.peerRound(ctx, v.id, peer, parts)
		})
	}
}

func (a *antiEntropy) peerRound(ctx context.Context, id membership.TableID, peer string, parts []uint32) {
	addr, ok := a.cluster.rpcAddrOf(peer)
	if !ok {
		return
	}
	start := a.clock.Steady()
	own := make([]uint64, len(parts))
	for i, p := range parts {
		pt := a.aae.parts[p]
		pt.mu.Lock()
		own[i] = pt.tree.Root()
		pt.mu.Unlock()
	}
	roots, size, err := a.rootsOf(ctx, id, addr, parts)
	switch {
	case errors.Is(err, errBadAnswer):
		a.log.Warn("anti-entropy roots: bad answer", "peer", peer, "err", err)
		return
	case err != nil:
		a.log.Debug("anti-entropy roots", "peer", peer, "err", err)
		return
	}
	a.aae.totals.bytes.Add(int64(size))
	a.metrics.aaeBytes.Add(float64(size))
	for i, p := range parts {
		if ctx.Err() != nil {
			return
		}
		rr := roots[i]
		if !rr.Ready || !a.rep.partReady(int(p)) {
			// A transfer fills that copy; exchanging now would do its
			// work twice, and an incomplete copy confirms nothing.
			continue
		}
		if rr.Root == own[i] {
			a.recordExchange(p, peer, start, exchangeRecord{At: start, Result: "equal"}, true)
			continue
		}
		select {
		case a.aae.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rec, confirmed := a.exchange(ctx, id, p, peer, addr, rr, true)
		<-a.aae.sem
		rec.At = start
		a.recordExchange(p, peer, start, rec, confirmed)
	}
}

func (a *antiEntropy) recordExchange(p uint32, peer string, start time.Time, rec exchangeRecord, confirmed bool) {
	pt := a.aae.parts[p]
	pt.mu.Lock()
	pt.peers[peer] = rec
	if confirmed {
		pt.confirmed[peer] = start
	}
	pt.mu.Unlock()
	a.aae.totals.exchanges.Add(1)
	a.metrics.aaeExchanges.WithLabelValues(rec.Result).Inc()
	if rec.Result == "error" {
		a.aae.totals.errors.Add(1)
	}
}

// errBadAnswer wraps a peer's answer that decoded but does not fit the
// question (or did not decode).
var errBadAnswer = errors.New("node: bad answer")

// rootsOf asks the node at addr for its trees' roots of parts
// (wire.MethodAAERoots): each partition's root, depth, key count and whether the
// node is ready for it, in the order of parts. It also returns the bytes
// the call exchanged. A malformed or mismatched answer wraps errBadAnswer.
func (a *antiEntropy) rootsOf(ctx context.Context, id membership.TableID, addr string, parts []uint32) ([]wire.AAERoot, int, error) {
	req := wire.AAERootsRequest{Partitions: parts}.Marshal()
	cctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
	defer cancel()
	resp, err := a.cluster.call(cctx, addr, id, wire.MethodAAERoots, req)
	if err != nil {
		a.metrics.rpcErrors.WithLabelValues("aae_roots").Inc()
		return nil, 0, err
	}
	roots, err := wire.UnmarshalAAERoots(resp)
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("%w: %v", errBadAnswer, err)
	case len(roots.Roots) != len(parts):
		return nil, 0, fmt.Errorf("%w: %d roots for %d partitions", errBadAnswer, len(roots.Roots), len(parts))
	}
	return roots.Roots, len(req) + len(resp), nil
}

// sleepCtx waits d, or until ctx ends (then it returns ctx's error).
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// aaeRemote is the peer's side of an exchange, over RPC.
type aaeRemote struct {
	ctx   context.Context
	n     *antiEntropy
	id    membership.TableID // every call of the exchange carries this table
	push  bool               // repair the peer's side too
	addr  string
	p     uint32
	bytes int64
}

func (r *aaeRemote) call(method uint8, req []byte) ([]byte, error) {
	if err := r.n.pace(r.ctx, 0, len(req)); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	resp, err := r.n.cluster.call(ctx, r.addr, r.id, method, req)
	r.bytes += int64(len(req) + len(resp))
	if err != nil {
		r.n.metrics.rpcErrors.WithLabelValues("aae").Inc()
		return nil, err
	}
	return resp, r.n.pace(r.ctx, 0, len(resp))
}

func (r *aaeRemote) Children(level int, indices []uint32) ([][]uint64, error) {
	resp, err := r.call(wire.MethodAAEChildren, wire.AAETreeRequest{Partition: r.p, Level: level, Indices: indices}.Marshal())
	if err != nil {
		return nil, err
	}
	return wire.UnmarshalAAEChildren(resp, len(indices))
}

func (r *aaeRemote) Entries(level int, buckets []uint32) ([]antientropy.Entry, error) {
	resp, err := r.call(wire.MethodAAEEntries, wire.AAETreeRequest{Partition: r.p, Level: level, Indices: buckets}.Marshal())
	if err != nil {
		return nil, err
	}
	return wire.UnmarshalAAEEntries(resp)
}

// maxExchangeBuckets bounds the differing buckets one exchange repairs, so
// a badly diverged partition is repaired over several rounds instead of
// one long exchange holding a slot.
const maxExchangeBuckets = 4096

// repairBatch is how many keys one fetch or push carries.
const repairBatch = 128

// exchange compares partition p with peer and repairs this side, and the
// peer's too when push is set (anti-entropy between replicas; a transfer
// only pulls: its source may be a former owner, which must not be handed
// the partition's newer data as a stale copy). It reports whether the
// exchange was complete (with push: the replicas were left equal, a
// confirmation for tombstone reaping).
func (a *antiEntropy) exchange(ctx context.Context, id membership.TableID, p uint32, peer, addr string, rr wire.AAERoot, push bool) (exchangeRecord, bool) {
	a.aae.active.Add(1)
	a.aae.worked.Store(true)
	defer a.aae.active.Add(-1)
	pt := a.aae.parts[p]
	pt.mu.Lock()
	own := pt.tree.Clone()
	pt.mu.Unlock()
	remote := &aaeRemote{ctx: ctx, n: a, id: id, addr: addr, p: p, push: push}
	local := func(level int, buckets []uint32) ([]antientropy.Entry, error) {
		return a.rep.localEntries(ctx, p, level, buckets)
	}
	diffs, st, truncated, err := antientropy.Diff(own, rr.Root, rr.Depth, remote, local, maxExchangeBuckets)
	rec := exchangeRecord{Compared: st.EntriesLocal + st.EntriesReceived, Differences: len(diffs)}
	if err == nil {
		rec.Repaired, err = a.repairKeys(ctx, p, peer, addr, diffs, remote)
	}
	rec.Bytes = remote.bytes
	a.aae.totals.bytes.Add(remote.bytes)
	a.metrics.aaeBytes.Add(float64(remote.bytes))
	a.aae.totals.differences.Add(int64(len(diffs)))
	a.metrics.aaeDifferences.Add(float64(len(diffs)))
	if err != nil {
		rec.Result, rec.Err = "error", err.Error()
		a.log.Debug("anti-entropy exchange failed", "partition", p, "peer", peer, "err", err)
		return rec, false
	}
	rec.Result = "repaired"
	if len(diffs) == 0 && !truncated {
		// The roots differed but no key does: a tree drifted from its
		// data, or writes raced the exchange. Check ours (at most once a
		// minute per partition).
		rec.Result = "equal"
		now := a.clock.Steady()
		pt.mu.Lock()
		check := now.Sub(pt.lastCheck) > time.Minute
		if check {
			pt.lastCheck = now
		}
		pt.mu.Unlock()
		if check {
			if err := a.rep.rebuildTree(ctx, p, "roots differed without differing keys"); err != nil {
				a.log.Warn("anti-entropy tree rebuild", "partition", p, "err", err)
			}
		}
	}
	if rec.Repaired > 0 {
		a.log.Info("anti-entropy repaired keys", "partition", p, "peer", peer, "differences", len(diffs), "repaired", rec.Repaired)
	}
	return rec, !truncated
}

// repairKeys merges both sides' states of the differing keys and writes the
// merge back wherever it is news. A tombstone past its grace is not copied
// to a replica that has no state for the key: that replica may have reaped
// it already (it holds nothing the tombstone would suppress), and copying it
// back would make reaping chase itself around the replicas.
func (a *antiEntropy) repairKeys(ctx context.Context, p uint32, peer, addr string, diffs []antientropy.Difference, remote *aaeRemote) (int, error) {
	repaired := 0
	now := a.clock.Steady()
	for batch := range slices.Chunk(diffs, repairBatch) {
		keys := make([][]byte, len(batch))
		for i, d := range batch {
			keys[i] = d.Key
		}
		if err := a.pace(ctx, len(keys), 0); err != nil {
			return repaired, err
		}
		for len(keys) > 0 {
			resp, err := remote.call(wire.MethodAAEFetch, wire.AAEFetchRequest{Partition: p, Keys: keys}.Marshal())
			if err != nil {
				return repaired, err
			}
			theirs, err := wire.UnmarshalAAEFetch(resp, len(keys))
			if err != nil {
				return repaired, err
			}
			k, err := a.repairFetched(ctx, p, keys[:len(theirs)], theirs, remote, now)
			repaired += k
			if err != nil {
				return repaired, err
			}
			keys = keys[len(theirs):]
		}
	}
	a.aae.totals.repaired.Add(int64(repaired))
	a.metrics.aaeRepaired.Add(float64(repaired))
	return repaired, nil
}

// repairFetched merges this node's and the peer's states of keys, stores
// the merge here where it is news and pushes it to the peer where it is
// news there. It returns how many keys changed on either side.
func (a *antiEntropy) repairFetched(ctx context.Context, p uint32, keys [][]byte, theirs []wire.FetchedState, remote *aaeRemote, now time.Time) (int, error) {
	repaired := 0
	var pull, push []wire.HandoffItem
	for i, key := range keys {
		mine, err := a.rep.readLocal(ctx, key)
		if err != nil {
			return repaired, err
		}
		th := theirs[i].State
		merged := vclock.Merge(mine, th)
		changed := false
		// A tombstone its holder has kept past the grace is not copied to
		// a replica that has nothing: that replica may have reaped it
		// already (it holds nothing the tombstone would suppress), and
		// copying it back would make reaping chase itself around.
		if !merged.Equal(mine) && !(mine.IsZero() && theirs[i].Settled) {
			pull = append(pull, wire.HandoffItem{Key: key, State: th})
			changed = true
		}
		if !merged.Equal(th) && !(th.IsZero() && onlyTombstones(mine) && a.rep.settledHere(p, key, now)) {
			push = append(push, wire.HandoffItem{Key: key, State: merged})
			changed = true
		}
		if changed {
			repaired++
		}
	}
	// Merged in parallel, so the store's group commit syncs them together
	// (one fsync per batch, not per key), as the peer does with the push.
	if err := a.rep.receiveHandoff(ctx, wire.HandoffRequest{Items: pull}); err != nil {
		return 0, err
	}
	if len(push) > 0 && remote.push {
		req, err := wire.HandoffRequest{From: a.cfg.Name, Items: push}.Marshal()
		if err != nil {
			return 0, err
		}
		if _, err := remote.call(wire.MethodHandoff, req); err != nil {
			return 0, err
		}
	}
	return repaired, nil
}

// serveAAE answers a peer's anti-entropy calls.
func (a *antiEntropy) serveAAE(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	part := func(p uint32) (*partTree, error) {
		if int(p) >= len(a.aae.parts) {
			return nil, fmt.Errorf("node: partition %d outside the ring", p)
		}
		return a.aae.parts[p], nil
	}
	switch method {
	case wire.MethodAAERoots:
		req, err := wire.UnmarshalAAERootsRequest(payload)
		if err != nil {
			return nil, err
		}
		out := wire.AAERootsResponse{Roots: make([]wire.AAERoot, len(req.Partitions))}
		for i, p := range req.Partitions {
			pt, err := part(p)
			if err != nil {
				return nil, err
			}
			pt.mu.Lock()
			out.Roots[i] = wire.AAERoot{Root: pt.tree.Root(), Depth: pt.tree.Depth(), Keys: pt.tree.Keys()}
			pt.mu.Unlock()
			out.Roots[i].Ready = a.rep.partReady(int(p))
		}
		return out.Marshal(), nil
	case wire.MethodAAEChildren:
		req, err := wire.UnmarshalAAETree(payload)
		if err != nil {
			return nil, err
		}
		pt, err := part(req.Partition)
		if err != nil {
			return nil, err
		}
		hashes := make([][]uint64, len(req.Indices))
		pt.mu.Lock()
		defer pt.mu.Unlock()
		if req.Level >= pt.tree.Depth() {
			return nil, fmt.Errorf("node: level %d is not above the tree's depth %d", req.Level, pt.tree.Depth())
		}
		for i, idx := range req.Indices {
			hashes[i] = pt.tree.Children(req.Level, idx)
		}
		return wire.MarshalAAEChildren(hashes), nil
	case wire.MethodAAEEntries:
		req, err := wire.UnmarshalAAETree(payload)
		if err != nil {
			return nil, err
		}
		if _, err := part(req.Partition); err != nil {
			return nil, err
		}
		es, err := a.rep.localEntries(ctx, req.Partition, req.Level, req.Indices)
		if err != nil {
			return nil, err
		}
		return wire.MarshalAAEEntries(es), nil
	case wire.MethodAAEFetch:
		req, err := wire.UnmarshalAAEFetchRequest(payload)
		if err != nil {
			return nil, err
		}
		if _, err := part(req.Partition); err != nil {
			return nil, err
		}
		var states []wire.FetchedRaw
		size := 0
		now := a.clock.Steady()
		for _, key := range req.Keys {
			if len(key) == 0 || len(key) > a.cfg.MaxKeyBytes {
				return nil, fmt.Errorf("node: bad key length %d", len(key))
			}
			b, err := a.store.Get(ctx, storage.DataKey(req.Partition, key))
			if errors.Is(err, storage.ErrNotFound) {
				b, err = nil, nil
			}
			if err == nil && b != nil {
				b, err = stateBytes(b)
			}
			if err != nil {
				return nil, err
			}
			// Hints are copies of the key too: a holder round (the
			// asker's reaper) must see them before it confirms a
			// tombstone here (holders.go).
			hinted := false
			if a.rep.hints.HasPartition(req.Partition) {
				if b, hinted, err = withHints(ctx, a.rep.hints, req.Partition, key, b); err != nil {
					return nil, err
				}
			}
			if len(states) > 0 && size+len(b) > wire.MaxFetchBytes {
				break
			}
			states = append(states, wire.FetchedRaw{State: b, Settled: b != nil && !hinted && a.rep.settledHere(req.Partition, key, now)})
			size += len(b)
		}
		return wire.MarshalAAEFetch(states), nil
	}
	return nil, fmt.Errorf("node: unknown rpc method %d", method)
}

// withHints returns enc, the encoding of a node's stored state of key
// (nil: none), merged with the hints hs holds for key, and whether the
// hints added anything.
func withHints(ctx context.Context, hs *hintedhandoff.Store, p uint32, key, enc []byte) ([]byte, bool, error) {
	h, ok, err := hs.Lookup(ctx, p, key)
	if err != nil || !ok {
		return enc, false, err
	}
	var st vclock.State
	if enc != nil {
		if err := st.UnmarshalBinary(enc); err != nil {
			return nil, false, err
		}
	}
	merged := vclock.Merge(st, h)
	if enc != nil && merged.Equal(st) {
		return enc, false, nil
	}
	out, err := merged.MarshalBinary()
	return out, true, err
}

// pace waits until anti-entropy's budgets allow keys and bytes more work.
// The budgets shrink by the backoff factor while foreground latency is high.
func (a *antiEntropy) pace(ctx context.Context, keys, bytes int) error {
	f := a.aae.getFactor()
	now := a.clock.Steady()
	a.aae.mu.Lock()
	wait := max(a.aae.keys.Take(now, float64(keys)/f), a.aae.bytes.Take(now, float64(bytes)/f))
	a.aae.mu.Unlock()
	return sleepCtx(ctx, wait)
}

// maxReapsPerRound bounds the tombstones one reaper pass removes.
const maxReapsPerRound = 10000

// reapTombstones removes tombstones that every other replica of their key
// is known to hold (an exchange that left the replicas equal started after
// the tombstone was stored here) and whose delete is older than the grace
// period. Never on age alone, unless ReapUnconfirmed (the must-fail control).
func (a *antiEntropy) reapTombstones(ctx context.Context, v membership.Holders) {
	r := a.ring.Load()
	now := a.clock.Steady()
	minAge := a.cfg.reapMinAge()
	reaped, total := 0, 0
parts:
	for p, pt := range a.aae.parts {
		var peers []string
		if !a.cfg.AAE.ReapUnconfirmed {
			for _, id := range r.Primaries(p) {
				if string(id) != a.cfg.Name {
					peers = append(peers, string(id))
				}
			}
			peers = append(peers, v.Of(p)...)
		}
		type cand struct {
			key    string
			stored time.Time
		}
		var cands []cand
		pt.mu.Lock()
		total += len(pt.tombs)
		confirmed := maps.Clone(pt.confirmed)
		// Only tombstones every peer has confirmed are read from storage.
		for k, at := range pt.tombs {
			ok := true
			for _, peer := range peers {
				if c, seen := confirmed[peer]; !seen || !c.After(at) {
					ok = false
					break
				}
			}
			if ok {
				cands = append(cands, cand{k, at})
			}
		}
		pt.mu.Unlock()
		for _, c := range cands {
			if reaped >= maxReapsPerRound || ctx.Err() != nil {
				break parts
			}
			st, err := a.rep.readLocal(ctx, []byte(c.key))
			if err != nil {
				a.log.Warn("reaping tombstones", "err", err)
				break parts
			}
			if !onlyTombstones(st) {
				continue // a later write; updateData already dropped it from tombs
			}
			t := antientropy.Tombstone{StoredAt: c.stored}
			if !antientropy.Reapable(t, now, minAge, peers, confirmed) {
				continue
			}
			// Only the state that was judged is removed (updateData then
			// drops the key from tombs); a write since leaves it alone.
			removed := false
			err = a.rep.updateData(ctx, uint32(p), []byte(c.key), func(cur vclock.State, found bool) (vclock.State, []byte, error) {
				removed = found && cur.Equal(st)
				if !removed {
					return vclock.State{}, nil, storage.ErrSkipWrite
				}
				return vclock.State{}, nil, storage.ErrDeleteKey
			})
			if err != nil {
				a.log.Warn("reaping tombstone", "partition", p, "err", err)
				continue
			}
			if removed {
				reaped++
				if !a.cfg.AAE.ReapUnconfirmed {
					// The must-fail control reaps on age alone, with
					// none of the rules that keep a delete down.
					pt.rememberReaped(c.key, st, now, 2*minAge)
				}
			}
		}
	}
	a.metrics.tombstones.Set(float64(total - reaped))
	if reaped > 0 {
		a.aae.totals.reaped.Add(int64(reaped))
		a.metrics.tombstonesReaped.Add(float64(reaped))
		a.log.Info("tombstones reaped", "count", reaped, "unconfirmed", a.cfg.AAE.ReapUnconfirmed)
	}
	a.aae.totals.reapRounds.Add(1) // last: a round counted has counted its reaps
}

// latencyWindow collects foreground request latencies between samples
// (a bounded reservoir, so a flood of requests costs no memory).
type latencyWindow struct {
	mu   sync.Mutex
	seen int
	buf  []time.Duration
}

const latencyReservoir = 2048

func (w *latencyWindow) add(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen++
	if len(w.buf) < latencyReservoir {
		w.buf = append(w.buf, d)
		return
	}
	if i := rand.IntN(w.seen); i < latencyReservoir {
		w.buf[i] = d
	}
}

// p99 returns the window's p99 and starts a new window.
func (w *latencyWindow) p99() time.Duration {
	w.mu.Lock()
	buf := w.buf
	w.buf, w.seen = nil, 0
	w.mu.Unlock()
	if len(buf) == 0 {
		return 0
	}
	sort.Slice(buf, func(i, j int) bool { return buf[i] < buf[j] })
	return buf[(len(buf)*99)/100]
}

// sampleForeground feeds the last second's foreground p99 to the backoff,
// saying whether anti-entropy worked in that second (quiet seconds set the
// baseline that a rise is measured against).
func (a *antiEntropy) sampleForeground() {
	p99 := a.aae.fg.p99()
	busy := a.aae.worked.Swap(a.aae.active.Load() > 0)
	a.aae.p99.Store(int64(p99))
	a.aae.mu.Lock()
	f := a.aae.backoff.Observe(p99, busy)
	a.aae.base.Store(int64(a.aae.backoff.Baseline()))
	a.aae.mu.Unlock()
	if f < a.aae.getFactor() {
		a.log.Debug("anti-entropy backing off", "foreground_p99", p99, "factor", f)
	}
	a.aae.setFactor(f)
	a.metrics.aaeFactor.Set(f)
}

// merkleJSON is one partition's tree in /debug/merkle.
type merkleJSON = api.MerkleTree

// heldPartitions is the set of partitions this node replicates as a primary.
func (a *antiEntropy) heldPartitions() map[uint32]bool {
	held := map[uint32]bool{}
	for _, p := range a.ring.Load().PartitionsOf(ring.NodeID(a.cfg.Name)) {
		held[uint32(p)] = true
	}
	return held
}

func (a *antiEntropy) merkleOf(p uint32, held bool, now time.Time) merkleJSON {
	pt := a.aae.parts[p]
	pt.mu.Lock()
	defer pt.mu.Unlock()
	return merkleJSON{Partition: int(p), Held: held, Root: fmt.Sprintf("%016x", pt.tree.Root()), Keys: pt.tree.Keys(),
		Depth: pt.tree.Depth(), TreeAgeSecs: now.Sub(pt.built).Seconds()}
}

// handleMerkle serves GET /debug/merkle[?partition=P]: a partition's root
// hash (or every held partition's), so replicas can be seen to agree.
func (h *httpAPI) handleMerkle(w http.ResponseWriter, r *http.Request) {
	now := h.clock.Steady()
	held := h.ae.heldPartitions()
	if s := r.URL.Query().Get("partition"); s != "" || r.URL.Query().Has("partition") {
		p, err := strconv.ParseUint(s, 10, 32)
		if err != nil || int(p) >= len(h.aae.parts) {
			writeError(w, badRequest("bad_partition", "partition %q: want an integer in [0, %d)", s, len(h.aae.parts)))
			return
		}
		m := h.ae.merkleOf(uint32(p), held[uint32(p)], now)
		m.Node = h.cfg.Name
		writeJSON(w, http.StatusOK, m)
		return
	}
	out := []merkleJSON{}
	for p := range h.aae.parts {
		if m := h.ae.merkleOf(uint32(p), held[uint32(p)], now); m.Held || m.Keys > 0 {
			out = append(out, m)
		}
	}
	writeJSON(w, http.StatusOK, api.Merkle{Node: h.cfg.Name, Partitions: out})
}

// handleAAE serves GET /debug/aae: per partition the tree and the last
// exchange with each peer, and the node's totals.
func (h *httpAPI) handleAAE(w http.ResponseWriter, r *http.Request) {
	now := h.clock.Steady()
	held := h.ae.heldPartitions()
	parts := []api.AAEPartition{}
	tombs := 0
	for p, pt := range h.aae.parts {
		pt.mu.Lock()
		tombs += len(pt.tombs)
		if !held[uint32(p)] && pt.tree.Keys() == 0 {
			pt.mu.Unlock()
			continue
		}
		pj := api.AAEPartition{Partition: p, Keys: pt.tree.Keys(), Depth: pt.tree.Depth(),
			Root: fmt.Sprintf("%016x", pt.tree.Root()), TreeAgeSecs: now.Sub(pt.built).Seconds(), Tombstones: len(pt.tombs), Peers: []api.AAEPeer{}}
		for peer, rec := range pt.peers {
			pj.Peers = append(pj.Peers, api.AAEPeer{Peer: peer, LastExchange: h.clock.wallOf(rec.At).UTC().Format(time.RFC3339), Result: rec.Result,
				KeysCompared: rec.Compared, Differences: rec.Differences, KeysRepaired: rec.Repaired, BytesSent: rec.Bytes, Error: rec.Err})
		}
		pt.mu.Unlock()
		slices.SortFunc(pj.Peers, func(a, b api.AAEPeer) int { return strings.Compare(a.Peer, b.Peer) })
		parts = append(parts, pj)
	}
	h.metrics.tombstones.Set(float64(tombs))
	t := &h.aae.totals
	writeJSON(w, http.StatusOK, api.AAE{
		Node:                h.cfg.Name,
		Enabled:             !h.cfg.AAE.Disabled,
		IntervalSecs:        h.cfg.AAE.Interval.Seconds(),
		RateFactor:          h.aae.getFactor(),
		ForegroundP99Millis: float64(h.aae.p99.Load()) / 1e6,
		TombstoneGraceSecs:  h.cfg.AAE.TombstoneGrace.Seconds(),
		TombstoneMinAgeSecs: h.cfg.reapMinAge().Seconds(),
		Totals: api.AAETotals{
			Exchanges: t.exchanges.Load(), ExchangeErrors: t.errors.Load(), Differences: t.differences.Load(),
			KeysRepaired: t.repaired.Load(), BytesSent: t.bytes.Load(), Tombstones: int64(tombs), TombstonesReaped: t.reaped.Load(), ReapRounds: t.reapRounds.Load(),
		},
		Partitions: parts,
	})
}
