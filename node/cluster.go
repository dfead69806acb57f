package node

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/dynago/dynago/ring"
)

// Ring membership is explicit (DESIGN.md §2): a node enters the ring by join
// and leaves it by leave or remove; crashes and partitions change only
// liveness. The membership is a small state-based CRDT gossiped over
// memberlist: one record per node, and a record with a higher Version wins.
// Every node merges records with the same deterministic rule, so concurrent
// changes converge to the same ring everywhere.

// Member statuses. joining, valid and leaving nodes are in the ring; left and
// removed records stay as tombstones so an old record can't bring a node back.
const (
	statusJoining = "joining"
	statusValid   = "valid"
	statusLeaving = "leaving"
	statusLeft    = "left"
	statusRemoved = "removed"
)

// statusRank orders statuses for ties between records of equal Version.
func statusRank(s string) int {
	switch s {
	case statusJoining:
		return 1
	case statusValid:
		return 2
	case statusLeaving:
		return 3
	case statusLeft:
		return 4
	case statusRemoved:
		return 5
	}
	return 0
}

// inRing reports whether a member with status s owns partitions.
func inRing(s string) bool {
	return s == statusJoining || s == statusValid || s == statusLeaving
}

// memberRecord is one node's entry in the ring membership.
type memberRecord struct {
	Name    string `json:"name"`
	Zone    string `json:"zone,omitempty"`
	Status  string `json:"status"`
	Version uint64 `json:"version"`
	Gossip  string `json:"gossip"`
	RPC     string `json:"rpc"`
	HTTP    string `json:"http"`
}

// newer reports whether a should replace b: a higher Version wins, then a
// later status, then the larger encoding, so the choice never depends on
// which record arrived first.
func (a memberRecord) newer(b memberRecord) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if ra, rb := statusRank(a.Status), statusRank(b.Status); ra != rb {
		return ra > rb
	}
	return cmp.Compare(recordKey(a), recordKey(b)) > 0
}

func recordKey(r memberRecord) string {
	return r.Zone + "\x00" + r.Gossip + "\x00" + r.RPC + "\x00" + r.HTTP
}

// clusterState is the whole membership as one node knows it.
type clusterState struct {
	Partitions int                     `json:"partitions"`
	N          int                     `json:"n"`
	Members    map[string]memberRecord `json:"members"`
}

func (c clusterState) clone() clusterState {
	c.Members = maps.Clone(c.Members)
	if c.Members == nil {
		c.Members = map[string]memberRecord{}
	}
	return c
}

// merge returns c with every record of recs that is newer than c's, and
// whether anything changed. merge is commutative, associative and
// idempotent over records.
func (c clusterState) merge(recs ...memberRecord) (clusterState, bool) {
	out := c.clone()
	changed := false
	for _, r := range recs {
		if r.Name == "" || statusRank(r.Status) == 0 {
			continue
		}
		if old, ok := out.Members[r.Name]; ok && !r.newer(old) {
			continue
		}
		out.Members[r.Name] = r
		changed = true
	}
	return out, changed
}

// records returns the records sorted by name.
func (c clusterState) records() []memberRecord {
	out := slices.Collect(maps.Values(c.Members))
	slices.SortFunc(out, func(a, b memberRecord) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// ring builds the placement ring from the members that own partitions:
// joining and valid ones. A leaving member is out of placement (new owners
// take its partitions and pull them from it) but still in the membership
// until its handoff is done.
func (c clusterState) ring() (*ring.Ring, error) {
	return c.ringOf(statusJoining, statusValid)
}

// previousRing is the placement before the pending changes: valid and
// leaving members, without the joining ones. Its primaries hold the data
// that the current placement's new owners pull.
func (c clusterState) previousRing() (*ring.Ring, error) {
	return c.ringOf(statusValid, statusLeaving)
}

func (c clusterState) ringOf(statuses ...string) (*ring.Ring, error) {
	var ms []ring.Member
	for _, r := range c.records() {
		if !slices.Contains(statuses, r.Status) {
			continue
		}
		st, err := ring.ParseState(r.Status)
		if err != nil {
			return nil, err
		}
		ms = append(ms, ring.Member{ID: ring.NodeID(r.Name), Zone: r.Zone, State: st})
	}
	return ring.New(ring.Config{Partitions: c.Partitions, N: c.N}, ms)
}

var errClusterMismatch = errors.New("node: cluster configuration mismatch")

// checkCompatible refuses a peer whose ring configuration differs: Q and N
// are fixed at cluster creation.
func checkCompatible(localQ, localN, peerQ, peerN int, peer string) error {
	if localQ != peerQ || localN != peerN {
		return fmt.Errorf("%w: node %s has partitions=%d n=%d, this node has partitions=%d n=%d; partitions and n are fixed when a cluster is created",
			errClusterMismatch, peer, peerQ, peerN, localQ, localN)
	}
	return nil
}

func (c clusterState) marshal() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic("node: marshal cluster state: " + err.Error())
	}
	return b
}

func unmarshalCluster(b []byte) (clusterState, error) {
	var c clusterState
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("node: decode cluster state: %w", err)
	}
	if c.Members == nil {
		c.Members = map[string]memberRecord{}
	}
	for name, r := range c.Members {
		if name != r.Name {
			return c, fmt.Errorf("node: decode cluster state: record %q filed under %q", r.Name, name)
		}
	}
	return c, nil
}

// nodeMeta is what memberlist gossips about each node (under 512 bytes).
type nodeMeta struct {
	RPC        string `json:"rpc"`
	HTTP       string `json:"http"`
	Zone       string `json:"zone,omitempty"`
	Partitions int    `json:"q"`
	N          int    `json:"n"`
}
