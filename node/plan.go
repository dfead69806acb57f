package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
)

// Plans (GET /cluster/plan, DESIGN.md §5): what a join, leave or remove
// would move, computed before anyone makes the change (Riak's `cluster
// plan`). A plan changes nothing. It compares the current placement (the
// claimant's owner table) with the placement after the change (that ring
// With the new member, or Without the one going: ring.Claim, as the
// claimant would compute it), or after all pending changes when none is
// given (staged ones, see stage.go), and estimates
// what the new primaries would pull: keys per partition as the members'
// Merkle trees count them, bytes from this node's average bytes per key,
// time at the transfer rate.
//
// The computation is the pure functions below (parsePlanQuery,
// checkPlanChange, planAfter, makePlan, ...); handlePlan only gathers their
// inputs: the membership, key counts over RPC and a sample of local data.

// Plan operations (the query parameter that names the node).
const (
	planJoin   = "join"
	planLeave  = "leave"
	planRemove = "remove"
	// planPending is a plan without a change: what the changes made but
	// not placed yet (staged, or not yet claimed) would move together.
	planPending = "pending"
)

const (
	// planBalanceBound is DESIGN.md §2's balance bound: no node should
	// hold more than 1.25x its fair share of partitions.
	planBalanceBound = 1.25
	// planSampleKeys is how many local keys the bytes-per-key estimate
	// reads: enough for a stable average, a few milliseconds of scan.
	planSampleKeys = 10000
	// planExamples is how many partitions a warning names at most.
	planExamples = 5
)

// The plan's parts are the contract's types (node/api); the pure
// functions below compute them under these names.
type (
	// planChange is the membership change a plan is for; Zone is the
	// joining node's zone (?zone=), or the zone of the node that leaves or
	// is removed.
	planChange = api.PlanChange
	// planNode is one node's primary partitions (replicas) before and
	// after the change. Gain and Lose list partition numbers, ascending.
	planNode = api.PlanNode
	// planMoves is what the change moves: (partition, new primary) pairs,
	// and the keys and bytes those new primaries pull (estimates). Seconds
	// is the time of the busiest node's pull at the transfer rate: each
	// node pulls its own partitions at that rate, all nodes at once.
	planMoves = api.PlanMoves
	// planBalance is the largest share after the change: a node's
	// partitions over its fair share Q×n/members (n = min(N, members)),
	// against Bound.
	planBalance = api.PlanBalance
	// planJSON is the body of GET /cluster/plan.
	planJSON = api.Plan
)

// errPlan is a bad plan request.
func errPlan(format string, args ...any) *apiError {
	return badRequest("bad_plan", format, args...)
}

// parsePlanQuery reads the change from the query: exactly one of join=NAME,
// leave=NAME or remove=NAME, and zone=ZONE only with join.
func parsePlanQuery(q url.Values) (planChange, *apiError) {
	const want = "want at most one of join=NAME (with an optional zone=ZONE), leave=NAME or remove=NAME (none: the pending changes)"
	for k := range q {
		switch k {
		case planJoin, planLeave, planRemove, "zone":
		default:
			return planChange{}, errPlan("unknown parameter %q: %s", k, want)
		}
	}
	var ch planChange
	for _, op := range []string{planJoin, planLeave, planRemove} {
		vs, ok := q[op]
		if !ok {
			continue
		}
		if ch.Op != "" {
			return planChange{}, errPlan("both %s and %s: %s", ch.Op, op, want)
		}
		if len(vs) != 1 || vs[0] == "" {
			return planChange{}, errPlan("%s needs one node name: %s", op, want)
		}
		ch = planChange{Op: op, Node: vs[0]}
	}
	if ch.Op == "" {
		if _, ok := q["zone"]; ok {
			return planChange{}, errPlan("zone goes with join: %s", want)
		}
		return planChange{Op: planPending}, nil
	}
	if zs, ok := q["zone"]; ok {
		if ch.Op != planJoin {
			return planChange{}, errPlan("zone goes with join: a %s keeps the node's zone", ch.Op)
		}
		if len(zs) != 1 {
			return planChange{}, errPlan("zone given %d times", len(zs))
		}
		ch.Zone = zs[0]
	}
	return ch, nil
}

