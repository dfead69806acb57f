package antientropy

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)

// A caller that waits as told does 10,000 tokens of work at rate 1000/s in
// 10 s minus what the initial burst covered.
func TestTokenBucketPacing(t *testing.T) {
	for _, tc := range []struct {
		name         string
		rate, burst  float64
		n, chunk     float64
		wantDuration time.Duration
	}{
		{"rate 1000, burst 100, chunks of 10", 1000, 100, 10_000, 10, 9900 * time.Millisecond},
		{"rate 1000, burst 0, chunks of 1", 1000, 0, 10_000, 1, 10 * time.Second},
		{"rate 1000, burst 2000, chunks of 500", 1000, 2000, 10_000, 500, 8 * time.Second},
		{"rate 312.5, burst 0, chunks of 7", 312.5, 0, 7 * 500, 7, 11200 * time.Millisecond},
		{"negative burst acts as 0", 1000, -5, 1000, 10, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewTokenBucket(tc.rate, tc.burst)
			now := t0
			for done := 0.0; done < tc.n; done += tc.chunk {
				w := b.Take(now, tc.chunk)
				if w < 0 {
					t.Fatalf("negative wait %v", w)
				}
				now = now.Add(w) // the caller waits, then works
			}
			got := now.Sub(t0)
			if diff := got - tc.wantDuration; diff < -time.Millisecond || diff > time.Millisecond {
				t.Fatalf("%.0f tokens took %v of waits, want %v", tc.n, got, tc.wantDuration)
			}
			t.Logf("%.0f tokens in %v", tc.n, got)
		})
	}
}

func TestTokenBucketBurst(t *testing.T) {
	b := NewTokenBucket(1000, 100)
	if w := b.Take(t0, 100); w != 0 {
		t.Fatalf("a full bucket of 100 asked to wait %v for 100 tokens", w)
	}
	if w := b.Take(t0, 1); w != time.Millisecond {
		t.Fatalf("an empty bucket at 1000/s asked to wait %v for 1 token, want 1ms", w)
	}
	// A long idle refills only up to the burst.
	now := t0.Add(time.Hour)
	if w := b.Take(now, 100); w != 0 {
		t.Fatalf("after an idle hour: wait %v for the burst", w)
	}
	if w := b.Take(now, 50); w != 50*time.Millisecond {
		t.Fatalf("after spending the burst: wait %v for 50 tokens, want 50ms", w)
	}
	// A take larger than the burst is allowed, and paid for by waiting.
	b = NewTokenBucket(1000, 100)
	if w := b.Take(t0, 5000); w != 4900*time.Millisecond {
		t.Fatalf("5000 tokens from a bucket of 100 at 1000/s: wait %v, want 4.9s", w)
	}
	// Ignoring a wait leaves the debt: the next take waits for both.
	if w := b.Take(t0, 100); w != 5*time.Second {
		t.Fatalf("taking again without waiting: wait %v, want 5s", w)
	}
	// Half a second later half a second of the debt is paid.
	if w := b.Take(t0.Add(500*time.Millisecond), 0); w != 4500*time.Millisecond {
		t.Fatalf("500ms later: wait %v, want 4.5s", w)
	}
	// A clock step backwards refills nothing and does not move the refill
	// point back.
	if w := b.Take(t0, 0); w != 4500*time.Millisecond {
		t.Fatalf("clock stepped back: wait %v, want 4.5s", w)
	}
	if w := b.Take(t0.Add(time.Second), 0); w != 4*time.Second {
		t.Fatalf("1s after t0: wait %v, want 4s", w)
	}
}

func TestTokenBucketUnlimited(t *testing.T) {
	for _, rate := range []float64{0, -1} {
		b := NewTokenBucket(rate, 0)
		for i := range 1000 {
			if w := b.Take(t0, 1e12); w != 0 {
				t.Fatalf("rate %v: take %d asked to wait %v", rate, i, w)
			}
		}
	}
}

func TestBackoff(t *testing.T) {
	const target = 100 * time.Millisecond
	b := NewBackoff(target)
	if b.Factor() != 1 {
		t.Fatalf("initial factor %v, want 1", b.Factor())
	}
	// Multiplicative decrease while p99 is above the target, down to the floor.
	for _, want := range []float64{0.5, 0.25, 0.125, 0.0625, MinFactor, MinFactor, MinFactor} {
		if got := b.Observe(target+1, false); got != want || b.Factor() != want {
			t.Fatalf("slow window: factor %v (Factor() %v), want %v", got, b.Factor(), want)
		}
	}
	// Additive increase in calm windows (p99 at the target, below it, or no
	// traffic), up to 1.
	for i, p99 := range []time.Duration{target, target / 2, 0, 1, 0, 0, 0, 0, 0, 0} {
		want := min(MinFactor+0.125*float64(i+1), 1)
		if got := b.Observe(p99, false); got != want {
			t.Fatalf("calm window %d (p99 %v): factor %v, want %v", i, p99, got, want)
		}
	}
	if b.Factor() != 1 {
		t.Fatalf("after recovery: factor %v, want 1", b.Factor())
	}
	// One slow window in the middle of recovery halves the factor again.
	b.Observe(time.Second, false)
	b.Observe(0, false)
	if got := b.Observe(time.Second, false); got != (0.5+0.125)/2 {
		t.Fatalf("slow, calm, slow: factor %v, want %v", got, (0.5+0.125)/2)
	}
	// A target <= 0 never backs off.
	off := NewBackoff(0)
	if got := off.Observe(time.Hour, false); got != 1 {
		t.Fatalf("target 0: factor %v after a slow window, want 1", got)
	}
}

func TestBackoffRiseOverBaseline(t *testing.T) {
	b := NewBackoff(time.Second)
	for range 4 {
		b.Observe(10*time.Millisecond, false) // quiet windows set the baseline
	}
	if b.Baseline() != 10*time.Millisecond {
		t.Fatalf("baseline %v, want 10ms", b.Baseline())
	}
	if got := b.Observe(14*time.Millisecond, true); got != 1 {
		t.Fatalf("p99 1.4x the baseline while busy: factor %v, want 1", got)
	}
	if got := b.Observe(16*time.Millisecond, true); got != 0.5 {
		t.Fatalf("p99 1.6x the baseline while busy: factor %v, want 0.5", got)
	}
	if b.Baseline() != 10*time.Millisecond {
		t.Fatalf("busy windows moved the baseline to %v", b.Baseline())
	}
	// Without a baseline only the absolute target counts.
	fresh := NewBackoff(time.Second)
	if got := fresh.Observe(500*time.Millisecond, true); got != 1 {
		t.Fatalf("no baseline, under target: factor %v, want 1", got)
	}
	b.Observe(20*time.Millisecond, false)
	if want := 10*time.Millisecond + (20*time.Millisecond-10*time.Millisecond)/8; b.Baseline() != want {
		t.Fatalf("baseline %v, want %v", b.Baseline(), want)
	}
}
