package node

import (
	"fmt"
	"slices"
	"testing"

	"github.com/hashicorp/memberlist"
)

// Every queued membership record is sent. memberlist v0.7.0's queue
// resets its id counter when an invalidated broadcast leaves it empty for
// a moment, and a later broadcast of the same length can then take the id
// of one still queued and silently replace it (hashicorp/memberlist PRs
// #263 and #322, unmerged): a record of another node was lost from gossip.
func TestQueuedRecordsAllSent(t *testing.T) {
	q := &memberlist.TransmitLimitedQueue{NumNodes: func() int { return 3 }, RetransmitMult: 4}
	// Same length each, so they tie on everything but the id.
	for _, name := range []string{"x", "x", "y", "z"} {
		q.QueueBroadcast(&recordBroadcast{name: name, msg: fmt.Appendf(nil, "record of %s", name)})
	}
	var got []string
	for _, m := range q.GetBroadcasts(0, 1<<20) {
		got = append(got, string(m))
	}
	slices.Sort(got)
	for _, want := range []string{"record of x", "record of y", "record of z"} {
		if !slices.Contains(got, want) {
			t.Fatalf("queued records %q, sent %q: %q was lost", []string{"x", "x", "y", "z"}, got, want)
		}
	}
}
