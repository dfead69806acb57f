package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/dynago/dynago/antientropy"
	"github.com/dynago/dynago/vclock"
)

// Internode RPC methods. Payloads are encoded by the functions below; each
// starts with a format version byte so a node can refuse what it can't read.
const (
	// methodRead returns the replica's stored state of a key (a fallback's
	// hint for it when Owner is set). Request: readRequest. Response:
	// encoded vclock.State (zero State if absent).
	methodRead uint8 = 1
	// methodApply merges a state into the replica's stored state of a key
	// (into a hint for Owner when the receiver is a fallback) and answers
	// once that is durable. Request: applyRequest.
	methodApply uint8 = 2
	// methodCoordinate asks a replica to coordinate a client write.
	// Request: writeRequest. Response: writeOutcome (format version 2: a
	// failure is a typed error, never an HTTP status).
	methodCoordinate uint8 = 3
	// methodHandoff delivers a batch of hints to their owner, which merges
	// each into its data and answers once all are durable. Request:
	// handoffRequest.
	methodHandoff uint8 = 4
	// methodAAERoots returns the receiver's tree root, depth and key count
	// for each listed partition. Request: aaeRootsRequest. Response:
	// aaeRootsResponse.
	methodAAERoots uint8 = 5
	// methodAAEChildren returns, for each listed node of a partition's tree
	// at a level, the hashes of its Fanout children. Request:
	// aaeTreeRequest. Response: the hashes, 8 bytes each, big endian.
	methodAAEChildren uint8 = 6
	// methodAAEEntries lists the receiver's keys of a partition in the
	// listed buckets at a level, with their entry hashes. Request:
	// aaeTreeRequest. Response: aaeEntries encoding.
	methodAAEEntries uint8 = 7
	// methodAAEFetch returns the receiver's states of keys of a partition,
	// a prefix of them if all would not fit in maxFetchBytes. Request:
	// aaeFetchRequest. Response: aaeFetch encoding.
	methodAAEFetch uint8 = 8
	// methodTransfer returns a batch of a partition's keys after a cursor,
	// with their states (a partition transfer's pull). Request:
	// transferRequest. Response: transferBatch.
	methodTransfer uint8 = 9
	// methodState pushes the sender's membership and owner table (the
	// JSON of gossip's push/pull), which the receiver merges (claim.go).
	methodState uint8 = 10
	// methodStatePull returns the receiver's membership and owner table
	// (the JSON of methodState), for a node whose call was refused for
	// another table (view.go).
	methodStatePull uint8 = 11
)

const wireV1 = 1

// errWire is wrapped by every decode error.
var errWire = errors.New("node: malformed message")

// wbuf appends wire fields.
type wbuf []byte

func (b wbuf) uvarint(x uint64) wbuf { return binary.AppendUvarint(b, x) }
func (b wbuf) bytes(p []byte) wbuf   { return append(b.uvarint(uint64(len(p))), p...) }
func (b wbuf) str(s string) wbuf     { return append(b.uvarint(uint64(len(s))), s...) }
func (b wbuf) strs(ss []string) wbuf {
	b = b.uvarint(uint64(len(ss)))
	for _, s := range ss {
		b = b.str(s)
	}
	return b
}

// rbuf reads wire fields; the first error sticks.
type rbuf struct {
	b   []byte
	err error
}

func (r *rbuf) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s", errWire, fmt.Sprintf(format, args...))
	}
}

func (r *rbuf) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return x
}

// int reads a uvarint that must be at most limit.
func (r *rbuf) int(limit int) int {
	x := r.uvarint()
	if x > uint64(limit) {
		r.fail("value %d over limit %d", x, limit)
		return 0
	}
	return int(x)
}

func (r *rbuf) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.fail("length %d past end", n)
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

func (r *rbuf) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.fail("short uint64")
		return 0
	}
	x := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return x
}

func (r *rbuf) str() string { return string(r.bytes()) }

func (r *rbuf) strs() []string {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every string takes at least one byte
		r.fail("list length %d past end", n)
		return nil
	}
	var out []string
	for range n {
		out = append(out, r.str())
	}
	return out
}

