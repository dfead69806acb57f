package node

import (
	"fmt"
	"net/http"
	"strings"
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

// fullDisk wraps a store so that, while full is set, every write of data
// or hints is refused as storage/badger refuses a write below its disk
// reserve (metadata writes go on, as there).
func fullDisk(full *atomic.Bool) func(storage.Store) storage.Store {
	return func(st storage.Store) storage.Store {
		fs := faulty.New(st)
		fs.Inject(func(op faulty.Op, key []byte) error {
			if op == faulty.OpUpdate && full.Load() && len(key) > 0 && key[0] != storage.PrefixMeta {
				return errDiskFull
			}
			return nil
		})
		return fs
	}
}

// Replicas report a full disk to the coordinator (wire.ApplyNoSpace): a
// write that misses its quorum because replicas' disks are full is a 507
// disk_full naming them, indeterminate when another replica stored it,
// over HTTP and RESP, through the node that coordinates and through one
// that forwards; a write a full node coordinates is refused definitely
// (DISKFULL). Writes succeed again once space returns.
func TestReplicaDiskFullIs507(t *testing.T) {
	var full atomic.Bool
	nodes := startCluster(t, clusterOpts{n: 3, resp: true, inMemory: true, mutate: func(i int, c *Config) {
		if i > 0 { // n2 and n3
			c.test.wrap = fullDisk(&full)
		}
	}})
	const key = "k"
	if r := nodes[0].put(key, "before", "", "w=3"); r.status != http.StatusNoContent {
		t.Fatalf("PUT before: %d %s", r.status, r.body)
	}
	full.Store(true)
	for _, w := range []string{"w=3", "w=2"} {
		r := nodes[0].put(key, "during", "", w)
		if r.status != http.StatusInsufficientStorage {
			t.Fatalf("PUT %s with n2's and n3's disks full: %d %s, want 507", w, r.status, r.body)
		}
		body := r.json(t)
		got := fmt.Sprint(body["disk_full"])
		if body["code"] != "disk_full" || (got != "[n2 n3]" && got != "[n3 n2]") || body["indeterminate"] != true || body["acks"] != 1.0 {
			t.Fatalf("PUT %s: %s; want code disk_full naming n2 and n3, indeterminate (n1 stored it), 1 ack", w, r.body)
		}
	}
	// RESP: stored on n1 only, so indeterminate, and the message says why.
	err := nodes[0].redis().Set(t.Context(), key, "during", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "INDETERMINATE disk full on [n") {
		t.Fatalf("SET via n1 with n2's and n3's disks full: %v; want INDETERMINATE disk full on ...", err)
	}
	// n2 coordinates a write itself (it is a replica): refused at once,
	// stored nowhere.
	r := nodes[1].put(key, "during", "")
	if body := r.json(t); r.status != http.StatusInsufficientStorage || fmt.Sprint(body["disk_full"]) != "[n2]" || body["indeterminate"] != false {
		t.Fatalf("PUT via n2 with its disk full: %d %s; want 507 disk_full [n2], not indeterminate", r.status, r.body)
	}
	err = nodes[1].redis().Set(t.Context(), key, "during", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "DISKFULL ") {
		t.Fatalf("SET via n2 with its disk full: %v; want DISKFULL", err)
	}
	if r := nodes[2].get(key, "r=3"); r.status != http.StatusOK && r.status != http.StatusMultipleChoices {
		t.Fatalf("GET r=3 with disks full: %d %s", r.status, r.body)
	}

	full.Store(false) // space returns
	_, kv := nodes[0].getJSON(key)
	if r := nodes[0].put(key, "after", kv.Context, "w=3"); r.status != http.StatusNoContent {
		t.Fatalf("PUT w=3 after space returned: %d %s", r.status, r.body)
	}
	if r := nodes[2].get(key, "r=3"); r.status != http.StatusOK || string(r.body) != "after" {
		t.Fatalf("GET r=3 after: %d %q", r.status, r.body)
	}
}

// A disk-full failure's RESP reply says so in its prefix when nothing was
// stored (DISKFULL), and keeps INDETERMINATE, with the cause first, when
// a replica stored it; the prefix is a label of its own in the metrics.
func TestRESPDiskFullReply(t *testing.T) {
	for _, tc := range []struct {
		err    error
		prefix string
	}{
		{&QuorumError{Op: opWrite, Need: 2, Failed: []string{"n1"}, DiskFull: []string{"n1"}, Definite: true}, "DISKFULL disk full on [n1] "},
		{&QuorumError{Op: opWrite, Need: 2, Got: 1, Acked: []string{"n1"}, Failed: []string{"n2", "n3"}, DiskFull: []string{"n2", "n3"}},
			"INDETERMINATE disk full on [n2 n3] "},
		{&WriteFailedError{Err: errDiskFull}, "DISKFULL the coordinator could not store the write: "},
		{&WriteFailedError{Err: fmt.Errorf("injected")}, "UNAVAILABLE "},
	} {
		reply := respErrorReply(fmt.Errorf("wrapped: %w", tc.err))
		if !strings.HasPrefix(reply, tc.prefix) {
			t.Errorf("%v replies %q, want the prefix %q", tc.err, reply, tc.prefix)
		}
		if want, _, _ := strings.Cut(tc.prefix, " "); respErrorPrefix(reply) != want {
			t.Errorf("the metrics label of %q is %q, want %q", reply, respErrorPrefix(reply), want)
		}
	}
}
