package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/handoff"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/quorum"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// coordinator runs requests (Dynamo §4.5): it finds a key's preference
// list in the current view, sends the request to its replicas (itself
// through rep, the others over RPC), answers once the request's own R or
// W replicas replied, forwards a write this node can't coordinate, keeps
// sloppy writes as hints, and repairs the replicas a read found behind.
// Work that outlives a request (late replication, read repair) runs in bg.
//
// It owns no state of its own: the placement comes from cluster (the
// roster's published view, read without locks), the data from rep.
type coordinator struct {
	recoverer
	members *members // the membership and the placement
	cfg     *Config  // the node's (its addresses are set in New, before any goroutine)
	clock   *clock
	rep     *replica
	peers   *gossip.Peers
	hints   *hintedhandoff.Store
	handoff *handoff.Service
	inc     *atomic.Pointer[incarnation]
	ring    *atomic.Pointer[ring.Ring]
	// quietLog rate-limits the lines any client's load can repeat (one
	// per cause per interval, with a count).
	quietLog *slog.Logger
	// bg runs work started by requests; bgCtx ends when the node stops.
	bg    *tasks
	bgCtx context.Context
	// cluster is the view and the calls to other nodes.
	cluster coordCluster
}

// coordCluster is what the coordinator needs of the cluster: the current
// view, a call to a peer under a table id, and a member's RPC address.
type coordCluster interface {
	call(ctx context.Context, addr string, id membership.TableID, method uint8, payload []byte) ([]byte, error)
	rpcAddrOf(name string) (string, bool)
}

// targets returns a key's partition and the replicas a request goes to.
// Sloppy (Dynamo §4.6): the first N alive nodes of the extended preference
// list, fallbacks standing in for down primaries. Strict: the N primaries,
// alive or not; always so when hinted handoff is off.
func (c *coordinator) targets(v *view, key []byte, strict bool) (int, []ring.Target) {
	r := v.ring
	p := r.Partition(key)
	if strict || c.cfg.NoHintedHandoff {
		prims := r.Primaries(p)
		ts := make([]ring.Target, len(prims))
		for i, id := range prims {
			ts[i] = ring.Target{ID: id, Primary: true}
		}
		return p, ts
	}
	return p, r.Targets(p, c.aliveID)
}

func (c *coordinator) aliveID(id ring.NodeID) bool { return c.peers.Alive(string(id)) }

// self returns this node's place among targets.
func (c *coordinator) self(targets []ring.Target) (ring.Target, bool) {
	for _, t := range targets {
		if string(t.ID) == c.cfg.Name {
			return t, true
		}
	}
	return ring.Target{}, false
}

// readReplica reads key from one target, locally or over RPC, for a
// request computed from table id. A fallback answers with the hint it
// holds for the primary it stands in for.
func (c *coordinator) readReplica(ctx context.Context, id membership.TableID, t ring.Target, key []byte) (vclock.State, error) {
	owner := ""
	if !t.Primary {
		owner = string(t.For)
	}
	if string(t.ID) == c.cfg.Name {
		return c.readAs(ctx, key, owner)
	}
	addr, ok := c.cluster.rpcAddrOf(string(t.ID))
	if !ok {
		return vclock.State{}, fmt.Errorf("node: no address for %s", t.ID)
	}
	resp, err := c.cluster.call(ctx, addr, id, wire.MethodRead, wire.ReadRequest{Key: key, Owner: owner}.Marshal())
	if err != nil {
		c.metrics.rpcErrors.WithLabelValues("read").Inc()
		return vclock.State{}, err
	}
	var st vclock.State
	if err := st.UnmarshalBinary(resp); err != nil {
		return vclock.State{}, fmt.Errorf("node: read from %s: %w", t.ID, err)
	}
	return st, nil
}

// readAs reads this node's state of key: its data, or its hint for owner.
func (c *coordinator) readAs(ctx context.Context, key []byte, owner string) (vclock.State, error) {
	if owner == "" {
		if !c.rep.partReady(c.ring.Load().Partition(key)) {
			return vclock.State{}, errNotReady
		}
		return c.rep.readLocal(ctx, key)
	}
	st, _, err := c.hints.Get(ctx, ring.NodeID(owner), uint32(c.ring.Load().Partition(key)), key)
	return st, err
}

