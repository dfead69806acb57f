package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynago/dynago/storage"
	"github.com/dynago/dynago/storage/faulty"
	"github.com/dynago/dynago/vclock"
)

// coordinatorOf returns the coordinator a write's report names.
func coordinatorOf(r response) string {
	rep := r.header.Get(headerReport)
	i := strings.Index(rep, "coordinator=")
	if i < 0 {
		return ""
	}
	return strings.TrimPrefix(rep[i:], "coordinator=")
}

// keyFor returns a key whose primaries satisfy ok.
func keyFor(t *testing.T, tn *testNode, prefix string, ok func(prims []string) bool) (string, []string) {
	t.Helper()
	rg := tn.node.Ring()
	for i := range 10000 {
		key := fmt.Sprintf("%s-%d", prefix, i)
		prims := names(rg.Primaries(rg.Partition([]byte(key))))
		if ok(prims) {
			return key, prims
		}
	}
	t.Fatalf("no key with the primaries wanted")
	return "", nil
}

// A write that fails on a coordinator it was forwarded to answers the
// client with the same status and JSON body, every detail included, as
// the same failure coordinated on the node the client asked: the failure
// crosses the wire as a typed error, not as a status and a message.
// (Before errors were typed, the alive and down lists of an unavailable
// write were lost on the way back.)
func TestForwardedFailureKeepsDetails(t *testing.T) {
	var failing atomic.Bool
	nodes := startCluster(t, clusterOpts{n: 5, inMemory: true, mutate: func(i int, c *Config) {
		if i == 4 { // n5's data writes fail while failing is set
			c.test.wrap = func(s storage.Store) storage.Store {
				f := faulty.New(s)
				f.Inject(func(op faulty.Op, key []byte) error {
					if failing.Load() && op == faulty.OpUpdate && len(key) > 0 && key[0] == storage.PrefixData {
						return errors.New("injected disk failure")
					}
					return nil
				})
				return f
			}
		}
	}})
	via := nodes[0] // n1 is no replica of the keys below: it forwards
	byName := map[string]*testNode{}
	for _, tn := range nodes {
		byName[tn.cfg.Name] = tn
	}
	compare := func(what string, local, fwd response, detail ...string) {
		t.Helper()
		if c := coordinatorOf(fwd); c == "" || c == via.cfg.Name {
			t.Fatalf("%s: the write through %s was not forwarded (coordinator %q)", what, via.cfg.Name, c)
		}
		if local.status != 503 || fwd.status != local.status {
			t.Fatalf("%s: local %d %s, forwarded %d %s", what, local.status, local.body, fwd.status, fwd.body)
		}
		lb, fb := local.json(t), fwd.json(t)
		for _, k := range detail {
			if _, ok := lb[k]; !ok {
				t.Fatalf("%s: the local body has no %q: %s", what, k, local.body)
			}
		}
		if !reflect.DeepEqual(lb, fb) {
			t.Fatalf("%s: the forwarded failure's body differs from the local one's:\nlocal:     %s\nforwarded: %s", what, local.body, fwd.body)
		}
	}

	// Indeterminate: n5, a primary that is not the first (the forward's
	// coordinator), fails to store the write; both others ack.
	key, prims := keyFor(t, via, "indet", func(p []string) bool {
		return !slices.Contains(p, "n1") && slices.Contains(p, "n5") && p[0] != "n5"
	})
	failing.Store(true)
	local := byName[prims[0]].put(key, "v", "", "w=3", "sloppy=false")
	fwd := via.put(key, "v", "", "w=3", "sloppy=false")
	failing.Store(false)
	compare("indeterminate write", local, fwd, "indeterminate", "acked", "failed", "pending")
	if b := local.json(t); b["code"] != "write_indeterminate" || !strings.Contains(fmt.Sprint(b["failed"]), "n5") {
		t.Fatalf("want write_indeterminate with n5 failed: %s", local.body)
	}

	// Unavailable: n4, a primary, is down; w=3 on the primaries only is
	// refused before anything is written, naming who is alive and down.
	key, prims = keyFor(t, via, "unavail", func(p []string) bool {
		return !slices.Contains(p, "n1") && slices.Contains(p, "n4")
	})
	byName["n4"].stop()
	waitFor(t, "n4 down everywhere", 20*time.Second, func() (bool, string) {
		for _, tn := range nodes[:3] {
			if tn.node.peers.Alive("n4") {
				return false, tn.cfg.Name + " sees n4 alive"
			}
		}
		if byName["n5"].node.peers.Alive("n4") {
			return false, "n5 sees n4 alive"
		}
		return true, ""
	})
	coord := prims[0]
	if coord == "n4" {
		coord = prims[1]
	}
	local = byName[coord].put(key, "v", "", "w=3", "sloppy=false")
	fwd = via.put(key, "v", "", "w=3", "sloppy=false")
	compare("unavailable write", local, fwd, "indeterminate", "alive", "down")
	if b := local.json(t); b["code"] != "unavailable" || fmt.Sprint(b["down"]) != "[n4]" {
		t.Fatalf("want unavailable with n4 down: %s", local.body)
	}
}

