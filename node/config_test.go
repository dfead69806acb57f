package node

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Validate reports every problem at once, not just the first.
func TestValidateJoinsEveryProblem(t *testing.T) {
	c := Config{HTTPAddr: "nohost", RPCAddr: "127.0.0.1:0", GossipAddr: "localhost:1", ReadRepair: "sometimes", RequestTimeout: time.Minute, MaxRequestTimeout: time.Second}
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("want a joined error, got %T %v", err, err)
	}
	for _, want := range []string{"a name is required", `http address "nohost"`, `gossip address "localhost:1"`, `read repair "sometimes"`, "request timeout"} {
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

// The gossip profile follows the address: memberlist's local profile on
// loopback, LAN elsewhere (its TCP timeout tells them apart: 1 s vs 10 s).
func TestGossipProfile(t *testing.T) {
	for _, tc := range []struct {
		host string
		tcp  time.Duration
	}{{"127.0.0.1", time.Second}, {"127.0.0.5", time.Second}, {"::1", time.Second}, {"10.1.2.3", 10 * time.Second}, {"0.0.0.0", 10 * time.Second}} {
		if got := gossipProfile(tc.host).TCPTimeout; got != tc.tcp {
			t.Errorf("%s: TCP timeout %v, want %v", tc.host, got, tc.tcp)
		}
	}
}