// applyAs stores st on this node: merged into its data, or, as a fallback,
// into a durable hint for owner (Dynamo §4.6).
func (c *coordinator) applyAs(ctx context.Context, key []byte, st vclock.State, owner string) error {
	if owner == "" {
		_, err := c.rep.mergeLocal(ctx, key, st, true)
		return err
	}
	err := c.hints.Add(ctx, ring.NodeID(owner), uint32(c.ring.Load().Partition(key)), key, st, c.clock.Steady())
	if errors.Is(err, hintedhandoff.ErrTargetFull) {
		c.handoff.Refused(owner)
	}
	c.rep.checkDurable(err)
	return err
}

// applyReplica sends a state to one target, locally or over RPC, for a
// request computed from table id, and returns once the target has stored
// it durably, saying whether the target counts toward a write quorum: a
// primary only when it is ready for the key's partition (it holds a
// complete copy; view.go), a fallback always (it keeps a hint).
func (c *coordinator) applyReplica(ctx context.Context, id membership.TableID, t ring.Target, key []byte, st vclock.State) (bool, error) {
	owner := ""
	if !t.Primary {
		owner = string(t.For)
	}
	if string(t.ID) == c.cfg.Name {
		if err := c.applyAs(ctx, key, st, owner); err != nil {
			return false, err
		}
		return c.countsAsAck(key, owner), nil
	}
	addr, ok := c.cluster.rpcAddrOf(string(t.ID))
	if !ok {
		return false, fmt.Errorf("node: no address for %s", t.ID)
	}
	req, err := wire.ApplyRequest{Key: key, State: st, Owner: owner}.Marshal()
	if err != nil {
		return false, err
	}
	resp, err := c.cluster.call(ctx, addr, id, wire.MethodApply, req)
	if err != nil {
		c.metrics.rpcErrors.WithLabelValues("apply").Inc()
		return false, err
	}
	ans, err := wire.UnmarshalApplyResponse(resp)
	switch {
	case err != nil:
		return false, fmt.Errorf("node: apply on %s: %w", t.ID, err)
	case ans == wire.ApplyNoSpace:
		return false, fmt.Errorf("node: %s refused the write: %w", t.ID, storage.ErrNoSpace)
	}
	return ans == wire.ApplyCounted, nil
}

// countsAsAck reports whether this node's copy of a write of key counts
// toward the write's quorum (see applyReplica).
func (c *coordinator) countsAsAck(key []byte, owner string) bool {
	return owner != "" || c.rep.partReady(c.ring.Load().Partition(key))
}

// checkAvailable refuses a request up front, as Cassandra does, when gossip
// already says too few of its targets are alive to meet its quorum (which
// covers a key with fewer targets than the quorum, e.g. sloppy targets when
// fewer than N nodes are up). Nothing
// is read or written, so a refused write is a definite failure, unlike a
// write that starts and then misses W acks (indeterminate).
func (c *coordinator) checkAvailable(op string, need, needPrimary int, targets []ring.Target) error {
	var alive, down []string
	alivePrimaries := 0
	for _, t := range targets {
		if !c.peers.Alive(string(t.ID)) {
			down = append(down, string(t.ID))
			continue
		}
		alive = append(alive, string(t.ID))
		if t.Primary {
			alivePrimaries++
		}
	}
	if len(alive) >= need && alivePrimaries >= needPrimary {
		return nil
	}
	ue := &UnavailableError{Op: op, Reason: ReasonTooFewAlive, Need: need, NeedPrimary: needPrimary,
		Alive: alive, AlivePrimaries: alivePrimaries, Down: down}
	shortRing(ue, c.ring.Load(), c.cfg.Ring.N)
	return ue
}

// shortRing marks ue (ReasonTooFewAlive) with the ring's size when the
// ring has fewer members than n replicas per key, so its message says
// that more nodes (or a smaller N) are needed rather than that some are
// down.
func shortRing(ue *UnavailableError, r *ring.Ring, n int) {
	if ue.Reason != ReasonTooFewAlive || r == nil || r.Len() >= n {
		return
	}
	ue.Members, ue.N = r.Len(), n
}

