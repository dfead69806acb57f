package api

import (
	"fmt"
	"time"
)

// HintTarget is one target node in GET /debug/hints: the hints held for
// it and how their delivery goes.
type HintTarget struct {
	Target        string  `json:"target"`
	Count         int     `json:"count"`
	Bytes         int64   `json:"bytes"`
	OldestAgeSecs float64 `json:"oldest_age_seconds"`
	// Overdue reports a hint older than the hint window (--hint-max-age):
	// kept and delivered like the others, but its target has been out of
	// reach for long, and it holds up tombstone reaping meanwhile.
	Overdue bool `json:"overdue,omitempty"`
	// State is "idle" or the delivery state ("delivering", "backing-off", ...).
	State       string  `json:"state"`
	BytesPerSec float64 `json:"bytes_per_second"`
	KeysPerSec  float64 `json:"keys_per_second"`
	Delivered   uint64  `json:"delivered"`
	Refused     uint64  `json:"refused"`
	// Expired is always 0: hints are never dropped for age. It stays
	// for the JSON format's sake.
	Expired     uint64 `json:"expired"`
	TargetAlive bool   `json:"target_alive"`
	LastError   string `json:"last_error,omitempty"`
}

// Hints is GET /debug/hints: the hints the node holds, per target
// (sorted by name).
type Hints struct {
	Node    string       `json:"node"`
	Total   int          `json:"total"`
	Targets []HintTarget `json:"targets"`
}

// AAETotals are the node's anti-entropy counters since it started.
type AAETotals struct {
	Exchanges        int64 `json:"exchanges"`
	ExchangeErrors   int64 `json:"exchange_errors"`
	Differences      int64 `json:"differences"`
	KeysRepaired     int64 `json:"keys_repaired"`
	BytesSent        int64 `json:"bytes_sent"`
	Tombstones       int64 `json:"tombstones"`
	TombstonesReaped int64 `json:"tombstones_reaped"`
	ReapRounds       int64 `json:"reap_rounds"`
}

// AAEPeer is the last exchange of one partition's tree with one peer; the
// counts are those of that exchange only.
type AAEPeer struct {
	Peer string `json:"peer"`
	// LastExchange is RFC 3339 (UTC); "" or the zero time means never
	// (see LastExchangeTime).
	LastExchange string `json:"last_exchange"`
	// Result is "equal", "repaired" or "error".
	Result       string `json:"result"`
	KeysCompared int    `json:"keys_compared"`
	Differences  int    `json:"differences"`
	KeysRepaired int    `json:"keys_repaired"`
	BytesSent    int64  `json:"bytes_sent"`
	Error        string `json:"error"`
}

// LastExchangeTime parses LastExchange. ok is false when there was no
// exchange yet; err is set when LastExchange is not RFC 3339.
func (p AAEPeer) LastExchangeTime() (t time.Time, ok bool, err error) {
	if p.LastExchange == "" {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339, p.LastExchange)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("api: last_exchange %q: %w", p.LastExchange, err)
	}
	return t, !t.IsZero(), nil
}

// AAEPartition is one partition the node holds a Merkle tree for, in GET
// /debug/aae. Peers are sorted by name and never null.
type AAEPartition struct {
	Partition   int       `json:"partition"`
	Keys        int       `json:"keys"`
	Depth       int       `json:"depth"`
	Root        string    `json:"root"`
	TreeAgeSecs float64   `json:"tree_age_seconds"`
	Tombstones  int       `json:"tombstones"`
	Peers       []AAEPeer `json:"peers"`
}

// AAE is GET /debug/aae: the node's anti-entropy settings and totals and,
// per partition it holds a tree for (sorted by number), the last exchange
// with each peer.
type AAE struct {
	Node                string         `json:"node"`
	Enabled             bool           `json:"enabled"`
	IntervalSecs        float64        `json:"interval_seconds"`
	RateFactor          float64        `json:"rate_factor"`
	ForegroundP99Millis float64        `json:"foreground_p99_ms"`
	TombstoneGraceSecs  float64        `json:"tombstone_grace_seconds"`
	TombstoneMinAgeSecs float64        `json:"tombstone_min_age_seconds"`
	Totals              AAETotals      `json:"totals"`
	Partitions          []AAEPartition `json:"partitions"`
}