func (r *rbuf) version() { r.versionIs(wireV1) }

// versionIs reads the format version byte, which must be v.
func (r *rbuf) versionIs(v byte) {
	if len(r.b) == 0 || r.b[0] != v {
		r.fail("unknown format version")
		return
	}
	r.b = r.b[1:]
}

func (r *rbuf) end() error {
	if r.err == nil && len(r.b) != 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	return r.err
}

// readRequest asks a replica for its state of a key.
type readRequest struct {
	Key   []byte
	Owner string // set when the receiver serves as a fallback for Owner
}

func (m readRequest) marshal() []byte { return wbuf{wireV1}.bytes(m.Key).str(m.Owner) }

func unmarshalRead(p []byte) (readRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := readRequest{Key: r.bytes(), Owner: r.str()}
	return m, r.end()
}

// applyRequest carries a key's state to a replica (replication, read repair).
type applyRequest struct {
	Key   []byte
	State vclock.State
	Owner string // set when the receiver serves as a fallback for Owner
}

func (m applyRequest) marshal() ([]byte, error) {
	st, err := m.State.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return wbuf{wireV1}.bytes(m.Key).bytes(st).str(m.Owner), nil
}

func unmarshalApply(p []byte) (applyRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m applyRequest
	m.Key = r.bytes()
	st := r.bytes()
	m.Owner = r.str()
	if err := r.end(); err != nil {
		return m, err
	}
	if err := m.State.UnmarshalBinary(st); err != nil {
		return m, fmt.Errorf("%w: %v", errWire, err)
	}
	return m, nil
}

// handoffItem is one key's state pushed to a replica: a hint delivered to
// its owner, or an anti-entropy or transfer push.
type handoffItem struct {
	Key   []byte
	State vclock.State
	// Age is a hint's age on the sender's steady clock when it was read
	// for delivery (Hints requests only).
	Age time.Duration
}

// handoffRequest is a batch of states for the receiving node to merge.
type handoffRequest struct {
	From string
	// Hints marks a delivery of hints: each item carries its Age, and the
	// receiver refuses items past its own hint window (reapMinAge).
	Hints bool
	Items []handoffItem
}

// maxHandoffItems bounds a decoded batch (the sender sends far fewer).
const maxHandoffItems = 1 << 16

func (m handoffRequest) marshal() ([]byte, error) {
	flags := uint64(0)
	if m.Hints {
		flags = 1
	}
	b := wbuf{wireV1}.str(m.From).uvarint(flags).uvarint(uint64(len(m.Items)))
	for _, it := range m.Items {
		st, err := it.State.MarshalBinary()
		if err != nil {
			return nil, err
		}
		b = b.bytes(it.Key).bytes(st)
		if m.Hints {
			b = b.uvarint(uint64(max(it.Age, 0)))
		}
	}
	return b, nil
}

func unmarshalHandoff(p []byte) (handoffRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m handoffRequest
	m.From = r.str()
	m.Hints = r.int(1) == 1
	n := r.int(maxHandoffItems)
	if r.err == nil && n > len(r.b)/2 { // every item takes at least two bytes
		r.fail("%d items past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		key := r.bytes()
		raw := r.bytes()
		var age time.Duration
		if m.Hints {
			age = time.Duration(r.int(math.MaxInt64))
		}
		if r.err != nil {
			break
		}
		var st vclock.State
		if err := st.UnmarshalBinary(raw); err != nil {
			return m, fmt.Errorf("%w: %v", errWire, err)
		}
		m.Items = append(m.Items, handoffItem{Key: key, State: st, Age: age})
	}
	return m, r.end()
}

// aaeRootsRequest asks for the roots of partitions' trees.
type aaeRootsRequest struct{ Partitions []uint32 }

// aaeRoot is one partition's tree summary. Ready reports that the
// replica's copy is complete (no transfer of it pending).
type aaeRoot struct {
	Root  uint64
	Depth int
	Keys  int
	Ready bool
}

type aaeRootsResponse struct{ Roots []aaeRoot }

// maxAAEItems bounds decoded lists of partitions, indices, entries and keys
// (senders stay far below).
const maxAAEItems = 1 << 20

func (m aaeRootsRequest) marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(m.Partitions)))
	for _, p := range m.Partitions {
		b = b.uvarint(uint64(p))
	}
	return b
}