// read coordinates a read: fan out to every replica in parallel, answer
// after R replies (PR of them from primaries), then repair stale replicas
// in the background once the rest have answered (Dynamo §4.5, §5).
func (c *coordinator) read(ctx context.Context, key []byte, r, pr int, strict bool, timeout time.Duration) readOutcome {
	v := c.members.currentView()
	_, targets := c.targets(v, key, strict)
	out := readOutcome{R: r, PR: pr}
	if err := c.checkAvailable(opRead, r, pr, targets); err != nil {
		out.Err = err
		return out
	}
	tr := quorum.NewTracker(r, pr, targets)
	// Replica calls outlive the client's request (read repair needs the
	// late replies) but never the request timeout or the node.
	rctx, cancel := context.WithTimeout(c.bgCtx, timeout)
	var alive []ring.Target
	for _, t := range targets {
		if !c.peers.Alive(string(t.ID)) {
			tr.Record(t.ID, false)
			continue
		}
		alive = append(alive, t)
	}
	// Which replicas to ask now, and which later (ReadFanoutQuorum: one
	// more each time one fails or the asked ones are slow).
	order, first := alive, len(alive)
	if c.cfg.ReadFanout == ReadFanoutQuorum {
		order, first = quorum.ReadSet(alive, ring.NodeID(c.cfg.Name), r, pr)
	}
	replies := make(chan readReply, len(order))
	asked := 0
	ask := func() {
		t := order[asked]
		asked++
		c.bg.Go(func() {
			var st vclock.State
			err := c.safely("read", func() (err error) {
				st, err = c.readReplica(rctx, v.id, t, key)
				return err
			})
			replies <- readReply{id: t.ID, st: st, err: err}
		})
	}
	for asked < first {
		ask()
	}
	var spec <-chan time.Time
	if asked < len(order) {
		st := time.NewTimer(c.cfg.SpeculativeRetry)
		defer st.Stop()
		spec = st.C
	}
	var got []quorum.ReadReply
	received := 0
	timer := time.NewTimer(timeout)
	defer timer.Stop()
wait:
	for tr.Outcome() == quorum.Pending && (received < asked || asked < len(order)) {
		if received == asked {
			ask() // every asked replica answered, not enough of them well
			continue
		}
		select {
		case rep := <-replies:
			received++
			if rep.err != nil {
				c.log.Debug("replica read failed", "replica", rep.id, "err", rep.err)
				tr.Record(rep.id, false)
				if asked < len(order) {
					ask()
				}
				continue
			}
			tr.Record(rep.id, true)
			got = append(got, quorum.ReadReply{Node: rep.id, State: rep.st})
		case <-spec:
			// The asked replicas are slow: ask the next one too (and
			// again after another wait, while any is left; a failure
			// may have asked the last one meanwhile).
			spec = nil
			if asked < len(order) {
				ask()
			}
			if asked < len(order) {
				spec = time.After(c.cfg.SpeculativeRetry)
			}
		case <-ctx.Done():
			break wait
		case <-timer.C:
			break wait
		}
	}
	out.Replies, out.Asked = len(got), asked
	if tr.Outcome() != quorum.Succeeded {
		cancel()
		ok, okp, _ := tr.Counts()
		out.Err = &QuorumError{Op: opRead, Need: r, NeedPrimary: pr, Got: ok, GotPrimary: okp,
			Acked: names(tr.Acked()), Failed: names(tr.Failed()), Pending: names(tr.Pending())}
		c.drain(replies, asked-received)
		return out
	}
	out.State = quorum.MergeReplies(got)
	stale := quorum.Stale(out.State, got)
	out.Stale = len(stale)
	if c.cfg.ReadRepair == ReadRepairBlocking && len(stale) > 0 {
		// Write the merged state back to the stale repliers before
		// answering, so no later quorum read can return less than this one.
		c.repair(rctx, v.id, key, out.State, pick(targets, stale))
		for i := range got {
			got[i].State = out.State // so the late repair skips them
		}
	}
	remaining := asked - received
	c.bg.Go(func() {
		defer cancel()
		defer c.guard("read repair")
		c.finishRead(rctx, v.id, key, targets, got, replies, remaining)
	})
	return out
}

// drain consumes the replies still to come so their goroutines can exit.
func (c *coordinator) drain(replies chan readReply, remaining int) {
	c.bg.Go(func() {
		for range remaining {
			<-replies
		}
	})
}

