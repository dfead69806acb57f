package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// dynago health exits 0 on a ready node and 1 on one that answers 503 or
// none; without --addr it asks the address of DYNAGO_HTTP, which is how
// the Dockerfile's HEALTHCHECK finds the agent of its container.
func TestHealth(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(status.Load()))
		if status.Load() == http.StatusOK {
			_, _ = w.Write([]byte(`{"status":"ok","insecure":true,"warning":"INSECURE: test"}`))
		} else {
			_, _ = w.Write([]byte(`{"error":"starting","code":"unavailable"}`))
		}
	}))
	defer srv.Close()
	listen := strings.TrimPrefix(srv.URL, "http://")
	_, port, _ := strings.Cut(listen, ":")

	t.Setenv("DYNAGO_HTTP", "0.0.0.0:"+port)
	res := runCLI(t, "", "health")
	if res.code != 0 || strings.TrimSpace(res.stdout) != "ok" || !strings.Contains(res.stderr, "INSECURE") {
		t.Fatalf("health of a ready node via DYNAGO_HTTP: %s", res)
	}
	status.Store(http.StatusServiceUnavailable)
	if res := runCLI(t, "", "health", "--addr", srv.URL); res.code != 1 {
		t.Fatalf("health of a node answering 503: %s", res)
	}
	t.Setenv("DYNAGO_HTTP", "")
	if res := runCLI(t, "", "health", "--addr", "http://127.0.0.1:1", "--timeout", "2s"); res.code != 1 {
		t.Fatalf("health of no node: %s", res)
	}
	if res := runCLI(t, "", "health", "extra"); res.code != 2 {
		t.Fatalf("health with an argument: %s", res)
	}
}

func TestAgentAddr(t *testing.T) {
	for _, tc := range []struct {
		listen string
		tls    bool
		want   string
	}{
		{"", false, defaultAddr},
		{"0.0.0.0:9000", false, "http://127.0.0.1:9000"},
		{"[::]:9000", true, "https://127.0.0.1:9000"},
		{"10.1.2.3:8080", true, "https://10.1.2.3:8080"},
		{"garbage", false, defaultAddr},
	} {
		if got := agentAddr(tc.listen, tc.tls); got != tc.want {
			t.Errorf("agentAddr(%q, %v) = %q, want %q", tc.listen, tc.tls, got, tc.want)
		}
	}
}
