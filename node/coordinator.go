package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/rpc"
	"github.com/dynago/dynago/quorum"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// maxStateBytes bounds one key's encoded state (all siblings): it travels in
// one RPC frame and is one badger value.
const maxStateBytes = 48 << 20

// targets returns a key's partition and the replicas a request goes to.
// Sloppy (Dynamo §4.6): the first N alive nodes of the extended preference
// list, fallbacks standing in for down primaries. Strict: the N primaries,
// alive or not; always so when hinted handoff is off.
func (n *Node) targets(v *view, key []byte, strict bool) (int, []ring.Target) {
	r := v.ring
	p := r.Partition(key)
	if strict || n.cfg.NoHintedHandoff {
		prims := r.Primaries(p)
		ts := make([]ring.Target, len(prims))
		for i, id := range prims {
			ts[i] = ring.Target{ID: id, Primary: true}
		}
		return p, ts
	}
	return p, r.Targets(p, n.aliveID)
}

func (n *Node) aliveID(id ring.NodeID) bool { return n.peers.Alive(string(id)) }

// self returns this node's place among targets.
func (n *Node) self(targets []ring.Target) (ring.Target, bool) {
	for _, t := range targets {
		if string(t.ID) == n.cfg.Name {
			return t, true
		}
	}
	return ring.Target{}, false
}

// freshActor is a new actor of this node for one write (a fallback's: it
// keeps no record of the key to know which counters it issued).
func (n *Node) freshActor() vclock.Actor {
	return vclock.Actor{Node: n.cfg.Name, Epoch: randomEpoch()}
}

// readLocal returns this node's stored state of key.
func (n *Node) readLocal(ctx context.Context, key []byte) (vclock.State, error) {
	p := n.ring.Load().Partition(key)
	b, err := n.store.Get(ctx, storage.DataKey(uint32(p), key))
	if errors.Is(err, storage.ErrNotFound) {
		return vclock.State{}, nil
	}
	if err != nil {
		return vclock.State{}, err
	}
	rec, err := decodeRecord(b)
	if err != nil {
		return vclock.State{}, fmt.Errorf("node: stored state of %q: %w", key, err)
	}
	return rec.State, nil
}

// applyLocal merges in into this node's stored state of key (the replica
// side of every write path) and returns the merged state once it is durable.
// A version of in whose dot this node holds with other contents (a counter
// issued twice: a bug, Riak's kv679) is logged and counted; the merge still
// resolves it deterministically (vclock.Merge), as repair must converge.
func (n *Node) applyLocal(ctx context.Context, key []byte, in vclock.State) (vclock.State, error) {
	return n.mergeLocal(ctx, key, in, false)
}

// errDotConflict refuses a replicated write that carries a dot this
// replica already holds with other contents: acknowledging it would let
// the merge silently keep one of the two writes.
var errDotConflict = errors.New("node: dot conflict: a dot names two different writes")

// mergeLocal is applyLocal; with refuseConflicts a dot conflict stores
// nothing and returns errDotConflict (a coordinator's replication: the
// write is then not acknowledged by this replica).
func (n *Node) mergeLocal(ctx context.Context, key []byte, in vclock.State, refuseConflicts bool) (vclock.State, error) {
	p := n.ring.Load().Partition(key)
	var out vclock.State
	var conflicts []vclock.Dot
	err := n.updateData(ctx, uint32(p), key, func(cur vclock.State, found bool) (vclock.State, []byte, error) {
		if conflicts = vclock.Conflicts(cur, in); len(conflicts) > 0 && refuseConflicts {
			return vclock.State{}, nil, errDotConflict
		}
		merged := vclock.Merge(cur, in)
		if found && merged.Equal(cur) {
			out = cur
			return vclock.State{}, nil, storage.ErrSkipWrite
		}
		out = merged
		return merged, nil, nil
	})
	if len(conflicts) > 0 {
		n.metrics.dotConflicts.Add(float64(len(conflicts)))
		n.log.Error("BUG: a dot names two different writes (a counter issued twice); please report it",
			"key", key, "dots", fmt.Sprint(conflicts), "refused", refuseConflicts)
	}
	return out, err
}

