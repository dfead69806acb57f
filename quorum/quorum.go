package quorum

import (
	"fmt"
	"strconv"

	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

// Outcome is the state of one request's quorum.
type Outcome uint8

const (
	// Pending: not enough replies yet, but the quorum can still be met.
	Pending Outcome = iota
	// Succeeded: the quorum is met. Later replies cannot change that.
	Succeeded
	// Failed: too many replicas failed for the quorum to be met, whatever
	// the outstanding ones answer. Later replies cannot change that.
	Failed
)

// String returns "pending", "succeeded" or "failed".
func (o Outcome) String() string {
	switch o {
	case Pending:
		return "pending"
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Decide returns the outcome of a request that needs need successful
// replies, needPrimary of them from primaries, given ok successes
// (okPrimary from primaries) and failed failures (failedPrimary from
// primaries) out of total targets (totalPrimary primaries).
//
// It returns Succeeded when ok >= need and okPrimary >= needPrimary;
// Failed when that can no longer happen even if every outstanding target
// succeeds; Pending otherwise. A need above total fails at once; a need of
// 0 succeeds at once.
//
// Decide panics on inconsistent counts (negative, more replies than
// targets, more primary than total replies), which are caller bugs.
func Decide(need, needPrimary, ok, okPrimary, failed, failedPrimary, total, totalPrimary int) Outcome {
	if need < 0 || needPrimary < 0 || okPrimary < 0 || failedPrimary < 0 ||
		okPrimary > ok || failedPrimary > failed || totalPrimary > total ||
		ok+failed > total || okPrimary+failedPrimary > totalPrimary {
		panic(fmt.Sprintf("quorum: Decide: inconsistent counts need=%d needPrimary=%d ok=%d okPrimary=%d failed=%d failedPrimary=%d total=%d totalPrimary=%d",
			need, needPrimary, ok, okPrimary, failed, failedPrimary, total, totalPrimary))
	}
	if ok >= need && okPrimary >= needPrimary {
		return Succeeded
	}
	outstanding := total - ok - failed
	outstandingPrimary := totalPrimary - okPrimary - failedPrimary
	if ok+outstanding < need || okPrimary+outstandingPrimary < needPrimary {
		return Failed
	}
	return Pending
}

type replyState uint8

const (
	awaiting replyState = iota
	acked
	failed
)

// Tracker follows one request's replies from its targets and decides its
// outcome. Replies from nodes that are not targets, and second replies
// from a target, are ignored: the first reply from each target counts.
// Replies keep being recorded after the outcome is decided (so the
// response can report every ack), but the outcome never changes once it
// is Succeeded or Failed.
//
// A Tracker is not safe for concurrent use; node gives each request one
// owning goroutine.
type Tracker struct {
	need, needPrimary int
	targets           []ring.Target
	state             []replyState // parallel to targets
	primaries         int
	ok, okPrimary     int
	failed, failedPri int
}

// NewTracker returns a Tracker for a request sent to targets that needs
// need successful replies, needPrimary of them from primaries. The targets
// slice is copied. NewTracker panics if need or needPrimary is negative or
// a node appears twice in targets, which are caller bugs.
func NewTracker(need, needPrimary int, targets []ring.Target) *Tracker {
	if need < 0 || needPrimary < 0 {
		panic(fmt.Sprintf("quorum: NewTracker: negative need %d/%d", need, needPrimary))
	}
	t := &Tracker{
		need:        need,
		needPrimary: needPrimary,
		targets:     append([]ring.Target(nil), targets...),
		state:       make([]replyState, len(targets)),
	}
	for i, tg := range t.targets {
		for _, prev := range t.targets[:i] {
			if prev.ID == tg.ID {
				panic(fmt.Sprintf("quorum: NewTracker: node %v targeted twice", tg.ID))
			}
		}
		if tg.Primary {
			t.primaries++
		}
	}
	return t
}

// Record counts a reply from id: ok is true for a success. It ignores a
// reply from a node that is not a target or that already replied, and
// returns the outcome after the reply.
func (t *Tracker) Record(id ring.NodeID, ok bool) Outcome {
	i := t.index(id)
	if i < 0 || t.state[i] != awaiting {
		return t.Outcome()
	}
	primary := t.targets[i].Primary
	if ok {
		t.state[i] = acked
		t.ok++
		if primary {
			t.okPrimary++
		}
	} else {
		t.state[i] = failed
		t.failed++
		if primary {
			t.failedPri++
		}
	}
	return t.Outcome()
}

// index returns id's position in targets, or -1. Linear: targets are few.
func (t *Tracker) index(id ring.NodeID) int {
	for i, tg := range t.targets {
		if tg.ID == id {
			return i
		}
	}
	return -1
}

// Outcome returns the request's outcome given the replies so far.
func (t *Tracker) Outcome() Outcome {
	return Decide(t.need, t.needPrimary, t.ok, t.okPrimary, t.failed, t.failedPri, len(t.targets), t.primaries)
}

func (t *Tracker) list(s replyState) []ring.NodeID {
	var out []ring.NodeID
	for i, tg := range t.targets {
		if t.state[i] == s {
			out = append(out, tg.ID)
		}
	}
	return out
}

// Acked returns the targets that replied with success, in target order.
// The caller owns the slice.
func (t *Tracker) Acked() []ring.NodeID { return t.list(acked) }

// Failed returns the targets that replied with a failure, in target order.
// The caller owns the slice.
func (t *Tracker) Failed() []ring.NodeID { return t.list(failed) }

// Pending returns the targets that have not replied, in target order. The
// caller owns the slice.
func (t *Tracker) Pending() []ring.NodeID { return t.list(awaiting) }

// Counts returns the number of successful replies, how many of those came
// from primaries, and the number of failed replies.
func (t *Tracker) Counts() (ok, okPrimary, failed int) {
	return t.ok, t.okPrimary, t.failed
}

// ReadReply is one replica's answer to a read: its stored state of the key
// (the zero State if it has none).
type ReadReply struct {
	Node  ring.NodeID
	State vclock.State
}

// MergeReplies returns the causal merge (vclock.Merge) of the replies'
// states: what the read returns. No replies merge to the zero State.
func MergeReplies(replies []ReadReply) vclock.State {
	var m vclock.State
	for _, r := range replies {
		m = vclock.Merge(m, r.State)
	}
	return m
}

// Stale returns, in reply order, the nodes whose state does not already
// contain merged (see vclock.State.Descends): the replicas that need read
// repair with merged.
//
// A replica that holds nothing is not stale when merged is only
// tombstones: both read as deleted, and a replica with nothing may have
// reaped the tombstone, as antientropy's reaping rule lets it once every
// replica holds the tombstone or nothing. Copying it back would store it
// as a new tombstone there (its wait starting again), and a deleted key
// that clients keep reading would never drain. Deletes stay safe without
// the copy: a replica with nothing has nothing to bring back, and
// anti-entropy still copies a young tombstone to it.
func Stale(merged vclock.State, replies []ReadReply) []ring.NodeID {
	deleted := len(merged.Versions) > 0 && len(merged.Live()) == 0
	var out []ring.NodeID
	for _, r := range replies {
		if deleted && len(r.State.Versions) == 0 {
			continue
		}
		if !r.State.Descends(merged) {
			out = append(out, r.Node)
		}
	}
	return out
}

// ReadSet orders the targets a read may ask for a read that asks only the
// replicas it needs and more only when one fails or is slow (Cassandra's
// way, rather than Dynamo's and Riak's ask-all): self first (its read costs
// no round trip), then the primaries, then the fallbacks, each in
// preference-list order. first is how many, from the front, make r
// replies with pr of them from primaries possible; it is len(ordered) when
// even all of them can't.
func ReadSet(targets []ring.Target, self ring.NodeID, r, pr int) (ordered []ring.Target, first int) {
	ordered = make([]ring.Target, 0, len(targets))
	for _, t := range targets {
		if t.ID == self {
			ordered = append(ordered, t)
		}
	}
	for _, primary := range []bool{true, false} {
		for _, t := range targets {
			if t.ID != self && t.Primary == primary {
				ordered = append(ordered, t)
			}
		}
	}
	primaries := 0
	for i, t := range ordered {
		if t.Primary {
			primaries++
		}
		if i+1 >= r && primaries >= pr {
			return ordered, i + 1
		}
	}
	return ordered, len(ordered)
}
