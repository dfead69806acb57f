package node

import (
	"net/http"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/membership"
)

// Staged changes (Riak's `cluster plan` / `cluster commit`). POST
// /cluster/stage turns staging on: joins, leaves and removes made after it
// change the membership but the claimant places none of them, so GET
// /cluster/plan (without a change) shows what they would move together,
// and POST /cluster/commit turns staging off, after which the claimant
// places them all in one claim. Staging is a cluster-wide record
// (membership.Hold), gossiped like the membership.
//
// While a change is staged: a joining node is in the membership but owns
// nothing (it takes no writes and pulls nothing); a leaving node keeps its
// partitions and serves them; a removed node's partitions keep it as their
// (down) primary, so requests use fallbacks as for any down node.

// stagingJSON answers POST /cluster/stage and /cluster/commit. Told and
// Acknowledged count the other live members this node sent the change to
// and those that merged it before the answer (gossip brings it to the
// rest).
type stagingJSON = api.Staging

// handleStage serves POST /cluster/stage.
func (h *httpAPI) handleStage(w http.ResponseWriter, r *http.Request) { h.setStaging(w, true) }

// handleCommit serves POST /cluster/commit: the claimant places every
// pending change at once.
func (h *httpAPI) handleCommit(w http.ResponseWriter, r *http.Request) { h.setStaging(w, false) }

func (h *httpAPI) setStaging(w http.ResponseWriter, on bool) {
	c := h.members.clusterSnapshot()
	pending := membership.PendingChanges(c)
	if c.Staged() != on {
		hold := &membership.Hold{On: on, Version: 1}
		if c.Hold != nil {
			hold.Version = c.Hold.Version + 1
		}
		h.members.mergeState(membership.State{Hold: hold})
	}
	told, acked := h.members.pushState(h.bgCtx)
	if on {
		h.log.Info("staging cluster changes: none is placed until a commit")
	} else {
		h.log.Info("committing staged cluster changes", "changes", len(pending))
	}
	writeJSON(w, http.StatusOK, stagingJSON{Staged: on, Pending: pending, Told: told, Acknowledged: acked})
}
