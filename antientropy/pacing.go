package antientropy

import (
	"math"
	"time"
)

// TokenBucket paces background work (keys or bytes repaired per second).
// Time is passed in; the bucket reads no clock. Not safe for concurrent
// use.
type TokenBucket struct {
	rate   float64 // tokens per second; <= 0 means unlimited
	burst  float64 // most tokens the bucket holds
	tokens float64 // balance; negative while work is owed
	last   time.Time
}

// NewTokenBucket returns a bucket that refills at rate tokens per second up
// to burst tokens, and starts full. rate <= 0 means unlimited: Take never
// asks to wait. A negative burst is treated as 0 (every Take waits for its
// own tokens).
func NewTokenBucket(rate, burst float64) *TokenBucket {
	burst = max(burst, 0)
	return &TokenBucket{rate: rate, burst: burst, tokens: burst}
}

// Take debits n tokens at now and returns how long the caller must wait
// before doing the work so that the long-run rate holds: 0 if the balance
// covered n, otherwise the time the refill needs to bring the balance back
// to 0. The balance may go negative, so a caller that takes more than the
// burst at once, or ignores a wait, pays for it on its next Take.
//
// The bucket refills for the time elapsed since the previous Take; a now
// earlier than that (a clock step backwards) refills nothing.
func (b *TokenBucket) Take(now time.Time, n float64) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	if b.last.IsZero() {
		b.last = now
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	b.tokens -= n
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Ceil(-b.tokens / b.rate * float64(time.Second)))
}

// MinFactor is the smallest rate factor Backoff goes down to: anti-entropy
// never stops entirely, or replicas would never converge under sustained
// load.
const MinFactor = 1.0 / 32

// backoffStep is the additive increase of Backoff's factor per calm window:
// from MinFactor back to 1 in 8 windows.
const backoffStep = 0.125

// Backoff scales anti-entropy's rates by foreground latency, in the spirit
// of Dynamo §6.5's admission control: background tasks get a share of the
// resources that shrinks when foreground latency rises. It is AIMD on a
// factor in [MinFactor, 1]: halved after a window whose p99 is high,
// raised by 1/8 after any other window. A window is high when its p99 is
// above the absolute target, or more than Rise times the baseline: an
// average (EWMA, weight 1/8) of the p99 of windows in which anti-entropy did
// no work, so a rise it causes is seen even well under the target. Not safe
// for concurrent use.
type Backoff struct {
	target   time.Duration
	factor   float64
	baseline float64 // ns; 0 until a quiet window with traffic
}

// Rise is how far above its quiet baseline the foreground p99 may go
// before anti-entropy backs off.
const Rise = 1.5

// NewBackoff returns a Backoff with the given foreground p99 target and a
// factor of 1. A target <= 0 disables backing off: the factor stays 1.
func NewBackoff(target time.Duration) *Backoff {
	return &Backoff{target: target, factor: 1}
}

// Observe takes the foreground p99 of the last window (0 = no traffic) and
// whether anti-entropy did work in it, and returns the new factor: halved
// (not below MinFactor) when the window was high, otherwise raised by 0.125
// (not above 1). A quiet window (busy false) with traffic updates the
// baseline.
func (b *Backoff) Observe(p99 time.Duration, busy bool) float64 {
	if b.target <= 0 {
		return b.factor
	}
	high := p99 > b.target || (busy && b.baseline > 0 && float64(p99) > Rise*b.baseline)
	if !busy && p99 > 0 {
		if b.baseline == 0 {
			b.baseline = float64(p99)
		} else {
			b.baseline += (float64(p99) - b.baseline) / 8
		}
	}
	if high {
		b.factor = max(b.factor/2, MinFactor)
	} else {
		b.factor = min(b.factor+backoffStep, 1)
	}
	return b.factor
}

// Baseline is the current quiet-window p99 average (0 before the first).
func (b *Backoff) Baseline() time.Duration { return time.Duration(b.baseline) }

// Factor returns the current factor, in [MinFactor, 1]. node multiplies
// its configured rates by it.
func (b *Backoff) Factor() float64 { return b.factor }
