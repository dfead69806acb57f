package node

import (
	"errors"
	"testing"
)

// A node started on another node's data directory stops at startup with
// a clear error instead of serving that node's data as its own.
func TestForeignDataDirRefused(t *testing.T) {
	a := testConfig(t, "n1", false)
	alone(0, &a)
	n1 := startNode(t, a)
	if r := n1.put("k", "v", ""); r.status != 204 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	n1.stop()

	b := testConfig(t, "n2", false)
	alone(0, &b)
	b.DataDir = a.DataDir
	_, err := New(b, openTestStore(t, b), nil)
	if !errors.Is(err, ErrForeignDataDir) {
		t.Fatalf("New on n1's data dir as n2: %v, want ErrForeignDataDir", err)
	}
	t.Logf("error: %v", err)

	// Its own node still starts on it.
	a.Join = nil
	if r := startNode(t, a).get("k"); r.status != 200 || string(r.body) != "v" {
		t.Fatalf("n1 restarted on its directory: GET %d %s", r.status, r.body)
	}
}