// finishRead waits for the remaining replies, then pushes the merged state
// to every replica that lacks part of it (read repair).
func (c *coordinator) finishRead(ctx context.Context, id membership.TableID, key []byte, targets []ring.Target, got []quorum.ReadReply, replies chan readReply, remaining int) {
	for range remaining {
		rep := <-replies // every asked replica answers by rctx's deadline
		if rep.err == nil {
			got = append(got, quorum.ReadReply{Node: rep.id, State: rep.st})
		}
	}
	if c.cfg.ReadRepair == ReadRepairOff {
		return
	}
	merged := quorum.MergeReplies(got)
	c.repair(ctx, id, key, merged, pick(targets, quorum.Stale(merged, got)))
}

// repair pushes merged to the given replicas in parallel and waits. Only
// primaries are repaired: a fallback repaired with a value it served from
// a hint would keep it as a new hint, with a new hint window, and could
// deliver it after the value's delete was reaped (reapMinAge).
func (c *coordinator) repair(ctx context.Context, id membership.TableID, key []byte, merged vclock.State, stale []ring.Target) {
	var wg sync.WaitGroup
	for _, t := range stale {
		if !t.Primary {
			continue
		}
		wg.Go(func() {
			if err := c.safely("read repair", func() error { _, err := c.applyReplica(ctx, id, t, key, merged); return err }); err != nil {
				c.log.Debug("read repair failed", "replica", t.ID, "err", err)
				return
			}
			c.metrics.readRepairs.Inc()
		})
	}
	wg.Wait()
}

