package test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Real agents on real badger (N=3, W=2): when a write fails to reach
// stable storage on n2 (its store's sync fails: POST /debug/faults
// {"fail_sync": true} with --test-faults), the client is told the write
// is indeterminate, and the agent exits with code 1 at once, saying why,
// without closing its store; the cluster takes writes meanwhile; started
// again, as its supervisor would, n2 recovers its store from its log,
// serves every acknowledged write and takes writes. Before, the agent
// stayed up refusing writes until someone restarted it.
func TestProcessStorageFailureExits(t *testing.T) {
	var agents []*agent
	for i := range 3 {
		join := ""
		if i > 0 {
			join = agents[0].gossip
		}
		a := newAgent(t, fmt.Sprintf("n%d", i+1), join)
		a.flags = append(a.flags, "--test-faults")
		a.start(t)
		agents = append(agents, a)
	}
	waitAlive(t, agents[0].url(), 3)
	n1, n2 := agents[0], agents[1]

	var acked []string
	put := func(a *agent, key string) kvResult {
		t.Helper()
		r := kvDo(t, "PUT", a.url()+"/kv/"+key, []byte("v-"+key))
		if r.status == http.StatusNoContent {
			acked = append(acked, key)
		}
		return r
	}
	for i := range 20 {
		if r := put(n1, fmt.Sprintf("before%d", i)); r.status != http.StatusNoContent {
			t.Fatalf("PUT before the fault: %d %s", r.status, r.body)
		}
	}

	if r := kvDo(t, "POST", n2.url()+"/debug/faults", []byte(`{"fail_sync": true}`)); r.status != http.StatusOK {
		t.Fatalf("inject fail_sync on n2: %d %s", r.status, r.body)
	}
	// n2 is one of the key's 3 replicas, so it coordinates the write itself.
	if r := put(n2, "failing"); r.status != http.StatusServiceUnavailable || r.err["code"] != "write_indeterminate" || r.err["indeterminate"] != true {
		t.Fatalf("PUT whose sync fails on its coordinator: %d %s; want 503 write_indeterminate", r.status, r.body)
	}
	select {
	case <-n2.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("n2's store failed and the agent is still running 15 s later")
	}
	var ee *exec.ExitError
	if !errors.As(n2.exitErr, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("n2's exit: %v; want exit code 1", n2.exitErr)
	}
	log, err := os.ReadFile(n2.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "storage failed") || strings.Contains(string(log), `msg="node stopped"`) {
		t.Fatalf("n2's log should say its storage failed and show no clean stop:\n%s", log)
	}

	// The cluster takes writes without n2 (W=2 of n1 and n3).
	for i := range 10 {
		if r := put(n1, fmt.Sprintf("during%d", i)); r.status != http.StatusNoContent {
			t.Fatalf("PUT while n2 is down: %d %s", r.status, r.body)
		}
	}

	// Started again (its supervisor's job), n2 recovers and serves.
	n2.start(t)
	waitAlive(t, n2.url(), 3)
	for _, key := range acked {
		r := kvDo(t, "GET", n2.url()+"/kv/"+key, nil)
		if r.status != http.StatusOK || string(r.body) != "v-"+key {
			t.Fatalf("GET %s via the restarted n2: %d %s", key, r.status, r.body)
		}
	}
	if r := put(n2, "after"); r.status != http.StatusNoContent {
		t.Fatalf("PUT via the restarted n2: %d %s", r.status, r.body)
	}
	t.Logf("%d acknowledged writes read back through the restarted n2", len(acked))
}
