package wire

import (
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
// The ids are the wire format: never reuse one.
const (
	// MethodRead returns the replica's stored state of a key (a fallback's
	// hint for it when Owner is set). Request: ReadRequest. Response:
	// encoded vclock.State (zero State if absent).
	MethodRead uint8 = 1
	// MethodApply merges a state into the replica's stored state of a key
	// (into a hint for Owner when the receiver is a fallback) and answers
	// once that is durable. Request: ApplyRequest. Response: one byte,
	// ApplyStored, ApplyCounted or ApplyNoSpace (UnmarshalApplyResponse).
	MethodApply uint8 = 2
	// MethodCoordinate asks a replica to coordinate a client write.
	// Request: WriteRequest. Response: WriteOutcome (format version 2: a
	// failure is a typed error, never an HTTP status).
	MethodCoordinate uint8 = 3
	// MethodHandoff delivers a batch of hints to their owner, which merges
	// each into its data and answers once all are durable. Request:
	// HandoffRequest.
	MethodHandoff uint8 = 4
	// MethodAAERoots returns the receiver's tree root, depth and key count
	// for each listed partition. Request: AAERootsRequest. Response:
	// AAERootsResponse.
	MethodAAERoots uint8 = 5
	// MethodAAEChildren returns, for each listed node of a partition's tree
	// at a level, the hashes of its Fanout children. Request:
	// AAETreeRequest. Response: the hashes, 8 bytes each, big endian.
	MethodAAEChildren uint8 = 6
	// MethodAAEEntries lists the receiver's keys of a partition in the
	// listed buckets at a level, with their entry hashes. Request:
	// AAETreeRequest. Response: MarshalAAEEntries's encoding.
	MethodAAEEntries uint8 = 7
	// MethodAAEFetch returns the receiver's states of keys of a partition,
	// a prefix of them if all would not fit in MaxFetchBytes. Request:
	// AAEFetchRequest. Response: MarshalAAEFetch's encoding.
	MethodAAEFetch uint8 = 8
	// MethodTransfer returns a batch of a partition's keys after a cursor,
	// with their states (a partition transfer's pull). Request:
	// TransferRequest. Response: TransferBatch.
	MethodTransfer uint8 = 9
	// MethodState pushes the sender's membership and owner table (the
	// JSON of gossip's push/pull), which the receiver merges (node/claim.go).
	MethodState uint8 = 10
	// MethodStatePull returns the receiver's membership and owner table
	// (the JSON of MethodState), for a node whose call was refused for
	// another table (node/view.go).
	MethodStatePull uint8 = 11
	// MethodKeyring lists or changes the receiver's gossip encryption
	// keyring (a rotation across the cluster, node/keyring.go). Request:
	// KeyringRequest. Response: KeyringResponse, the keys after the change.
	MethodKeyring uint8 = 12
	// MethodStatus returns the receiver's status for the web console
	// (GET /cluster/nodes): the JSON of node/api's NodeStatus (its own
	// /health answer, its store's size). Request: empty. Not checked: it
	// reads nothing of the data.
	MethodStatus uint8 = 13
)

const wireV1 = 1

// ErrMalformed is wrapped by every decode error. Its text keeps the
// "node:" prefix it had before this package was split from node: it
// reaches logs and peers unchanged.
var ErrMalformed = errors.New("node: malformed message")

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
		r.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
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

// ReadRequest asks a replica for its state of a key.
type ReadRequest struct {
	Key   []byte
	Owner string // set when the receiver serves as a fallback for Owner
}

// Marshal encodes m (MethodRead's request).
func (m ReadRequest) Marshal() []byte { return wbuf{wireV1}.bytes(m.Key).str(m.Owner) }

// UnmarshalRead decodes what ReadRequest.Marshal wrote.
func UnmarshalRead(p []byte) (ReadRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := ReadRequest{Key: r.bytes(), Owner: r.str()}
	return m, r.end()
}

// ApplyRequest carries a key's state to a replica (replication, read repair).
type ApplyRequest struct {
	Key   []byte
	State vclock.State
	Owner string // set when the receiver serves as a fallback for Owner
}

// Marshal encodes m (MethodApply's request); it fails only if the state
// does not encode.
func (m ApplyRequest) Marshal() ([]byte, error) {
	st, err := m.State.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return wbuf{wireV1}.bytes(m.Key).bytes(st).str(m.Owner), nil
}

// UnmarshalApply decodes what ApplyRequest.Marshal wrote, and the state.
func UnmarshalApply(p []byte) (ApplyRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m ApplyRequest
	m.Key = r.bytes()
	st := r.bytes()
	m.Owner = r.str()
	if err := r.end(); err != nil {
		return m, err
	}
	if err := m.State.UnmarshalBinary(st); err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return m, nil
}

// HandoffItem is one key's state pushed to a replica: a hint delivered to
// its owner, or an anti-entropy or transfer push.
type HandoffItem struct {
	Key   []byte
	State vclock.State
	// Age is a hint's age on the sender's steady clock when it was read
	// for delivery (Hints requests only).
	Age time.Duration
}

// HandoffRequest is a batch of states for the receiving node to merge.
type HandoffRequest struct {
	From string
	// Hints marks a delivery of hints: each item carries its Age, and the
	// receiver refuses items past its own hint window (node's reapMinAge).
	Hints bool
	Items []HandoffItem
}

// MaxHandoffItems bounds a decoded batch (the sender sends far fewer).
const MaxHandoffItems = 1 << 16

// Marshal encodes m (MethodHandoff's request); it fails only if a state
// does not encode. Items carry their Age only when Hints is set.
func (m HandoffRequest) Marshal() ([]byte, error) {
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

// UnmarshalHandoff decodes what HandoffRequest.Marshal wrote, at most
// MaxHandoffItems items.
func UnmarshalHandoff(p []byte) (HandoffRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m HandoffRequest
	m.From = r.str()
	m.Hints = r.int(1) == 1
	n := r.int(MaxHandoffItems)
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
			return m, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		m.Items = append(m.Items, HandoffItem{Key: key, State: st, Age: age})
	}
	return m, r.end()
}

// AAERootsRequest asks for the roots of partitions' trees.
type AAERootsRequest struct{ Partitions []uint32 }

// AAERoot is one partition's tree summary. Ready reports that the
// replica's copy is complete (no transfer of it pending).
type AAERoot struct {
	Root  uint64
	Depth int
	Keys  int
	Ready bool
}

// AAERootsResponse is MethodAAERoots's answer: a root per partition asked.
type AAERootsResponse struct{ Roots []AAERoot }

// maxAAEItems bounds decoded lists of partitions, indices, entries and keys
// (senders stay far below).
const maxAAEItems = 1 << 20

// Marshal encodes m (MethodAAERoots's request).
func (m AAERootsRequest) Marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(m.Partitions)))
	for _, p := range m.Partitions {
		b = b.uvarint(uint64(p))
	}
	return b
}