// MerkleTree is one partition's Merkle tree in GET /debug/merkle: its root
// hash (hex), keys and depth. Node is set only when one partition was
// asked for (?partition=P).
type MerkleTree struct {
	Node        string  `json:"node,omitempty"`
	Partition   int     `json:"partition"`
	Held        bool    `json:"held"`
	Root        string  `json:"root"`
	Keys        int     `json:"keys"`
	Depth       int     `json:"depth"`
	TreeAgeSecs float64 `json:"tree_age_seconds"`
}

// Merkle is GET /debug/merkle without ?partition: the trees of the
// partitions the node holds or has keys of.
type Merkle struct {
	Node       string       `json:"node"`
	Partitions []MerkleTree `json:"partitions"`
}

// TransferJob is one partition the node is pulling, in GET
// /debug/transfers: from which nodes (Sources), which of them it has
// finished (Done), and what it has copied so far.
type TransferJob struct {
	Partition int      `json:"partition"`
	Sources   []string `json:"sources"`
	Done      []string `json:"done"`
	// State is "running", "waiting" or "error".
	State string `json:"state"`
	Keys  int64  `json:"keys"`
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"`
}

// TransferTotals are what the node has pulled since it started (keys,
// bytes, partitions whose transfer finished), and the keys of partitions
// it no longer holds that it deleted (every current primary had them) or
// pushed to a primary that lacked them.
type TransferTotals struct {
	Keys             int64 `json:"keys"`
	Bytes            int64 `json:"bytes"`
	Partitions       int64 `json:"partitions"`
	StaleKeysDropped int64 `json:"stale_keys_dropped"`
	StaleKeysPushed  int64 `json:"stale_keys_pushed"`
}

// LeaveProgress is the handoff of a leaving node's partitions to their new
// owners, in GET /debug/transfers.
type LeaveProgress struct {
	PartitionsTotal     int   `json:"partitions_total"`
	PartitionsHandedOff int   `json:"partitions_handed_off"`
	KeysTotal           int64 `json:"keys_total"`
	KeysRemaining       int64 `json:"keys_remaining"`
	BytesTotal          int64 `json:"bytes_total"`
	BytesRemaining      int64 `json:"bytes_remaining"`
	// Done is true once every partition is handed off; the node exits soon
	// after.
	Done bool `json:"done"`
}

// BytesDone is how many of BytesTotal have been handed off.
func (l LeaveProgress) BytesDone() int64 { return l.BytesTotal - l.BytesRemaining }

// Transfers is GET /debug/transfers: the partitions the node pulls (it
// joined, or the ring changed) and, while it leaves, the handoff of its
// own. Jobs are sorted by partition and never null.
type Transfers struct {
	Node string `json:"node"`
	// Status is the node's ring status: "joining", "valid", "leaving",
	// "left" or "removed".
	Status            string         `json:"status"`
	PartitionsReady   int            `json:"partitions_ready"`
	PartitionsPending int            `json:"partitions_pending"`
	RateBytesPerSec   int64          `json:"rate_bytes_per_sec"`
	Jobs              []TransferJob  `json:"jobs"`
	Totals            TransferTotals `json:"totals"`
	// Leaving is null unless the node is leaving (or has left and is
	// about to exit).
	Leaving *LeaveProgress `json:"leaving"`
}

// Clock answers GET and POST /debug/clock (nodes started with
// --test-clock): the node's wall clock, skew included (RFC 3339 with
// nanoseconds), and the skew.
type Clock struct {
	Now      string `json:"now"`
	OffsetMS int64  `json:"offset_ms"`
}

// ClockRequest is the body of POST /debug/clock: the skew to set, in
// milliseconds (required).
type ClockRequest struct {
	OffsetMS *int64 `json:"offset_ms"`
}

// Faults answers GET and POST /debug/faults (nodes started with
// --test-faults): the test faults injected.
type Faults struct {
	// DropTables makes the node ignore the ownership tables and staging
	// holds it receives.
	DropTables bool `json:"drop_tables"`
	// StorageFailed says the node's store has failed stop (a write did not
	// reach stable storage, injected by fail_sync or real).
	StorageFailed bool `json:"storage_failed"`
}

// FaultsRequest is the body of POST /debug/faults: at least one field.
type FaultsRequest struct {
	DropTables *bool `json:"drop_tables"`
	// FailSync makes the store's next write fail at its sync, as a disk
	// error would (the agent wraps its store for this with --test-faults):
	// the store fails stop and the agent exits.
	FailSync bool `json:"fail_sync"`
}
