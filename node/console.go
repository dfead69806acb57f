package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/auth"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/node/ui"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage"
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
	mux.HandleFunc("GET "+api.PathNodes, h.handleNodes)
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

// handleNodes serves GET /cluster/nodes: this node's status and, asked
// in parallel over MethodStatus (each bounded by the request timeout),
// that of every other member gossip lists alive. A node that does not
// answer has its error in its row.
func (h *httpAPI) handleNodes(w http.ResponseWriter, r *http.Request) {
	var names, addrs []string
	for _, rec := range h.members.clusterView().Records() {
		if rec.Name != h.cfg.Name && rec.RPC != "" && h.peers.Alive(rec.Name) {
			names, addrs = append(names, rec.Name), append(addrs, rec.RPC)
		}
	}
	rows := make([]api.NodeStatus, 1+len(names))
	self, err := decodeNodeStatus(h.cfg.Name, h.nodeStatus(r.Context()))
	if err != nil {
		panic(fmt.Sprintf("node: this node's own status does not decode: %v", err)) // a bug
	}
	rows[0] = self
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
			defer cancel()
			b, err := h.net.client(addrs[i]).Call(ctx, wire.MethodStatus, nil)
			if err == nil {
				rows[1+i], err = decodeNodeStatus(names[i], b)
			}
			if err != nil {
				rows[1+i] = api.NodeStatus{Node: names[i], Error: err.Error()}
			}
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, api.Nodes{Nodes: rows})
}

// errBadStatus is wrapped by decodeNodeStatus's errors.
var errBadStatus = errors.New("node: malformed node status")

// decodeNodeStatus decodes MethodStatus's answer from the node named
// name: JSON of api.NodeStatus, for that node.
func decodeNodeStatus(name string, b []byte) (api.NodeStatus, error) {
	var st api.NodeStatus
	if err := json.Unmarshal(b, &st); err != nil {
		return api.NodeStatus{}, fmt.Errorf("%w from %s: %v", errBadStatus, name, err)
	}
	if st.Node != name {
		return api.NodeStatus{}, fmt.Errorf("%w: %s answered as %q", errBadStatus, name, st.Node)
	}
	if st.DiskBytes != nil && *st.DiskBytes < 0 {
		return api.NodeStatus{}, fmt.Errorf("%w from %s: disk_bytes %d", errBadStatus, name, *st.DiskBytes)
	}
	st.Error = ""
	return st, nil
}

// nodeStatus is this node's answer to MethodStatus: its own GET /health
// answer (whatever that reports) and its store's size.
func (h *httpAPI) nodeStatus(ctx context.Context) []byte {
	st := api.NodeStatus{Node: h.cfg.Name}
	if req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/health", nil); err == nil {
		var rec bodyRecorder
		h.handleHealth(&rec, req)
		if body := bytes.TrimSpace(rec.body.Bytes()); json.Valid(body) {
			st.Health = body
		}
	}
	if sz, ok := h.rep.store.(storage.Sizer); ok {
		lsm, vlog := sz.Size()
		n := lsm + vlog
		st.DiskBytes = &n
	}
	b, err := json.Marshal(st)
	if err != nil {
		panic(fmt.Sprintf("node: encoding the node status: %v", err)) // Health is valid JSON
	}
	return b
}

// bodyRecorder is an http.ResponseWriter that keeps the body: a
// handler's answer for this node's own use (nodeStatus).
type bodyRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (b *bodyRecorder) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}
func (b *bodyRecorder) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bodyRecorder) WriteHeader(int)             {}
