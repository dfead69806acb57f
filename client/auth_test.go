package client_test

import (
	"errors"
	"testing"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node/auth"
)

// TestWithToken: against a node with a token file, a client without a
// token gets ErrUnauthorized, one whose token's role is too low
// ErrForbidden, and WithToken with the right role is served.
func TestWithToken(t *testing.T) {
	tab, err := auth.Parse([]byte(auth.Line("r-tok", auth.RoleRead, "reader") + "\n" + auth.Line("w-tok", auth.RoleWrite, "writer") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := nodeConfig("n1", 8, 1)
	cfg.Auth = auth.New(tab)
	tn, err := startNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.stop()
	ctx := t.Context()
	mk := func(opts ...client.Option) *client.Client {
		c, err := client.New([]string{tn.url}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := mk().Get(ctx, "k", nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("Get without a token: %v, want ErrUnauthorized", err)
	}
	if _, err := mk(client.WithToken("bad")).Get(ctx, "k", nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("Get with a bad token: %v, want ErrUnauthorized", err)
	}
	if _, err := mk(client.WithToken("r-tok")).Put(ctx, "k", []byte("v"), nil); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("Put with a read token: %v, want ErrForbidden", err)
	}
	w := mk(client.WithToken("w-tok"))
	if _, err := w.Put(ctx, "k", []byte("v"), nil); err != nil {
		t.Fatalf("Put with a write token: %v", err)
	}
	if _, _, err := w.Members(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("Members with a write token: %v, want ErrForbidden", err)
	}
	if _, err := mk(client.WithToken("r-tok")).Get(ctx, "k", nil); err != nil {
		t.Fatalf("Get with a read token: %v", err)
	}
}
