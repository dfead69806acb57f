package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/internal/buildinfo"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/gossip"
	"github.com/dynago/dynago/node/internal/handoff"
	"github.com/dynago/dynago/node/internal/membership"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/quorum"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/vclock"
)

// HTTP headers of the API (DESIGN.md §5).
const (
	headerContext = api.HeaderContext
	headerReport  = api.HeaderReport
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// httpAPI serves the HTTP API (DESIGN.md §5): routes, parameters, error
// statuses (httperr.go: the only place an error becomes a status) and the
// debug views. It runs on net/http's goroutines, which the node tracks
// (admit) and waits for at shutdown; it starts none of its own but the
// leave loop and the staging push, through cluster.
type httpAPI struct {
	recoverer
	// quietLog rate-limits the lines any client can make the node write
	// (refused credentials).
	quietLog *slog.Logger
	members  *members // the membership and the placement
	cfg      *Config  // the node's (its addresses are set in New, before any goroutine)
	clock    *clock
	rep      *replica
	coord    *coordinator
	ae       *antiEntropy
	peers    *gossip.Peers
	gossip   *gossip.Member
	hints    *hintedhandoff.Store
	handoff  *handoff.Service
	aae      *aaeState
	xfer     *transferState
	ring     *atomic.Pointer[ring.Ring]
	faults   *faults
	ready    <-chan struct{}
	bgCtx    context.Context
	leaving  *leaver
	net      *peering
	keys     *gossipKeyring // the gossip encryption keyring (keyring.go)
	stats    *statsHistory  // recent request rates and latencies (stats.go)

	// incompatible is the peers gossip refused for their protocol
	// versions (versions.go).
	incompatible *incompatiblePeers
}

// routes is the HTTP API.
func (h *httpAPI) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /kv/{key...}", h.instrument("get", h.handleGet))
	mux.Handle("PUT /kv/{key...}", h.instrument("put", h.handlePut))
	mux.Handle("DELETE /kv/{key...}", h.instrument("delete", h.handleDelete))
	mux.HandleFunc("/kv/{key...}", methodNotAllowed("GET, PUT, DELETE"))
	mux.HandleFunc("GET /debug/replica/{key...}", h.handleReplica)
	mux.HandleFunc("GET /debug/preflist/{key...}", h.handlePreflist)
	mux.HandleFunc("GET /cluster/members", h.handleMembers)
	mux.HandleFunc("GET /cluster/ring", h.handleRing)
	mux.HandleFunc("POST /cluster/join", h.handleJoin)
	mux.HandleFunc("POST /cluster/leave", h.handleLeave)
	mux.HandleFunc("POST /cluster/remove", h.handleRemove)
	mux.HandleFunc("GET "+api.PathKeyring, h.handleKeyring)
	mux.HandleFunc("POST "+api.PathKeyring, h.handleKeyring)
	mux.HandleFunc("GET /cluster/plan", h.handlePlan)
	mux.HandleFunc("POST /cluster/stage", h.handleStage)
	mux.HandleFunc("POST /cluster/commit", h.handleCommit)
	mux.HandleFunc("GET /debug/hints", h.handleHints)
	mux.HandleFunc("GET /debug/aae", h.handleAAE)
	mux.HandleFunc("GET /debug/transfers", h.handleTransfers)
	mux.HandleFunc("GET /debug/merkle", h.handleMerkle)
	mux.HandleFunc("GET /debug/clock", h.handleClock)
	mux.HandleFunc("POST /debug/clock", h.handleClock)
	mux.HandleFunc("GET /debug/faults", h.handleFaults)
	mux.HandleFunc("GET "+api.PathBackup, h.handleBackup)    // admin (httpauth.go: unlisted)
	mux.HandleFunc("POST "+api.PathRestore, h.handleRestore) // admin (httpauth.go: unlisted)
	if h.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("POST /debug/faults", h.handleFaults)
	mux.HandleFunc("GET /health", h.handleHealth)
	mux.Handle("GET /metrics", h.metrics.handler())
	h.consoleRoutes(mux) // console.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "no_route", Message: fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every response carries a consistency report; requests that were
		// refused before any replica was asked say so, and the key-value
		// handlers replace it with what coordination did.
		w.Header().Set(headerReport, "coordinated=false node="+h.cfg.Name)
		if uncleanKeyPath(r.URL.Path) {
			// ServeMux would answer 307 to the cleaned path, which names
			// another key (or none): refuse it instead.
			writeError(w, badRequest("bad_key", "the key has an empty, '.' or '..' path segment, which a URL path can't carry; use another key"))
			return
		}
		h.recoverHTTP(h.authorize(mux)).ServeHTTP(w, r)
	})
}

