package node

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/node/internal/logflood"
)

// lockedBuffer is a log destination safe for the node's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), substr)
}

// 1000 junk UDP packets to the gossip port (memberlist logs an error for
// each) cost a few log lines, not a thousand.
func TestJunkGossipPacketsDoNotFloodTheLog(t *testing.T) {
	var logs lockedBuffer
	tn := oneNode(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	lines := func() int { return logs.count("component=memberlist") }
	dropped := tn.node.quietLog.Handler().(*logflood.Handler).Dropped
	before := uint64(lines()) + dropped()
	c, err := net.Dial("udp", tn.node.GossipAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const packets, batch = 1000, 50
	for sent := batch; sent <= packets; sent += batch {
		for i := range batch {
			if _, err := c.Write([]byte{0xf0 + byte(i%8), 1, 2, 3, 4, 5, 6, 7}); err != nil { // no message type memberlist knows
				t.Fatal(err)
			}
		}
		// Each batch is handled (logged or counted as dropped) before the
		// next, so the kernel drops none of them.
		waitFor(t, fmt.Sprintf("%d junk packets handled", sent), 10*time.Second, func() (bool, string) {
			got := uint64(lines()) + dropped() - before
			return got >= uint64(sent), fmt.Sprintf("%d handled", got)
		})
	}
	got := lines()
	t.Logf("%d junk packets: %d memberlist log lines, %d dropped", packets, got, dropped())
	if got > 5 {
		t.Fatalf("%d memberlist log lines for %d junk packets, want at most 5", got, packets)
	}
}