func unmarshalAAERootsRequest(p []byte) (aaeRootsRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m aaeRootsRequest
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b) {
		r.fail("%d partitions past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Partitions = append(m.Partitions, uint32(r.int(1<<31)))
	}
	return m, r.end()
}

func (m aaeRootsResponse) marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(m.Roots)))
	for _, x := range m.Roots {
		ready := uint64(0)
		if x.Ready {
			ready = 1
		}
		b = binary.BigEndian.AppendUint64(b, x.Root)
		b = b.uvarint(uint64(x.Depth)).uvarint(uint64(x.Keys)).uvarint(ready)
	}
	return b
}

func unmarshalAAERoots(p []byte) (aaeRootsResponse, error) {
	r := rbuf{b: p}
	r.version()
	var m aaeRootsResponse
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b)/11 {
		r.fail("%d roots past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		root := r.u64()
		m.Roots = append(m.Roots, aaeRoot{Root: root, Depth: r.int(antientropy.MaxDepth), Keys: r.int(1 << 62), Ready: r.int(1) == 1})
	}
	if r.err == nil {
		for _, x := range m.Roots {
			if x.Depth < 1 {
				r.fail("tree depth %d", x.Depth)
				break
			}
		}
	}
	return m, r.end()
}

// aaeTreeRequest names nodes (or buckets) of a partition's tree at a level.
type aaeTreeRequest struct {
	Partition uint32
	Level     int
	Indices   []uint32
}

func (m aaeTreeRequest) marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(m.Partition)).uvarint(uint64(m.Level)).uvarint(uint64(len(m.Indices)))
	for _, i := range m.Indices {
		b = b.uvarint(uint64(i))
	}
	return b
}

func unmarshalAAETree(p []byte) (aaeTreeRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := aaeTreeRequest{Partition: uint32(r.int(1 << 31)), Level: r.int(antientropy.MaxDepth)}
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b) {
		r.fail("%d indices past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Indices = append(m.Indices, uint32(r.uvarint()))
	}
	if r.err == nil {
		limit := uint64(1) << (4 * m.Level)
		for _, i := range m.Indices {
			if uint64(i) >= limit {
				r.fail("index %d outside level %d", i, m.Level)
				break
			}
		}
	}
	return m, r.end()
}

func marshalAAEChildren(hashes [][]uint64) []byte {
	b := make([]byte, 0, 1+len(hashes)*antientropy.Fanout*8)
	b = append(b, wireV1)
	for _, hs := range hashes {
		for _, h := range hs {
			b = binary.BigEndian.AppendUint64(b, h)
		}
	}
	return b
}

// unmarshalAAEChildren decodes the children of want nodes.
func unmarshalAAEChildren(p []byte, want int) ([][]uint64, error) {
	r := rbuf{b: p}
	r.version()
	if r.err == nil && len(r.b) != want*antientropy.Fanout*8 {
		r.fail("%d bytes of child hashes for %d nodes", len(r.b), want)
	}
	if r.err != nil {
		return nil, r.err
	}
	out := make([][]uint64, want)
	for i := range out {
		out[i] = make([]uint64, antientropy.Fanout)
		for j := range out[i] {
			out[i][j] = r.u64()
		}
	}
	return out, r.end()
}

func marshalAAEEntries(es []antientropy.Entry) []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(es)))
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b.bytes(e.Key), e.Hash)
	}
	return b
}

func unmarshalAAEEntries(p []byte) ([]antientropy.Entry, error) {
	r := rbuf{b: p}
	r.version()
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b)/9 {
		r.fail("%d entries past end", n)
	}
	var out []antientropy.Entry
	for i := 0; i < n && r.err == nil; i++ {
		key := r.bytes()
		out = append(out, antientropy.Entry{Key: key, Hash: r.u64()})
	}
	return out, r.end()
}

// aaeFetchRequest asks for a replica's states of keys of a partition.
type aaeFetchRequest struct {
	Partition uint32
	Keys      [][]byte
}