// readReplica reads key from one target, locally or over RPC, for a
// request computed from table id. A fallback answers with the hint it
// holds for the primary it stands in for.
func (n *Node) readReplica(ctx context.Context, id membership.TableID, t ring.Target, key []byte) (vclock.State, error) {
	owner := ""
	if !t.Primary {
		owner = string(t.For)
	}
	if string(t.ID) == n.cfg.Name {
		return n.readAs(ctx, key, owner)
	}
	addr, ok := n.rpcAddrOf(string(t.ID))
	if !ok {
		return vclock.State{}, fmt.Errorf("node: no address for %s", t.ID)
	}
	resp, err := n.call(ctx, addr, id, wire.MethodRead, wire.ReadRequest{Key: key, Owner: owner}.Marshal())
	if err != nil {
		n.metrics.rpcErrors.WithLabelValues("read").Inc()
		return vclock.State{}, err
	}
	var st vclock.State
	if err := st.UnmarshalBinary(resp); err != nil {
		return vclock.State{}, fmt.Errorf("node: read from %s: %w", t.ID, err)
	}
	return st, nil
}

// readAs reads this node's state of key: its data, or its hint for owner.
func (n *Node) readAs(ctx context.Context, key []byte, owner string) (vclock.State, error) {
	if owner == "" {
		if !n.partReady(n.ring.Load().Partition(key)) {
			return vclock.State{}, errNotReady
		}
		return n.readLocal(ctx, key)
	}
	st, _, err := n.hints.Get(ctx, ring.NodeID(owner), uint32(n.ring.Load().Partition(key)), key)
	return st, err
}

// applyAs stores st on this node: merged into its data, or, as a fallback,
// into a durable hint for owner (Dynamo §4.6).
func (n *Node) applyAs(ctx context.Context, key []byte, st vclock.State, owner string) error {
	if owner == "" {
		_, err := n.mergeLocal(ctx, key, st, true)
		return err
	}
	err := n.hints.Add(ctx, ring.NodeID(owner), uint32(n.ring.Load().Partition(key)), key, st, n.clock.Steady())
	if errors.Is(err, hintedhandoff.ErrTargetFull) {
		n.handoff.Refused(owner)
	}
	n.checkDurable(err)
	return err
}

// applyReplica sends a state to one target, locally or over RPC, for a
// request computed from table id, and returns once the target has stored
// it durably, saying whether the target counts toward a write quorum: a
// primary only when it is ready for the key's partition (it holds a
// complete copy; view.go), a fallback always (it keeps a hint).
func (n *Node) applyReplica(ctx context.Context, id membership.TableID, t ring.Target, key []byte, st vclock.State) (bool, error) {
	owner := ""
	if !t.Primary {
		owner = string(t.For)
	}
	if string(t.ID) == n.cfg.Name {
		if err := n.applyAs(ctx, key, st, owner); err != nil {
			return false, err
		}
		return n.countsAsAck(key, owner), nil
	}
	addr, ok := n.rpcAddrOf(string(t.ID))
	if !ok {
		return false, fmt.Errorf("node: no address for %s", t.ID)
	}
	req, err := wire.ApplyRequest{Key: key, State: st, Owner: owner}.Marshal()
	if err != nil {
		return false, err
	}
	resp, err := n.call(ctx, addr, id, wire.MethodApply, req)
	if err != nil {
		n.metrics.rpcErrors.WithLabelValues("apply").Inc()
		return false, err
	}
	return len(resp) == 1 && resp[0] == 1, nil
}

// countsAsAck reports whether this node's copy of a write of key counts
// toward the write's quorum (see applyReplica).
func (n *Node) countsAsAck(key []byte, owner string) bool {
	return owner != "" || n.partReady(n.ring.Load().Partition(key))
}