// errorResponse answers each typed error with the status and body the
// HTTP contract had before errors were typed (DESIGN.md §5), byte for
// byte; the bodies below were built from the handlers of that time.
func TestErrorResponse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"write refused, replicas down", &UnavailableError{Op: opWrite, Reason: ReasonTooFewAlive, Need: 3, NeedPrimary: 2,
			Alive: []string{"n1", "n4"}, AlivePrimaries: 1, Down: []string{"n3"}}, 503,
			`{"acks":0,"alive":["n1","n4"],"code":"unavailable","down":["n3"],"error":"write needs 3 replicas (2 of them primaries) but only 2 are alive (1 primaries: [n1 n4]; down: [n3]); nothing was written","indeterminate":false,"pw":2,"w":3}`},
		{"read refused, replicas down", &UnavailableError{Op: opRead, Reason: ReasonTooFewAlive, Need: 2, Down: []string{"n2", "n3"}}, 503,
			`{"alive":[],"code":"unavailable","down":["n2","n3"],"error":"read needs 2 replicas (0 of them primaries) but only 0 are alive (0 primaries: []; down: [n2 n3]); nothing was read","indeterminate":false}`},
		{"not a replica any more", &UnavailableError{Op: opWrite, Reason: ReasonNotReplica, Need: 2, NeedPrimary: 1}, 503,
			`{"acks":0,"code":"unavailable","error":"this node is not among the key's replicas any more (the ring or liveness changed); nothing was written; retry","indeterminate":false,"pw":1,"w":2}`},
		{"no coordinator", &UnavailableError{Op: opWrite, Reason: ReasonNoCoordinator, Need: 2}, 503,
			`{"acks":0,"code":"unavailable","error":"no replica of this key is reachable to coordinate the write; nothing was written","indeterminate":false,"pw":0,"w":2}`},
		{"no coordinator reached", &UnavailableError{Op: opWrite, Reason: ReasonNoCoordinator, Need: 2, Err: errors.New("rpc: request not sent")}, 503,
			`{"acks":0,"code":"unavailable","error":"no replica of this key could be reached to coordinate the write (last: rpc: request not sent); nothing was written","indeterminate":false,"pw":0,"w":2}`},
		{"write quorum missed", &QuorumError{Op: opWrite, Need: 3, NeedPrimary: 1, Got: 2, GotPrimary: 1,
			Acked: []string{"n1", "n2"}, Failed: []string{"n3"}}, 503,
			`{"acked":["n1","n2"],"acks":2,"code":"write_indeterminate","error":"write quorum not met: 2 of w=3 acks (1 of pw=1 from primaries); the write is indeterminate: it is stored on [n1 n2] and may appear later","failed":["n3"],"indeterminate":true,"pending":[],"pw":1,"w":3}`},
		{"forward unanswered", &QuorumError{Op: opWrite, Need: 2, Err: errors.New("the coordinator n2 did not answer (EOF)")}, 503,
			`{"acked":[],"acks":0,"code":"write_indeterminate","error":"the coordinator n2 did not answer (EOF); the write is indeterminate","failed":[],"indeterminate":true,"pending":[],"pw":0,"w":2}`},
		{"read quorum missed", &QuorumError{Op: opRead, Need: 2, NeedPrimary: 1, Got: 1, Acked: []string{"n1"}, Failed: []string{}, Pending: []string{"n2"}}, 503,
			`{"code":"read_quorum_not_met","error":"read quorum not met: 1 of r=2 replies (0 of pr=1 from primaries)","failed":[],"pending":["n2"],"pr":1,"r":2,"replies":1}`},
		{"impossible context", &ContextError{Actor: vclock.Actor{Node: "n1", Epoch: 7}, Claim: 9, Have: 3}, 400,
			`{"code":"bad_context","error":"the context claims n1.7:9, but that actor has issued counters only up to 3 for this key; send back the context a read returned"}`},
		{"exhausted context", &ContextError{Err: fmt.Errorf("%w: actor n1.7 is at counter 5", vclock.ErrCounterExhausted)}, 400,
			`{"code":"bad_context","error":"the context exhausts a writer's counters: vclock: actor's counter exhausted: actor n1.7 is at counter 5; send back the context a read returned"}`},
		{"too many siblings", &LimitError{Err: ErrTooManySiblings, Limit: 100}, 409,
			`{"code":"too_many_siblings","error":"the key has 100 siblings, the limit is 100: read it and write back with its context to resolve them"}`},
		{"state too large", &LimitError{Err: ErrStateTooLarge, Limit: maxStateBytes}, 413,
			`{"code":"state_too_large","error":"the key's siblings together would exceed 50331648 bytes: resolve them first"}`},
		{"disk full, stored elsewhere", &QuorumError{Op: opWrite, Need: 2, Got: 1, GotPrimary: 1,
			Acked: []string{"n1"}, Failed: []string{"n2", "n3"}, DiskFull: []string{"n2", "n3"}}, 507,
			`{"acked":["n1"],"acks":1,"code":"disk_full","disk_full":["n2","n3"],"error":"disk full on [n2 n3] (free space below the reserve): write quorum not met: 1 of w=2 acks (1 of pw=0 from primaries); the write is indeterminate: it is stored on [n1] and may appear later","failed":["n2","n3"],"indeterminate":true,"pending":[],"pw":0,"w":2}`},
		{"disk full, stored nowhere", &QuorumError{Op: opWrite, Need: 2, Failed: []string{"n1"}, DiskFull: []string{"n1"}, Definite: true}, 507,
			`{"acked":[],"acks":0,"code":"disk_full","disk_full":["n1"],"error":"disk full on [n1] (free space below the reserve): write quorum not met: 0 of w=2 acks; nothing was written; writes succeed again once space is freed","failed":["n1"],"indeterminate":false,"pending":[],"pw":0,"w":2}`},
		{"local write failed", &WriteFailedError{Err: errors.New("injected: commit failed")}, 503,
			`{"code":"write_failed","error":"the coordinator could not store the write: injected: commit failed"}`},
		{"http error", badRequest("bad_param", "w=%q: bad", "x"), 400, `{"code":"bad_param","error":"w=\"x\": bad"}`},
		{"unknown", errors.New("boom"), 500, `{"code":"internal","error":"boom"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := []error{tc.err, fmt.Errorf("wrapped: %w", tc.err)}
			if tc.status == 500 {
				errs = errs[:1] // a wrapped unknown error answers the wrapper's text
			}
			for _, err := range errs {
				status, body := errorResponse(err)
				// The contract is the body's keys and values, not their order.
				b, _ := json.Marshal(body)
				var got, want map[string]any
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal([]byte(tc.body), &want); err != nil {
					t.Fatal(err)
				}
				if status != tc.status || !reflect.DeepEqual(got, want) {
					t.Fatalf("%v answers %d %s\nwant %d %s", err, status, b, tc.status, tc.body)
				}
			}
		})
	}
}

// The typed errors are errors.Is-friendly: their sentinels and causes are
// found through any wrapping, and Error has the package prefix.
func TestErrorsIs(t *testing.T) {
	cause := fmt.Errorf("dial: %w", context.DeadlineExceeded)
	for _, tc := range []struct {
		err  error
		is   []error
		isnt []error
	}{
		{&UnavailableError{Op: opWrite, Reason: ReasonNoCoordinator, Err: cause}, []error{ErrUnavailable, context.DeadlineExceeded}, []error{ErrIndeterminate}},
		{&QuorumError{Op: opWrite}, []error{ErrIndeterminate}, []error{ErrUnavailable}},
		{&QuorumError{Op: opRead}, nil, []error{ErrIndeterminate, ErrUnavailable}},
		{&QuorumError{Op: opWrite, Err: cause}, []error{ErrIndeterminate, context.DeadlineExceeded}, nil},
		{&QuorumError{Op: opWrite, DiskFull: []string{"n2"}}, []error{ErrIndeterminate, storage.ErrNoSpace}, nil},
		{&QuorumError{Op: opWrite, DiskFull: []string{"n2"}, Definite: true}, []error{storage.ErrNoSpace}, []error{ErrIndeterminate}},
		{&ContextError{Err: fmt.Errorf("%w: x", vclock.ErrCounterExhausted)}, []error{ErrBadContext, vclock.ErrCounterExhausted}, nil},
		{&LimitError{Err: ErrTooManySiblings, Limit: 1}, []error{ErrTooManySiblings}, []error{ErrStateTooLarge}},
		{&LimitError{Err: ErrStateTooLarge, Limit: 1}, []error{ErrStateTooLarge}, []error{ErrTooManySiblings}},
		{&WriteFailedError{Err: cause}, []error{context.DeadlineExceeded}, []error{ErrUnavailable}},
	} {
		wrapped := fmt.Errorf("outer: %w", tc.err)
		for _, s := range tc.is {
			if !errors.Is(wrapped, s) {
				t.Errorf("%v is not %v", tc.err, s)
			}
		}
		for _, s := range tc.isnt {
			if errors.Is(wrapped, s) {
				t.Errorf("%v is %v", tc.err, s)
			}
		}
		if !strings.HasPrefix(tc.err.Error(), "node: ") {
			t.Errorf("%q has no package prefix", tc.err)
		}
	}
}
