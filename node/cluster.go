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
	// Holds lists the partitions the node holds data of without being
	// their primary, as ranges ("0-3,7"), as of ownership table
	// HoldsAt-1; HoldsAt 0 means it has not said (holders.go).
	Holds   string `json:"holds,omitempty"`
	HoldsAt uint64 `json:"holds_at,omitempty"`
	// ReadyAt is one more than the version of the last ownership table
	// for which the node held a complete copy of every partition it was a
	// primary of (0: never said). The claimant carries the sources of a
	// partition whose primaries are not all ready into the next table.
	ReadyAt uint64 `json:"ready_at,omitempty"`
	// Boot is the node's current run's id (boot.go): a node restored from
	// an old copy of its data directory tells from it that the cluster
	// knows a later run of it.
	Boot string `json:"boot,omitempty"`
	// Gen is the node's membership generation: raised only when a node
	// that left or was removed is joined again explicitly. Within one
	// generation a left or removed record is final: no later version of
	// the node's own (restarts, holdings) can put it back in the ring.
	Gen uint64 `json:"gen,omitempty"`
}

// terminal reports whether s ends a membership generation.
func terminal(s string) bool { return s == statusLeft || s == statusRemoved }

// newer reports whether a should replace b: a higher generation wins; in
// one generation a record that left or was removed wins over one that did
// not, whatever their versions (a node cut off while it was removed keeps
// bumping its own record: it must not override the removal); then a
// higher Version, then a later status, then the larger encoding, so the
// choice never depends on which record arrived first.
func (a memberRecord) newer(b memberRecord) bool {
	if a.Gen != b.Gen {
		return a.Gen > b.Gen
	}
	if ta, tb := terminal(a.Status), terminal(b.Status); ta != tb {
		return ta
	}
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

// clusterState is the whole membership as one node knows it: the member
// records, and the ownership table the claimant computed from them.
type clusterState struct {
	Partitions int                     `json:"partitions"`
	N          int                     `json:"n"`
	Members    map[string]memberRecord `json:"members"`
	Table      *ownerTable             `json:"table,omitempty"`
	Hold       *holdRecord             `json:"hold,omitempty"`
}

// holdRecord is staging (Riak's staged cluster changes): while On, the
// claimant claims nothing, so joins, leaves and removes accumulate (nodes
// join the membership, are not placed yet) until a commit turns it off and
// the claimant places them all in one claim. A higher Version wins; at a
// tie, On wins (the cautious side).
type holdRecord struct {
	Version uint64 `json:"version"`
	On      bool   `json:"on"`
}

func (h *holdRecord) newer(o *holdRecord) bool {
	switch {
	case h == nil:
		return false
	case o == nil:
		return true
	case h.Version != o.Version:
		return h.Version > o.Version
	}
	return h.On && !o.On
}

// staged reports whether changes are being staged.
func (c clusterState) staged() bool { return c.Hold != nil && c.Hold.On }

// mergeHold returns c with h if h is newer, and whether it was.
func (c clusterState) mergeHold(h *holdRecord) (clusterState, bool) {
	if !h.newer(c.Hold) {
		return c, false
	}
	out := c.clone()
	out.Hold = h
	return out, true
}

// Ownership. Placement keeps history (ring.Claim moves ~1/k per change, at
// any Q/k), so nodes can't each compute it from the member records: two
// nodes that saw changes in different orders would disagree. One node, the
// claimant, computes each new ownership and everyone adopts it, like Riak's
// claimant. The claimant is the first (by name) valid member that gossip
// says is up. When the
// members that should own partitions (joining and valid) differ from the
// table's, it claims the next table from the current one, numbered one
// higher, and gossips it. A node adopts a table that is newer than its own:
// a higher version, then more members, then the lower claimant name, then
// the larger encoding, so concurrent claims on two sides of a partition
// converge to one table everywhere once it heals, and the claimant then
// claims again from it if the members still differ.

// ownerTable is one claimed ownership: the members it places and each
// partition's owner. Prev is the table it was claimed from (without its own
// Prev): its primaries hold the data the new owners pull.
type ownerTable struct {
	Version  uint64        `json:"version"`
	Claimant string        `json:"claimant"`
	Members  []tableMember `json:"members"` // sorted by name
	Owners   []int         `json:"owners"`  // index into Members, by partition
	Prev     *ownerTable   `json:"prev,omitempty"`
	// Sources names, per partition, older owners that still hold data its
	// new owners must pull besides Prev's primaries: a change claimed
	// before the previous one's pulls finished carries them forward
	// (claim.go). Sparse.
	Sources map[int][]string `json:"sources,omitempty"`
}

// maxCarriedSources bounds one partition's carried sources (a table from
// the network is refused beyond it).
const maxCarriedSources = 64

type tableMember struct {
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
}

// placesMember reports whether ms (a table's or the placed members) lists
// name.
func placesMember(ms []tableMember, name string) bool {
	return slices.ContainsFunc(ms, func(m tableMember) bool { return m.Name == name })
}

// newer reports whether t should replace o (nil is oldest).
func (t *ownerTable) newer(o *ownerTable) bool {
	switch {
	case t == nil:
		return false
	case o == nil:
		return true
	case t.Version != o.Version:
		return t.Version > o.Version
	case len(t.Members) != len(o.Members):
		return len(t.Members) > len(o.Members)
	case t.Claimant != o.Claimant:
		return t.Claimant < o.Claimant
	}
	return string(mustJSON(t)) > string(mustJSON(o))
}

// validate checks a table decoded from the network against q partitions.
func (t *ownerTable) validate(q int, depth int) error {
	if len(t.Owners) != q {
		return fmt.Errorf("table %d has %d owners for %d partitions", t.Version, len(t.Owners), q)
	}
	for i, m := range t.Members {
		if m.Name == "" || (i > 0 && t.Members[i-1].Name >= m.Name) {
			return fmt.Errorf("table %d: members not sorted and distinct at %d", t.Version, i)
		}
	}
	for p, o := range t.Owners {
		if o < 0 || o >= len(t.Members) {
			return fmt.Errorf("table %d: partition %d has owner %d of %d members", t.Version, p, o, len(t.Members))
		}
	}
	for p, srcs := range t.Sources {
		if p < 0 || p >= q || len(srcs) == 0 || len(srcs) > maxCarriedSources {
			return fmt.Errorf("table %d: carried sources of partition %d: %d names", t.Version, p, len(srcs))
		}
		for _, s := range srcs {
			if s == "" {
				return fmt.Errorf("table %d: an empty source name for partition %d", t.Version, p)
			}
		}
	}
	if t.Prev != nil {
		if depth > 0 {
			return fmt.Errorf("table %d: a previous table nests another", t.Version)
		}
		return t.Prev.validate(q, depth+1)
	}
	return nil
}

// ring rebuilds the table's placement; members' States come from recs.
func (t *ownerTable) ring(cfg ring.Config, recs map[string]memberRecord) (*ring.Ring, error) {
	ms := make([]ring.Member, len(t.Members))
	for i, m := range t.Members {
		st := ring.MemberValid
		if r, ok := recs[m.Name]; ok && inRing(r.Status) {
			if s, err := ring.ParseState(r.Status); err == nil {
				st = s
			}
		}
		ms[i] = ring.Member{ID: ring.NodeID(m.Name), Zone: m.Zone, State: st}
	}
	owners := make([]ring.NodeID, len(t.Owners))
	for p, o := range t.Owners {
		owners[p] = ring.NodeID(t.Members[o].Name)
	}
	return ring.FromOwners(cfg, ms, owners)
}

// tableOf records r's ownership as a table, with the sources carried from
// unsettled earlier changes.
func tableOf(r *ring.Ring, version uint64, claimant string, prev *ownerTable, sources map[int][]string) *ownerTable {
	t := &ownerTable{Version: version, Claimant: claimant}
	idx := map[ring.NodeID]int{}
	for i, m := range r.Members() {
		t.Members = append(t.Members, tableMember{Name: string(m.ID), Zone: m.Zone})
		idx[m.ID] = i
	}
	for _, o := range r.Owners() {
		t.Owners = append(t.Owners, idx[o])
	}
	if prev != nil {
		p := *prev
		p.Prev, p.Sources = nil, nil
		t.Prev = &p
	}
	if len(sources) > 0 {
		t.Sources = sources
	}
	return t
}

// placed returns the members that should own partitions (joining and
// valid), as the table lists them.
func (c clusterState) placed() []tableMember {
	var out []tableMember
	for _, r := range c.records() {
		if r.Status == statusJoining || r.Status == statusValid {
			out = append(out, tableMember{Name: r.Name, Zone: r.Zone})
		}
	}
	return out
}

func (c clusterState) ringConfig() ring.Config {
	return ring.Config{Partitions: c.Partitions, N: c.N}
}

// mergeTable returns c with t if t is newer, and whether it was.
func (c clusterState) mergeTable(t *ownerTable) (clusterState, bool) {
	if !t.newer(c.Table) {
		return c, false
	}
	out := c.clone()
	out.Table = t
	return out, true
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

// ring is the current placement: the owner table's. Before the first claim
// (a node that has not met its cluster's claimant yet) it is the
// history-free placement of the joining and valid members. A leaving member
// is out of placement (new owners take its partitions and pull them from
// it) but still in the membership until its handoff is done.
func (c clusterState) ring() (*ring.Ring, error) {
	if c.Table != nil {
		return c.Table.ring(c.ringConfig(), c.Members)
	}
	return c.ringOf(statusJoining, statusValid)
}

// previousRing is the placement the current one was claimed from. Its
// primaries hold the data that the current placement's new owners pull.
func (c clusterState) previousRing() (*ring.Ring, error) {
	switch {
	case c.Table == nil:
		return c.ringOf(statusValid, statusLeaving)
	case c.Table.Prev == nil:
		return c.ring()
	}
	return c.Table.Prev.ring(c.ringConfig(), c.Members)
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
	if c.Table != nil {
		if err := c.Table.validate(c.Partitions, 0); err != nil {
			return c, fmt.Errorf("node: decode cluster state: %w", err)
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
