package handoff

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dynago/dynago/hintedhandoff"
	"github.com/dynago/dynago/node/internal/wire"
	"github.com/dynago/dynago/ring"
	"github.com/dynago/dynago/storage/memory"
	"github.com/dynago/dynago/vclock"
)

// fakes is every dependency of the service, recording what it is asked.
type fakes struct {
	mu                      sync.Mutex
	now                     time.Time
	ring                    *ring.Ring
	alive                   map[string]bool
	refuse                  map[string]bool     // Send fails for these
	sent                    map[string][][]byte // keys sent, by node (self: Receive)
	delivered, refusedCount int
}

func (f *fakes) Steady() time.Time       { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakes) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }
func (f *fakes) Ring() *ring.Ring        { return f.ring }
func (f *fakes) Alive(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return name == "a" || f.alive[name]
}
func (f *fakes) setAlive(name string, up bool) { f.mu.Lock(); f.alive[name] = up; f.mu.Unlock() }
func (f *fakes) Send(_ context.Context, name string, req wire.HandoffRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse[name] {
		return errors.New("refused")
	}
	for _, it := range req.Items {
		f.sent[name] = append(f.sent[name], it.Key)
	}
	return nil
}
func (f *fakes) Receive(ctx context.Context, req wire.HandoffRequest) error {
	return f.Send(ctx, "a", req)
}
func (f *fakes) Refused()                                                    { f.mu.Lock(); f.refusedCount++; f.mu.Unlock() }
func (f *fakes) Delivered()                                                  { f.mu.Lock(); f.delivered++; f.mu.Unlock() }
func (f *fakes) Queued(map[ring.NodeID]hintedhandoff.TargetStats, time.Time) {}

