package client_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node/api"
)

// values returns a result's siblings as sorted strings.
func values(res *client.Result) []string {
	var out []string
	for _, s := range res.Siblings {
		out = append(out, string(s))
	}
	slices.Sort(out)
	return out
}

// union resolves siblings of comma-separated items into their sorted set.
func union(siblings [][]byte) ([]byte, error) {
	var items []string
	for _, s := range siblings {
		for it := range strings.SplitSeq(string(s), ",") {
			if it != "" && !slices.Contains(items, it) {
				items = append(items, it)
			}
		}
	}
	slices.Sort(items)
	return []byte(strings.Join(items, ",")), nil
}

// TestCluster runs the client against a real 3-node cluster (N=3,
// R=W=2) in this process. Its last part stops n1.
func TestCluster(t *testing.T) {
	nodes, err := startCluster(3, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, tn := range nodes {
			tn.stop()
		}
	}()
	urls := []string{nodes[0].url, nodes[1].url, nodes[2].url}
	c, err := client.New(urls)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// via returns a client of node i alone.
	via := func(i int) *client.Client {
		c, err := client.New([]string{urls[i]})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("put get delete", func(t *testing.T) {
		w, err := c.Put(ctx, "a/b c", []byte("v1"), &client.WriteOptions{W: client.All})
		if err != nil || w.Context == "" || w.Status != 204 {
			t.Fatalf("Put = %+v, %v", w, err)
		}
		res, err := via(2).Get(ctx, "a/b c", &client.ReadOptions{R: client.All, PR: client.Replicas(3)})
		if err != nil || !slices.Equal(values(res), []string{"v1"}) || res.Context == "" || !strings.HasPrefix(res.Report, "r=3 pr=3") {
			t.Fatalf("Get = %+v, %v", res, err)
		}
		if _, err := c.Delete(ctx, "a/b c", &client.WriteOptions{Context: res.Context}); err != nil {
			t.Fatal(err)
		}
		_, err = c.Get(ctx, "a/b c", &client.ReadOptions{R: client.All})
		var e *client.Error
		if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &e) || e.Status != 404 || e.Code != "not_found" || e.Context == "" {
			t.Fatalf("Get after delete: %v (%+v); want not found with the tombstone's context", err, e)
		}
		// JSON form: the same outcome, the node's JSON in the Body.
		_, err = c.Get(ctx, "a/b c", &client.ReadOptions{AcceptJSON: true})
		if !errors.As(err, &e) || !errors.Is(err, client.ErrNotFound) || !bytes.HasPrefix(e.Body, []byte(`{"found":false,"context":"`)) {
			t.Fatalf("JSON get after delete: %v, body %s", err, e.Body)
		}
	})

	t.Run("siblings and update", func(t *testing.T) {
		// Two blind writes through two coordinators: neither saw the other.
		for i, v := range []string{"apples", "pears"} {
			if _, err := via(i).Put(ctx, "basket", []byte(v), &client.WriteOptions{W: client.All}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := c.Get(ctx, "basket", &client.ReadOptions{R: client.All})
		if err != nil || !slices.Equal(values(res), []string{"apples", "pears"}) || res.Status != 300 {
			t.Fatalf("Get = %+v, %v; want two siblings", res, err)
		}
		if err := c.Update(ctx, "basket", union); err != nil {
			t.Fatal(err)
		}
		res, err = c.Get(ctx, "basket", &client.ReadOptions{R: client.All})
		if err != nil || !slices.Equal(values(res), []string{"apples,pears"}) {
			t.Fatalf("after Update: %+v, %v", res, err)
		}
		// Update of a key that does not exist starts from nothing.
		if err := c.Update(ctx, "new-basket", func(s [][]byte) ([]byte, error) {
			if s != nil {
				t.Errorf("siblings of a new key: %q", s)
			}
			return []byte("figs"), nil
		}); err != nil {
			t.Fatal(err)
		}
		// An error from resolve stops Update before it writes.
		stop := errors.New("no")
		if err := c.Update(ctx, "new-basket", func([][]byte) ([]byte, error) { return nil, stop }); !errors.Is(err, stop) {
			t.Errorf("Update with a failing resolve: %v", err)
		}
		res, err = c.Get(ctx, "new-basket", nil)
		if err != nil || !slices.Equal(values(res), []string{"figs"}) {
			t.Fatalf("Get = %+v, %v", res, err)
		}
	})

	t.Run("update retries on a concurrent sibling", func(t *testing.T) {
		other := via(1)
		var calls atomic.Int64
		// The first resolution races with another writer: its write lands
		// between Update's read and write.
		err := c.Update(ctx, "cart", func(s [][]byte) ([]byte, error) {
			if calls.Add(1) == 1 {
				if _, err := other.Put(ctx, "cart", []byte("milk"), &client.WriteOptions{W: client.All}); err != nil {
					t.Error(err)
				}
			}
			v, _ := union(s)
			return union([][]byte{v, []byte("eggs")})
		})
		if err != nil || calls.Load() != 2 {
			t.Fatalf("Update: %v after %d resolutions, want 2", err, calls.Load())
		}
		res, err := c.Get(ctx, "cart", &client.ReadOptions{R: client.All})
		if err != nil || !slices.Equal(values(res), []string{"eggs,milk"}) {
			t.Fatalf("Get = %+v, %v", res, err)
		}

		// A writer that always gets in between: bounded, then ErrConflict.
		c2, _ := client.New(urls, client.WithUpdateAttempts(2))
		calls.Store(0)
		err = c2.Update(ctx, "cart", func(s [][]byte) ([]byte, error) {
			calls.Add(1)
			if _, err := other.Put(ctx, "cart", []byte("bread"), &client.WriteOptions{W: client.All}); err != nil {
				t.Error(err)
			}
			return union(s)
		})
		if !errors.Is(err, client.ErrConflict) || calls.Load() != 2 {
			t.Fatalf("Update against a constant writer: %v after %d resolutions", err, calls.Load())
		}
	})

	t.Run("bad request", func(t *testing.T) {
		_, err := c.Get(ctx, "k", &client.ReadOptions{R: client.Replicas(9)})
		var e *client.Error
		if !errors.Is(err, client.ErrBadRequest) || !errors.As(err, &e) || e.Code != "bad_param" || e.Status != 400 {
			t.Fatalf("r=9: %v", err)
		}
		_, err = c.Put(ctx, "k", []byte("v"), &client.WriteOptions{Context: "not a context"})
		if !errors.Is(err, client.ErrBadRequest) || !errors.As(err, &e) || e.Code != "bad_context" || errors.Is(err, client.ErrIndeterminate) {
			t.Fatalf("bad context: %v", err)
		}
	})

	t.Run("admin", func(t *testing.T) {
		ms, res, err := c.Members(ctx)
		if err != nil || len(ms) != 3 || res.Node != urls[0] {
			t.Fatalf("Members = %+v, %+v, %v", ms, res, err)
		}
		rg, _, err := c.Ring(ctx)
		if err != nil || rg.Partitions != 8 || rg.N != 3 || len(rg.Preflists) != 8 {
			t.Fatalf("Ring = %+v, %v", rg, err)
		}
		if h, _, err := c.Health(ctx); err != nil || h.Status != "ok" {
			t.Fatalf("Health = %+v, %v", h, err)
		}
		rep, _, err := c.Replica(ctx, "basket")
		if err != nil || rep.Node != "n1" || len(rep.Versions) == 0 {
			t.Fatalf("Replica = %+v, %v", rep, err)
		}
		if a, _, err := c.AAE(ctx); err != nil || a.Node != "n1" || len(a.Partitions) != 8 {
			t.Fatalf("AAE = %+v, %v", a, err)
		}
		if _, _, err := c.Plan(ctx, api.PlanChange{Op: api.PlanJoin, Node: "n4"}); err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Remove(ctx, "n2")
		var e *client.Error
		if !errors.As(err, &e) || e.Status != 409 || e.Code != "node_alive" {
			t.Fatalf("Remove of a live node: %v", err)
		}
	})

	// Last: n1 stops. Requests fail over to n2; once n2 sees n1 down, a
	// quorum of all is refused before anything is written.
	t.Run("failover", func(t *testing.T) {
		nodes[0].stop()
		w, err := c.Put(ctx, "after", []byte("v"), nil)
		if err != nil || w.Node == urls[0] {
			t.Fatalf("Put with n1 stopped = %+v, %v", w, err)
		}
		res, err := c.Get(ctx, "after", nil)
		if err != nil || !slices.Equal(values(res), []string{"v"}) || res.Node != w.Node {
			t.Fatalf("Get with n1 stopped = %+v, %v", res, err)
		}
		if err := waitDown(urls[1], "n1", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if err := waitDown(urls[2], "n1", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		_, err = c.Put(ctx, "after", []byte("w"), &client.WriteOptions{Context: res.Context, W: client.All})
		var e *client.Error
		if !errors.Is(err, client.ErrUnavailable) || errors.Is(err, client.ErrIndeterminate) || !errors.As(err, &e) ||
			e.Code != "unavailable" || e.Details.Down == nil || !slices.Equal(slices.Sorted(slices.Values(e.Details.Alive)), []string{"n2", "n3"}) {
			t.Fatalf("Put with w=all and n1 down: %v (%+v)", err, e)
		}
		if e.Details.Indeterminate == nil || *e.Details.Indeterminate || e.Details.Acks == nil || *e.Details.Acks != 0 {
			t.Errorf("details %+v: want indeterminate false and 0 acks", e.Details)
		}
		_, err = c.Get(ctx, "after", &client.ReadOptions{R: client.All})
		if !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("Get with r=all and n1 down: %v", err)
		}
		// Nothing was written: the value is the one before.
		res, err = c.Get(ctx, "after", nil)
		if err != nil || !slices.Equal(values(res), []string{"v"}) {
			t.Fatalf("Get = %+v, %v", res, err)
		}
	})
}