// coordinateWrite runs a client write on this node, which must be a
// replica of the key: store it locally, send the new state to the other
// replicas in parallel, answer after W acks (PW from primaries).
func (c *coordinator) coordinateWrite(ctx context.Context, req wire.WriteRequest) writeOutcome {
	v := c.members.currentView()
	p, targets := c.targets(v, req.Key, req.Strict)
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	out := writeOutcome{W: req.W, PW: req.PW, Coordinator: c.cfg.Name}
	if err := c.checkAvailable(opWrite, req.W, req.PW, targets); err != nil {
		out.Err = err
		return out
	}
	me, isTarget := c.self(targets)
	if !isTarget {
		out.Err = &UnavailableError{Op: opWrite, Reason: ReasonNotReplica, Need: req.W, NeedPrimary: req.PW}
		return out
	}
	tr := quorum.NewTracker(req.W, req.PW, targets)
	// One deadline bounds the whole request: the local write and the wait
	// for the replicas share it, so a client that asked for timeout T is
	// answered within T (a slow local write leaves less time for acks),
	// not within 2T as when each step had its own.
	wctx, wcancel := context.WithTimeout(ctx, timeout)
	defer wcancel()

	// The local write: the coordinator's own replica decides the new dot.
	var dot vclock.Dot
	var localErr error
	if me.Primary {
		dot, localErr = c.writePrimary(wctx, p, req, &out)
	} else {
		dot, localErr = c.writeFallback(wctx, p, string(me.For), req, &out)
	}
	var (
		badContext *ContextError
		limit      *LimitError
	)
	switch {
	case errors.As(localErr, &badContext):
		out.Err = badContext
		return out
	case errors.Is(localErr, vclock.ErrCounterExhausted):
		out.Err = &ContextError{Err: localErr}
		return out
	case errors.As(localErr, &limit):
		out.Err = limit
		return out
	case refusedForSpace(localErr) && out.State.IsZero():
		// This node's disk is full: the write was sent nowhere.
		c.metrics.diskRefused.Inc()
		out.Err = &QuorumError{Op: opWrite, Need: req.W, NeedPrimary: req.PW,
			Failed: []string{c.cfg.Name}, DiskFull: []string{c.cfg.Name}, Definite: true}
		return out
	case errors.Is(localErr, storage.ErrNotDurable) && out.State.IsZero():
		// The local commit failed after the store applied it (a failed
		// fsync): the write was sent nowhere, but it may be on this node's
		// disk after all and appear later, so it is not "nothing written".
		c.quietLog.Error("local write failed to reach stable storage", "err", localErr)
		out.Err = &QuorumError{Op: opWrite, Need: req.W, NeedPrimary: req.PW, Failed: []string{c.cfg.Name},
			Err: fmt.Errorf("the coordinator's own write failed to reach stable storage (%w)", localErr)}
		return out
	case localErr != nil && out.State.IsZero():
		c.quietLog.Error("local write failed", "err", localErr)
		out.Err = &WriteFailedError{Err: localErr}
		return out
	}
	// A fallback whose hint queue is full still coordinates: the write
	// counts only the replicas that really stored it.
	// The local copy counts if this node is a ready primary (or a
	// fallback) and its table did not change while the write landed (see
	// serveChecked).
	tr.Record(ring.NodeID(c.cfg.Name), localErr == nil && (!me.Primary || c.rep.partReady(p)) && c.members.currentView().id == v.id)
	out.Context = returnedContext(req.Context, dot)
	if len(out.State.Versions) == 1 {
		// The write superseded everything: the whole new state is what
		// the client has seen.
		out.Context = out.State.Context
	}

	// Replication continues after the client is answered, bounded by the
	// request timeout and the node's life.
	rctx, cancel := context.WithTimeout(c.bgCtx, timeout)
	type ack struct {
		id    ring.NodeID
		err   error
		count bool // stored, and counts toward W (a ready primary or a fallback)
	}
	acks := make(chan ack, len(targets))
	// Where the write may be: stored says some replica stored it (counted
	// or not), unsure that one failed in a way that may have stored it;
	// diskFull holds the replicas that refused it for their disks.
	stored, unsure := localErr == nil, false
	diskFull := map[ring.NodeID]bool{}
	if refusedForSpace(localErr) {
		c.metrics.diskRefused.Inc()
		diskFull[ring.NodeID(c.cfg.Name)] = true
	} else if localErr != nil {
		unsure = true
	}
	sent := 0
	for _, t := range targets {
		if string(t.ID) == c.cfg.Name {
			continue
		}
		if !c.peers.Alive(string(t.ID)) {
			tr.Record(t.ID, false)
			continue
		}
		sent++
		c.bg.Go(func() {
			var count bool
			err := c.safely("replicate", func() (err error) {
				count, err = c.applyReplica(rctx, v.id, t, req.Key, out.State)
				return err
			})
			acks <- ack{id: t.ID, err: err, count: count}
		})
	}
	received := 0
	// On success answer at once; on failure wait (within the request's
	// deadline) for every replica, so the indeterminate answer says
	// exactly where the write is stored.
wait:
	for tr.Outcome() != quorum.Succeeded && received < sent {
		select {
		case a := <-acks:
			received++
			switch {
			case a.err == nil:
				stored = true
			case refusedForSpace(a.err):
				diskFull[a.id] = true
			case !errors.Is(a.err, rpc.ErrNotSent):
				unsure = true
			}
			if a.err != nil {
				c.log.Debug("replica write failed", "replica", a.id, "err", a.err)
			}
			tr.Record(a.id, a.err == nil && a.count)
		case <-wctx.Done():
			break wait
		}
	}
	c.bg.Go(func() {
		defer cancel()
		for range sent - received {
			<-acks
		}
	})
	ok, okp, _ := tr.Counts()
	out.Acked, out.Failed, out.Pending = names(tr.Acked()), names(tr.Failed()), names(tr.Pending())
	out.Primaries, out.Fallbacks = okp, ok-okp
	if tr.Outcome() != quorum.Succeeded {
		qe := &QuorumError{Op: opWrite, Need: req.W, NeedPrimary: req.PW, Got: ok, GotPrimary: okp,
			Acked: out.Acked, Failed: out.Failed, Pending: out.Pending}
		for _, t := range targets {
			if diskFull[t.ID] {
				qe.DiskFull = append(qe.DiskFull, string(t.ID))
			}
		}
		qe.Definite = len(qe.DiskFull) > 0 && !stored && !unsure && len(out.Pending) == 0
		out.Err = qe
	}
	return out
}

// refusedForSpace reports whether a replica's write failed because its
// disk is full and left nothing behind (a refusal at the reserve, not a
// failed commit): the write is certainly not stored there.
func refusedForSpace(err error) bool {
	return errors.Is(err, storage.ErrNoSpace) && !errors.Is(err, storage.ErrNotDurable)
}