// uncleanKeyPath reports whether p is a key route whose path ServeMux
// would clean (an empty, "." or ".." segment), so the key it names can't
// be reached as written.
func uncleanKeyPath(p string) bool {
	for _, prefix := range []string{"/kv/", "/debug/replica/", "/debug/preflist/", api.PathReplicas} {
		if key, ok := strings.CutPrefix(p, prefix); ok && key != "" {
			clean := path.Clean(p)
			if strings.HasSuffix(p, "/") && !strings.HasSuffix(clean, "/") {
				clean += "/"
			}
			return clean != p
		}
	}
	return false
}

// recoverHTTP answers a handler's panic with a 500 JSON error, logged and
// counted (panics.go), instead of net/http's bare connection reset.
func (h *httpAPI) recoverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err := h.recoveredAs("http", "http "+r.Method+" "+r.URL.Path, v)
				writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "internal", Message: err.Error()})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed",
			Message: fmt.Sprintf("%s is not allowed here; use %s", r.Method, allow)})
	}
}

// statusRecorder remembers the status code for metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (h *httpAPI) instrument(op string, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := h.clock.Steady()
		rec := &statusRecorder{ResponseWriter: w}
		next(rec, r)
		d := h.clock.since(start)
		h.metrics.observe(op, rec.status, d)
		h.aae.fg.add(d)
	})
}

// keyOf validates the key in the path.
func (h *httpAPI) keyOf(r *http.Request) ([]byte, *apiError) {
	key := r.PathValue("key")
	if key == "" {
		return nil, badRequest("bad_key", "the key is empty")
	}
	if len(key) > h.cfg.MaxKeyBytes {
		return nil, &apiError{Status: http.StatusRequestURITooLong, Code: "key_too_long",
			Message: fmt.Sprintf("the key is %d bytes; the limit is %d", len(key), h.cfg.MaxKeyBytes)}
	}
	return []byte(key), nil
}

// count parses a quorum parameter (r, w, pr, pw).
func (h *httpAPI) count(r *http.Request, name string, def int, primary bool) (int, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	var v int
	var err error
	if primary {
		v, err = quorum.ParsePrimaryCount(s, h.cfg.Ring.N)
	} else {
		v, err = quorum.ParseCount(s, h.cfg.Ring.N)
	}
	if err != nil {
		return 0, badRequest("bad_param", "%s=%q: %v (n=%d)", name, s, err, h.cfg.Ring.N)
	}
	return v, nil
}