// maxFetchBytes bounds one fetch answer; the asker fetches the rest next.
const maxFetchBytes = 8 << 20

func (m aaeFetchRequest) marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(m.Partition)).uvarint(uint64(len(m.Keys)))
	for _, k := range m.Keys {
		b = b.bytes(k)
	}
	return b
}

func unmarshalAAEFetchRequest(p []byte) (aaeFetchRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := aaeFetchRequest{Partition: uint32(r.int(1 << 31))}
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b) {
		r.fail("%d keys past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Keys = append(m.Keys, r.bytes())
	}
	return m, r.end()
}

// fetchedState is one key's state in an AAEFetch answer. Settled marks a
// state of tombstones only that the answering replica has held for at
// least its tombstone grace, by its own clock: it is due to be reaped, so
// it is not copied to a replica that has nothing (see repairKeys).
type fetchedState struct {
	State   vclock.State
	Settled bool
}

// fetchedRaw is one key's answer before encoding: the state's encoding
// (empty: absent) and its settled flag.
type fetchedRaw struct {
	State   []byte
	Settled bool
}

// marshalAAEFetch encodes states.
func marshalAAEFetch(states []fetchedRaw) []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(states)))
	for _, st := range states {
		flags := uint64(0)
		if st.Settled {
			flags = 1
		}
		b = b.bytes(st.State).uvarint(flags)
	}
	return b
}

// unmarshalAAEFetch decodes at most want states (a prefix of the keys asked).
func unmarshalAAEFetch(p []byte, want int) ([]fetchedState, error) {
	r := rbuf{b: p}
	r.version()
	n := r.int(want)
	if r.err == nil && n > len(r.b)/2 {
		r.fail("%d states past end", n)
	}
	var out []fetchedState
	for i := 0; i < n && r.err == nil; i++ {
		raw := r.bytes()
		settled := r.int(1) == 1
		var st vclock.State
		if len(raw) > 0 {
			if err := st.UnmarshalBinary(raw); err != nil {
				return nil, fmt.Errorf("%w: %v", errWire, err)
			}
		}
		out = append(out, fetchedState{State: st, Settled: settled && onlyTombstones(st)})
	}
	if r.err == nil && n == 0 && want > 0 {
		r.fail("no states for %d keys", want)
	}
	return out, r.end()
}

// writeRequest is a client write forwarded to a replica that coordinates it.
type writeRequest struct {
	Key        []byte
	Value      []byte
	Context    vclock.VV
	Delete     bool
	W, PW      int
	TimeoutMS  int
	ReturnBody bool
	Strict     bool // primaries only: no fallbacks (sloppy=false)
}

func (m writeRequest) marshal() []byte {
	var flags uint64
	if m.Delete {
		flags |= 1
	}
	if m.ReturnBody {
		flags |= 2
	}
	if m.Strict {
		flags |= 4
	}
	return wbuf{wireV1}.bytes(m.Key).bytes(m.Value).str(vclock.EncodeContext(m.Context)).
		uvarint(flags).uvarint(uint64(m.W)).uvarint(uint64(m.PW)).uvarint(uint64(m.TimeoutMS))
}

// maxWireCount bounds n, w, pw and similar small counts on the wire.
const maxWireCount = 1 << 16

func unmarshalWriteRequest(p []byte) (writeRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m writeRequest
	m.Key = r.bytes()
	m.Value = r.bytes()
	tok := r.str()
	flags := r.int(7)
	m.W = r.int(maxWireCount)
	m.PW = r.int(maxWireCount)
	m.TimeoutMS = r.int(1 << 31)
	if err := r.end(); err != nil {
		return m, err
	}
	m.Delete = flags&1 != 0
	m.ReturnBody = flags&2 != 0
	m.Strict = flags&4 != 0
	ctx, err := vclock.DecodeContext(tok)
	if err != nil {
		return m, fmt.Errorf("%w: %v", errWire, err)
	}
	m.Context = ctx
	return m, nil
}

