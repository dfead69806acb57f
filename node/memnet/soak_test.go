package memnet_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/dynago/dynago/node/memnet"
)

// TestSoak runs a stream between every pair of four hosts, both ways,
// under a seeded schedule of partitions, cuts, isolations, pauses and
// jitter, and checks the stream invariant: every message arrives exactly
// once and in order, once the faults are lifted.
func TestSoak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := seed(t, 11)
		nw := memnet.New(s)
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond, Jitter: 5 * time.Millisecond})
		rng := rand.New(rand.NewPCG(uint64(s), 0))
		ips := []string{"10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.4"}
		const msgs = 300

		var conns []net.Conn
		for i, a := range ips {
			for _, b := range ips[i+1:] {
				c, srv := pair(t, nw, a, b)
				conns = append(conns, c, srv)
			}
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2*len(conns))
		for k, c := range conns {
			wseed := rng.Uint64()
			wg.Go(func() { // writer: seq numbers at random intervals
				r := rand.New(rand.NewPCG(wseed, uint64(k)))
				for i := range uint32(msgs) {
					time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
					if _, err := c.Write(binary.BigEndian.AppendUint32(nil, i)); err != nil {
						errs <- fmt.Errorf("conn %d write %d: %w", k, i, err)
						return
					}
				}
			})
			wg.Go(func() { // reader: the peer's seq numbers, in order
				var b [4]byte
				for i := range uint32(msgs) {
					if _, err := io.ReadFull(c, b[:]); err != nil {
						errs <- fmt.Errorf("conn %d read %d: %w", k, i, err)
						return
					}
					if got := binary.BigEndian.Uint32(b[:]); got != i {
						errs <- fmt.Errorf("conn %d: message %d arrived as number %d", k, got, i)
						return
					}
				}
			})
		}

		for range 40 {
			time.Sleep(time.Duration(rng.IntN(60)) * time.Millisecond)
			x, y := ips[rng.IntN(len(ips))], ips[rng.IntN(len(ips))]
			switch rng.IntN(6) {
			case 0:
				cut := rng.IntN(len(ips)-1) + 1
				nw.Partition(ips[:cut], ips[cut:])
			case 1:
				nw.Isolate(x)
			case 2:
				if x != y {
					nw.Cut(x, y)
				}
			case 3:
				nw.Pause(x)
			case 4:
				for _, ip := range ips {
					nw.Resume(ip)
				}
			case 5:
				nw.Heal()
			}
		}
		// End on a split while the writers are still going (they take
		// about 3 s, the schedule about 1.2 s), then lift everything:
		// Resume first, so Heal is what must release the bytes the
		// split stalled.
		nw.Partition(ips[:2], ips[2:])
		time.Sleep(time.Second)
		for _, ip := range ips {
			nw.Resume(ip)
		}
		nw.Heal()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		st := nw.Stats()
		t.Logf("stats %+v", st)
		if want := int64(4 * msgs * len(conns)); st.StreamBytes != want {
			t.Errorf("StreamBytes %d, want %d", st.StreamBytes, want)
		}
	})
}
