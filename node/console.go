package node

import (
	"context"
	"net/http"
	"sync"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/auth"
	"github.com/dynago/dynago/node/ui"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

// consoleRoutes adds the web console (node/ui, at /ui/) and the small
// routes it reads that the rest of the API lacks: who the caller is, the
// node's recent request rates (stats.go) and every replica of a key.
// Their roles are in routeRoles.
func (h *httpAPI) consoleRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+api.PathConsole, ui.Handler())
	mux.Handle("GET /ui", http.RedirectHandler(api.PathConsole, http.StatusMovedPermanently))
	mux.HandleFunc("GET "+api.PathWhoAmI, h.handleWhoAmI)
	mux.HandleFunc("GET "+api.PathStatsHistory, h.handleStatsHistory)
	mux.HandleFunc("GET "+api.PathReplicas+"{key...}", h.handleReplicas)
}

// handleWhoAmI serves GET /auth/whoami. Without authentication every
// caller may do everything: admin.
func (h *httpAPI) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	out := api.WhoAmI{Auth: h.authOn(), Role: auth.RoleAdmin.String(), Node: h.cfg.Name}
	if out.Auth {
		p, _, _ := h.principal(r) // authorize let it through: it is valid
		out.Principal, out.Role = p.Name, p.Role.String()
	}
	writeJSON(w, http.StatusOK, out)
}

// handleReplicas serves GET /debug/replicas/{key}: each primary's
// stored state of the key and each fallback's hint for it, read in
// parallel (locally for this node, MethodRead for the others), each
// bounded by the request timeout. A node that can't be read has its
// error in its row; the request itself succeeds.
func (h *httpAPI) handleReplicas(w http.ResponseWriter, r *http.Request) {
	key, aerr := h.keyOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	v := h.members.currentView()
	p := v.ring.Partition(key)
	var targets []ring.Target
	for _, id := range v.ring.Primaries(p) {
		targets = append(targets, ring.Target{ID: id, Primary: true})
	}
	for _, t := range v.ring.Targets(p, func(id ring.NodeID) bool { return h.peers.Alive(string(id)) }) {
		if !t.Primary {
			targets = append(targets, t)
		}
	}
	rows := make([]api.KeyReplica, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		rows[i] = api.KeyReplica{Node: string(t.ID), Primary: t.Primary, For: string(t.For),
			Alive: string(t.ID) == h.cfg.Name || h.peers.Alive(string(t.ID)), Versions: []api.Version{}}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
			defer cancel()
			st, err := h.coord.readReplica(ctx, v.id, t, key)
			if err != nil {
				rows[i].Error = err.Error()
				return
			}
			rows[i].ContextToken = vclock.EncodeContext(st.Context)
			for _, ver := range st.Versions {
				rows[i].Versions = append(rows[i].Versions, versionJSON{Value: ver.Value, Deleted: ver.Deleted, Dot: ver.Dot.String(), Context: vvJSON(ver.Context)})
			}
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, api.KeyReplicas{Key: string(key), Partition: p, N: h.cfg.Ring.N, Replicas: rows})
}
