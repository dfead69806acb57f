package node

import (
	"errors"
	"fmt"

	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// Errors of a coordinated request. The coordinator returns these values,
// never an HTTP status; a forwarded write's failure crosses the wire as
// the same type with every field (errorToWire, errorFromWire), so the
// node the client asked answers exactly what the coordinator would have;
// and
// errorResponse (httperr.go) alone turns them into a status and a body.
//
// Each type's Error is its client message (the body's "error") with the
// package prefix.

var (
	// ErrUnavailable is matched (errors.Is) by every *UnavailableError:
	// the request was refused before any replica was asked, so nothing
	// was read or written (a definite failure).
	ErrUnavailable = errors.New("node: unavailable")
	// ErrIndeterminate is matched by a write's *QuorumError: the write
	// was sent to replicas and missed its quorum; it may be stored on
	// some of them and appear later.
	ErrIndeterminate = errors.New("node: write indeterminate")
	// ErrBadContext is matched by every *ContextError.
	ErrBadContext = errors.New("node: bad context")
	// ErrTooManySiblings is wrapped by the *LimitError of a write that
	// would give its key more siblings than Config.MaxSiblings.
	ErrTooManySiblings = errors.New("node: too many siblings")
	// ErrStateTooLarge is wrapped by the *LimitError of a write that
	// would make its key's encoded state larger than maxStateBytes.
	ErrStateTooLarge = errors.New("node: key state too large")
)

// Request kinds, in QuorumError.Op and UnavailableError.Op.
const (
	opRead  = "read"
	opWrite = "write"
)

// UnavailableReason says why a request was refused before any replica
// was asked.
type UnavailableReason uint8

const (
	// ReasonTooFewAlive: gossip says too few of the key's targets are
	// alive to meet the quorum (Alive, AlivePrimaries and Down say who).
	ReasonTooFewAlive UnavailableReason = iota + 1
	// ReasonNotReplica: the node a write was sent to coordinate is no
	// longer among the key's targets (the ring or liveness changed).
	ReasonNotReplica
	// ReasonNoCoordinator: no replica of the key could be reached to
	// coordinate a write (Err is the last failure, if any).
	ReasonNoCoordinator
)

func (r UnavailableReason) String() string {
	switch r {
	case ReasonTooFewAlive:
		return "too few alive"
	case ReasonNotReplica:
		return "not a replica"
	case ReasonNoCoordinator:
		return "no coordinator"
	}
	return fmt.Sprintf("UnavailableReason(%d)", r)
}

// UnavailableError is a request refused up front, as Cassandra does:
// nothing was read or written, so a refused write is a definite failure.
// It matches ErrUnavailable.
type UnavailableError struct {
	Op     string // "read" or "write"
	Reason UnavailableReason
	// Need and NeedPrimary are the request's quorum: R and PR, or W and PW.
	Need, NeedPrimary int
	// Alive and Down are the key's targets that gossip says are up and
	// down, in preference-list order; AlivePrimaries counts the primaries
	// among Alive (ReasonTooFewAlive only).
	Alive, Down    []string
	AlivePrimaries int
	// Err is the last failure to reach a coordinator (ReasonNoCoordinator),
	// or nil.
	Err error
	// Members and N are set (ReasonTooFewAlive) when the ring has fewer
	// members than N, the replicas a key should have: the request can't
	// be met however healthy the nodes are, and the message says so and
	// what to do (a node started alone with the default N=3). Zero
	// otherwise. They are presentation only and do not cross the wire;
	// the HTTP layer sets them again from its own ring (shortRing).
	Members, N int
}

func (e *UnavailableError) message() string {
	switch e.Reason {
	case ReasonNotReplica:
		return "this node is not among the key's replicas any more (the ring or liveness changed); nothing was written; retry"
	case ReasonNoCoordinator:
		if e.Err != nil {
			return fmt.Sprintf("no replica of this key could be reached to coordinate the write (last: %v); nothing was written", e.Err)
		}
		return "no replica of this key is reachable to coordinate the write; nothing was written"
	}
	what := "nothing was written"
	if e.Op == opRead {
		what = "nothing was read"
	}
	short := ""
	if e.N > 0 && e.Members < e.N {
		// The one thing a user who started one node needs to read first.
		short = fmt.Sprintf("%d of %d replicas available; start more nodes or run with --n %d (the cluster has %d member(s), fewer than N=%d): ",
			len(e.Alive), e.N, max(e.Members, 1), e.Members, e.N)
	}
	return short + fmt.Sprintf("%s needs %d replicas (%d of them primaries) but only %d are alive (%d primaries: %v; down: %v); %s",
		e.Op, e.Need, e.NeedPrimary, len(e.Alive), e.AlivePrimaries, e.Alive, e.Down, what)
}

func (e *UnavailableError) Error() string        { return "node: " + e.message() }
func (e *UnavailableError) Unwrap() error        { return e.Err }
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// QuorumError is a request that was sent to its replicas and missed its
// quorum. A write's is indeterminate (it matches ErrIndeterminate): the
// replicas in Acked stored it, so it may appear later.
type QuorumError struct {
	Op string // "read" or "write"
	// Need and NeedPrimary are the request's quorum: R and PR, or W and PW.
	Need, NeedPrimary int
	// Got and GotPrimary count the successful replies (acks), and those
	// of them from primaries.
	Got, GotPrimary int
	// Acked, Failed and Pending are the targets that succeeded, failed
	// and did not answer in time, in preference-list order.
	Acked, Failed, Pending []string
	// Err, when set, is why nothing is known of the replicas: the
	// coordinator a write was forwarded to did not answer, or answered
	// what could not be decoded, or the coordinator's own commit failed
	// to reach stable storage (the write went nowhere else).
	Err error
	// DiskFull names the targets (among Failed) whose disks refused the
	// write for lack of space (storage.ErrNoSpace; diskfull.go). Such an
	// error matches storage.ErrNoSpace.
	DiskFull []string
	// Definite says the write is stored nowhere: no target stored it or
	// may still, each was down, never reached, or refused it for its
	// disk. Such a write's error does not match ErrIndeterminate.
	Definite bool
}

func (e *QuorumError) message() string {
	switch {
	case e.Err != nil:
		return fmt.Sprintf("%v; the %s is indeterminate", e.Err, e.Op)
	case e.Op == opRead:
		return fmt.Sprintf("read quorum not met: %d of r=%d replies (%d of pr=%d from primaries)", e.Got, e.Need, e.GotPrimary, e.NeedPrimary)
	case len(e.DiskFull) > 0 && e.Definite:
		return fmt.Sprintf("disk full on %v (free space below the reserve): write quorum not met: %d of w=%d acks; nothing was written; writes succeed again once space is freed",
			e.DiskFull, e.Got, e.Need)
	case len(e.DiskFull) > 0:
		return fmt.Sprintf("disk full on %v (free space below the reserve): write quorum not met: %d of w=%d acks (%d of pw=%d from primaries); the write is indeterminate: it is stored on %v and may appear later",
			e.DiskFull, e.Got, e.Need, e.GotPrimary, e.NeedPrimary, e.Acked)
	}
	return fmt.Sprintf("write quorum not met: %d of w=%d acks (%d of pw=%d from primaries); the write is indeterminate: it is stored on %v and may appear later",
		e.Got, e.Need, e.GotPrimary, e.NeedPrimary, e.Acked)
}

func (e *QuorumError) Error() string { return "node: " + e.message() }
func (e *QuorumError) Unwrap() error { return e.Err }
func (e *QuorumError) Is(target error) bool {
	switch target {
	case ErrIndeterminate:
		return e.Op == opWrite && !e.Definite
	case storage.ErrNoSpace:
		return len(e.DiskFull) > 0
	}
	return false
}

// ContextError is a write refused for its client context; nothing was
// written. Either the context claims counters of the key's owner actor
// that the coordinator never issued (Actor, Claim, Have: forged or made
// by hand, never by a read), or it exhausts a writer's counters (Err,
// wrapping vclock.ErrCounterExhausted). It matches ErrBadContext.
type ContextError struct {
	Actor       vclock.Actor
	Claim, Have uint64
	Err         error
}

func (e *ContextError) message() string {
	if e.Err != nil {
		return fmt.Sprintf("the context exhausts a writer's counters: %v; send back the context a read returned", e.Err)
	}
	return fmt.Sprintf("the context claims %v:%d, but that actor has issued counters only up to %d for this key; send back the context a read returned",
		e.Actor, e.Claim, e.Have)
}

func (e *ContextError) Error() string        { return "node: " + e.message() }
func (e *ContextError) Unwrap() error        { return e.Err }
func (e *ContextError) Is(target error) bool { return target == ErrBadContext }

// LimitError is a write refused because the key's new state would pass a
// limit; nothing was written. Err is ErrTooManySiblings (Limit is the
// most siblings) or ErrStateTooLarge (Limit is the most bytes).
type LimitError struct {
	Err   error
	Limit int
}

func (e *LimitError) message() string {
	if e.Err == ErrStateTooLarge {
		return fmt.Sprintf("the key's siblings together would exceed %d bytes: resolve them first", e.Limit)
	}
	return fmt.Sprintf("the key has %d siblings, the limit is %d: read it and write back with its context to resolve them", e.Limit, e.Limit)
}

func (e *LimitError) Error() string { return "node: " + e.message() }
func (e *LimitError) Unwrap() error { return e.Err }

// WriteFailedError is a write its coordinator could not store in its own
// replica: the new version was sent nowhere, so nothing was written.
type WriteFailedError struct {
	Err error
}

func (e *WriteFailedError) message() string {
	return "the coordinator could not store the write: " + e.Err.Error()
}

func (e *WriteFailedError) Error() string { return "node: " + e.message() }
func (e *WriteFailedError) Unwrap() error { return e.Err }

// errorToWire returns err, one of the typed errors above or nil, as the
// data that crosses the wire in a wire.WriteOutcome (nil for nil): every
// field, and a cause (an Err field) as its text and the wire sentinel it
// wraps. Any other error is refused: a coordinator returns only these.
func errorToWire(err error) (*wire.Error, error) {
	switch e := err.(type) {
	case nil:
		return nil, nil
	case *UnavailableError:
		op, ok := opToWire(e.Op)
		if !ok || e.Reason < ReasonTooFewAlive || e.Reason > ReasonNoCoordinator {
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		return &wire.Error{Kind: wire.KindUnavailable, Op: op, Reason: uint8(e.Reason),
			Need: e.Need, NeedPrimary: e.NeedPrimary,
			Alive: e.Alive, AlivePrimaries: e.AlivePrimaries, Down: e.Down,
			Cause: wire.CauseOf(e.Err)}, nil
	case *QuorumError:
		op, ok := opToWire(e.Op)
		if !ok {
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		kind := wire.KindQuorum
		if len(e.DiskFull) > 0 || e.Definite {
			kind = wire.KindQuorumDiskFull
		}
		return &wire.Error{Kind: kind, Op: op,
			Need: e.Need, NeedPrimary: e.NeedPrimary, Got: e.Got, GotPrimary: e.GotPrimary,
			Acked: e.Acked, Failed: e.Failed, Pending: e.Pending, DiskFull: e.DiskFull, Definite: e.Definite,
			Cause: wire.CauseOf(e.Err)}, nil
	case *ContextError:
		return &wire.Error{Kind: wire.KindContext, Actor: e.Actor, Claim: e.Claim, Have: e.Have,
			Cause: wire.CauseOf(e.Err)}, nil
	case *LimitError:
		which := wire.LimitSiblings
		switch e.Err {
		case ErrTooManySiblings:
		case ErrStateTooLarge:
			which = wire.LimitState
		default:
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		return &wire.Error{Kind: wire.KindLimit, Exceeded: which, Limit: e.Limit}, nil
	case *WriteFailedError:
		if e.Err == nil {
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		return &wire.Error{Kind: wire.KindWriteFailed, Cause: wire.CauseOf(e.Err)}, nil
	}
	return nil, fmt.Errorf("node: can't encode an error of type %T on the wire: %v", err, err)
}

// errorFromWire returns the typed error that errorToWire turned into e
// (nil for nil): the same type with the same fields, and a cause whose
// text is the original's and that errors.Is matches with the wire
// sentinel the original wrapped.
func errorFromWire(e *wire.Error) error {
	if e == nil {
		return nil
	}
	switch e.Kind {
	case wire.KindUnavailable:
		return &UnavailableError{Op: opFromWire(e.Op), Reason: UnavailableReason(e.Reason),
			Need: e.Need, NeedPrimary: e.NeedPrimary,
			Alive: e.Alive, AlivePrimaries: e.AlivePrimaries, Down: e.Down,
			Err: e.Cause.Err()}
	case wire.KindQuorum, wire.KindQuorumDiskFull:
		return &QuorumError{Op: opFromWire(e.Op),
			Need: e.Need, NeedPrimary: e.NeedPrimary, Got: e.Got, GotPrimary: e.GotPrimary,
			Acked: e.Acked, Failed: e.Failed, Pending: e.Pending, DiskFull: e.DiskFull, Definite: e.Definite,
			Err: e.Cause.Err()}
	case wire.KindContext:
		return &ContextError{Actor: e.Actor, Claim: e.Claim, Have: e.Have, Err: e.Cause.Err()}
	case wire.KindLimit:
		le := &LimitError{Err: ErrTooManySiblings, Limit: e.Limit}
		if e.Exceeded == wire.LimitState {
			le.Err = ErrStateTooLarge
		}
		return le
	case wire.KindWriteFailed:
		return &WriteFailedError{Err: e.Cause.Err()}
	}
	// The decoder accepts only the kinds above.
	return fmt.Errorf("node: an error of unknown kind %d came over the wire", e.Kind)
}

func opToWire(op string) (wire.Op, bool) {
	switch op {
	case opRead:
		return wire.OpRead, true
	case opWrite:
		return wire.OpWrite, true
	}
	return 0, false
}

func opFromWire(op wire.Op) string {
	if op == wire.OpRead {
		return opRead
	}
	return opWrite
}
