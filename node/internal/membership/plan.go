package membership

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/ring"
)

// Plans (GET /cluster/plan, DESIGN.md §5): what a join, leave or remove
// would move, computed before anyone makes the change (Riak's `cluster
// plan`). A plan changes nothing. It compares the current placement (the
// claimant's owner table) with the placement after the change (that ring
// With the new member, or Without the one going: ring.Claim, as the
// claimant would compute it: PlanAfter), or after all pending changes when
// none is given (staged ones: PendingAfter), and estimates what the new
// primaries would pull: keys per partition as the members' Merkle trees
// count them, bytes from an average bytes per key, time at the transfer
// rate (MakePlan). The plan's parts are the HTTP contract's types
// (node/api); node gathers the inputs (key counts over RPC, a sample of
// local data) and serves the result.

const (
	// planBalanceBound is DESIGN.md §2's balance bound: no node should
	// hold more than 1.25x its fair share of partitions.
	planBalanceBound = 1.25
	// planExamples is how many partitions a warning names at most.
	planExamples = 5
)

// PendingChanges lists the changes the claimant has not placed yet: members
// to place that the table lacks (joins) and table members that are no
// longer to be placed (leaves and removes), by node name.
func PendingChanges(c State) []api.PlanChange {
	out := []api.PlanChange{}
	placed := c.placed()
	var table []TableMember
	if c.Table != nil {
		table = c.Table.Members
	}
	for _, m := range placed {
		if !placesMember(table, m.Name) {
			out = append(out, api.PlanChange{Op: api.PlanJoin, Node: m.Name, Zone: m.Zone})
		}
	}
	for _, m := range table {
		if placesMember(placed, m.Name) {
			continue
		}
		op := api.PlanLeave
		if c.Members[m.Name].Status == StatusRemoved {
			op = api.PlanRemove
		}
		out = append(out, api.PlanChange{Op: op, Node: m.Name, Zone: m.Zone})
	}
	slices.SortFunc(out, func(a, b api.PlanChange) int { return cmp.Compare(a.Node, b.Node) })
	return out
}

// Refusals of CheckChange: a ChangeError wraps one of them.
var (
	// ErrAlreadyMember refuses a join of a node that is in the ring.
	ErrAlreadyMember = errors.New("membership: already in the ring")
	// ErrNotMember refuses a leave or remove of a node that is not in the
	// ring.
	ErrNotMember = errors.New("membership: not in the ring")
)

// ChangeError is CheckChange's refusal of a change. Its message names the
// node and its status; Unwrap gives ErrAlreadyMember or ErrNotMember.
type ChangeError struct {
	Err    error  // ErrAlreadyMember or ErrNotMember
	Node   string // the node the change names
	Status string // its status, if the membership has a record of it
	Known  bool   // whether the membership has a record of it
}

// Error says why the change was refused, e.g. "n1 is already in the ring
// (valid)" or "n9 is not in the ring".
func (e *ChangeError) Error() string {
	switch {
	case errors.Is(e.Err, ErrAlreadyMember):
		return fmt.Sprintf("%s is already in the ring (%s)", e.Node, e.Status)
	case e.Known:
		return fmt.Sprintf("%s is not in the ring (%s)", e.Node, e.Status)
	}
	return fmt.Sprintf("%s is not in the ring", e.Node)
}

// Unwrap returns ErrAlreadyMember or ErrNotMember.
func (e *ChangeError) Unwrap() error { return e.Err }

// CheckChange checks ch against the membership: a join needs a node that
// is not in the ring, a leave or remove one that is (else a *ChangeError).
// It returns ch with the zone of a leaving or removed node filled in.
func CheckChange(c State, ch api.PlanChange) (api.PlanChange, error) {
	rec, known := c.Members[ch.Node]
	member := known && InRing(rec.Status)
	switch {
	case ch.Op == api.PlanJoin && member:
		return ch, &ChangeError{Err: ErrAlreadyMember, Node: ch.Node, Status: rec.Status, Known: true}
	case ch.Op != api.PlanJoin && !member:
		return ch, &ChangeError{Err: ErrNotMember, Node: ch.Node, Status: rec.Status, Known: known}
	case ch.Op != api.PlanJoin:
		ch.Zone = rec.Zone
	}
	return ch, nil
}

// PendingAfter returns the placement the claimant would claim now: before
// claimed for the members to place (joining and valid).
func PendingAfter(c State, before *ring.Ring) (*ring.Ring, error) {
	var ms []ring.Member
	for _, m := range c.placed() {
		ms = append(ms, ring.Member{ID: ring.NodeID(m.Name), Zone: m.Zone})
	}
	return before.Claim(ms)
}