// timeout parses the timeout parameter (milliseconds).
func (h *httpAPI) timeout(r *http.Request) (time.Duration, *apiError) {
	s := r.URL.Query().Get("timeout")
	if s == "" {
		return h.cfg.RequestTimeout, nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 1 || time.Duration(ms)*time.Millisecond > h.cfg.MaxRequestTimeout {
		return 0, badRequest("bad_param", "timeout=%q: want milliseconds from 1 to %d", s, h.cfg.MaxRequestTimeout.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

func boolParam(r *http.Request, name string) (bool, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("bad_param", "%s=%q: want true or false", name, s)
	}
	return b, nil
}

func contextOf(r *http.Request) (vclock.VV, *apiError) {
	vv, err := vclock.DecodeContext(r.Header.Get(headerContext))
	if err != nil {
		return vclock.VV{}, badRequest("bad_context", "%s: %v", headerContext, err)
	}
	return vv, nil
}

// sibling is one value in a JSON answer.
type sibling = api.Sibling

// kvJSON is a key's live state in a JSON answer.
type kvJSON = api.Object

func liveJSON(st vclock.State) kvJSON {
	live := st.Live()
	out := kvJSON{Found: len(live) > 0, Context: vclock.EncodeContext(st.Context), Siblings: make([]sibling, 0, len(live))}
	for _, v := range live {
		out.Siblings = append(out.Siblings, sibling{Value: v.Value})
	}
	return out
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (h *httpAPI) handleGet(w http.ResponseWriter, r *http.Request) {
	key, aerr := h.keyOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	rq, aerr := h.count(r, "r", h.cfg.Quorum.R, false)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	pr, aerr := h.count(r, "pr", h.cfg.Quorum.PR, true)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	timeout, aerr := h.timeout(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	strict, aerr := h.strictParam(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	out := h.coord.read(r.Context(), key, rq, pr, strict, timeout)
	live := out.State.Live()
	w.Header().Set(headerReport, fmt.Sprintf("r=%d pr=%d replies=%d siblings=%d repaired=%d asked=%d", rq, pr, out.Replies, len(live), out.Stale, out.Asked))
	if out.Err != nil {
		writeError(w, h.explain(out.Err))
		return
	}
	if !out.State.IsZero() {
		w.Header().Set(headerContext, vclock.EncodeContext(out.State.Context))
	}
	body := liveJSON(out.State)
	status := http.StatusOK
	switch {
	case len(live) == 0:
		status = http.StatusNotFound
	case len(live) > 1:
		status = http.StatusMultipleChoices
	}
	if wantsJSON(r) {
		writeJSON(w, status, body)
		return
	}
	switch status {
	case http.StatusNotFound:
		writeError(w, &apiError{Status: status, Code: "not_found", Message: "not found"})
	case http.StatusMultipleChoices:
		writeJSON(w, status, api.Siblings{Context: body.Context, Siblings: body.Siblings})
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(status)
		_, _ = w.Write(live[0].Value)
	}
}

func (h *httpAPI) handlePut(w http.ResponseWriter, r *http.Request) {
	h.handleWrite(w, r, false)
}

func (h *httpAPI) handleDelete(w http.ResponseWriter, r *http.Request) {
	h.handleWrite(w, r, true)
}

func (h *httpAPI) handleWrite(w http.ResponseWriter, r *http.Request, del bool) {
	req, aerr := h.parseWrite(w, r, del)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	returnBody, aerr := boolParam(r, "returnbody")
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	req.ReturnBody = returnBody
	out := h.coord.write(r.Context(), req)
	w.Header().Set(headerReport, fmt.Sprintf("w=%d pw=%d acks=%d primaries=%d fallbacks=%d coordinator=%s",
		out.W, out.PW, len(out.Acked), out.Primaries, out.Fallbacks, out.Coordinator))
	if out.Err != nil {
		writeError(w, h.explain(out.Err))
		return
	}
	if req.ReturnBody {
		w.Header().Set(headerContext, vclock.EncodeContext(out.State.Context))
		writeJSON(w, http.StatusOK, liveJSON(out.State))
		return
	}
	w.Header().Set(headerContext, vclock.EncodeContext(out.Context))
	w.WriteHeader(http.StatusNoContent)
}

func (h *httpAPI) parseWrite(w http.ResponseWriter, r *http.Request, del bool) (wire.WriteRequest, *apiError) {
	var req wire.WriteRequest
	key, aerr := h.keyOf(r)
	if aerr != nil {
		return req, aerr
	}
	wq, aerr := h.count(r, "w", h.cfg.Quorum.W, false)
	if aerr != nil {
		return req, aerr
	}
	pw, aerr := h.count(r, "pw", h.cfg.Quorum.PW, true)
	if aerr != nil {
		return req, aerr
	}
	timeout, aerr := h.timeout(r)
	if aerr != nil {
		return req, aerr
	}
	ctx, aerr := contextOf(r)
	if aerr != nil {
		return req, aerr
	}
	var value []byte
	if !del {
		v, err := readValue(w, r, h.cfg.MaxValueBytes)
		if err != nil {
			if tooLarge(err) {
				return req, valueTooLarge(h.cfg.MaxValueBytes)
			}
			return req, badRequest("bad_body", "reading the body: %v", err)
		}
		value = v
		if value == nil {
			value = []byte{}
		}
	}
	strict, aerr := h.strictParam(r)
	if aerr != nil {
		return req, aerr
	}
	return wire.WriteRequest{Key: key, Value: value, Context: ctx, Delete: del, W: wq, PW: pw, TimeoutMS: int(timeout.Milliseconds()), Strict: strict}, nil
}

// strictParam reads ?sloppy=: false keeps the request on the key's
// primaries; absent means the node's default.
func (h *httpAPI) strictParam(r *http.Request) (bool, *apiError) {
	if r.URL.Query().Get("sloppy") == "" {
		return h.cfg.Strict, nil
	}
	sloppy, aerr := boolParam(r, "sloppy")
	return !sloppy, aerr
}

// versionJSON is one stored version in /debug/replica.
type versionJSON = api.Version

func vvJSON(v vclock.VV) map[string]uint64 {
	out := map[string]uint64{}
	for _, d := range v.Dots() {
		out[d.Actor.String()] = d.Counter
	}
	return out
}

func (h *httpAPI) handleReplica(w http.ResponseWriter, r *http.Request) {
	key, aerr := h.keyOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	st, err := h.rep.readLocal(r.Context(), key)
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Code: "storage", Message: err.Error()})
		return
	}
	vs := make([]versionJSON, 0, len(st.Versions))
	for _, v := range st.Versions {
		vs = append(vs, versionJSON{Value: v.Value, Deleted: v.Deleted, Dot: v.Dot.String(), Context: vvJSON(v.Context)})
	}
	writeJSON(w, http.StatusOK, api.Replica{
		Node:         h.cfg.Name,
		Key:          string(key),
		Partition:    h.ring.Load().Partition(key),
		Context:      vvJSON(st.Context),
		ContextToken: vclock.EncodeContext(st.Context),
		Versions:     vs,
	})
}

func (h *httpAPI) handlePreflist(w http.ResponseWriter, r *http.Request) {
	key, aerr := h.keyOf(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	rg := h.ring.Load()
	p := rg.Partition(key)
	var prefs []api.PreflistEntry
	for _, id := range rg.Primaries(p) {
		prefs = append(prefs, api.PreflistEntry{Node: string(id), Primary: true, Alive: h.peers.Alive(string(id))})
	}
	var fallbacks []api.PreflistEntry
	for _, t := range rg.Targets(p, func(id ring.NodeID) bool { return h.peers.Alive(string(id)) }) {
		if !t.Primary {
			fallbacks = append(fallbacks, api.PreflistEntry{Node: string(t.ID), Alive: true, For: string(t.For)})
		}
	}
	writeJSON(w, http.StatusOK, api.KeyPreflist{
		Key: string(key), Partition: p, N: h.cfg.Ring.N,
		Preflist: prefs, Fallbacks: nonNilEntries(fallbacks),
		Extended: names(rg.PreferenceList(p)),
	})
}

func nonNilEntries(s []api.PreflistEntry) []api.PreflistEntry {
	if s == nil {
		return []api.PreflistEntry{}
	}
	return s
}

// memberJSON is one entry of GET /cluster/members.
type memberJSON = api.Member

func (h *httpAPI) handleMembers(w http.ResponseWriter, r *http.Request) {
	out := []memberJSON{}
	for _, rec := range h.members.clusterSnapshot().Records() {
		if !membership.InRing(rec.Status) {
			continue
		}
		m := memberJSON{Name: rec.Name, Gossip: rec.Gossip, RPC: rec.RPC, HTTP: rec.HTTP,
			Zone: rec.Zone, State: rec.Status, Alive: h.peers.Alive(rec.Name)}
		if rec.Name == h.cfg.Name {
			v := h.cfg.versionsJSON()
			m.Protocol, m.Version = &v.Protocol, v.Software
		} else if p, ok := h.peers.Get(rec.Name); ok && p.Alive {
			proto, compatible := h.cfg.peerProtocol(p.Meta) // versions.go
			m.Protocol, m.Version, m.Incompatible = &proto, p.Meta.Version, !compatible
		} else if meta, ok := h.incompatible.get(rec.Name); ok {
			// Refused by gossip, so never alive: what it last said.
			proto, _ := h.cfg.peerProtocol(meta)
			m.Protocol, m.Version, m.Incompatible = &proto, meta.Version, true
		}
		out = append(out, m)
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *httpAPI) handleRing(w http.ResponseWriter, r *http.Request) {
	rg := h.ring.Load()
	q := rg.Config().Partitions
	pls := make([]api.Preflist, q)
	for p := range q {
		pls[p] = api.Preflist{Partition: p, Nodes: names(rg.Primaries(p))}
	}
	writeJSON(w, http.StatusOK, api.Ring{Partitions: q, N: rg.Config().N, Preflists: pls})
}

func (h *httpAPI) handleJoin(w http.ResponseWriter, r *http.Request) {
	var body api.JoinRequest
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil { // r.Body is capped (shed)
		if tooLarge(err) {
			writeError(w, bodyTooLarge(maxAdminBodyBytes))
			return
		}
		writeError(w, badRequest("bad_body", "want {\"seeds\": [\"host:port\", ...]}: %v", err))
		return
	}
	if len(body.Seeds) == 0 {
		writeError(w, badRequest("bad_body", "no seeds given"))
		return
	}
	me := h.members.clusterSnapshot().Members[h.cfg.Name]
	fresh := h.members.aloneInCluster() || !membership.InRing(me.Status)
	if !membership.InRing(me.Status) && me.Status != "" {
		// It left or was removed: the cluster reaped deletes without it
		// since, so what it still holds may be deleted values (holders.go).
		// Its partitions come back from their owners. Joining again starts
		// a new membership generation (membership.Record.Gen).
		if err := h.rep.dropAllData(r.Context()); err != nil {
			writeError(w, errUnavailable("join_failed", "discarding the data held before leaving: "+err.Error()))
			return
		}
		h.members.updateCluster(func(c membership.State) (membership.State, bool) {
			me = c.Members[h.cfg.Name]
			me.Gen++
			me.Status = membership.StatusJoining // a generation starts in the ring
			me.Version++
			return c.Merge(me)
		})
	}
	if fresh {
		// Forget this node's own ownership table and staging before
		// gossip sends them: the cluster it joins has its own, and its
		// claimant places this node.
		// Its partitions will come from their owners in the cluster it
		// joins: it is joining until they are transferred.
		h.members.updateCluster(func(c membership.State) (membership.State, bool) {
			c.Table, c.Hold = nil, nil
			return c, true
		})
		if err := h.members.rebuildView(true); err != nil {
			h.log.Error("rebuilding ring", "err", err)
		}
		if err := h.rep.setAllReady(r.Context(), false); err != nil {
			writeError(w, errUnavailable("join_failed", err.Error()))
			return
		}
		h.members.setSelfStatus(membership.StatusJoining)
	}
	if err := h.gossip.Join(body.Seeds); err != nil {
		if fresh && membership.InRing(me.Status) {
			// Still alone: it serves what it has, as before.
			if rerr := h.rep.setAllReady(r.Context(), true); rerr != nil {
				h.log.Error("restoring transfer state", "err", rerr)
			}
			h.members.setSelfStatus(me.Status)
		}
		if errors.Is(err, membership.ErrClusterMismatch) {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "cluster_mismatch", Message: err.Error()})
			return
		}
		if errors.Is(err, membership.ErrNameTaken) {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "name_taken", Message: err.Error()})
			return
		}
		writeError(w, errUnavailable("join_failed", err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, api.JoinResult{Status: "joined", Members: h.gossip.NumMembers()})
}

func (h *httpAPI) handleLeave(w http.ResponseWriter, r *http.Request) {
	me := h.members.clusterView().Members[h.cfg.Name]
	if !membership.InRing(me.Status) {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "not_member", Message: "this node is not in the ring"})
		return
	}
	h.leaving.leave()
	writeJSON(w, http.StatusAccepted, api.LeaveResult{Status: "leaving", Node: h.cfg.Name})
}

func (h *httpAPI) handleRemove(w http.ResponseWriter, r *http.Request) {
	var body api.RemoveRequest
	if err := json.NewDecoder(r.Body).Decode(&body); tooLarge(err) { // r.Body is capped (shed)
		writeError(w, bodyTooLarge(maxAdminBodyBytes))
		return
	} else if err != nil || body.Node == "" {
		writeError(w, badRequest("bad_body", "want {\"node\": \"name\"}"))
		return
	}
	if body.Node == h.cfg.Name {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "remove_self", Message: "a node can't remove itself; use leave"})
		return
	}
	rec, ok := h.members.clusterView().Members[body.Node]
	if !ok || !membership.InRing(rec.Status) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: "unknown_node", Message: fmt.Sprintf("%s is not in the ring", body.Node)})
		return
	}
	if h.peers.Alive(body.Node) {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "node_alive",
			Message: fmt.Sprintf("%s is alive; ask it to leave instead (remove is for dead nodes)", body.Node)})
		return
	}
	// Mark the record removed on the owner, against the record as it is
	// then: if it changed since it was read above (the node came back,
	// left, or was removed by another request), say so instead of
	// answering removed for a change that was not made.
	var cur membership.Record
	_, changed := h.members.updateCluster(func(c membership.State) (membership.State, bool) {
		cur = c.Members[body.Node]
		if cur != rec {
			return c, false
		}
		cur.Status = membership.StatusRemoved
		cur.Version++
		return c.Merge(cur)
	})
	if !changed {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "remove_conflict",
			Message: fmt.Sprintf("%s's record changed while it was being removed (now %s); check the members and retry", body.Node, cur.Status)})
		return
	}
	h.members.announce(cur)
	writeJSON(w, http.StatusOK, api.RemoveResult{Status: "removed", Node: body.Node})
}

