package memnet_test

import (
	"io"
	"log"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/dynago/dynago/node/memnet"
)

// member starts memberlist on ip's port 7946 with the loopback profile
// dynago's tests use.
func member(t *testing.T, nw *memnet.Network, ip string) *memberlist.Memberlist {
	t.Helper()
	tr, adv, err := nw.Host(ip).Gossip(ip + ":7946")
	if err != nil {
		t.Fatal(err)
	}
	if adv != ip+":7946" {
		t.Fatalf("advertised %s", adv)
	}
	cfg := memberlist.DefaultLocalConfig()
	cfg.Name = ip
	cfg.Transport = tr
	cfg.BindAddr, cfg.BindPort = ip, 7946
	cfg.AdvertiseAddr, cfg.AdvertisePort = ip, 7946
	cfg.DeadNodeReclaimTime = time.Second // as node does: a restarted member reclaims its name
	cfg.Logger = log.New(io.Discard, "", 0)
	if testing.Verbose() {
		cfg.Logger = log.New(tlog{t}, "", 0)
	}
	ml, err := memberlist.Create(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ml
}

// tlog writes memberlist's log to the test log, with the virtual time.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Logf("%s %s", time.Now().Format("15:04:05.000"), p)
	return len(p), nil
}

// alive lists the members ml holds alive.
func alive(ml *memberlist.Memberlist) []string {
	var names []string
	for _, n := range ml.Members() {
		if n.State == memberlist.StateAlive {
			names = append(names, n.Name)
		}
	}
	slices.Sort(names)
	return names
}

// converge waits (in virtual time, up to limit) until every member in view
// sees exactly want alive, and returns how long that took.
func converge(t *testing.T, limit time.Duration, view []*memberlist.Memberlist, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	for {
		ok := true
		for _, ml := range view {
			ok = ok && slices.Equal(alive(ml), want)
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			for _, ml := range view {
				t.Errorf("%s sees %v alive", ml.LocalNode().Name, alive(ml))
			}
			t.Fatalf("no convergence on %v within %v", want, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMemberlistOverMemnet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		nw := memnet.New(seed(t, 1))
		nw.SetDefaultLink(memnet.Link{Latency: time.Millisecond, Jitter: 2 * time.Millisecond, Loss: 0.01})
		a, b, c := member(t, nw, ipA), member(t, nw, ipB), member(t, nw, ipC)
		for _, ml := range []*memberlist.Memberlist{b, c} {
			if _, err := ml.Join([]string{ipA + ":7946"}); err != nil {
				t.Fatal(err)
			}
		}
		d := converge(t, 30*time.Second, []*memberlist.Memberlist{a, b, c}, ipA, ipB, ipC)
		t.Logf("3 members alive everywhere after %v", d)

		// A crashed member is detected as dead by probing alone.
		nw.Crash(ipC)
		_ = c.Shutdown()
		d = converge(t, time.Minute, []*memberlist.Memberlist{a, b}, ipA, ipB)
		t.Logf("crash detected after %v", d)

		// Restarted on the same host and port, it rejoins.
		c = member(t, nw, ipC)
		if _, err := c.Join([]string{ipA + ":7946"}); err != nil {
			t.Fatal(err)
		}
		d = converge(t, 30*time.Second, []*memberlist.Memberlist{a, b, c}, ipA, ipB, ipC)
		t.Logf("restarted member alive everywhere after %v", d)

		// A partition: each side declares the other dead.
		nw.Partition([]string{ipA, ipB}, []string{ipC})
		d = converge(t, time.Minute, []*memberlist.Memberlist{a, b}, ipA, ipB)
		t.Logf("majority side dropped C after %v", d)
		d = converge(t, time.Minute, []*memberlist.Memberlist{c}, ipC)
		t.Logf("then C dropped A and B after %v more", d)

		// After Heal, one Join (what a node's rejoin loop does) merges
		// the sides again: memberlist probes and push-pulls only members
		// it holds alive, so two sides that declared each other dead
		// stay apart once their dead-gossip window has passed.
		nw.Heal()
		if _, err := c.Join([]string{ipA + ":7946"}); err != nil {
			t.Fatal(err)
		}
		d = converge(t, 30*time.Second, []*memberlist.Memberlist{a, b, c}, ipA, ipB, ipC)
		t.Logf("re-converged %v after heal", d)

		st := nw.Stats()
		t.Logf("stats: %+v", st)
		if st.PacketsLost == 0 || st.PacketsCut == 0 || st.StreamsOpened == 0 {
			t.Errorf("the run exercised too little: %+v", st)
		}

		// Shut down, and let memberlist's timers run out, so that no
		// goroutine of the bubble is left blocked.
		for _, ml := range []*memberlist.Memberlist{a, b, c} {
			_ = ml.Shutdown()
		}
		for _, ip := range []string{ipA, ipB, ipC} {
			nw.Crash(ip)
		}
		time.Sleep(time.Minute)
	})
}