// newService returns a service on node "a" of the ring {a, b, c} (N=3:
// every node is a primary of every key), with hints for target holding
// keys, written at the fake clock's start.
func newService(t *testing.T, target string, keys ...string) (*Service, *fakes, *hintedhandoff.Store) {
	t.Helper()
	r, err := ring.New(ring.Config{Partitions: 16, N: 3}, []ring.Member{{ID: "a"}, {ID: "b"}, {ID: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakes{now: time.Unix(1000, 0), ring: r, alive: map[string]bool{}, refuse: map[string]bool{}, sent: map[string][][]byte{}}
	hcfg := hintedhandoff.Config{MaxAge: time.Hour}
	hs, err := hintedhandoff.Open(t.Context(), memory.New(), hcfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		st, _, err := vclock.State{}.Write(vclock.Actor{Node: "a", Epoch: 1}, vclock.VV{}, []byte("v"), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := hs.Add(t.Context(), ring.NodeID(target), uint32(r.Partition([]byte(k))), []byte(k), st, f.Steady()); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Config{Name: "a", Interval: time.Second, CallTimeout: time.Second, Hints: hcfg.WithDefaults()}, Deps{
		Hints: hs, Placement: f, Peers: f, Local: f, Clock: f,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics:   f,
		Recovered: func(where string, v any) { t.Errorf("panic in %s: %v", where, v) },
	})
	return s, f, hs
}

// Dynamo §4.6: a fallback delivers the hints it holds once their target
// is back, and deletes them only once delivered.
func TestDeliver(t *testing.T) {
	tests := []struct {
		name   string
		target string
		setup  func(f *fakes)
		// want: keys each node received; left: hints still held after;
		// delivered: the counter.
		want      map[string]int
		left      int
		delivered int
	}{
		{name: "target down: nothing sent, hints kept", target: "b",
			want: map[string]int{}, left: 3},
		{name: "target back: its hints are sent and deleted", target: "b",
			setup: func(f *fakes) { f.setAlive("b", true) },
			want:  map[string]int{"b": 3}, delivered: 3},
		{name: "refused batch: hints kept", target: "b",
			setup: func(f *fakes) { f.setAlive("b", true); f.refuse["b"] = true },
			want:  map[string]int{}, left: 3},
		{name: "target no longer an owner: hints go to the current primaries", target: "x",
			setup: func(f *fakes) { f.setAlive("b", true); f.setAlive("c", true) },
			want:  map[string]int{"a": 3, "b": 3, "c": 3}, delivered: 3},
		{name: "target no longer an owner, a primary down: hints kept", target: "x",
			setup: func(f *fakes) { f.setAlive("b", true) },
			want:  nil, left: 3},
		// Before, hints past the window were dropped unsent (want {},
		// left 0): a write acknowledged by fallbacks alone was lost.
		{name: "hints past the hint window are still sent", target: "b",
			setup: func(f *fakes) { f.setAlive("b", true); f.advance(100 * time.Hour) },
			want:  map[string]int{"b": 3}, delivered: 3},
		{name: "hints past the hint window, target down: kept", target: "b",
			setup: func(f *fakes) { f.advance(100 * time.Hour) },
			want:  map[string]int{}, left: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, f, hs := newService(t, tc.target, "k1", "k2", "k3")
			if tc.setup != nil {
				tc.setup(f)
			}
			deliveries := map[ring.NodeID]*hintedhandoff.Delivery{}
			s.round(t.Context(), deliveries)
			f.mu.Lock()
			defer f.mu.Unlock()
			if tc.want != nil {
				got := map[string]int{}
				for n, ks := range f.sent {
					got[n] = len(ks)
				}
				if len(got) != len(tc.want) {
					t.Errorf("sent %v, want %v", got, tc.want)
				}
				for n, k := range tc.want {
					if got[n] != k {
						t.Errorf("sent %v, want %v", got, tc.want)
					}
				}
			}
			if n := hs.StatsFor(ring.NodeID(tc.target)).Count; n != tc.left {
				t.Errorf("%d hints left, want %d", n, tc.left)
			}
			if f.delivered != tc.delivered {
				t.Errorf("delivered %d; want %d", f.delivered, tc.delivered)
			}
			if st, ok := s.Statuses()[ring.NodeID(tc.target)]; tc.left > 0 && (!ok || st.Target == "") {
				t.Errorf("no delivery status for %s with hints left: %v", tc.target, s.Statuses())
			}
		})
	}
}

// A refused batch is kept and sent again once the target takes it (after
// the backoff).
func TestRefusedThenDelivered(t *testing.T) {
	s, f, hs := newService(t, "b", "k1")
	f.setAlive("b", true)
	f.mu.Lock()
	f.refuse["b"] = true
	f.mu.Unlock()
	deliveries := map[ring.NodeID]*hintedhandoff.Delivery{}
	s.round(t.Context(), deliveries)
	f.mu.Lock()
	f.refuse["b"] = false
	f.mu.Unlock()
	f.advance(time.Minute) // past the backoff
	s.round(t.Context(), deliveries)
	if n := hs.StatsFor("b").Count; n != 0 || !slices.Equal(f.sent["b"][0], []byte("k1")) {
		t.Fatalf("%d hints left, sent %q", n, f.sent["b"])
	}
}

// Run delivers when woken and returns nil once its context ends.
func TestRunWakeAndShutdown(t *testing.T) {
	s, f, hs := newService(t, "b", "k1", "k2")
	s.cfg.Interval = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	f.setAlive("b", true)
	s.Wake()
	for hs.StatsFor("b").Count > 0 {
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
			s.Wake()
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	s.Refused("b")
	if f.refusedCount != 1 {
		t.Fatalf("refused count %d", f.refusedCount)
	}
}

// Overdue hints are logged once when they pass the hint window, and kept.
func TestCheckOverdue(t *testing.T) {
	s, f, hs := newService(t, "b", "k1")
	var logged strings.Builder
	s.d.Log = slog.New(slog.NewTextHandler(&logged, nil))
	s.checkOverdue()
	if s.overdue["b"] || logged.Len() != 0 {
		t.Fatalf("overdue inside the window: %v %q", s.overdue, logged.String())
	}
	f.advance(2 * time.Hour)
	s.checkOverdue()
	s.checkOverdue()
	if !s.overdue["b"] || strings.Count(logged.String(), "hints overdue") != 1 {
		t.Fatalf("past the window: overdue %v, log %q", s.overdue, logged.String())
	}
	if n := hs.StatsFor("b").Count; n != 1 {
		t.Fatalf("%d hints left, want the overdue one kept", n)
	}
}
