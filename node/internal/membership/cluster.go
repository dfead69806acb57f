package membership

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

// Member statuses (Record.Status). Joining, valid and leaving nodes are in
// the ring; left and removed records stay as tombstones so an old record
// can't bring a node back.
const (
	StatusJoining = "joining"
	StatusValid   = "valid"
	StatusLeaving = "leaving"
	StatusLeft    = "left"
	StatusRemoved = "removed"
)

// statusRank orders statuses for ties between records of equal Version.
func statusRank(s string) int {
	switch s {
	case StatusJoining:
		return 1
	case StatusValid:
		return 2
	case StatusLeaving:
		return 3
	case StatusLeft:
		return 4
	case StatusRemoved:
		return 5
	}
	return 0
}

// InRing reports whether a member with status s owns partitions.
func InRing(s string) bool {
	return s == StatusJoining || s == StatusValid || s == StatusLeaving
}

// Record is one node's entry in the ring membership.
type Record struct {
	Name    string `json:"name"`
	Zone    string `json:"zone,omitempty"`
	Status  string `json:"status"`
	Version uint64 `json:"version"`
	Gossip  string `json:"gossip"`
	RPC     string `json:"rpc"`
	HTTP    string `json:"http"`
	// Holds lists the partitions the node holds data of without being
	// their primary, as ranges ("0-3,7"), as of ownership table
	// HoldsAt-1 (EncodeParts' form); HoldsAt 0 means it has not said
	// (node/holders.go).
	Holds   string `json:"holds,omitempty"`
	HoldsAt uint64 `json:"holds_at,omitempty"`
	// ReadyAt is one more than the version of the last ownership table
	// for which the node held a complete copy of every partition it was a
	// primary of (0: never said). The claimant carries the sources of a
	// partition whose primaries are not all ready into the next table.
	ReadyAt uint64 `json:"ready_at,omitempty"`
	// Boot is the node's current run's id (node/boot.go): a node restored from
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
func terminal(s string) bool { return s == StatusLeft || s == StatusRemoved }

// newer reports whether a should replace b: a higher generation wins; in
// one generation a record that left or was removed wins over one that did
// not, whatever their versions (a node cut off while it was removed keeps
// bumping its own record: it must not override the removal); then a
// higher Version, then a later status, then the larger encoding, so the
// choice never depends on which record arrived first.
func (a Record) newer(b Record) bool {
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

func recordKey(r Record) string {
	return r.Zone + "\x00" + r.Gossip + "\x00" + r.RPC + "\x00" + r.HTTP
}

// State is the whole membership as one node knows it: the member records
// (by name), the ownership table the claimant computed from them, and the
// staging hold. Its JSON encoding (Marshal) is stored on disk and gossiped:
// field names are part of the wire format. A State is a value: its methods
// never modify the receiver's map or tables, they return changed copies.
type State struct {
	Partitions int               `json:"partitions"`
	N          int               `json:"n"`
	Members    map[string]Record `json:"members"`
	Table      *Table            `json:"table,omitempty"`
	Hold       *Hold             `json:"hold,omitempty"`
}

// Hold is staging (Riak's staged cluster changes): while On, the
// claimant claims nothing, so joins, leaves and removes accumulate (nodes
// join the membership, are not placed yet) until a commit turns it off and
// the claimant places them all in one claim. A higher Version wins; at a
// tie, On wins (the cautious side).
type Hold struct {
	Version uint64 `json:"version"`
	On      bool   `json:"on"`
}

// newer reports whether h should replace o (nil is oldest).
func (h *Hold) newer(o *Hold) bool {
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

// Staged reports whether changes are being staged (the hold is on).
func (c State) Staged() bool { return c.Hold != nil && c.Hold.On }

// MergeHold returns c with h if h is newer than c's hold, and whether it
// was.
func (c State) MergeHold(h *Hold) (State, bool) {
	if !h.newer(c.Hold) {
		return c, false
	}
	out := c.Clone()
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

// Table is one claimed ownership: the members it places and each
// partition's owner. Prev is the table it was claimed from (without its own
// Prev): its primaries hold the data the new owners pull.
type Table struct {
	Version  uint64        `json:"version"`
	Claimant string        `json:"claimant"`
	Members  []TableMember `json:"members"` // sorted by name
	Owners   []int         `json:"owners"`  // index into Members, by partition
	Prev     *Table        `json:"prev,omitempty"`
	// Sources names, per partition, older owners that still hold data its
	// new owners must pull besides Prev's primaries: a change claimed
	// before the previous one's pulls finished carries them forward
	// (CarriedSources). Sparse.
	Sources map[int][]string `json:"sources,omitempty"`
}

// maxCarriedSources bounds one partition's carried sources (a table from
// the network is refused beyond it).
const maxCarriedSources = 64

// TableMember is a member a table places: its name and zone.
type TableMember struct {
	Name string `json:"name"`
	Zone string `json:"zone,omitempty"`
}

// placesMember reports whether ms (a table's or the placed members) lists
// name.
func placesMember(ms []TableMember, name string) bool {
	return slices.ContainsFunc(ms, func(m TableMember) bool { return m.Name == name })
}

// Newer reports whether t should replace o (nil is oldest): a higher
// version, then more members, then the lower claimant name, then the
// larger encoding. It is a total order, so every node keeps the same table
// whatever order they arrive in.
func (t *Table) Newer(o *Table) bool {
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
func (t *Table) validate(q int, depth int) error {
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

// Ring rebuilds the table's placement; members' states come from recs.
func (t *Table) Ring(cfg ring.Config, recs map[string]Record) (*ring.Ring, error) {
	ms := make([]ring.Member, len(t.Members))
	for i, m := range t.Members {
		st := ring.MemberValid
		if r, ok := recs[m.Name]; ok && InRing(r.Status) {
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

// TableOf records r's ownership as a table, with the sources carried from
// unsettled earlier changes.
func TableOf(r *ring.Ring, version uint64, claimant string, prev *Table, sources map[int][]string) *Table {
	t := &Table{Version: version, Claimant: claimant}
	idx := map[ring.NodeID]int{}
	for i, m := range r.Members() {
		t.Members = append(t.Members, TableMember{Name: string(m.ID), Zone: m.Zone})
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
// valid), as a table lists them: sorted by name.
func (c State) placed() []TableMember {
	var out []TableMember
	for _, r := range c.Records() {
		if r.Status == StatusJoining || r.Status == StatusValid {
			out = append(out, TableMember{Name: r.Name, Zone: r.Zone})
		}
	}
	return out
}

// RingConfig is the ring configuration (Q and N) of the cluster.
func (c State) RingConfig() ring.Config {
	return ring.Config{Partitions: c.Partitions, N: c.N}
}

// MergeTable returns c with t if t is newer than c's table, and whether it
// was.
func (c State) MergeTable(t *Table) (State, bool) {
	if !t.Newer(c.Table) {
		return c, false
	}
	out := c.Clone()
	out.Table = t
	return out, true
}

// Clone returns a copy of c whose Members map the caller may change (the
// tables and hold are shared: they are never modified).
func (c State) Clone() State {
	c.Members = maps.Clone(c.Members)
	if c.Members == nil {
		c.Members = map[string]Record{}
	}
	return c
}

// Merge returns c with every record of recs that is newer than c's, and
// whether anything changed. Records without a name or with an unknown
// status are ignored. Merge is commutative, associative and
// idempotent over records.
func (c State) Merge(recs ...Record) (State, bool) {
	out := c.Clone()
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

// Records returns the records sorted by name.
func (c State) Records() []Record {
	out := slices.Collect(maps.Values(c.Members))
	slices.SortFunc(out, func(a, b Record) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Ring is the current placement: the owner table's. Before the first claim
// (a node that has not met its cluster's claimant yet) it is the
// history-free placement of the joining and valid members. A leaving member
// is out of placement (new owners take its partitions and pull them from
// it) but still in the membership until its handoff is done.
func (c State) Ring() (*ring.Ring, error) {
	if c.Table != nil {
		return c.Table.Ring(c.RingConfig(), c.Members)
	}
	return c.ringOf(StatusJoining, StatusValid)
}

// PreviousRing is the placement the current one was claimed from. Its
// primaries hold the data that the current placement's new owners pull.
func (c State) PreviousRing() (*ring.Ring, error) {
	switch {
	case c.Table == nil:
		return c.ringOf(StatusValid, StatusLeaving)
	case c.Table.Prev == nil:
		return c.Ring()
	}
	return c.Table.Prev.Ring(c.RingConfig(), c.Members)
}

func (c State) ringOf(statuses ...string) (*ring.Ring, error) {
	var ms []ring.Member
	for _, r := range c.Records() {
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

// ErrClusterMismatch is wrapped by CheckCompatible's refusal. Its text keeps
// the "node:" prefix it had before this package was split from node: it
// reaches operators (Run's error, POST /cluster/join's answer) and node
// finds it by text in memberlist's flattened join error.
var ErrClusterMismatch = errors.New("node: cluster configuration mismatch")

// CheckCompatible refuses a peer whose ring configuration differs: Q and N
// are fixed at cluster creation. The error wraps ErrClusterMismatch.
func CheckCompatible(localQ, localN, peerQ, peerN int, peer string) error {
	if localQ != peerQ || localN != peerN {
		return fmt.Errorf("%w: node %s has partitions=%d n=%d, this node has partitions=%d n=%d; partitions and n are fixed when a cluster is created",
			ErrClusterMismatch, peer, peerQ, peerN, localQ, localN)
	}
	return nil
}

// Marshal encodes c as JSON: the form stored on disk and gossiped.
func (c State) Marshal() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic("node: marshal cluster state: " + err.Error())
	}
	return b
}

// Unmarshal decodes Marshal's form, from disk or from the network: it
// refuses a record filed under another name and a table that does not fit
// the state's partitions (Members is never nil). It does not check the
// ring configuration against the local one: see CheckCompatible.
func Unmarshal(b []byte) (State, error) {
	var c State
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("node: decode cluster state: %w", err)
	}
	if c.Members == nil {
		c.Members = map[string]Record{}
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

// mustJSON encodes v, which can't fail for this package's types.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("node: marshal: " + err.Error())
	}
	return b
}

// ErrNameTaken is wrapped when a record or a gossip member claims a known
// member's name from other addresses (the name-takeover rule, Bound).
var ErrNameTaken = errors.New("node: member name bound to other addresses")

// Bound reports whether c binds r's name to other addresses than r's: c
// knows a record of that name, both have addresses, and their gossip, RPC
// or HTTP address differ. Such a record is refused from the network
// (node's mergeState): a name is bound to the addresses it was first
// known at, whatever its status (down, left, removed) or version, so
// another process can't take it over by claiming the name (until mutual
// TLS proves a node's name, the addresses are the only tie between a name
// and its process). A node that moves to other addresses joins under a
// new name.
func (c State) Bound(r Record) bool {
	old, ok := c.Members[r.Name]
	if !ok || old.Gossip == "" || r.Gossip == "" {
		return false
	}
	return old.Gossip != r.Gossip || old.RPC != r.RPC || old.HTTP != r.HTTP
}