// PlanAfter returns the placement after ch: before With the joining node,
// or Without the node going, which is ring.Claim from the current
// placement, exactly what the claimant computes for that change alone. A
// node that is already leaving is out of the placement already, so before
// is the placement after.
func PlanAfter(before *ring.Ring, ch api.PlanChange) (*ring.Ring, error) {
	id := ring.NodeID(ch.Node)
	if ch.Op == api.PlanJoin {
		return before.With(ring.Member{ID: id, Zone: ch.Zone, State: ring.MemberJoining})
	}
	if _, ok := before.Member(id); !ok {
		return before, nil
	}
	return before.Without(id)
}

// replicaSets returns, for each member of r, the partitions whose
// preference list holds it, ascending.
func replicaSets(r *ring.Ring) map[ring.NodeID][]int {
	out := make(map[ring.NodeID][]int, r.Len())
	for _, m := range r.Members() {
		out[m.ID] = []int{}
	}
	for p := range r.Config().Partitions {
		for _, id := range r.Primaries(p) {
			out[id] = append(out[id], p)
		}
	}
	return out
}

// planNodes compares each node's partitions before and after, for every
// member of either ring, sorted by name.
func planNodes(before, after *ring.Ring) []api.PlanNode {
	was, will := replicaSets(before), replicaSets(after)
	zones := map[ring.NodeID]string{}
	for _, m := range before.Members() {
		zones[m.ID] = m.Zone
	}
	for _, m := range after.Members() {
		zones[m.ID] = m.Zone
	}
	out := make([]api.PlanNode, 0, len(zones))
	for id, zone := range zones {
		b, a := was[id], will[id]
		out = append(out, api.PlanNode{
			Node: string(id), Zone: zone,
			PartitionsBefore: len(b), PartitionsAfter: len(a),
			Gain: minus(a, b), Lose: minus(b, a),
		})
	}
	slices.SortFunc(out, func(x, y api.PlanNode) int { return cmp.Compare(x.Node, y.Node) })
	return out
}

// minus returns the elements of a not in b; both ascending. The result is
// never nil (JSON []).
func minus(a, b []int) []int {
	out := []int{}
	for _, p := range a {
		if _, found := slices.BinarySearch(b, p); !found {
			out = append(out, p)
		}
	}
	return out
}

// planMovesOf totals the gains: each (partition, new primary) pair moves
// that partition's keys[p] keys of bytesPerKey bytes each. Each node pulls
// its gains at rate bytes per second, in parallel with the others, so the
// estimate is the busiest node's time (0 when rate is not positive).
func planMovesOf(nodes []api.PlanNode, keys []int64, bytesPerKey float64, rate int64) api.PlanMoves {
	var m api.PlanMoves
	for _, nd := range nodes {
		var k int64
		for _, p := range nd.Gain {
			k += keys[p]
		}
		b := float64(k) * bytesPerKey
		m.Partitions += len(nd.Gain)
		m.Keys += k
		m.Bytes += int64(math.Round(b))
		if rate > 0 {
			m.Seconds = max(m.Seconds, b/float64(rate))
		}
	}
	m.Seconds = math.Round(m.Seconds*1000) / 1000
	return m
}

// fairShare is the partitions each member of r would hold if all held the
// same: Q×n/members, with n = min(N, members) the length of a list. It is 0
// for an empty ring.
func fairShare(r *ring.Ring) float64 {
	k := r.Len()
	if k == 0 {
		return 0
	}
	n := min(r.Config().N, k)
	return float64(r.Config().Partitions*n) / float64(k)
}

// planBalanceOf returns the largest share of the members of after, and a
// warning for each member above the bound.
func planBalanceOf(after *ring.Ring, nodes []api.PlanNode) (api.PlanBalance, []string) {
	b := api.PlanBalance{Bound: planBalanceBound}
	fair := fairShare(after)
	if fair == 0 {
		return b, nil
	}
	var warns []string
	for _, nd := range nodes {
		if _, ok := after.Member(ring.NodeID(nd.Node)); !ok {
			continue
		}
		share := float64(nd.PartitionsAfter) / fair
		b.MaxShare = max(b.MaxShare, share)
		if share > planBalanceBound {
			warns = append(warns, fmt.Sprintf("%s would hold %d partitions, %.2fx its fair share of %.1f: above the %.2fx balance bound (DESIGN.md §2)",
				nd.Node, nd.PartitionsAfter, share, fair, planBalanceBound))
		}
	}
	b.MaxShare = math.Round(b.MaxShare*1000) / 1000
	return b, warns
}

// zoneOf is a member's zone class as placement sees it: an empty zone is a
// zone of its own.
func zoneOf(m ring.Member) string {
	if m.Zone == "" {
		return "\x00" + string(m.ID)
	}
	return m.Zone
}

