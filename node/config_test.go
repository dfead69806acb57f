package node

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Validate reports every problem at once, not just the first.
func TestValidateJoinsEveryProblem(t *testing.T) {
	c := Config{HTTPAddr: "nohost", RPCAddr: "127.0.0.1:0", GossipAddr: "bad host:1", ReadRepair: "sometimes", RequestTimeout: time.Minute, MaxRequestTimeout: time.Second}
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("want a joined error, got %T %v", err, err)
	}
	for _, want := range []string{"a name is required", `http address "nohost"`, `gossip address "bad host:1"`, `read repair "sometimes"`, "request timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if got := len(joined.Unwrap()); got != 5 {
		t.Errorf("%d problems reported, want 5:\n%v", got, err)
	}
}

// New refuses a missing store instead of inventing one (in memory).
func TestNewNeedsStore(t *testing.T) {
	c := testConfig(t, "a", true)
	if _, err := New(c, nil, nil); err == nil {
		t.Fatal("New without a store succeeded")
	}
}