// writePrimary stores a new write in this primary's data under the key's
// lock and records the new state in out.
//
// The new dot is issued by the key's owner actor (record.go): the record's
// own when it has one minted in this incarnation, else a fresh one, which
// the record keeps. A client context that claims more of the owner actor's
// counters than the record knows was not made by a read (no replica can
// hold a counter this record never issued): it is refused with
// a *ContextError, as it would hide this write's successors. An owner
// with no counter left is replaced by a fresh one.
//
// out.State is set only once the write is stored: a dot that is not in the
// local record must never reach another replica.
func (c *coordinator) writePrimary(ctx context.Context, p int, req wire.WriteRequest, out *writeOutcome) (vclock.Dot, error) {
	var dot vclock.Dot
	var state vclock.State
	value := req.Value
	if req.Delete {
		value = nil // a tombstone carries nothing
	}
	cur := c.inc.Load()
	inc, verified := cur.Epoch, cur.Verified
	err := c.rep.updateRecord(ctx, uint32(p), req.Key, func(cur record, found bool) (record, []byte, error) {
		actor, owner, own := keyActor(c.cfg.Name, cur, inc, verified)
		if own {
			have, claim := cur.State.Context.Get(actor), req.Context.Get(actor)
			if claim > have {
				return record{}, nil, &ContextError{Actor: actor, Claim: claim, Have: have}
			}
			if have >= vclock.MaxCounter {
				actor, owner, _ = freshOwner(c.cfg.Name, inc)
			}
		}
		next, d, err := cur.State.Write(actor, writeContext(req, cur.State), value, req.Delete)
		if err != nil {
			return record{}, nil, err // a fresh actor the client context claims: never in practice
		}
		b, err := c.rep.checkState(next)
		if err != nil {
			return record{}, nil, err
		}
		state, dot = next, d
		return record{State: next, Owner: owner}, b, nil
	})
	if err == nil {
		out.State = state
	}
	return dot, err
}

// writeFallback coordinates a write as a fallback for owner: the new
// version gets a fresh actor (this node can't know which counters it used
// for the key in hints it has delivered since) and is kept as a hint.
func (c *coordinator) writeFallback(ctx context.Context, p int, owner string, req wire.WriteRequest, out *writeOutcome) (vclock.Dot, error) {
	cur, _, err := c.hints.Get(ctx, ring.NodeID(owner), uint32(p), req.Key)
	if err != nil {
		return vclock.Dot{}, err
	}
	value := req.Value
	if req.Delete {
		value = nil // a tombstone carries nothing
	}
	next, dot, err := cur.Write(c.rep.freshActor(), writeContext(req, cur), value, req.Delete)
	if err != nil {
		return vclock.Dot{}, err
	}
	if _, err := c.rep.checkState(next); err != nil {
		return vclock.Dot{}, err
	}
	out.State = next
	return dot, c.applyAs(ctx, req.Key, next, owner)
}

// writeContext is the context a write is made with against cur, the
// coordinating replica's state of the key: the client's, or for an
// overwrite (RESP's SET) the client's merged with cur's, so the new
// version supersedes every version this replica holds. Versions on other
// replicas that this one has not seen yet stay siblings of it.
func writeContext(req wire.WriteRequest, cur vclock.State) vclock.VV {
	if req.Overwrite {
		return req.Context.Merge(cur.Context)
	}
	return req.Context
}

// write handles a client write received by this node: coordinate it here
// when this node is a replica, else forward it to a live replica.
func (c *coordinator) write(ctx context.Context, req wire.WriteRequest) writeOutcome {
	return c.forwardWrite(ctx, req, true)
}