// writeOutcome is a coordinated write's result, local or forwarded.
type writeOutcome struct {
	// Err is nil when W (and PW) acks arrived; else one of the typed
	// errors of errors.go, which crosses the wire whole (wbuf.failure).
	Err error
	// State is the coordinator's state of the key after the write.
	State vclock.State
	// Context is the causal context to hand the client.
	Context vclock.VV
	// Coordinator is the node that coordinated the write.
	Coordinator string
	W, PW       int
	Acked       []string
	Failed      []string
	Pending     []string
	Primaries   int // acks from primaries
	Fallbacks   int // acks from fallbacks
}

// wireOutcomeV2 is the format of a writeOutcome since errors are typed:
// it carries the coordinator's error with all its fields (wbuf.failure),
// where version 1 carried an HTTP status, code and message. A forwarder
// refuses an outcome of another version, as it refuses any answer it
// can't read: the write is then indeterminate to it.
const wireOutcomeV2 = 2

func (m writeOutcome) marshal() ([]byte, error) {
	st, err := m.State.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b, err := wbuf{wireOutcomeV2}.failure(m.Err)
	if err != nil {
		return nil, err
	}
	b = b.bytes(st).str(vclock.EncodeContext(m.Context)).str(m.Coordinator).
		uvarint(uint64(m.W)).uvarint(uint64(m.PW)).strs(m.Acked).strs(m.Failed).strs(m.Pending).
		uvarint(uint64(m.Primaries)).uvarint(uint64(m.Fallbacks))
	return b, nil
}

func unmarshalWriteOutcome(p []byte) (writeOutcome, error) {
	r := rbuf{b: p}
	r.versionIs(wireOutcomeV2)
	var m writeOutcome
	m.Err = r.failure()
	st := r.bytes()
	tok := r.str()
	m.Coordinator = r.str()
	m.W = r.int(maxWireCount)
	m.PW = r.int(maxWireCount)
	m.Acked = r.strs()
	m.Failed = r.strs()
	m.Pending = r.strs()
	m.Primaries = r.int(maxWireCount)
	m.Fallbacks = r.int(maxWireCount)
	if err := r.end(); err != nil {
		return m, err
	}
	if err := m.State.UnmarshalBinary(st); err != nil {
		return m, fmt.Errorf("%w: %v", errWire, err)
	}
	ctx, err := vclock.DecodeContext(tok)
	if err != nil {
		return m, fmt.Errorf("%w: %v", errWire, err)
	}
	m.Context = ctx
	return m, nil
}

// Kinds of a typed error on the wire (wbuf.failure).
const (
	errKindNone = iota
	errKindUnavailable
	errKindQuorum
	errKindContext
	errKindLimit
	errKindWriteFailed
)

// Request kinds on the wire.
const (
	wireOpRead  = 1
	wireOpWrite = 2
)

// Limits of a LimitError on the wire.
const (
	wireLimitSiblings = 1
	wireLimitState    = 2
)

// wireSentinels are the sentinels a cause keeps across the wire (by
// index; 0 is none): errors.Is finds them in the decoded cause.
var wireSentinels = []error{nil, vclock.ErrCounterExhausted, context.DeadlineExceeded, context.Canceled}

