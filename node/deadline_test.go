package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynago/dynago/storage"
)

// slowUpdateStore makes one key's writes slow on its node: a delay that
// ignores the context (a disk taking its time over an fsync), or a stall
// until released or the caller gives up (a replica that does not answer).
type slowUpdateStore struct {
	storage.Store
	key     []byte
	delay   atomic.Int64 // nanoseconds each matching Update sleeps
	stalled atomic.Bool
	release chan struct{}
}

func (s *slowUpdateStore) Update(ctx context.Context, k []byte, fn func(old []byte, found bool) ([]byte, error)) error {
	if bytes.HasSuffix(k, s.key) {
		time.Sleep(time.Duration(s.delay.Load()))
		if s.stalled.Load() {
			select {
			case <-s.release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return s.Store.Update(ctx, k, fn)
}

// TestWriteAnsweredWithinItsTimeout: a write's timeout bounds the whole
// request. The coordinator's own write takes most of it and the other
// replicas never answer; the client still gets its answer (503
// write_indeterminate, stored on the coordinator) when the timeout ends.
// When the local write and the wait for acks each had their own timeout,
// the answer came after the local write's time plus a whole timeout
// (5.4 s here for a 3 s timeout), after clients with a deadline near the
// timeout had given up on it with no answer (the soak's "no answer within
// 5 s" at a node just restarted, its disk slow).
func TestWriteAnsweredWithinItsTimeout(t *testing.T) {
	const (
		key     = "deadline"
		timeout = 3 * time.Second
		local   = timeout * 8 / 10 // the coordinator's own write
		slack   = timeout * 4 / 10 // scheduling, under -race on a busy machine
	)
	stores := make([]*slowUpdateStore, 3)
	nodes := startCluster(t, clusterOpts{n: 3, inMemory: true, mutate: func(i int, c *Config) {
		stores[i] = &slowUpdateStore{key: []byte(key), release: make(chan struct{})}
		c.test.wrap = func(st storage.Store) storage.Store { stores[i].Store = st; return stores[i] }
	}})
	t.Cleanup(func() {
		for _, s := range stores {
			close(s.release)
		}
	})
	// Every node is one of the key's 3 replicas; n1 coordinates.
	stores[0].delay.Store(int64(local))
	stores[1].stalled.Store(true)
	stores[2].stalled.Store(true)

	start := time.Now()
	r := nodes[0].put(key, "v", "", "w=2", fmt.Sprintf("timeout=%d", timeout.Milliseconds()))
	took := time.Since(start)
	t.Logf("answered in %v (timeout %v, local write %v)", took, timeout, local)
	var body struct {
		Code          string   `json:"code"`
		Indeterminate bool     `json:"indeterminate"`
		Acked         []string `json:"acked"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || r.status != http.StatusServiceUnavailable ||
		body.Code != "write_indeterminate" || !body.Indeterminate || len(body.Acked) != 1 || body.Acked[0] != "n1" {
		t.Fatalf("PUT: %d %s; want 503 write_indeterminate acked by n1 only", r.status, r.body)
	}
	if took > timeout+slack {
		t.Fatalf("answered after %v: the request's timeout was %v (the local write took %v of it)", took, timeout, local)
	}
}
