package api

import "encoding/json"

// Paths of the web console (node/ui) and the routes it adds.
const (
	// PathConsole is where every node serves its web console.
	PathConsole = "/ui/"
	// PathWhoAmI answers who the caller is: WhoAmI.
	PathWhoAmI = "/auth/whoami"
	// PathStatsHistory answers the node's recent request rates and
	// latencies: StatsHistory.
	PathStatsHistory = "/metrics/history"
)

// WhoAmI is GET /auth/whoami: the caller's principal and role as this
// node sees them, so a client (the console) can offer only what the
// role allows. Without authentication (Auth false) every caller may do
// everything, and Role is "admin".
type WhoAmI struct {
	Auth      bool   `json:"auth"`
	Principal string `json:"principal"`
	// Role is "read", "write" or "admin".
	Role string `json:"role"`
	// Node is the name of the node that answered.
	Node string `json:"node"`
}

// StatsHistory is GET /metrics/history: the node's HTTP request rates
// and latency quantiles per operation, one sample per interval over the
// last minutes (oldest first). It is this node's own view: requests it
// received, not the cluster's.
type StatsHistory struct {
	Node         string        `json:"node"`
	IntervalSecs float64       `json:"interval_seconds"`
	WindowSecs   float64       `json:"window_seconds"`
	Samples      []StatsSample `json:"samples"`
}

// StatsSample is one interval of StatsHistory: what the node served
// between the previous sample and Time.
type StatsSample struct {
	// Time is when the interval ended, RFC 3339 (the node's wall clock).
	Time string `json:"time"`
	// Secs is the interval's length as the node measured it.
	Secs float64 `json:"seconds"`
	// Ops maps an operation (get, put, delete) to its figures; an
	// operation with no request in the interval is absent.
	Ops map[string]OpStats `json:"ops"`
}

// OpStats is one operation's figures over one sample's interval.
type OpStats struct {
	// Count is the requests that ended in the interval, Errors those of
	// them answered 5xx; Rate is Count per second.
	Count  uint64  `json:"count"`
	Errors uint64  `json:"errors"`
	Rate   float64 `json:"rate"`
	// P50MS and P99MS are latency quantiles in milliseconds, estimated
	// from the latency histogram's buckets (as Prometheus's
	// histogram_quantile does).
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

// PathReplicas is GET /debug/replicas/{key}: KeyReplicas.
const PathReplicas = "/debug/replicas/"

// KeyReplicas is GET /debug/replicas/{key}: what each node of the key's
// preference list stores of it (read over RPC, without coordination),
// and what each fallback holds as a hint for a down primary: the key
// inspector's view of every replica's versions and siblings.
type KeyReplicas struct {
	Key       string       `json:"key"`
	Partition int          `json:"partition"`
	N         int          `json:"n"`
	Replicas  []KeyReplica `json:"replicas"`
}

// KeyReplica is one node's stored state of a key in KeyReplicas.
type KeyReplica struct {
	Node    string `json:"node"`
	Primary bool   `json:"primary"`
	// For names the primary a fallback holds the hint for ("" for a
	// primary).
	For   string `json:"for,omitempty"`
	Alive bool   `json:"alive"`
	// Error says why the node's state could not be read (then Versions
	// is empty).
	Error string `json:"error,omitempty"`
	// ContextToken is the stored state's causal context as the opaque
	// token a read answers; Versions every stored version, tombstones
	// included (Deleted).
	ContextToken string    `json:"context_token"`
	Versions     []Version `json:"versions"`
}

// PathNodes is GET /cluster/nodes: Nodes.
const PathNodes = "/cluster/nodes"

// Nodes is GET /cluster/nodes: the status of this node and of every
// other member gossip lists alive, each asked over RPC (this node
// first, then by name). The console's overview reads version and disk
// from it.
type Nodes struct {
	Nodes []NodeStatus `json:"nodes"`
}

// NodeStatus is one node's status in Nodes.
type NodeStatus struct {
	Node string `json:"node"`
	// Health is the node's own GET /health answer as it gave it (status,
	// and whatever else /health reports, such as a version).
	Health json.RawMessage `json:"health,omitempty"`
	// DiskBytes estimates the bytes the node's store holds (index and
	// value log); absent when the store can't tell (in memory).
	DiskBytes *int64 `json:"disk_bytes,omitempty"`
	// Error says why the node could not be asked (then only Node is set).
	Error string `json:"error,omitempty"`
}
