package node

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/dynago/dynago/vclock"
)

// FuzzWritePath drives the whole client write path of a one-node store
// from the HTTP request (method, key, query parameters, context token,
// body) through coordination, the counter arithmetic and the merge, plus
// the replica side's merge of an arbitrary decoded state (issue 10, hole
// 5). No input may crash the node, wedge it or store a state that does
// not decode: every answer is a known status, errors are JSON with a code,
// and the node still takes an ordinary write afterwards.
func FuzzWritePath(f *testing.F) {
	cfg := testConfig(f, "n1", true)
	cfg.Ring.N, cfg.Quorum.R, cfg.Quorum.W = 1, 1, 1
	tn := startNode(f, cfg)
	h := tn.node.httpSrv.Handler
	do := func(method, target, tok string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/", bytes.NewReader(body))
		u, err := url.Parse(target)
		if err != nil {
			u = &url.URL{Path: target}
		}
		req.URL, req.RequestURI = u, u.RequestURI()
		if tok != "" {
			req.Header.Set(headerContext, tok)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	// A real context of a key, with its owner actor, to mutate.
	first := do("PUT", "/kv/seed", "", []byte("v"))
	real := first.Header().Get(headerContext)
	raw, _ := base64.RawURLEncoding.DecodeString(real)
	f.Add(uint8(0), "seed", "w=1", raw, []byte("x"), []byte(nil))
	f.Add(uint8(1), "seed", "", raw, []byte(nil), []byte(nil))
	f.Add(uint8(0), "seed", "returnbody=true&timeout=5", append(bytes.Clone(raw), 0xff), []byte("y"), []byte(nil))
	f.Add(uint8(0), "k", "w=all&pw=1", []byte{1, 1, 2, 'n', '1', 1, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte("z"), []byte(nil))
	f.Add(uint8(2), "k", "r=1", []byte(nil), []byte(nil), []byte{1, 0, 0})
	// Keys a URL path can't carry (ServeMux would redirect): found by this
	// fuzzer as a 307 instead of a 400.
	f.Add(uint8(0), ".", "", []byte(nil), []byte("v"), []byte(nil))
	f.Add(uint8(2), "a/../b", "", []byte(nil), []byte(nil), []byte(nil))
	f.Add(uint8(1), "a//b", "", []byte(nil), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, op uint8, key, query string, ctxRaw, body, state []byte) {
		if len(key) > 2048 || len(body) > 1<<16 {
			return
		}
		tok := ""
		if len(ctxRaw) > 0 {
			tok = base64.RawURLEncoding.EncodeToString(ctxRaw)
		}
		if strings.ContainsFunc(query, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '#' }) {
			return // not expressible in a request line
		}
		target := "/kv/" + url.PathEscape(key) + "?" + query
		var rec *httptest.ResponseRecorder
		switch op % 4 {
		case 0:
			rec = do("PUT", target, tok, body)
		case 1:
			rec = do("DELETE", target, tok, nil)
		case 2:
			rec = do("GET", target, "", nil)
		case 3:
			// The replica side: merge an arbitrary state into the key.
			var st vclock.State
			if key == "" || len(key) > cfg.MaxKeyBytes || st.UnmarshalBinary(state) != nil {
				return
			}
			if _, err := tn.node.rep.applyLocal(t.Context(), []byte(key), st); err != nil {
				t.Fatalf("merge of a valid state failed: %v", err)
			}
		}
		if rec != nil {
			switch rec.Code {
			case 200, 204, 300, 404:
			case 400, 405, 409, 413, 414, 503:
				var e struct{ Code string }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" {
					t.Fatalf("%s %s: %d with a body that is not a JSON error: %q", []string{"PUT", "DELETE", "GET"}[op%4], target, rec.Code, rec.Body)
				}
			default:
				t.Fatalf("%s %q ctx %q: unexpected status %d %s", []string{"PUT", "DELETE", "GET"}[op%4], target, tok, rec.Code, rec.Body)
			}
		}
		if key != "" && len(key) <= cfg.MaxKeyBytes {
			if _, err := tn.node.rep.readLocal(t.Context(), []byte(key)); err != nil {
				t.Fatalf("the stored state of %q does not decode: %v", key, err)
			}
		}
		canary := do("GET", "/kv/canary", "", nil).Header().Get(headerContext)
		if c := do("PUT", "/kv/canary", canary, []byte("c")); c.Code != http.StatusNoContent {
			t.Fatalf("the node no longer takes an ordinary write: %d %s", c.Code, c.Body)
		}
	})
}