// checkAvailable refuses a request up front, as Cassandra does, when gossip
// already says too few of its targets are alive to meet its quorum (which
// covers a key with fewer targets than the quorum, e.g. sloppy targets when
// fewer than N nodes are up). Nothing
// is read or written, so a refused write is a definite failure, unlike a
// write that starts and then misses W acks (indeterminate).
func (n *Node) checkAvailable(op string, need, needPrimary int, targets []ring.Target) error {
	var alive, down []string
	alivePrimaries := 0
	for _, t := range targets {
		if !n.peers.Alive(string(t.ID)) {
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
	return &UnavailableError{Op: op, Reason: ReasonTooFewAlive, Need: need, NeedPrimary: needPrimary,
		Alive: alive, AlivePrimaries: alivePrimaries, Down: down}
}

// readOutcome is a coordinated read's result.
type readOutcome struct {
	Err     error // nil, or a *UnavailableError or *QuorumError
	State   vclock.State
	R, PR   int
	Replies int
	Stale   int // replicas found stale among the replies at answer time
}

type readReply struct {
	id  ring.NodeID
	st  vclock.State
	err error
}

// read coordinates a read: fan out to every replica in parallel, answer
// after R replies (PR of them from primaries), then repair stale replicas
// in the background once the rest have answered (Dynamo §4.5, §5).
func (n *Node) read(ctx context.Context, key []byte, r, pr int, strict bool, timeout time.Duration) readOutcome {
	v := n.currentView()
	_, targets := n.targets(v, key, strict)
	out := readOutcome{R: r, PR: pr}
	if err := n.checkAvailable(opRead, r, pr, targets); err != nil {
		out.Err = err
		return out
	}
	tr := quorum.NewTracker(r, pr, targets)
	// Replica calls outlive the client's request (read repair needs the
	// late replies) but never the request timeout or the node.
	rctx, cancel := context.WithTimeout(n.bgCtx, timeout)
	replies := make(chan readReply, len(targets))
	asked := 0
	for _, t := range targets {
		if !n.peers.Alive(string(t.ID)) {
			tr.Record(t.ID, false)
			continue
		}
		asked++
		n.bg.Go(func() {
			var st vclock.State
			err := n.safely("read", func() (err error) {
				st, err = n.readReplica(rctx, v.id, t, key)
				return err
			})
			replies <- readReply{id: t.ID, st: st, err: err}
		})
	}
	var got []quorum.ReadReply
	received := 0
	timer := time.NewTimer(timeout)
	defer timer.Stop()
wait:
	for tr.Outcome() == quorum.Pending && received < asked {
		select {
		case rep := <-replies:
			received++
			if rep.err != nil {
				n.log.Debug("replica read failed", "replica", rep.id, "err", rep.err)
				tr.Record(rep.id, false)
				continue
			}
			tr.Record(rep.id, true)
			got = append(got, quorum.ReadReply{Node: rep.id, State: rep.st})
		case <-ctx.Done():
			break wait
		case <-timer.C:
			break wait
		}
	}
	out.Replies = len(got)
	if tr.Outcome() != quorum.Succeeded {
		cancel()
		ok, okp, _ := tr.Counts()
		out.Err = &QuorumError{Op: opRead, Need: r, NeedPrimary: pr, Got: ok, GotPrimary: okp,
			Acked: names(tr.Acked()), Failed: names(tr.Failed()), Pending: names(tr.Pending())}
		n.drain(replies, asked-received)
		return out
	}
	out.State = quorum.MergeReplies(got)
	stale := quorum.Stale(out.State, got)
	out.Stale = len(stale)
	if n.cfg.ReadRepair == ReadRepairBlocking && len(stale) > 0 {
		// Write the merged state back to the stale repliers before
		// answering, so no later quorum read can return less than this one.
		n.repair(rctx, v.id, key, out.State, pick(targets, stale))
		for i := range got {
			got[i].State = out.State // so the late repair skips them
		}
	}
	remaining := asked - received
	n.bg.Go(func() {
		defer cancel()
		defer n.guard("read repair")
		n.finishRead(rctx, v.id, key, targets, got, replies, remaining)
	})
	return out
}

// drain consumes the replies still to come so their goroutines can exit.
func (n *Node) drain(replies chan readReply, remaining int) {
	n.bg.Go(func() {
		for range remaining {
			<-replies
		}
	})
}

// finishRead waits for the remaining replies, then pushes the merged state
// to every replica that lacks part of it (read repair).
func (n *Node) finishRead(ctx context.Context, id membership.TableID, key []byte, targets []ring.Target, got []quorum.ReadReply, replies chan readReply, remaining int) {
	for range remaining {
		rep := <-replies // every asked replica answers by rctx's deadline
		if rep.err == nil {
			got = append(got, quorum.ReadReply{Node: rep.id, State: rep.st})
		}
	}
	if n.cfg.ReadRepair == ReadRepairOff {
		return
	}
	merged := quorum.MergeReplies(got)
	n.repair(ctx, id, key, merged, pick(targets, quorum.Stale(merged, got)))
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

// repair pushes merged to the given replicas in parallel and waits. Only
// primaries are repaired: a fallback repaired with a value it served from
// a hint would keep it as a new hint, with a new hint window, and could
// deliver it after the value's delete was reaped (reapMinAge).
func (n *Node) repair(ctx context.Context, id membership.TableID, key []byte, merged vclock.State, stale []ring.Target) {
	var wg sync.WaitGroup
	for _, t := range stale {
		if !t.Primary {
			continue
		}
		wg.Go(func() {
			if err := n.safely("read repair", func() error { _, err := n.applyReplica(ctx, id, t, key, merged); return err }); err != nil {
				n.log.Debug("read repair failed", "replica", t.ID, "err", err)
				return
			}
			n.metrics.readRepairs.Inc()
		})
	}
	wg.Wait()
}

// coordinateWrite runs a client write on this node, which must be a
// replica of the key: store it locally, send the new state to the other
// replicas in parallel, answer after W acks (PW from primaries).
func (n *Node) coordinateWrite(ctx context.Context, req wire.WriteRequest) writeOutcome {
	v := n.currentView()
	p, targets := n.targets(v, req.Key, req.Strict)
	timeout := time.Duration(req.TimeoutMS) * time.Millisecond
	out := writeOutcome{W: req.W, PW: req.PW, Coordinator: n.cfg.Name}
	if err := n.checkAvailable(opWrite, req.W, req.PW, targets); err != nil {
		out.Err = err
		return out
	}
	me, isTarget := n.self(targets)
	if !isTarget {
		out.Err = &UnavailableError{Op: opWrite, Reason: ReasonNotReplica, Need: req.W, NeedPrimary: req.PW}
		return out
	}
	tr := quorum.NewTracker(req.W, req.PW, targets)

	// The local write: the coordinator's own replica decides the new dot.
	lctx, lcancel := context.WithTimeout(ctx, timeout)
	var dot vclock.Dot
	var localErr error
	if me.Primary {
		dot, localErr = n.writePrimary(lctx, p, req, &out)
	} else {
		dot, localErr = n.writeFallback(lctx, p, string(me.For), req, &out)
	}
	lcancel()
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
	case localErr != nil && out.State.IsZero():
		n.log.Error("local write failed", "err", localErr)
		out.Err = &WriteFailedError{Err: localErr}
		return out
	}
	// A fallback whose hint queue is full still coordinates: the write
	// counts only the replicas that really stored it.
	// The local copy counts if this node is a ready primary (or a
	// fallback) and its table did not change while the write landed (see
	// serveChecked).
	tr.Record(ring.NodeID(n.cfg.Name), localErr == nil && (!me.Primary || n.partReady(p)) && n.currentView().id == v.id)
	out.Context = returnedContext(req.Context, dot)
	if len(out.State.Versions) == 1 {
		// The write superseded everything: the whole new state is what
		// the client has seen.
		out.Context = out.State.Context
	}

	// Replication continues after the client is answered, bounded by the
	// request timeout and the node's life.
	rctx, cancel := context.WithTimeout(n.bgCtx, timeout)
	type ack struct {
		id    ring.NodeID
		err   error
		count bool // stored, and counts toward W (a ready primary or a fallback)
	}
	acks := make(chan ack, len(targets))
	sent := 0
	for _, t := range targets {
		if string(t.ID) == n.cfg.Name {
			continue
		}
		if !n.peers.Alive(string(t.ID)) {
			tr.Record(t.ID, false)
			continue
		}
		sent++
		n.bg.Go(func() {
			var count bool
			err := n.safely("replicate", func() (err error) {
				count, err = n.applyReplica(rctx, v.id, t, req.Key, out.State)
				return err
			})
			acks <- ack{id: t.ID, err: err, count: count}
		})
	}
	received := 0
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	// On success answer at once; on failure wait (within the timeout) for
	// every replica, so the indeterminate answer says exactly where the
	// write is stored.
wait:
	for tr.Outcome() != quorum.Succeeded && received < sent {
		select {
		case a := <-acks:
			received++
			if a.err != nil {
				n.log.Debug("replica write failed", "replica", a.id, "err", a.err)
			}
			tr.Record(a.id, a.err == nil && a.count)
		case <-timer.C:
			break wait
		}
	}
	n.bg.Go(func() {
		defer cancel()
		for range sent - received {
			<-acks
		}
	})
	ok, okp, _ := tr.Counts()
	out.Acked, out.Failed, out.Pending = names(tr.Acked()), names(tr.Failed()), names(tr.Pending())
	out.Primaries, out.Fallbacks = okp, ok-okp
	if tr.Outcome() != quorum.Succeeded {
		out.Err = &QuorumError{Op: opWrite, Need: req.W, NeedPrimary: req.PW, Got: ok, GotPrimary: okp,
			Acked: out.Acked, Failed: out.Failed, Pending: out.Pending}
	}
	return out
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
func (n *Node) writePrimary(ctx context.Context, p int, req wire.WriteRequest, out *writeOutcome) (vclock.Dot, error) {
	var dot vclock.Dot
	var state vclock.State
	value := req.Value
	if req.Delete {
		value = nil // a tombstone carries nothing
	}
	cur := n.inc.Load()
	inc, verified := cur.Epoch, cur.Verified
	err := n.updateRecord(ctx, uint32(p), req.Key, func(cur record, found bool) (record, []byte, error) {
		actor, owner, own := keyActor(n.cfg.Name, cur, inc, verified)
		if own {
			have, claim := cur.State.Context.Get(actor), req.Context.Get(actor)
			if claim > have {
				return record{}, nil, &ContextError{Actor: actor, Claim: claim, Have: have}
			}
			if have >= vclock.MaxCounter {
				actor, owner, _ = freshOwner(n.cfg.Name, inc)
			}
		}
		next, d, err := cur.State.Write(actor, req.Context, value, req.Delete)
		if err != nil {
			return record{}, nil, err // a fresh actor the client context claims: never in practice
		}
		b, err := n.checkState(next)
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
func (n *Node) writeFallback(ctx context.Context, p int, owner string, req wire.WriteRequest, out *writeOutcome) (vclock.Dot, error) {
	cur, _, err := n.hints.Get(ctx, ring.NodeID(owner), uint32(p), req.Key)
	if err != nil {
		return vclock.Dot{}, err
	}
	value := req.Value
	if req.Delete {
		value = nil // a tombstone carries nothing
	}
	next, dot, err := cur.Write(n.freshActor(), req.Context, value, req.Delete)
	if err != nil {
		return vclock.Dot{}, err
	}
	if _, err := n.checkState(next); err != nil {
		return vclock.Dot{}, err
	}
	out.State = next
	return dot, n.applyAs(ctx, req.Key, next, owner)
}

// checkState enforces the sibling and size limits on a coordinator's new
// state and returns its encoding.
func (n *Node) checkState(st vclock.State) ([]byte, error) {
	if len(st.Versions) > n.cfg.MaxSiblings {
		return nil, &LimitError{Err: ErrTooManySiblings, Limit: n.cfg.MaxSiblings}
	}
	b, err := st.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateBytes {
		return nil, &LimitError{Err: ErrStateTooLarge, Limit: maxStateBytes}
	}
	return b, nil
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

// write handles a client write received by this node: coordinate it here
// when this node is a replica, else forward it to a live replica.
func (n *Node) write(ctx context.Context, req wire.WriteRequest) writeOutcome {
	return n.forwardWrite(ctx, req, true)
}

// forwardWrite is write; retry allows one more attempt after a coordinator
// refused the forward for another table (nothing was done; the tables are
// synced by then).
func (n *Node) forwardWrite(ctx context.Context, req wire.WriteRequest, retry bool) writeOutcome {
	v := n.currentView()
	_, targets := n.targets(v, req.Key, req.Strict)
	// Primaries coordinate when one is up (they hold the key's history);
	// a fallback only when every primary is down. This node first among
	// equals, to save a hop.
	var order []ring.Target
	for _, primary := range []bool{true, false} {
		for _, t := range targets {
			if t.Primary == primary && string(t.ID) == n.cfg.Name {
				order = append(order, t)
			}
		}
		for _, t := range targets {
			if t.Primary == primary && string(t.ID) != n.cfg.Name && n.peers.Alive(string(t.ID)) {
				order = append(order, t)
			}
		}
	}
	payload := req.Marshal()
	var lastErr error
	for _, t := range order {
		if string(t.ID) == n.cfg.Name {
			return n.coordinateWrite(ctx, req)
		}
		addr, ok := n.rpcAddrOf(string(t.ID))
		if !ok {
			continue
		}
		// The forward waits a little longer than the coordinator's own
		// timeout so the coordinator's answer, not ours, decides.
		fctx, cancel := context.WithTimeout(ctx, time.Duration(req.TimeoutMS)*time.Millisecond+time.Second)
		resp, err := n.call(fctx, addr, v.id, wire.MethodCoordinate, payload)
		cancel()
		if errors.Is(err, errTableMismatch) {
			if retry {
				return n.forwardWrite(ctx, req, false)
			}
			lastErr = err
			continue
		}
		if err != nil {
			n.metrics.rpcErrors.WithLabelValues("coordinate").Inc()
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

func names(ids []ring.NodeID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

// serveRPC is the internode request handler. Checked methods (view.go)
// run only when the caller has this node's table.
func (n *Node) serveRPC(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	if wire.Checked(method) {
		return n.serveChecked(ctx, method, payload, n.serveMethod)
	}
	return n.serveMethod(ctx, method, payload)
}

func (n *Node) serveMethod(ctx context.Context, method uint8, payload []byte) ([]byte, error) {
	switch method {
	case wire.MethodRead:
		req, err := wire.UnmarshalRead(payload)
		if err != nil {
			return nil, err
		}
		if len(req.Key) == 0 || len(req.Key) > n.cfg.MaxKeyBytes {
			return nil, fmt.Errorf("node: bad key length %d", len(req.Key))
		}
		st, err := n.readAs(ctx, req.Key, req.Owner)
		if err != nil {
			return nil, err
		}
		return st.MarshalBinary()
	case wire.MethodApply:
		req, err := wire.UnmarshalApply(payload)
		if err != nil {
			return nil, err
		}
		if len(req.Key) == 0 || len(req.Key) > n.cfg.MaxKeyBytes {
			return nil, fmt.Errorf("node: bad key length %d", len(req.Key))
		}
		if err := n.applyAs(ctx, req.Key, req.State, req.Owner); err != nil {
			return nil, err
		}
		if n.countsAsAck(req.Key, req.Owner) {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case wire.MethodHandoff:
		req, err := wire.UnmarshalHandoff(payload)
		if err != nil {
			return nil, err
		}
		return nil, n.receiveHandoff(ctx, req)
	case wire.MethodTransfer:
		req, err := wire.UnmarshalTransferRequest(payload)
		if err != nil {
			return nil, err
		}
		return n.serveTransfer(ctx, req)
	case wire.MethodState:
		return nil, n.receiveState(payload)
	case wire.MethodStatePull:
		return n.clusterSnapshot().Marshal(), nil
	case wire.MethodAAERoots, wire.MethodAAEChildren, wire.MethodAAEEntries, wire.MethodAAEFetch:
		return n.serveAAE(ctx, method, payload)
	case wire.MethodCoordinate:
		req, err := wire.UnmarshalWriteRequest(payload)
		if err != nil {
			return nil, err
		}
		if err := n.checkWriteRequest(req); err != nil {
			return nil, err
		}
		out := n.coordinateWrite(ctx, req)
		return out.marshal()
	}
	return nil, fmt.Errorf("node: unknown rpc method %d", method)
}

// checkWriteRequest validates a forwarded write as the HTTP layer does.
func (n *Node) checkWriteRequest(req wire.WriteRequest) error {
	switch {
	case len(req.Key) == 0 || len(req.Key) > n.cfg.MaxKeyBytes:
		return fmt.Errorf("node: bad key length %d", len(req.Key))
	case len(req.Value) > n.cfg.MaxValueBytes:
		return fmt.Errorf("node: value of %d bytes over the limit", len(req.Value))
	case req.W < 1 || req.W > n.cfg.Ring.N || req.PW < 0 || req.PW > n.cfg.Ring.N:
		return fmt.Errorf("node: bad w=%d pw=%d", req.W, req.PW)
	case req.TimeoutMS < 1 || time.Duration(req.TimeoutMS)*time.Millisecond > n.cfg.MaxRequestTimeout:
		return fmt.Errorf("node: bad timeout %d ms", req.TimeoutMS)
	}
	return nil
}