// forwardWrite is write; retry allows one more attempt after a coordinator
// refused the forward for another table (nothing was done; the tables are
// synced by then).
func (c *coordinator) forwardWrite(ctx context.Context, req wire.WriteRequest, retry bool) writeOutcome {
	v := c.members.currentView()
	_, targets := c.targets(v, req.Key, req.Strict)
	// Primaries coordinate when one is up (they hold the key's history);
	// a fallback only when every primary is down. This node first among
	// equals, to save a hop.
	var order []ring.Target
	for _, primary := range []bool{true, false} {
		for _, t := range targets {
			if t.Primary == primary && string(t.ID) == c.cfg.Name {
				order = append(order, t)
			}
		}
		for _, t := range targets {
			if t.Primary == primary && string(t.ID) != c.cfg.Name && c.peers.Alive(string(t.ID)) {
				order = append(order, t)
			}
		}
	}
	payload := req.Marshal()
	var lastErr error
	for _, t := range order {
		if string(t.ID) == c.cfg.Name {
			return c.coordinateWrite(ctx, req)
		}
		addr, ok := c.cluster.rpcAddrOf(string(t.ID))
		if !ok {
			continue
		}
		// The forward waits a little longer than the coordinator's own
		// timeout so the coordinator's answer, not ours, decides.
		fctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond+time.Second)
		resp, err := c.cluster.call(fctx, addr, v.id, wire.MethodCoordinate, payload)
		cancel()
		if errors.Is(err, errTableMismatch) {
			if retry {
				return c.forwardWrite(ctx, req, false)
			}
			lastErr = err
			continue
		}
		if err != nil {
			c.metrics.rpcErrors.WithLabelValues("coordinate").Inc()
			if errors.Is(err, rpc.ErrNotSent) {
				// Nothing reached that replica: try the next one.
				lastErr = err
				continue
			}
			// The coordinator may have stored it; trying another one could
			// store it twice (as two siblings): indeterminate.
			return writeOutcome{W: req.W, PW: req.PW, Err: &QuorumError{Op: opWrite, Need: req.W, NeedPrimary: req.PW,
				Err: fmt.Errorf("the coordinator %s did not answer (%w)", t.ID, err)}}
		}
		out, err := unmarshalWriteOutcome(resp)
		if err != nil {
			return writeOutcome{W: req.W, PW: req.PW, Err: &QuorumError{Op: opWrite, Need: req.W, NeedPrimary: req.PW,
				Err: fmt.Errorf("bad answer from coordinator %s: %w", t.ID, err)}}
		}
		return out
	}
	return writeOutcome{W: req.W, PW: req.PW, Err: &UnavailableError{Op: opWrite, Reason: ReasonNoCoordinator,
		Need: req.W, NeedPrimary: req.PW, Err: lastErr}}
}

// checkWriteRequest validates a forwarded write as the HTTP layer does.
func (c *coordinator) checkWriteRequest(req wire.WriteRequest) error {
	switch {
	case len(req.Key) == 0 || len(req.Key) > c.cfg.MaxKeyBytes:
		return fmt.Errorf("node: bad key length %d", len(req.Key))
	case len(req.Value) > c.cfg.MaxValueBytes:
		return fmt.Errorf("node: value of %d bytes over the limit", len(req.Value))
	case req.W < 1 || req.W > c.cfg.Ring.N || req.PW < 0 || req.PW > c.cfg.Ring.N:
		return fmt.Errorf("node: bad w=%d pw=%d", req.W, req.PW)
	case req.TimeoutMS < 1 || time.Duration(req.TimeoutMS)*time.Millisecond > c.cfg.MaxRequestTimeout:
		return fmt.Errorf("node: bad timeout %d ms", req.TimeoutMS)
	}
	return nil
}

// maxStateBytes bounds one key's encoded state (all siblings): it travels in
// one RPC frame and is one badger value.
const maxStateBytes = 48 << 20

// errDotConflict refuses a replicated write that carries a dot this
// replica already holds with other contents: acknowledging it would let
// the merge silently keep one of the two writes.
var errDotConflict = errors.New("node: dot conflict: a dot names two different writes")

// readOutcome is a coordinated read's result.
type readOutcome struct {
	Err     error // nil, or a *UnavailableError or *QuorumError
	State   vclock.State
	R, PR   int
	Replies int
	Asked   int // replicas asked by answer time
	Stale   int // replicas found stale among the replies at answer time
}

type readReply struct {
	id  ring.NodeID
	st  vclock.State
	err error
}

// pick returns the targets whose IDs are in ids.
func pick(targets []ring.Target, ids []ring.NodeID) []ring.Target {
	var out []ring.Target
	for _, t := range targets {
		if slices.Contains(ids, t.ID) {
			out = append(out, t)
		}
	}
	return out
}

// returnedContext is the context a writer gets back: what it had seen plus
// its own write. When that is not expressible as a version vector (the
// actor issued dots the client never saw, i.e. the write became a sibling of
// a concurrent one) it is the client's own context, so a follow-up blind
// write can never supersede a sibling the client has not read.
func returnedContext(client vclock.VV, dot vclock.Dot) vclock.VV {
	if client.Get(dot.Actor) == dot.Counter-1 {
		return client.Add(dot)
	}
	return client
}

func names(ids []ring.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}
