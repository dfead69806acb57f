package node

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/faulty"
)

// errDiskFull is what storage/badger returns for a write that met ENOSPC
// and left nothing behind.
var errDiskFull = fmt.Errorf("%w: badger: commit: %w", storage.ErrNoSpace, syscall.ENOSPC)

// A full disk makes writes fail with 507 (JSON, disk_full) through the
// node that was asked (which forwards to a coordinator that has the key:
// the error crosses the wire whole), leaves what is stored as it was, and
// writes work again once space returns, without a restart.
func TestDiskFullIs507ThenRecovers(t *testing.T) {
	var full atomic.Bool
	nodes := startCluster(t, clusterOpts{n: 2, inMemory: true, mutate: func(i int, c *Config) {
		c.Ring.N, c.Quorum.R, c.Quorum.W = 1, 1, 1
		if i == 0 {
			c.test.wrap = func(st storage.Store) storage.Store {
				fs := faulty.New(st)
				fs.Inject(func(op faulty.Op, key []byte) error {
					if op == faulty.OpUpdate && full.Load() {
						return errDiskFull
					}
					return nil
				})
				return fs
			}
		}
	}})
	// A key n1 holds (N=1), written before the disk fills.
	var key string
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i)
		if r := nodes[0].node.Ring(); r.Owner(r.Partition([]byte(k))) == "n1" {
			key = k
			break
		}
	}
	before := nodes[0].put(key, "before", "")
	if before.status != http.StatusNoContent {
		t.Fatalf("PUT before: %d %s", before.status, before.body)
	}
	full.Store(true)
	for _, via := range nodes { // n1 coordinates itself; n2 forwards to n1
		r := via.put(key, "during", "")
		if r.status != http.StatusInsufficientStorage {
			t.Fatalf("PUT via %s with the disk full: %d %s, want 507", via.cfg.Name, r.status, r.body)
		}
		if code := r.json(t)["code"]; code != "disk_full" {
			t.Fatalf("PUT via %s: code %v, want disk_full", via.cfg.Name, code)
		}
	}
	if r := nodes[0].get(key); r.status != http.StatusOK || string(r.body) != "before" {
		t.Fatalf("GET with the disk full: %d %q, want the value written before", r.status, r.body)
	}
	if r := nodes[0].do("GET", "/health", nil, nil); r.status != http.StatusOK {
		t.Fatalf("/health with the disk full: %d %s", r.status, r.body)
	}
	full.Store(false) // space returns
	if r := nodes[1].put(key, "after", before.header.Get(headerContext)); r.status != http.StatusNoContent {
		t.Fatalf("PUT after space returned: %d %s", r.status, r.body)
	}
	if r := nodes[0].get(key); r.status != http.StatusOK || string(r.body) != "after" {
		t.Fatalf("GET after: %d %q", r.status, r.body)
	}
}
