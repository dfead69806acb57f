package hintedhandoff

import (
	"errors"
	"math"
	"testing"
	"time"
)

// TestTokenBucket drives the rate limiter with explicit times. Rate 1000
// B/s, Burst 2000 B: a batch may go whenever the bucket is not in debt.
func TestTokenBucket(t *testing.T) {
	type op struct {
		at    time.Duration
		send  int           // bytes sent (then acked at once); 0: only check
		wait  time.Duration // Wait(at) before the send
		ready bool          // Ready(at) before the send
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"starts full", []op{
			{at: 0, wait: 0, ready: true, send: 2000},
			{at: 0, wait: 0, ready: true}, // empty, not in debt
		}},
		{"debt is waited out", []op{
			{at: 0, ready: true, send: 3000}, // 1000 into debt
			{at: 0, wait: time.Second},
			{at: 500 * time.Millisecond, wait: 500 * time.Millisecond},
			{at: time.Second, wait: 0, ready: true, send: 500},
			{at: time.Second, wait: 500 * time.Millisecond},
		}},
		{"a batch larger than the burst still goes", []op{
			{at: 0, ready: true, send: 10_000},
			{at: 7 * time.Second, wait: time.Second},
			{at: 8 * time.Second, ready: true},
		}},
		{"refill is capped at the burst", []op{
			{at: 0, ready: true, send: 2000},
			{at: time.Hour, ready: true, send: 2500}, // 2000 tokens, not 3.6M
			{at: time.Hour, wait: 500 * time.Millisecond},
		}},
		{"time going backwards refills nothing", []op{
			{at: 10 * time.Second, ready: true, send: 3000},
			{at: 5 * time.Second, wait: time.Second},
			{at: 10 * time.Second, wait: time.Second},
			{at: 11 * time.Second, ready: true},
		}},
		{"waits round up to the nanosecond", []op{
			{at: 0, ready: true, send: 2001},
			{at: 0, wait: time.Millisecond},
			{at: 999_999, wait: 1},
			{at: time.Millisecond, ready: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDelivery("n1", Config{Rate: 1000, Burst: 2000})
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range tc.ops {
				now := t0.Add(o.at)
				if got := d.Wait(now); got != o.wait {
					t.Fatalf("op %d: Wait(+%v) = %v, want %v", i, o.at, got, o.wait)
				}
				if got := d.Ready(now); got != o.ready {
					t.Fatalf("op %d: Ready(+%v) = %v, want %v", i, o.at, got, o.ready)
				}
				if o.send > 0 {
					d.Sending(1, o.send, now)
					if d.Ready(now) {
						t.Fatalf("op %d: Ready while a batch is in flight", i)
					}
					d.Acked([]byte("h-cursor"), now)
				}
			}
		})
	}
}

