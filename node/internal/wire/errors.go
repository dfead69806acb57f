package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/vclock"
)

// ErrorKind is the kind of a typed error on the wire: which of node's
// error types it is (node/errors.go).
type ErrorKind uint8

// Kinds of a typed error on the wire; 0 on the wire is no error.
const (
	KindUnavailable ErrorKind = iota + 1 // node's *UnavailableError
	KindQuorum                           // *QuorumError
	KindContext                          // *ContextError
	KindLimit                            // *LimitError
	KindWriteFailed                      // *WriteFailedError
	// KindQuorumDiskFull is a write's *QuorumError that names replicas
	// whose disks refused it (DiskFull) or that is definite (Definite):
	// KindQuorum's fields, then those two. A kind of its own, so a node
	// that does not know it refuses only these errors, and every other
	// quorum error still reads as before.
	KindQuorumDiskFull
)

// maxKind is the largest ErrorKind.
const maxKind = KindQuorumDiskFull

// Op is a request kind on the wire (an error's Op).
type Op uint8

// Request kinds on the wire.
const (
	OpRead  Op = 1
	OpWrite Op = 2
)

// LimitKind says which limit a KindLimit error passed.
type LimitKind uint8

// Limits of a KindLimit error on the wire.
const (
	LimitSiblings LimitKind = 1 // too many siblings
	LimitState    LimitKind = 2 // key state too large
)

// MaxReason is the largest UnavailableReason of node the wire carries
// (reasons run from 1 to MaxReason).
const MaxReason = 3

// Error is a typed error of node (node/errors.go) as data: a kind, and
// the fields that kind carries. It crosses the wire whole, so the node a
// client asked answers exactly what the coordinator would have. node
// converts its error types to and from it; wire knows nothing of them.
type Error struct {
	Kind ErrorKind
	// Op is the request kind (KindUnavailable, KindQuorum).
	Op Op
	// Reason is node's UnavailableReason, 1 to MaxReason (KindUnavailable).
	Reason uint8
	// Need and NeedPrimary are the request's quorum (KindUnavailable,
	// KindQuorum).
	Need, NeedPrimary int
	// Alive, AlivePrimaries and Down say who was up (KindUnavailable).
	Alive          []string
	AlivePrimaries int
	Down           []string
	// Got, GotPrimary, Acked, Failed and Pending say who answered
	// (KindQuorum).
	Got, GotPrimary        int
	Acked, Failed, Pending []string
	// DiskFull names the replicas that refused a write for a full disk,
	// and Definite says nothing was stored anywhere (KindQuorumDiskFull).
	DiskFull []string
	Definite bool
	// Actor, Claim and Have are a refused context's claim (KindContext).
	Actor       vclock.Actor
	Claim, Have uint64
	// Exceeded and Limit are the limit passed and its value (KindLimit).
	Exceeded LimitKind
	Limit    int
	// Cause is the error's cause, or nil (every kind but KindLimit;
	// KindWriteFailed always has one).
	Cause *Cause
}

// Cause is an error's cause on the wire: its text, and which sentinel it
// wraps (an index into sentinels; 0 is none), so that errors.Is still
// finds that sentinel in the decoded cause.
type Cause struct {
	Text     string
	Sentinel int
}

// sentinels are the errors a cause keeps across the wire, by index (0 is
// none). The index is the wire format: append only.
var sentinels = [...]error{nil, vclock.ErrCounterExhausted, context.DeadlineExceeded, context.Canceled, storage.ErrNoSpace}

// Sentinels returns the errors a cause keeps across the wire: errors.Is
// finds each of them in a decoded cause that wrapped it.
func Sentinels() []error { return append([]error(nil), sentinels[1:]...) }

// CauseOf returns err as a cause on the wire (nil for nil): its text and
// the first sentinel it wraps.
func CauseOf(err error) *Cause {
	if err == nil {
		return nil
	}
	idx := 0
	for i, s := range sentinels[1:] {
		if errors.Is(err, s) {
			idx = i + 1
			break
		}
	}
	return &Cause{Text: err.Error(), Sentinel: idx}
}

// Err returns the cause as an error (nil for a nil Cause): its Error is
// the text, and it unwraps to its sentinel.
func (c *Cause) Err() error {
	if c == nil {
		return nil
	}
	var s error
	if c.Sentinel > 0 && c.Sentinel < len(sentinels) {
		s = sentinels[c.Sentinel]
	}
	return &remoteError{msg: c.Text, sentinel: s}
}

// remoteError is a cause decoded from the wire: its text, and the
// sentinel it wrapped when that is one the wire names (sentinels), so
// errors.Is still finds it.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

