package api

import "net/url"

// Headers of the contract.
const (
	// HeaderContext carries the opaque causal context token: on every read
	// answer (the state read) and write answer (the state written), and on
	// a write request (the versions the write supersedes).
	HeaderContext = "X-Dynago-Context"
	// HeaderReport carries the consistency report of every answer, e.g.
	// "r=2 pr=0 replies=3 siblings=1 repaired=0". It is for people and
	// logs; its format may change.
	HeaderReport = "X-Dynago-Report"
)

// Query parameters of the contract.
const (
	// ParamR, ParamPR, ParamW and ParamPW are the quorum sizes of a read
	// and a write: 1..N, CountOne, CountQuorum or CountAll; PR and PW also
	// 0 (how many of the replies must come from primaries).
	ParamR  = "r"
	ParamPR = "pr"
	ParamW  = "w"
	ParamPW = "pw"
	// ParamTimeout is the server-side timeout of a key request, in
	// milliseconds.
	ParamTimeout = "timeout"
	// ParamReturnBody ("true") makes a successful write answer 200 with
	// the key's state after the write as an Object, instead of 204.
	ParamReturnBody = "returnbody"
	// ParamSloppy ("false") keeps a key request on the key's primaries:
	// no fallbacks.
	ParamSloppy = "sloppy"
	// ParamPartition selects one partition of GET /debug/merkle.
	ParamPartition = "partition"
	// ParamZone is the joining node's zone in GET /cluster/plan?join=.
	ParamZone = "zone"
)

// Symbolic quorum sizes (ParamR and the others).
const (
	CountOne    = "one"
	CountQuorum = "quorum" // N/2+1
	CountAll    = "all"    // N
)

// Paths of the contract. The key routes end in "/" and take the
// path-escaped key after it (see KeyPath).
const (
	PathKV        = "/kv/"
	PathReplica   = "/debug/replica/"
	PathPreflist  = "/debug/preflist/"
	PathMembers   = "/cluster/members"
	PathRing      = "/cluster/ring"
	PathJoin      = "/cluster/join"
	PathLeave     = "/cluster/leave"
	PathRemove    = "/cluster/remove"
	PathPlan      = "/cluster/plan"
	PathStage     = "/cluster/stage"
	PathCommit    = "/cluster/commit"
	PathHints     = "/debug/hints"
	PathAAE       = "/debug/aae"
	PathTransfers = "/debug/transfers"
	PathMerkle    = "/debug/merkle"
	PathClock     = "/debug/clock"
	PathFaults    = "/debug/faults"
	PathHealth    = "/health"
	PathMetrics   = "/metrics"
)

// MaxKeyBytes is the longest key (DESIGN.md §2); keys are 1 to MaxKeyBytes
// bytes.
const MaxKeyBytes = 1024

// KeyPath returns the path of key under PathKV: "/kv/" and the
// path-escaped key, so any byte string round-trips ("a/b" is "/kv/a%2Fb").
// A key with an empty, "." or ".." segment is refused by the server
// (400, code bad_key) whatever the escaping.
func KeyPath(key string) string { return PathKV + url.PathEscape(key) }

// Error is the body of every failure answer (a 4xx or 5xx status):
// {"error": message, "code": word}, plus, for a quorum failure, the
// details below. A detail the server did not send is nil; a list it sent
// empty is an empty, non-nil slice.
type Error struct {
	// Message is for people.
	Message string `json:"error"`
	// Code is a word for programs, e.g. "bad_param", "unavailable",
	// "write_indeterminate", "read_quorum_not_met", "not_found".
	Code string `json:"code"`

	// Indeterminate is set on a 503 or 507 of a write: false when
	// nothing was written (code "unavailable", or "disk_full" when no
	// replica stored it), true when the write may be stored on some
	// replicas and may appear later (code "write_indeterminate", or
	// "disk_full" with acks).
	Indeterminate *bool `json:"indeterminate,omitempty"`
	// W and PW are the write's quorum sizes, Acks how many replicas
	// acknowledged it (a write's 503).
	W    *int `json:"w,omitempty"`
	PW   *int `json:"pw,omitempty"`
	Acks *int `json:"acks,omitempty"`
	// R and PR are the read's quorum sizes, Replies how many replicas
	// answered (code "read_quorum_not_met").
	R       *int `json:"r,omitempty"`
	PR      *int `json:"pr,omitempty"`
	Replies *int `json:"replies,omitempty"`
	// Acked, Failed and Pending name the replicas that stored the write,
	// refused or failed it, and had not answered (a write's or read's
	// quorum failure; a read's lists only Failed and Pending).
	Acked   []string `json:"acked,omitzero"`
	Failed  []string `json:"failed,omitzero"`
	Pending []string `json:"pending,omitzero"`
	// Alive and Down name the request's target replicas that were alive
	// and down when it was refused before any was asked (code
	// "unavailable": nothing was read or written).
	Alive []string `json:"alive,omitzero"`
	Down  []string `json:"down,omitzero"`
	// DiskFull names the replicas whose disks refused the write for
	// lack of space (code "disk_full", status 507); Indeterminate says
	// whether another replica stored it.
	DiskFull []string `json:"disk_full,omitzero"`
}

// Error returns the message, so an *Error is an error.
func (e *Error) Error() string { return e.Message }

// Ptr returns a pointer to v, for the optional details of an Error.
func Ptr[T any](v T) *T { return &v }
