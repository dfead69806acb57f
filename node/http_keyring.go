package node

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/internal/wire"
)

// handleKeyring is GET and POST /cluster/keyring (keyring.go): the
// operation runs on this node and on every live member, over internode
// RPC, and each answers its keyring after it.
func (h *httpAPI) handleKeyring(w http.ResponseWriter, r *http.Request) {
	req := wire.KeyringRequest{Op: wire.KeyringList}
	if r.Method == http.MethodPost {
		var body api.KeyringRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
			writeError(w, badRequest("bad_body", `want {"op": "install|use|remove", "key": "<base64>"}: %v`, err))
			return
		}
		switch body.Op {
		case api.KeyringInstall:
			req.Op = wire.KeyringInstall
		case api.KeyringUse:
			req.Op = wire.KeyringUse
		case api.KeyringRemove:
			req.Op = wire.KeyringRemove
		default:
			writeError(w, badRequest("bad_op", "keyring operation %q: want install, use or remove", body.Op))
			return
		}
		key, err := ParseGossipKey(body.Key)
		if err != nil {
			writeError(w, badRequest("bad_key", "%v", err))
			return
		}
		req.Key = key
	}
	if h.keys.g.Keyring() == nil {
		writeError(w, &apiError{Status: http.StatusConflict, Code: "encryption_off", Message: ErrGossipEncryptionOff.Error()})
		return
	}
	if req.Op == wire.KeyringUse || req.Op == wire.KeyringRemove {
		// Checked everywhere first: a key made primary where another
		// member lacks it would cut that member off; a member's primary
		// removed would leave it unable to send.
		var missing, primary []string
		for _, row := range h.keyringEverywhere(r.Context(), wire.KeyringRequest{Op: wire.KeyringList}) {
			enc := base64.StdEncoding.EncodeToString(req.Key)
			switch {
			case row.Error != "" || !slices.Contains(row.Keys, enc):
				missing = append(missing, row.Node)
			case row.Primary == enc:
				primary = append(primary, row.Node)
			}
		}
		if req.Op == wire.KeyringUse && len(missing) > 0 {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "key_not_installed",
				Message: "the key is not installed on " + strings.Join(missing, ", ") + " (or it did not answer): install it first"})
			return
		}
		if req.Op == wire.KeyringRemove && len(primary) > 0 {
			writeError(w, &apiError{Status: http.StatusConflict, Code: "primary_key",
				Message: "the key is the primary key of " + strings.Join(primary, ", ") + ": use another key first"})
			return
		}
	}
	writeJSON(w, http.StatusOK, api.Keyring{Nodes: h.keyringEverywhere(r.Context(), req)})
}

// keyringEverywhere runs req on this node and on every member gossip says
// is alive, in parallel, and returns a row each, this node first, then by
// name.
func (h *httpAPI) keyringEverywhere(ctx context.Context, req wire.KeyringRequest) []api.KeyringNode {
	var names, addrs []string
	for _, rec := range h.members.clusterView().Records() {
		if rec.Name != h.cfg.Name && rec.RPC != "" && h.peers.Alive(rec.Name) {
			names, addrs = append(names, rec.Name), append(addrs, rec.RPC)
		}
	}
	rows := make([]api.KeyringNode, 1+len(names))
	keys, err := h.keys.apply(req)
	rows[0] = keyringRow(h.cfg.Name, keys, err)
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, h.cfg.RequestTimeout)
			defer cancel()
			b, err := h.net.client(addrs[i]).Call(cctx, wire.MethodKeyring, req.Marshal())
			if err != nil {
				rows[1+i] = keyringRow(names[i], nil, err)
				return
			}
			resp, err := wire.UnmarshalKeyringResponse(b)
			rows[1+i] = keyringRow(names[i], resp.Keys, err)
		})
	}
	wg.Wait()
	return rows
}

func keyringRow(name string, keys [][]byte, err error) api.KeyringNode {
	row := api.KeyringNode{Node: name}
	if err != nil {
		row.Error = err.Error()
		return row
	}
	row.Keys = encodeKeys(keys)
	if len(keys) > 0 {
		row.Primary = row.Keys[0]
	}
	return row
}

// serveKeyring is wire.MethodKeyring.
func (k *gossipKeyring) serve(payload []byte) ([]byte, error) {
	req, err := wire.UnmarshalKeyringRequest(payload)
	if err != nil {
		return nil, err
	}
	keys, err := k.apply(req)
	if err != nil {
		return nil, err
	}
	return wire.KeyringResponse{Keys: keys}.Marshal(), nil
}