func (h *httpAPI) handleHealth(w http.ResponseWriter, r *http.Request) {
	if err := h.rep.storageErr.Load(); err != nil {
		writeError(w, errUnavailable("storage_failed", fmt.Sprintf("a write failed to reach stable storage (%v); this node refuses writes until it is restarted", *err)))
		return
	}
	select {
	case <-h.ready:
		b := buildinfo.Get()
		hl := api.Health{Status: api.StatusOK, Version: b.Version, Commit: b.Commit, GoVersion: b.GoVersion, Versions: h.cfg.versionsJSON()}
		var warnings []string
		if h.cfg.Insecure && len(h.cfg.securityGaps()) > 0 {
			hl.Insecure = true
			warnings = append(warnings, insecureBanner)
		}
		if ds, ok := h.rep.diskSpace(); ok {
			hl.Disk = &api.DiskHealth{FreeBytes: ds.Free, ReserveBytes: ds.Reserve, Full: ds.Full}
			if ds.Full {
				warnings = append(warnings, diskFullWarning)
			}
		}
		hl.Warning = strings.Join(warnings, "; ")
		writeJSON(w, http.StatusOK, hl)
	default:
		writeError(w, errUnavailable("starting", "the node is starting"))
	}
}

// explain adds what this node knows to a coordination error before it is
// answered: a refusal that came back from another coordinator lacks the
// ring's size (it does not cross the wire), which says when the cluster
// is smaller than N.
func (h *httpAPI) explain(err error) error {
	var ue *UnavailableError
	if errors.As(err, &ue) && ue.N == 0 {
		shortRing(ue, h.ring.Load(), h.cfg.Ring.N)
	}
	return err
}

// readValue reads a PUT's body of at most limit bytes: into one buffer of
// its Content-Length when it has one (shed reserved that much), so a
// value costs its size and not the doublings of io.ReadAll.
func readValue(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, int64(limit))
	if r.ContentLength < 0 || r.ContentLength > int64(limit) {
		return io.ReadAll(body)
	}
	v := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(body, v); err != nil {
		return nil, err
	}
	return v, nil
}