// UnmarshalAAERootsRequest decodes what AAERootsRequest.Marshal wrote.
func UnmarshalAAERootsRequest(p []byte) (AAERootsRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m AAERootsRequest
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b) {
		r.fail("%d partitions past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Partitions = append(m.Partitions, uint32(r.int(1<<31)))
	}
	return m, r.end()
}

// Marshal encodes m (MethodAAERoots's answer).
func (m AAERootsResponse) Marshal() []byte {
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

// UnmarshalAAERoots decodes what AAERootsResponse.Marshal wrote; every
// depth is between 1 and antientropy.MaxDepth.
func UnmarshalAAERoots(p []byte) (AAERootsResponse, error) {
	r := rbuf{b: p}
	r.version()
	var m AAERootsResponse
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b)/11 {
		r.fail("%d roots past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		root := r.u64()
		m.Roots = append(m.Roots, AAERoot{Root: root, Depth: r.int(antientropy.MaxDepth), Keys: r.int(1 << 62), Ready: r.int(1) == 1})
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

// AAETreeRequest names nodes (or buckets) of a partition's tree at a level.
type AAETreeRequest struct {
	Partition uint32
	Level     int
	Indices   []uint32
}

// Marshal encodes m (the request of MethodAAEChildren and
// MethodAAEEntries).
func (m AAETreeRequest) Marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(m.Partition)).uvarint(uint64(m.Level)).uvarint(uint64(len(m.Indices)))
	for _, i := range m.Indices {
		b = b.uvarint(uint64(i))
	}
	return b
}

// UnmarshalAAETree decodes what AAETreeRequest.Marshal wrote; every
// index lies inside its level.
func UnmarshalAAETree(p []byte) (AAETreeRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := AAETreeRequest{Partition: uint32(r.int(1 << 31)), Level: r.int(antientropy.MaxDepth)}
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

// MarshalAAEChildren encodes MethodAAEChildren's answer: the Fanout
// child hashes of each node asked, in order.
func MarshalAAEChildren(hashes [][]uint64) []byte {
	b := make([]byte, 0, 1+len(hashes)*antientropy.Fanout*8)
	b = append(b, wireV1)
	for _, hs := range hashes {
		for _, h := range hs {
			b = binary.BigEndian.AppendUint64(b, h)
		}
	}
	return b
}

// UnmarshalAAEChildren decodes the children of want nodes.
func UnmarshalAAEChildren(p []byte, want int) ([][]uint64, error) {
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

// MarshalAAEEntries encodes MethodAAEEntries's answer.
func MarshalAAEEntries(es []antientropy.Entry) []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(es)))
	for _, e := range es {
		b = binary.BigEndian.AppendUint64(b.bytes(e.Key), e.Hash)
	}
	return b
}

