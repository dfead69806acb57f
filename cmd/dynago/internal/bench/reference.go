package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// MapHandler is the reference server's handler: a map behind a
// sync.RWMutex. PUT /kv/{key} stores the body (204), GET returns it (200)
// or 404, DELETE removes it (204). Query parameters and headers are ignored.
// It is the ceiling for one HTTP request in Go on this machine (DESIGN.md §8).
type MapHandler struct {
	mu sync.RWMutex
	m  map[string][]byte
}

// NewMapHandler returns an empty MapHandler.
func NewMapHandler() *MapHandler { return &MapHandler{m: make(map[string][]byte)} }

// ServeHTTP implements http.Handler. Stored slices are never modified, so
// GET writes them outside the lock.
func (h *MapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/kv/")
	if !ok || key == "" {
		http.Error(w, `{"error":"no such endpoint","code":"not_found"}`, http.StatusNotFound)
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.mu.RLock()
		v, found := h.m[key]
		h.mu.RUnlock()
		if !found {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(v)
	case http.MethodPut:
		v, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, `{"error":"reading body","code":"bad_request"}`, http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.m[key] = v
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		h.mu.Lock()
		delete(h.m, key)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, `{"error":"method not allowed","code":"bad_request"}`, http.StatusMethodNotAllowed)
	}
}

// Len returns the number of stored keys.
func (h *MapHandler) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.m)
}

// Reference is a running reference server on 127.0.0.1.
type Reference struct {
	// URL is the server's base URL, e.g. "http://127.0.0.1:41234".
	URL     string
	Handler *MapHandler
	srv     *http.Server
	done    chan error
}

// StartReference starts the reference map server on 127.0.0.1:0. Call
// Close to stop it.
func StartReference() (*Reference, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: reference server: %w", err)
	}
	h := NewMapHandler()
	r := &Reference{
		URL:     "http://" + ln.Addr().String(),
		Handler: h,
		srv:     &http.Server{Handler: h},
		done:    make(chan error, 1),
	}
	go func() { r.done <- r.srv.Serve(ln) }()
	return r, nil
}

// Close shuts the server down, waiting for in-flight requests until ctx
// is done, and waits for its serving goroutine.
func (r *Reference) Close(ctx context.Context) error {
	err := r.srv.Shutdown(ctx)
	if serr := <-r.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