// TestTokenBucketRate checks the long-run rate: a sender that sends a
// batch whenever Ready never exceeds Burst + Rate×elapsed bytes, and keeps
// up with Rate.
func TestTokenBucketRate(t *testing.T) {
	tests := []struct {
		name         string
		rate, burst  int64
		batch        int
		batches      int
		wantDuration time.Duration // when the last batch goes
	}{
		// The last of n batches of b bytes goes once the bucket, full
		// (burst) at the start, has paid for the n-1 before it:
		// ((n-1)×b − burst) / rate.
		{"small batches", 1000, 2000, 500, 100, 47500 * time.Millisecond},
		{"batches above the burst", 1000, 2000, 3000, 10, 25 * time.Second},
		{"fast rate", 1 << 20, 1 << 20, 1 << 20, 61, 59 * time.Second},
		{"odd numbers", 333, 1, 1000, 4, 9006006007}, // ceil((3000-1)/333 s) in ns
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDelivery("n1", Config{Rate: tc.rate, Burst: tc.burst})
			if err != nil {
				t.Fatal(err)
			}
			now, sent := t0, int64(0)
			for range tc.batches {
				now = now.Add(d.Wait(now))
				if !d.Ready(now) {
					t.Fatalf("not Ready after waiting Wait at %v", now.Sub(t0))
				}
				if limit := float64(tc.burst) + float64(tc.rate)*now.Sub(t0).Seconds(); float64(sent) > limit {
					t.Fatalf("sent %d bytes by +%v, over burst+rate×t = %.0f", sent, now.Sub(t0), limit)
				}
				d.Sending(1, tc.batch, now)
				sent += int64(tc.batch)
				d.Acked([]byte("c"), now)
			}
			if got := now.Sub(t0); got != tc.wantDuration {
				t.Fatalf("last batch at +%v, want +%v", got, tc.wantDuration)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	cfg := Config{BackoffMin: time.Second, BackoffMax: 10 * time.Second}
	tests := []struct {
		name     string
		cfg      Config
		failures int
		want     time.Duration
	}{
		{"no failure", cfg, 0, 0},
		{"negative", cfg, -3, 0},
		{"first", cfg, 1, time.Second},
		{"second doubles", cfg, 2, 2 * time.Second},
		{"fourth", cfg, 4, 8 * time.Second},
		{"capped", cfg, 5, 10 * time.Second},
		{"stays capped", cfg, 1000, 10 * time.Second},
		{"defaults", Config{}, 3, 4 * time.Second},
		{"defaults capped", Config{}, 20, time.Minute},
		{"no overflow near the limit", Config{BackoffMin: math.MaxInt64 / 3, BackoffMax: math.MaxInt64}, 5, math.MaxInt64},
		{"min equals max", Config{BackoffMin: time.Second, BackoffMax: time.Second}, 9, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Backoff(tc.cfg, tc.failures); got != tc.want {
				t.Fatalf("Backoff(%d) = %v, want %v", tc.failures, got, tc.want)
			}
		})
	}
}

// TestDeliveryStateMachine walks one Delivery through a pass with a
// failure, a backoff cut short by Wake, and the end of the queue.
func TestDeliveryStateMachine(t *testing.T) {
	d, err := NewDelivery("n1", Config{BackoffMin: time.Second, BackoffMax: 4 * time.Second, Rate: 1 << 30, Burst: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	check := func(step string, state DeliveryState, cursor string, ready bool, now time.Time) {
		t.Helper()
		if d.State() != state || string(d.Cursor()) != cursor || d.Ready(now) != ready {
			t.Fatalf("%s: state %v cursor %q ready %v; want %v %q %v", step, d.State(), d.Cursor(), d.Ready(now), state, cursor, ready)
		}
	}
	check("new", DeliveryIdle, "", true, at(0))
	if d.Cursor() != nil {
		t.Fatal("a new Delivery starts from a nil cursor")
	}

	d.Sending(3, 300, at(0))
	check("sending", DeliveryActive, "", false, at(0))
	next := []byte("c1")
	d.Acked(next, at(1))
	next[0] = 'X' // Acked keeps its own copy
	check("acked", DeliveryActive, "c1", true, at(1))

	d.Sending(2, 200, at(1))
	d.Failed(errors.New("timeout"), at(2))
	check("failed once", DeliveryBackoff, "c1", false, at(2.5))
	check("backoff over", DeliveryBackoff, "c1", true, at(3))
	if w := d.Wait(at(2.5)); w != 500*time.Millisecond {
		t.Fatalf("Wait during a 1s backoff = %v", w)
	}

	d.Sending(2, 200, at(3))
	d.Failed(errors.New("refused"), at(3))
	check("failed twice", DeliveryBackoff, "c1", false, at(4.9))
	st := d.Status(at(4))
	if st.RetryAt != at(5) || st.ConsecutiveFailures != 2 || st.Failures != 2 || st.LastError != "refused" || st.LastErrorAt != at(3) {
		t.Fatalf("status during backoff: %+v", st)
	}
	d.Failed(errors.New("store read failed"), at(3)) // a failure with nothing in flight
	if st := d.Status(at(3)); st.RetryAt != at(7) || st.ConsecutiveFailures != 3 {
		t.Fatalf("third failure: %+v, want retry at +7s", st)
	}

	d.Wake() // gossip: n1 is alive again
	check("woken", DeliveryActive, "c1", true, at(3))

	d.Sending(4, 400, at(3))
	d.Acked(nil, at(3.5))
	check("pass done", DeliveryDone, "", true, at(3.5))
	st = d.Status(at(3.5))
	want := DeliveryStatus{
		Target: "n1", State: DeliveryDone, Keys: 7, Bytes: 700, Batches: 2, Failures: 3,
		LastAck: at(3.5), LastError: "store read failed", LastErrorAt: at(3),
		BytesPerSec: 70, KeysPerSec: 0.7, Tokens: st.Tokens,
	}
	if st != want {
		t.Fatalf("status after the pass:\n got %+v\nwant %+v", st, want)
	}
	d.Wake() // not backing off: nothing changes
	check("woken when done", DeliveryDone, "", true, at(4))
	d.Acked(nil, at(4)) // an empty batch
	if st := d.Status(at(4)); st.Batches != 2 || st.Keys != 7 {
		t.Fatalf("an Acked with nothing in flight counted a batch: %+v", st)
	}

	defer func() {
		if recover() == nil {
			t.Fatal("Sending twice did not panic")
		}
	}()
	d.Sending(1, 1, at(5))
	d.Sending(1, 1, at(5))
}

// TestDeliveryRates pins the rate window: acknowledged bytes over the last
// RateWindow, per second.
func TestDeliveryRates(t *testing.T) {
	type ack struct {
		at    time.Duration
		bytes int
	}
	tests := []struct {
		name string
		acks []ack
		now  time.Duration
		want float64
	}{
		{"nothing", nil, 0, 0},
		{"one second", []ack{{0, 1000}}, 0, 100},
		{"spread over the window", []ack{{0, 1000}, {5 * time.Second, 1000}, {9 * time.Second, 1000}}, 9 * time.Second, 300},
		{"old seconds drop out", []ack{{0, 1000}, {5 * time.Second, 1000}}, 10 * time.Second, 100},
		{"everything old", []ack{{0, 1000}}, time.Minute, 0},
		{"a reused slot is reset", []ack{{0, 1000}, {10 * time.Second, 50}}, 10 * time.Second, 5},
		{"same second adds up", []ack{{100 * time.Millisecond, 10}, {900 * time.Millisecond, 20}}, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := NewDelivery("n1", Config{Rate: 1 << 30, Burst: 1 << 30})
			for _, a := range tc.acks {
				d.Sending(1, a.bytes, t0.Add(a.at))
				d.Acked([]byte("c"), t0.Add(a.at))
			}
			if got := d.Status(t0.Add(tc.now)).BytesPerSec; got != tc.want {
				t.Fatalf("BytesPerSec = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDeliveryStateString(t *testing.T) {
	tests := []struct {
		s    DeliveryState
		want string
	}{
		{DeliveryIdle, "idle"},
		{DeliveryActive, "delivering"},
		{DeliveryBackoff, "backing-off"},
		{DeliveryDone, "done"},
		{DeliveryState(9), "DeliveryState(9)"},
	}
	for _, tc := range tests {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String(%d) = %q, want %q", uint8(tc.s), got, tc.want)
		}
	}
}