// checkPlanChange checks ch against the membership: a join needs a node
// that is not in the ring, a leave or remove one that is. It returns ch
// with the zone of a leaving or removed node filled in.
func checkPlanChange(c membership.State, ch planChange) (planChange, *apiError) {
	rec, known := c.Members[ch.Node]
	member := known && membership.InRing(rec.Status)
	switch {
	case ch.Op == planJoin && member:
		return ch, &apiError{Status: http.StatusConflict, Code: "already_member",
			Message: fmt.Sprintf("%s is already in the ring (%s)", ch.Node, rec.Status)}
	case ch.Op != planJoin && !member:
		msg := fmt.Sprintf("%s is not in the ring", ch.Node)
		if known {
			msg = fmt.Sprintf("%s is not in the ring (%s)", ch.Node, rec.Status)
		}
		return ch, &apiError{Status: http.StatusNotFound, Code: "unknown_node", Message: msg}
	case ch.Op != planJoin:
		ch.Zone = rec.Zone
	}
	return ch, nil
}

// pendingAfter returns the placement the claimant would claim now: before
// claimed for the members to place (joining and valid).
func pendingAfter(c membership.State, before *ring.Ring) (*ring.Ring, error) {
	var ms []ring.Member
	for _, m := range c.Placed() {
		ms = append(ms, ring.Member{ID: ring.NodeID(m.Name), Zone: m.Zone})
	}
	return before.Claim(ms)
}