// failure appends a typed error (or its absence): a kind, then every
// field. An error this format can't carry whole is refused.
func (b wbuf) failure(e *Error) (wbuf, error) {
	if e == nil {
		return b.uvarint(0), nil
	}
	bad := func() (wbuf, error) { return nil, fmt.Errorf("wire: can't encode %#v", e) }
	if e.Cause != nil && (e.Cause.Sentinel < 0 || e.Cause.Sentinel >= len(sentinels)) {
		return bad()
	}
	switch e.Kind {
	case KindUnavailable:
		if !e.Op.valid() || e.Reason < 1 || e.Reason > MaxReason {
			return bad()
		}
		b = b.uvarint(uint64(KindUnavailable)).uvarint(uint64(e.Op)).uvarint(uint64(e.Reason)).
			uvarint(uint64(e.Need)).uvarint(uint64(e.NeedPrimary)).
			strs(e.Alive).uvarint(uint64(e.AlivePrimaries)).strs(e.Down)
		return b.cause(e.Cause), nil
	case KindQuorum, KindQuorumDiskFull:
		full := len(e.DiskFull) > 0 || e.Definite
		if !e.Op.valid() || full != (e.Kind == KindQuorumDiskFull) {
			return bad()
		}
		b = b.uvarint(uint64(e.Kind)).uvarint(uint64(e.Op)).
			uvarint(uint64(e.Need)).uvarint(uint64(e.NeedPrimary)).
			uvarint(uint64(e.Got)).uvarint(uint64(e.GotPrimary)).
			strs(e.Acked).strs(e.Failed).strs(e.Pending)
		if full {
			definite := uint64(0)
			if e.Definite {
				definite = 1
			}
			b = b.uvarint(definite).strs(e.DiskFull)
		}
		return b.cause(e.Cause), nil
	case KindContext:
		b = b.uvarint(uint64(KindContext)).str(e.Actor.Node).uvarint(e.Actor.Epoch).uvarint(e.Claim).uvarint(e.Have)
		return b.cause(e.Cause), nil
	case KindLimit:
		if e.Exceeded != LimitSiblings && e.Exceeded != LimitState {
			return bad()
		}
		return b.uvarint(uint64(KindLimit)).uvarint(uint64(e.Exceeded)).uvarint(uint64(e.Limit)), nil
	case KindWriteFailed:
		if e.Cause == nil {
			return bad()
		}
		return b.uvarint(uint64(KindWriteFailed)).cause(e.Cause), nil
	}
	return bad()
}

// cause appends an error's cause: absent (0), or its sentinel's index
// plus one and its text.
func (b wbuf) cause(c *Cause) wbuf {
	if c == nil {
		return b.uvarint(0)
	}
	return b.uvarint(uint64(c.Sentinel + 1)).str(c.Text)
}

func (op Op) valid() bool { return op == OpRead || op == OpWrite }

func (r *rbuf) op() Op {
	if op := Op(r.int(int(OpWrite))); op.valid() {
		return op
	}
	r.fail("bad request kind")
	return 0
}

// failure reads what wbuf.failure wrote.
func (r *rbuf) failure() *Error {
	switch kind := ErrorKind(r.int(int(maxKind))); kind {
	case 0:
		return nil
	case KindUnavailable:
		e := &Error{Kind: kind, Op: r.op(), Reason: uint8(r.int(MaxReason))}
		if r.err == nil && e.Reason < 1 {
			r.fail("bad unavailable reason")
		}
		e.Need, e.NeedPrimary = r.int(maxWireCount), r.int(maxWireCount)
		e.Alive, e.AlivePrimaries, e.Down = r.strs(), r.int(maxWireCount), r.strs()
		e.Cause = r.cause()
		return e
	case KindQuorum, KindQuorumDiskFull:
		e := &Error{Kind: kind, Op: r.op()}
		e.Need, e.NeedPrimary = r.int(maxWireCount), r.int(maxWireCount)
		e.Got, e.GotPrimary = r.int(maxWireCount), r.int(maxWireCount)
		e.Acked, e.Failed, e.Pending = r.strs(), r.strs(), r.strs()
		if kind == KindQuorumDiskFull {
			e.Definite = r.int(1) == 1
			e.DiskFull = r.strs()
			if r.err == nil && !e.Definite && len(e.DiskFull) == 0 {
				r.fail("disk-full quorum error with neither")
			}
		}
		e.Cause = r.cause()
		return e
	case KindContext:
		e := &Error{Kind: kind, Actor: vclock.Actor{Node: r.str(), Epoch: r.uvarint()}, Claim: r.uvarint(), Have: r.uvarint()}
		e.Cause = r.cause()
		return e
	case KindLimit:
		e := &Error{Kind: kind, Exceeded: LimitKind(r.int(int(LimitState)))}
		if r.err == nil && e.Exceeded != LimitSiblings && e.Exceeded != LimitState {
			r.fail("bad limit")
		}
		e.Limit = r.int(1 << 62)
		return e
	case KindWriteFailed:
		e := &Error{Kind: kind, Cause: r.cause()}
		if r.err == nil && e.Cause == nil {
			r.fail("write failure without a cause")
		}
		return e
	}
	return nil // r.err is set
}

// cause reads what wbuf.cause wrote.
func (r *rbuf) cause() *Cause {
	idx := r.int(len(sentinels))
	if idx == 0 || r.err != nil {
		return nil
	}
	c := &Cause{Sentinel: idx - 1, Text: r.str()}
	if r.err != nil {
		return nil
	}
	return c
}