// placementWarnings checks the preference lists of after: lists shorter
// than N (fewer members than N: a partition can't have N replicas on
// distinct nodes), two replicas in one zone although there are N zones,
// and fewer zones than N when zones are used.
func placementWarnings(after *ring.Ring) []string {
	cfg, k := after.Config(), after.Len()
	if k == 0 {
		return []string{"no member would be left in the ring: every partition would lose all its replicas"}
	}
	var warns []string
	if k < cfg.N {
		warns = append(warns, fmt.Sprintf("n=%d but only %s: all %s would have %s, not %d (a node can't hold two replicas of one partition)",
			cfg.N, planCount(k, "member"), planCount(cfg.Partitions, "partition"), planCount(k, "replica"), cfg.N))
	}
	zone := map[ring.NodeID]string{}
	classes := map[string]bool{}
	var named []string
	unzoned := 0
	for _, m := range after.Members() {
		z := zoneOf(m)
		zone[m.ID] = z
		classes[z] = true
		if m.Zone == "" {
			unzoned++
		} else if !slices.Contains(named, m.Zone) {
			named = append(named, m.Zone)
		}
	}
	if len(named) == 0 {
		return warns // no zones: nothing more to check
	}
	var dup []string // examples
	ndup := 0
	for p := range cfg.Partitions {
		ids := after.Primaries(p)
		seen := map[string]ring.NodeID{}
		for _, id := range ids {
			if other, ok := seen[zone[id]]; ok {
				ndup++
				if len(dup) < planExamples {
					dup = append(dup, fmt.Sprintf("partition %d: %s and %s in zone %s", p, other, id, zone[id]))
				}
				break
			}
			seen[zone[id]] = id
		}
	}
	slices.Sort(named)
	zones := strings.Join(named, ", ")
	if unzoned > 0 {
		zones += fmt.Sprintf(", and %s without a zone, each a zone of its own", planCount(unzoned, "node"))
	}
	switch {
	case len(classes) < cfg.N:
		msg := fmt.Sprintf("only %s for n=%d (%s): preference lists can't span n zones", planCount(len(classes), "zone"), cfg.N, zones)
		if ndup > 0 {
			msg += fmt.Sprintf("; %s would have two replicas in one zone", planCount(ndup, "partition"))
		}
		warns = append(warns, msg)
	case ndup > 0:
		warns = append(warns, fmt.Sprintf("%s would have two replicas in one zone although there are %d zones (%s), e.g. %s",
			planCount(ndup, "partition"), len(classes), zones, strings.Join(dup, "; ")))
	}
	return warns
}

// planCount is "1 partition", "2 partitions".
func planCount(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// MemberWarnings are the warnings about the members themselves: a member
// that is down holds up the transfers from and to it; a remove refuses a
// live node and the node asked; a node already leaving has its new owners.
func MemberWarnings(c State, ch api.PlanChange, self string, alive func(string) bool) []string {
	var warns []string
	target := c.Members[ch.Node]
	placed := c.Table != nil && placesMember(c.Table.Members, ch.Node)
	if ch.Op != api.PlanJoin && target.Status == StatusLeaving && !placed {
		warns = append(warns, fmt.Sprintf("%s is already leaving: its partitions already have their new owners, so this plan moves nothing more (follow it with GET /debug/transfers)", ch.Node))
	}
	if ch.Op == api.PlanRemove {
		switch {
		case ch.Node == self:
			warns = append(warns, fmt.Sprintf("%s can't remove itself: ask another node, or make %s leave", self, self))
		case alive(ch.Node):
			warns = append(warns, fmt.Sprintf("%s is alive: remove is for dead nodes and would be refused; make it leave instead", ch.Node))
		}
	}
	for _, r := range c.Records() {
		if !InRing(r.Status) || alive(r.Name) || (ch.Op == api.PlanRemove && r.Name == ch.Node) {
			continue
		}
		warns = append(warns, fmt.Sprintf("%s (%s) is down: transfers from and to it wait until it is back or removed, and its keys are not counted", r.Name, r.Status))
	}
	return warns
}

// MergeMaxKeys raises dst[p] to counts[p] for every partition: a
// partition's key count is the largest any replica reports.
func MergeMaxKeys(dst []int64, counts []int) {
	for p, k := range counts {
		dst[p] = max(dst[p], int64(k))
	}
}

// MakePlan puts a plan together from its inputs; the caller adds the
// warnings that need I/O (members, key counts) before these.
func MakePlan(ch api.PlanChange, before, after *ring.Ring, keys []int64, bytesPerKey float64, rate int64) api.Plan {
	nodes := planNodes(before, after)
	bal, balWarns := planBalanceOf(after, nodes)
	warns := append(placementWarnings(after), balWarns...)
	if warns == nil {
		warns = []string{}
	}
	return api.Plan{
		Change:       ch,
		Partitions:   before.Config().Partitions,
		N:            before.Config().N,
		TransferRate: rate,
		Nodes:        nodes,
		Moves:        planMovesOf(nodes, keys, bytesPerKey, rate),
		Balance:      bal,
		Warnings:     warns,
	}
}