// planAfter returns the placement after ch: before With the joining node,
// or Without the node going, which is ring.Claim from the current
// placement, exactly what the claimant computes for that change alone. A
// node that is already leaving is out of the placement already, so before
// is the placement after.
func planAfter(before *ring.Ring, ch planChange) (*ring.Ring, error) {
	id := ring.NodeID(ch.Node)
	if ch.Op == planJoin {
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
func planNodes(before, after *ring.Ring) []planNode {
	was, will := replicaSets(before), replicaSets(after)
	zones := map[ring.NodeID]string{}
	for _, m := range before.Members() {
		zones[m.ID] = m.Zone
	}
	for _, m := range after.Members() {
		zones[m.ID] = m.Zone
	}
	out := make([]planNode, 0, len(zones))
	for id, zone := range zones {
		b, a := was[id], will[id]
		out = append(out, planNode{
			Node: string(id), Zone: zone,
			PartitionsBefore: len(b), PartitionsAfter: len(a),
			Gain: minus(a, b), Lose: minus(b, a),
		})
	}
	slices.SortFunc(out, func(x, y planNode) int { return cmp.Compare(x.Node, y.Node) })
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
func planMovesOf(nodes []planNode, keys []int64, bytesPerKey float64, rate int64) planMoves {
	var m planMoves
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
func planBalanceOf(after *ring.Ring, nodes []planNode) (planBalance, []string) {
	b := planBalance{Bound: planBalanceBound}
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

// memberWarnings are the warnings about the members themselves: a member
// that is down holds up the transfers from and to it; a remove refuses a
// live node and the node asked; a node already leaving has its new owners.
func memberWarnings(c membership.State, ch planChange, self string, alive func(string) bool) []string {
	var warns []string
	target := c.Members[ch.Node]
	placed := c.Table != nil && membership.PlacesMember(c.Table.Members, ch.Node)
	if ch.Op != planJoin && target.Status == membership.StatusLeaving && !placed {
		warns = append(warns, fmt.Sprintf("%s is already leaving: its partitions already have their new owners, so this plan moves nothing more (follow it with GET /debug/transfers)", ch.Node))
	}
	if ch.Op == planRemove {
		switch {
		case ch.Node == self:
			warns = append(warns, fmt.Sprintf("%s can't remove itself: ask another node, or make %s leave", self, self))
		case alive(ch.Node):
			warns = append(warns, fmt.Sprintf("%s is alive: remove is for dead nodes and would be refused; make it leave instead", ch.Node))
		}
	}
	for _, r := range c.Records() {
		if !membership.InRing(r.Status) || alive(r.Name) || (ch.Op == planRemove && r.Name == ch.Node) {
			continue
		}
		warns = append(warns, fmt.Sprintf("%s (%s) is down: transfers from and to it wait until it is back or removed, and its keys are not counted", r.Name, r.Status))
	}
	return warns
}

// mergeMaxKeys raises dst[p] to counts[p] for every partition: a
// partition's key count is the largest any replica reports.
func mergeMaxKeys(dst []int64, counts []int) {
	for p, k := range counts {
		dst[p] = max(dst[p], int64(k))
	}
}

// makePlan puts a plan together from its inputs; the caller adds the
// warnings that need I/O (members, key counts) before these.
func makePlan(ch planChange, before, after *ring.Ring, keys []int64, bytesPerKey float64, rate int64) planJSON {
	nodes := planNodes(before, after)
	bal, balWarns := planBalanceOf(after, nodes)
	warns := append(placementWarnings(after), balWarns...)
	if warns == nil {
		warns = []string{}
	}
	return planJSON{
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

// handlePlan serves GET /cluster/plan.
func (n *Node) handlePlan(w http.ResponseWriter, r *http.Request) {
	ch, aerr := parsePlanQuery(r.URL.Query())
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	c := n.clusterSnapshot()
	if ch.Op != planPending {
		if ch, aerr = checkPlanChange(c, ch); aerr != nil {
			writeError(w, aerr)
			return
		}
	}
	before, err := c.Ring()
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: "current placement: " + err.Error()})
		return
	}
	pending := pendingChanges(c)
	var after *ring.Ring
	if ch.Op == planPending {
		after, err = pendingAfter(c, before)
	} else {
		after, err = planAfter(before, ch)
	}
	if err != nil {
		writeError(w, errPlan("%s %s: %v", ch.Op, ch.Node, err))
		return
	}
	ctx := r.Context()
	warns := memberWarnings(c, ch, n.cfg.Name, n.alive)
	keys, keyWarns := n.planKeys(ctx, c)
	warns = append(warns, keyWarns...)
	bpk, err := n.bytesPerKey(ctx)
	if err != nil {
		warns = append(warns, fmt.Sprintf("could not sample %s's data for the bytes per key (bytes are 0): %v", n.cfg.Name, err))
	}
	if ch.Op != planPending && len(pending) > 0 {
		warns = append(warns, fmt.Sprintf("%d other changes are made but not placed yet (staged: %v); GET /cluster/plan without a change shows them together", len(pending), c.Staged()))
	}
	p := makePlan(ch, before, after, keys, bpk, n.cfg.TransferRate)
	p.Warnings = append(warns, p.Warnings...)
	p.Staged, p.Pending = c.Staged(), pending
	writeJSON(w, http.StatusOK, p)
}

// planKeys returns each partition's key count: the largest any alive ring
// member reports for it (methodAAERoots; this node reads its own trees).
// A member that does not answer is skipped with a warning; a down member
// is skipped quietly (memberWarnings names it).
func (n *Node) planKeys(ctx context.Context, c membership.State) ([]int64, []string) {
	q := n.cfg.Ring.Partitions
	keys := make([]int64, q)
	parts := make([]uint32, q)
	for p := range parts {
		parts[p] = uint32(p)
	}
	var (
		mu    sync.Mutex
		warns []string
		wg    sync.WaitGroup
	)
	for _, rec := range c.Records() {
		if !membership.InRing(rec.Status) || !n.alive(rec.Name) {
			continue
		}
		if rec.Name == n.cfg.Name {
			counts := n.localKeyCounts()
			mu.Lock()
			mergeMaxKeys(keys, counts)
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			counts, err := n.remoteKeyCounts(ctx, rec.Name, parts)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				warns = append(warns, fmt.Sprintf("%s did not report its key counts (%v): its partitions' keys may be undercounted", rec.Name, err))
				return
			}
			mergeMaxKeys(keys, counts)
		})
	}
	wg.Wait()
	slices.Sort(warns)
	return keys, warns
}

// localKeyCounts returns the key count of each of this node's trees.
func (n *Node) localKeyCounts() []int {
	out := make([]int, len(n.aae.parts))
	for p, pt := range n.aae.parts {
		pt.mu.Lock()
		out[p] = pt.tree.Keys()
		pt.mu.Unlock()
	}
	return out
}

// remoteKeyCounts asks a peer for the key count of each of parts.
func (n *Node) remoteKeyCounts(ctx context.Context, peer string, parts []uint32) ([]int, error) {
	addr, ok := n.rpcAddrOf(peer)
	if !ok {
		return nil, errors.New("no RPC address")
	}
	roots, _, err := n.rootsOf(ctx, addr, parts)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(roots))
	for p, rt := range roots {
		out[p] = rt.Keys
	}
	return out, nil
}

// bytesPerKey estimates the bytes a key moves with (its key and stored
// state) from the first planSampleKeys keys of this node's data; 0 when it
// holds none.
func (n *Node) bytesPerKey(ctx context.Context) (float64, error) {
	var keys, size int64
	errEnough := errors.New("enough keys")
	err := n.store.Scan(ctx, []byte{storage.PrefixData}, []byte{storage.PrefixData + 1}, func(k, v []byte) error {
		if keys >= planSampleKeys {
			return errEnough
		}
		_, key, ok := storage.SplitDataKey(k)
		if !ok {
			return nil
		}
		keys++
		size += int64(len(key) + len(v))
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return 0, err
	}
	if keys == 0 {
		return 0, nil
	}
	return float64(size) / float64(keys), nil
}
