package api

// Member is one entry of GET /cluster/members: a node in the ring as the
// answering node sees it.
type Member struct {
	Name   string `json:"name"`
	Gossip string `json:"gossip"`
	RPC    string `json:"rpc"`
	HTTP   string `json:"http"`
	Zone   string `json:"zone"`
	// State is "joining", "valid" or "leaving".
	State string `json:"state"`
	Alive bool   `json:"alive"`
	// Protocol is the internode protocol versions the member speaks, as
	// it gossips them (a member of a release before versioning gossips
	// none: the legacy protocol, 1); nil while it is not alive.
	Protocol *Protocol `json:"protocol,omitempty"`
	// Version is the member's software version, as it gossips it.
	Version string `json:"version,omitempty"`
	// Incompatible is set when the member speaks no protocol version this
	// node does: they refuse each other's connections (README, Upgrades).
	Incompatible bool `json:"incompatible,omitempty"`
}

// Protocol is a range of internode protocol versions, both ends included.
type Protocol struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Versions is what a node runs: its software version, the internode
// protocol versions it speaks and the data format it writes (README,
// Upgrades).
type Versions struct {
	Software   string   `json:"software"`
	Protocol   Protocol `json:"protocol"`
	DataFormat int      `json:"data_format"`
}

// Preflist is one partition's preference list (its primaries, in order)
// in GET /cluster/ring.
type Preflist struct {
	Partition int      `json:"partition"`
	Nodes     []string `json:"nodes"`
}

// Ring is GET /cluster/ring: Q partitions, N replicas, and each
// partition's preference list.
type Ring struct {
	Partitions int        `json:"partitions"`
	N          int        `json:"n"`
	Preflists  []Preflist `json:"preflists"`
}

// JoinRequest is the body of POST /cluster/join: gossip addresses
// (host:port) of members of the cluster to join.
type JoinRequest struct {
	Seeds []string `json:"seeds"`
}

// JoinResult answers POST /cluster/join: Status "joined" and how many
// members the node's gossip sees.
type JoinResult struct {
	Status  string `json:"status"`
	Members int    `json:"members"`
}

// LeaveResult answers POST /cluster/leave (202): Status "leaving" and the
// node's name. The handoff goes on; follow it at GET /debug/transfers.
type LeaveResult struct {
	Status string `json:"status"`
	Node   string `json:"node"`
}

// RemoveRequest is the body of POST /cluster/remove: the dead node to
// force out of the ring.
type RemoveRequest struct {
	Node string `json:"node"`
}

// RemoveResult answers POST /cluster/remove: Status "removed" and the
// node removed.
type RemoveResult struct {
	Status string `json:"status"`
	Node   string `json:"node"`
}

// StatusOK is Health's Status once the node serves.
const StatusOK = "ok"

// Health answers GET /health with 200 once the node serves; before that,
// and after a write failed to reach stable storage, it answers 503 with an
// Error (codes "starting", "storage_failed").
type Health struct {
	Status string `json:"status"`
	// Insecure is set, with Warning, on a node started with --insecure
	// that lacks some protection (TLS, internode mutual TLS, a gossip key,
	// client authentication): anyone who reaches its ports can use it.
	Insecure bool   `json:"insecure,omitempty"`
	Warning  string `json:"warning,omitempty"`
	// Version, Commit and GoVersion say which build the node runs (as
	// `dynago version` does): the release or module version ("dev" for a
	// build from a clone), the VCS revision ("unknown" without one) and
	// the Go toolchain.
	Version   string `json:"version,omitempty"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version,omitempty"`
	// Disk is the filesystem of the node's data directory (absent when
	// the store has none, e.g. in memory). While Disk.Full, Warning says
	// so: writes are refused with 507 disk_full, reads go on.
	Disk *DiskHealth `json:"disk,omitempty"`
	// Versions is the node's software version, protocol range and data
	// format.
	Versions *Versions `json:"versions,omitempty"`
}

// DiskHealth is the free space of a node's data directory: writes are
// refused while FreeBytes is below ReserveBytes (Full), and resume by
// themselves once space is freed.
type DiskHealth struct {
	FreeBytes    int64 `json:"free_bytes"`
	ReserveBytes int64 `json:"reserve_bytes"`
	Full         bool  `json:"full"`
}

// Plan operations: the changes GET /cluster/plan can plan, each the query
// parameter that names the node (?join=NAME[&zone=Z], ?leave=NAME,
// ?remove=NAME).
const (
	PlanJoin   = "join"
	PlanLeave  = "leave"
	PlanRemove = "remove"
	// PlanPending is the Op of a plan without a change (no query): what
	// the changes made but not placed yet would move together.
	PlanPending = "pending"
)

// PlanChange is a membership change: the one a plan is for, or a pending
// one.
type PlanChange struct {
	// Op is PlanJoin, PlanLeave, PlanRemove or PlanPending.
	Op   string `json:"op"`
	Node string `json:"node"`
	// Zone is the joining node's zone, or the zone of the node that leaves
	// or is removed.
	Zone string `json:"zone"`
}

// PlanNode is one node in a plan: its primary partitions (the partitions
// it holds a replica of) before and after the change, and the partitions
// it gains and loses (ascending, never null).
type PlanNode struct {
	Node             string `json:"node"`
	Zone             string `json:"zone"`
	PartitionsBefore int    `json:"partitions_before"`
	PartitionsAfter  int    `json:"partitions_after"`
	Gain             []int  `json:"gain"`
	Lose             []int  `json:"lose"`
}

// PlanMoves is what a change moves: (partition, new primary) pairs, and
// the keys and bytes those new primaries pull (estimates). Seconds is the
// busiest node's pull at the transfer rate: each node pulls its own
// partitions at that rate, all nodes at once.
type PlanMoves struct {
	Partitions int     `json:"partitions"`
	Keys       int64   `json:"keys"`
	Bytes      int64   `json:"bytes"`
	Seconds    float64 `json:"seconds"`
}

// PlanBalance is the largest share of partitions any node would hold
// after the change, as a multiple of its fair share, and the bound it
// should stay within (DESIGN.md §2).
type PlanBalance struct {
	MaxShare float64 `json:"max_share"`
	Bound    float64 `json:"bound"`
}

// Plan is GET /cluster/plan: what a join, leave or remove (or the pending
// changes) would move. Nothing changes on the cluster. Nodes are sorted by
// name.
type Plan struct {
	Change       PlanChange  `json:"change"`
	Partitions   int         `json:"partitions"`
	N            int         `json:"n"`
	TransferRate int64       `json:"transfer_rate_bytes_per_sec"`
	Nodes        []PlanNode  `json:"nodes"`
	Moves        PlanMoves   `json:"moves"`
	Balance      PlanBalance `json:"balance"`
	Warnings     []string    `json:"warnings"`
	// Staged is whether the cluster stages changes (POST /cluster/stage);
	// Pending lists the changes made but not placed yet.
	Staged  bool         `json:"staged"`
	Pending []PlanChange `json:"pending"`
}

// Staging answers POST /cluster/stage and POST /cluster/commit: whether
// changes are staged now, the changes not placed yet, and how many other
// live members the node told at once (Told) and merged the change before
// the answer (Acknowledged); gossip brings it to the rest.
type Staging struct {
	Staged       bool         `json:"staged"`
	Pending      []PlanChange `json:"pending"`
	Told         int          `json:"told"`
	Acknowledged int          `json:"acknowledged"`
}
