package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/ring"
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
// The computation is pure: parsePlanQuery and checkPlanChange below, and
// node/internal/membership's PlanAfter, MakePlan, ...; handlePlan only
// gathers their inputs: the membership, key counts over RPC and a sample
// of local data.

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
	// planSampleKeys is how many local keys the bytes-per-key estimate
	// reads: enough for a stable average, a few milliseconds of scan.
	planSampleKeys = 10000
)

// planChange is the membership change a plan is for (the contract's type,
// node/api); Zone is the joining node's zone (?zone=), or the zone of the
// node that leaves or is removed. The plan math is in
// node/internal/membership (PlanAfter, MakePlan, ...).
type planChange = api.PlanChange

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

// checkPlanChange checks ch against the membership (membership.CheckChange)
// and maps a refusal to its HTTP status: a join of a member is a conflict,
// a leave or remove of a node that is not one names an unknown node. It
// returns ch with the zone of a leaving or removed node filled in.
func checkPlanChange(c membership.State, ch planChange) (planChange, *apiError) {
	ch, err := membership.CheckChange(c, ch)
	switch {
	case errors.Is(err, membership.ErrAlreadyMember):
		return ch, &apiError{Status: http.StatusConflict, Code: "already_member", Message: err.Error()}
	case err != nil:
		return ch, &apiError{Status: http.StatusNotFound, Code: "unknown_node", Message: err.Error()}
	}
	return ch, nil
}

// handlePlan serves GET /cluster/plan.
func (h *httpAPI) handlePlan(w http.ResponseWriter, r *http.Request) {
	ch, aerr := parsePlanQuery(r.URL.Query())
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	c := h.members.clusterSnapshot()
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
	pending := membership.PendingChanges(c)
	var after *ring.Ring
	if ch.Op == planPending {
		after, err = membership.PendingAfter(c, before)
	} else {
		after, err = membership.PlanAfter(before, ch)
	}
	if err != nil {
		writeError(w, errPlan("%s %s: %v", ch.Op, ch.Node, err))
		return
	}
	ctx := r.Context()
	warns := membership.MemberWarnings(c, ch, h.cfg.Name, h.peers.Alive)
	keys, keyWarns := h.planKeys(ctx, c)
	warns = append(warns, keyWarns...)
	bpk, err := h.rep.bytesPerKey(ctx)
	if err != nil {
		warns = append(warns, fmt.Sprintf("could not sample %s's data for the bytes per key (bytes are 0): %v", h.cfg.Name, err))
	}
	if ch.Op != planPending && len(pending) > 0 {
		warns = append(warns, fmt.Sprintf("%d other changes are made but not placed yet (staged: %v); GET /cluster/plan without a change shows them together", len(pending), c.Staged()))
	}
	p := membership.MakePlan(ch, before, after, keys, bpk, h.cfg.TransferRate)
	p.Warnings = append(warns, p.Warnings...)
	p.Staged, p.Pending = c.Staged(), pending
	writeJSON(w, http.StatusOK, p)
}

// planKeys returns each partition's key count: the largest any alive ring
// member reports for it (wire.MethodAAERoots; this node reads its own trees).
// A member that does not answer is skipped with a warning; a down member
// is skipped quietly (membership.MemberWarnings names it).
func (n *httpAPI) planKeys(ctx context.Context, c membership.State) ([]int64, []string) {
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
		if !membership.InRing(rec.Status) || !n.peers.Alive(rec.Name) {
			continue
		}
		if rec.Name == n.cfg.Name {
			counts := n.rep.localKeyCounts()
			mu.Lock()
			membership.MergeMaxKeys(keys, counts)
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
			membership.MergeMaxKeys(keys, counts)
		})
	}
	wg.Wait()
	slices.Sort(warns)
	return keys, warns
}

// remoteKeyCounts asks a peer for the key count of each of parts.
func (n *httpAPI) remoteKeyCounts(ctx context.Context, peer string, parts []uint32) ([]int, error) {
	addr, ok := n.net.rpcAddrOf(peer)
	if !ok {
		return nil, errors.New("no RPC address")
	}
	roots, _, err := n.ae.rootsOf(ctx, n.members.currentView().id, addr, parts)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(roots))
	for p, rt := range roots {
		out[p] = rt.Keys
	}
	return out, nil
}