// UnmarshalAAEEntries decodes what MarshalAAEEntries wrote.
func UnmarshalAAEEntries(p []byte) ([]antientropy.Entry, error) {
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

// AAEFetchRequest asks for a replica's states of keys of a partition.
type AAEFetchRequest struct {
	Partition uint32
	Keys      [][]byte
}

// MaxFetchBytes bounds one fetch answer; the asker fetches the rest next.
const MaxFetchBytes = 8 << 20

// Marshal encodes m (MethodAAEFetch's request).
func (m AAEFetchRequest) Marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(m.Partition)).uvarint(uint64(len(m.Keys)))
	for _, k := range m.Keys {
		b = b.bytes(k)
	}
	return b
}

// UnmarshalAAEFetchRequest decodes what AAEFetchRequest.Marshal wrote.
func UnmarshalAAEFetchRequest(p []byte) (AAEFetchRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := AAEFetchRequest{Partition: uint32(r.int(1 << 31))}
	n := r.int(maxAAEItems)
	if r.err == nil && n > len(r.b) {
		r.fail("%d keys past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		m.Keys = append(m.Keys, r.bytes())
	}
	return m, r.end()
}

// FetchedState is one key's state in an AAEFetch answer. Settled marks a
// state of tombstones only that the answering replica has held for at
// least its tombstone grace, by its own clock: it is due to be reaped, so
// it is not copied to a replica that has nothing (see node's repairKeys).
type FetchedState struct {
	State   vclock.State
	Settled bool
}

// onlyTombstones reports whether st holds versions and all are deletes
// (node/aae.go has the same test).
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

// FetchedRaw is one key's answer before encoding: the state's encoding
// (empty: absent) and its settled flag.
type FetchedRaw struct {
	State   []byte
	Settled bool
}

// MarshalAAEFetch encodes MethodAAEFetch's answer: one state per key,
// a prefix of the keys asked.
func MarshalAAEFetch(states []FetchedRaw) []byte {
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

// UnmarshalAAEFetch decodes at most want states (a prefix of the keys asked).
func UnmarshalAAEFetch(p []byte, want int) ([]FetchedState, error) {
	r := rbuf{b: p}
	r.version()
	n := r.int(want)
	if r.err == nil && n > len(r.b)/2 {
		r.fail("%d states past end", n)
	}
	var out []FetchedState
	for i := 0; i < n && r.err == nil; i++ {
		raw := r.bytes()
		settled := r.int(1) == 1
		var st vclock.State
		if len(raw) > 0 {
			if err := st.UnmarshalBinary(raw); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
		}
		out = append(out, FetchedState{State: st, Settled: settled && onlyTombstones(st)})
	}
	if r.err == nil && n == 0 && want > 0 {
		r.fail("no states for %d keys", want)
	}
	return out, r.end()
}

// WriteRequest is a client write forwarded to a replica that coordinates it.
type WriteRequest struct {
	Key        []byte
	Value      []byte
	Context    vclock.VV
	Delete     bool
	W, PW      int
	TimeoutMS  int
	ReturnBody bool
	Strict     bool // primaries only: no fallbacks (sloppy=false)
	// Overwrite makes the write supersede every version the coordinating
	// replica holds (RESP's SET): the coordinator writes with its own
	// replica's context merged into Context. It is carried so a forwarded
	// SET keeps that meaning on the replica that coordinates it.
	Overwrite bool
}

// Marshal encodes m (MethodCoordinate's request).
func (m WriteRequest) Marshal() []byte {
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
	if m.Overwrite {
		flags |= 8
	}
	return wbuf{wireV1}.bytes(m.Key).bytes(m.Value).str(vclock.EncodeContext(m.Context)).
		uvarint(flags).uvarint(uint64(m.W)).uvarint(uint64(m.PW)).uvarint(uint64(m.TimeoutMS))
}

// maxWireCount bounds n, w, pw and similar small counts on the wire.
const maxWireCount = 1 << 16

// UnmarshalWriteRequest decodes what WriteRequest.Marshal wrote, and
// its causal context.
func UnmarshalWriteRequest(p []byte) (WriteRequest, error) {
	r := rbuf{b: p}
	r.version()
	var m WriteRequest
	m.Key = r.bytes()
	m.Value = r.bytes()
	tok := r.str()
	flags := r.int(15)
	m.W = r.int(maxWireCount)
	m.PW = r.int(maxWireCount)
	m.TimeoutMS = r.int(1 << 31)
	if err := r.end(); err != nil {
		return m, err
	}
	m.Delete = flags&1 != 0
	m.ReturnBody = flags&2 != 0
	m.Strict = flags&4 != 0
	m.Overwrite = flags&8 != 0
	ctx, err := vclock.DecodeContext(tok)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m.Context = ctx
	return m, nil
}

// WriteOutcome is a coordinated write's result, local or forwarded.
type WriteOutcome struct {
	// Err is nil when W (and PW) acks arrived; else one of node's typed
	// errors as data, which crosses the wire whole (wbuf.failure).
	Err *Error
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

// wireOutcomeV2 is the format of a WriteOutcome since errors are typed:
// it carries the coordinator's error with all its fields (wbuf.failure),
// where version 1 carried an HTTP status, code and message. A forwarder
// refuses an outcome of another version, as it refuses any answer it
// can't read: the write is then indeterminate to it.
const wireOutcomeV2 = 2

// Marshal encodes m (MethodCoordinate's answer, format version 2). It
// fails if the state does not encode or Err is not an Error this format
// carries whole.
func (m WriteOutcome) Marshal() ([]byte, error) {
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

// UnmarshalWriteOutcome decodes what WriteOutcome.Marshal wrote; it
// refuses another format version.
func UnmarshalWriteOutcome(p []byte) (WriteOutcome, error) {
	r := rbuf{b: p}
	r.versionIs(wireOutcomeV2)
	var m WriteOutcome
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
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ctx, err := vclock.DecodeContext(tok)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	m.Context = ctx
	return m, nil
}

// MethodApply's answers: one byte, no version (it never had one; a value
// is never reused for another meaning).
const (
	// ApplyStored: stored durably, but it does not count toward a write
	// quorum (a primary not yet ready for the key's partition).
	ApplyStored byte = 0
	// ApplyCounted: stored durably, and it counts.
	ApplyCounted byte = 1
	// ApplyNoSpace: refused, nothing stored: the replica's disk is below
	// its free space reserve (storage.ErrNoSpace). A refusal, not an
	// error text, so the coordinator can tell it from others and report
	// it (HTTP 507); a node from before it answered an error.
	ApplyNoSpace byte = 2
)

// UnmarshalApplyResponse decodes MethodApply's answer.
func UnmarshalApplyResponse(p []byte) (byte, error) {
	if len(p) != 1 || p[0] > ApplyNoSpace {
		return 0, fmt.Errorf("%w: apply answer %x", ErrMalformed, p)
	}
	return p[0], nil
}