// failure appends a typed error of errors.go (or its absence): a kind, then
// every field. A cause (an Err field) travels as its text and the wire
// sentinel it wraps. Any other error is refused: a coordinator returns
// only these.
func (b wbuf) failure(err error) (wbuf, error) {
	switch e := err.(type) {
	case nil:
		return b.uvarint(errKindNone), nil
	case *UnavailableError:
		op, ok := wireOp(e.Op)
		if !ok || e.Reason < ReasonTooFewAlive || e.Reason > ReasonNoCoordinator {
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		b = b.uvarint(errKindUnavailable).uvarint(op).uvarint(uint64(e.Reason)).
			uvarint(uint64(e.Need)).uvarint(uint64(e.NeedPrimary)).
			strs(e.Alive).uvarint(uint64(e.AlivePrimaries)).strs(e.Down)
		return b.cause(e.Err), nil
	case *QuorumError:
		op, ok := wireOp(e.Op)
		if !ok {
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		b = b.uvarint(errKindQuorum).uvarint(op).
			uvarint(uint64(e.Need)).uvarint(uint64(e.NeedPrimary)).
			uvarint(uint64(e.Got)).uvarint(uint64(e.GotPrimary)).
			strs(e.Acked).strs(e.Failed).strs(e.Pending)
		return b.cause(e.Err), nil
	case *ContextError:
		b = b.uvarint(errKindContext).str(e.Actor.Node).uvarint(e.Actor.Epoch).uvarint(e.Claim).uvarint(e.Have)
		return b.cause(e.Err), nil
	case *LimitError:
		which := uint64(wireLimitSiblings)
		switch e.Err {
		case ErrTooManySiblings:
		case ErrStateTooLarge:
			which = wireLimitState
		default:
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		return b.uvarint(errKindLimit).uvarint(which).uvarint(uint64(e.Limit)), nil
	case *WriteFailedError:
		if e.Err == nil {
			return nil, fmt.Errorf("node: can't encode %#v", e)
		}
		return b.uvarint(errKindWriteFailed).cause(e.Err), nil
	}
	return nil, fmt.Errorf("node: can't encode an error of type %T on the wire: %v", err, err)
}

// cause appends an error's cause: absent (0), or its wire sentinel's
// index plus one and its text.
func (b wbuf) cause(err error) wbuf {
	if err == nil {
		return b.uvarint(0)
	}
	idx := 0
	for i, s := range wireSentinels[1:] {
		if errors.Is(err, s) {
			idx = i + 1
			break
		}
	}
	return b.uvarint(uint64(idx + 1)).str(err.Error())
}

func wireOp(op string) (uint64, bool) {
	switch op {
	case opRead:
		return wireOpRead, true
	case opWrite:
		return wireOpWrite, true
	}
	return 0, false
}

func (r *rbuf) op() string {
	switch r.int(wireOpWrite) {
	case wireOpRead:
		return opRead
	case wireOpWrite:
		return opWrite
	}
	r.fail("bad request kind")
	return ""
}

// failure reads what wbuf.failure wrote.
func (r *rbuf) failure() error {
	switch kind := r.int(errKindWriteFailed); kind {
	case errKindNone:
		return nil
	case errKindUnavailable:
		e := &UnavailableError{Op: r.op(), Reason: UnavailableReason(r.int(int(ReasonNoCoordinator)))}
		if r.err == nil && e.Reason < ReasonTooFewAlive {
			r.fail("bad unavailable reason")
		}
		e.Need, e.NeedPrimary = r.int(maxWireCount), r.int(maxWireCount)
		e.Alive, e.AlivePrimaries, e.Down = r.strs(), r.int(maxWireCount), r.strs()
		e.Err = r.cause()
		return e
	case errKindQuorum:
		e := &QuorumError{Op: r.op()}
		e.Need, e.NeedPrimary = r.int(maxWireCount), r.int(maxWireCount)
		e.Got, e.GotPrimary = r.int(maxWireCount), r.int(maxWireCount)
		e.Acked, e.Failed, e.Pending = r.strs(), r.strs(), r.strs()
		e.Err = r.cause()
		return e
	case errKindContext:
		e := &ContextError{Actor: vclock.Actor{Node: r.str(), Epoch: r.uvarint()}, Claim: r.uvarint(), Have: r.uvarint()}
		e.Err = r.cause()
		return e
	case errKindLimit:
		e := &LimitError{Err: ErrTooManySiblings}
		switch r.int(wireLimitState) {
		case wireLimitSiblings:
		case wireLimitState:
			e.Err = ErrStateTooLarge
		default:
			r.fail("bad limit")
		}
		e.Limit = r.int(1 << 62)
		return e
	case errKindWriteFailed:
		e := &WriteFailedError{Err: r.cause()}
		if r.err == nil && e.Err == nil {
			r.fail("write failure without a cause")
		}
		return e
	}
	return nil // r.err is set
}

// cause reads what wbuf.cause wrote.
func (r *rbuf) cause() error {
	idx := r.int(len(wireSentinels))
	if idx == 0 || r.err != nil {
		return nil
	}
	return &remoteError{msg: r.str(), sentinel: wireSentinels[idx-1]}
}
