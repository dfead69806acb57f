package hintedhandoff

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/dynago/dynago/ring"
)

// DeliveryState is where a Delivery stands.
type DeliveryState uint8

// Delivery states.
const (
	// DeliveryIdle: nothing sent yet.
	DeliveryIdle DeliveryState = iota
	// DeliveryActive: a pass over the target's queue is under way (a batch
	// may be in flight).
	DeliveryActive
	// DeliveryBackoff: the last attempt failed; the next waits until
	// RetryAt.
	DeliveryBackoff
	// DeliveryDone: the last pass reached the end of the queue.
	DeliveryDone
)

var deliveryStateNames = [...]string{
	DeliveryIdle:    "idle",
	DeliveryActive:  "delivering",
	DeliveryBackoff: "backing-off",
	DeliveryDone:    "done",
}

// String returns "idle", "delivering", "backing-off" or "done", or
// "DeliveryState(n)" for a value outside the enum.
func (s DeliveryState) String() string {
	if int(s) < len(deliveryStateNames) {
		return deliveryStateNames[s]
	}
	return fmt.Sprintf("DeliveryState(%d)", uint8(s))
}

// RateWindow is the window over which DeliveryStatus reports delivery rates.
const RateWindow = rateBuckets * time.Second

const rateBuckets = 10

// rateBucket counts what was acknowledged during one Unix second.
type rateBucket struct {
	sec         int64
	used        bool
	bytes, keys int64
}

// Delivery is the delivery bookkeeping for one target: where in the
// target's queue the next batch starts, whether one is in flight, the
// token bucket that paces delivery at Config.Rate bytes per second, the
// exponential backoff after failures, and the figures shown by
// /debug/hints. It is a pure state machine: time comes in as arguments,
// and it does no I/O. It is not safe for concurrent use: one goroutine owns
// each Delivery.
//
// The token bucket holds up to Config.Burst bytes and refills at
// Config.Rate. A batch may go whenever the bucket is not in debt; sending
// takes the batch's bytes, possibly into debt, which later batches wait
// out. So the rate is exact over time whatever the batch sizes, and a batch
// larger than Burst still goes.
type Delivery struct {
	target ring.NodeID
	cfg    Config

	state    DeliveryState
	cursor   []byte
	inFlight bool
	flightKeys,
	flightBytes int

	// tokens is the bucket's level in nanobytes (bytes × 1e9, so that
	// refills of Rate bytes/s over whole nanoseconds are exact); negative
	// is debt.
	tokens   int64
	refilled time.Time // when tokens was last brought up to date; zero: never

	failures int // consecutive
	retryAt  time.Time
	lastErr  error
	errAt    time.Time
	lastAck  time.Time

	keys, bytes, batches, failed uint64
	window                       [rateBuckets]rateBucket
}

// NewDelivery returns the bookkeeping for delivering hints to target, with
// cfg's zero fields set to their defaults. Its bucket starts full.
func NewDelivery(target ring.NodeID, cfg Config) (*Delivery, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	return &Delivery{target: target, cfg: cfg, tokens: cfg.Burst * nano}, nil
}

// Target returns the target this Delivery is for.
func (d *Delivery) Target() ring.NodeID { return d.target }

// State returns the current state.
func (d *Delivery) State() DeliveryState { return d.state }

// Cursor returns where the next batch starts, to pass to Store.Batch: nil
// means from the first hint. The caller must not modify it.
func (d *Delivery) Cursor() []byte { return d.cursor }

// nano is the number of nanobytes in a byte.
const nano = int64(time.Second)

// tokensAt returns the bucket's level at now, in nanobytes, without
// changing it. Time that goes backwards refills nothing.
func (d *Delivery) tokensAt(now time.Time) int64 {
	if d.refilled.IsZero() || !now.After(d.refilled) {
		return d.tokens
	}
	full := d.cfg.Burst * nano
	if d.tokens >= full {
		return full
	}
	// Compare the elapsed time with the time to fill up before
	// multiplying, so that Rate × elapsed cannot overflow.
	elapsed := int64(now.Sub(d.refilled))
	if elapsed >= (full-d.tokens)/d.cfg.Rate {
		return full
	}
	return d.tokens + d.cfg.Rate*elapsed
}

// Wait returns how long after now the next batch may go, assuming none is
// in flight: zero if it may go now. It is the later of the end of the
// backoff and the time the bucket's debt is paid.
func (d *Delivery) Wait(now time.Time) time.Duration {
	var w time.Duration
	if d.state == DeliveryBackoff && now.Before(d.retryAt) {
		w = d.retryAt.Sub(now)
	}
	if t := d.tokensAt(now); t < 0 {
		w = max(w, time.Duration((-t+d.cfg.Rate-1)/d.cfg.Rate)) // rounded up
	}
	return w
}

// Ready reports whether a batch may be sent at now: none is in flight, no
// backoff is pending and the bucket is not in debt. Whether there is
// anything to send, and whether the target is alive, is the caller's to
// know.
func (d *Delivery) Ready(now time.Time) bool {
	return !d.inFlight && d.Wait(now) == 0
}

// Sending records that a batch of keys hints totalling bytes bytes
// (Hint.Size) leaves at now: it takes bytes from the bucket and marks the
// batch in flight until Acked or Failed. It panics if a batch is already in
// flight, which is a caller bug.
func (d *Delivery) Sending(keys, bytes int, now time.Time) {
	if d.inFlight {
		panic("hintedhandoff: Sending while a batch is in flight")
	}
	// Saturate rather than wrap if a caller keeps sending into debt.
	d.tokens = max(d.tokensAt(now)-min(int64(bytes), MaxBurst)*nano, math.MinInt64/2)
	if d.refilled.IsZero() || now.After(d.refilled) {
		d.refilled = now
	}
	d.inFlight = true
	d.flightKeys, d.flightBytes = keys, bytes
	d.state = DeliveryActive
}

// Acked records, at now, that the batch in flight was acknowledged by the
// target (and its hints passed to Store.Delivered), and that the next batch
// starts after next, the cursor Store.Batch returned with it. A nil next
// ends the pass: the state becomes DeliveryDone and the next pass starts
// from the first hint. It resets the backoff. Acked without a batch in
// flight (Store.Batch found nothing to send) only moves the cursor.
func (d *Delivery) Acked(next []byte, now time.Time) {
	if d.inFlight {
		d.keys += uint64(d.flightKeys)
		d.bytes += uint64(d.flightBytes)
		d.batches++
		d.record(now, d.flightBytes, d.flightKeys)
		d.lastAck = now
	}
	d.inFlight = false
	d.flightKeys, d.flightBytes = 0, 0
	d.failures = 0
	d.retryAt = time.Time{}
	d.cursor = bytes.Clone(next)
	if next == nil {
		d.state = DeliveryDone
	} else {
		d.state = DeliveryActive
	}
}

// Failed records that an attempt failed at now with err: the batch in
// flight was not acknowledged, or reading or deleting hints failed. The
// cursor stays, so the next batch resends whatever of the failed batch is
// still queued (the owner's merge is idempotent). The next attempt waits
// BackoffMin after the first consecutive failure, doubling with each one
// up to BackoffMax.
func (d *Delivery) Failed(err error, now time.Time) {
	d.inFlight = false
	d.flightKeys, d.flightBytes = 0, 0
	d.failures++
	d.failed++
	d.lastErr, d.errAt = err, now
	d.retryAt = now.Add(Backoff(d.cfg, d.failures))
	d.state = DeliveryBackoff
}

// Wake ends a pending backoff, so that the next batch may go as soon as the
// bucket allows: node calls it when gossip reports the target alive again.
// The failure count stays, so a target that fails again backs off further.
func (d *Delivery) Wake() {
	if d.state == DeliveryBackoff {
		d.retryAt = time.Time{}
		d.state = DeliveryActive
	}
}

// Backoff returns the wait after the failures-th consecutive failure (from
// 1): cfg.BackoffMin doubled failures-1 times, capped at cfg.BackoffMax,
// with cfg's zero fields at their defaults. It is zero for failures < 1.
func Backoff(cfg Config, failures int) time.Duration {
	if failures < 1 {
		return 0
	}
	cfg = cfg.WithDefaults()
	w := cfg.BackoffMin
	for i := 1; i < failures && w < cfg.BackoffMax; i++ {
		if w > cfg.BackoffMax/2 {
			return cfg.BackoffMax // doubling would pass the cap (or overflow)
		}
		w *= 2
	}
	return min(w, cfg.BackoffMax)
}

// record counts an acknowledged batch in the rate window.
func (d *Delivery) record(now time.Time, bytes, keys int) {
	sec := now.Unix()
	b := &d.window[mod(sec, rateBuckets)]
	if !b.used || b.sec != sec {
		*b = rateBucket{sec: sec, used: true}
	}
	b.bytes += int64(bytes)
	b.keys += int64(keys)
}

// rates returns bytes and keys per second acknowledged over the RateWindow
// ending at now (the current second included).
func (d *Delivery) rates(now time.Time) (bytesPerSec, keysPerSec float64) {
	sec := now.Unix()
	var bs, ks int64
	for _, b := range d.window {
		if b.used && b.sec <= sec && b.sec > sec-rateBuckets {
			bs += b.bytes
			ks += b.keys
		}
	}
	return float64(bs) / rateBuckets, float64(ks) / rateBuckets
}

// floorDiv returns a/b rounded down, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// DeliveryStatus is a Delivery's state for /debug/hints and metrics. The
// queue itself (count, bytes, lag) is in TargetStats.
type DeliveryStatus struct {
	Target   ring.NodeID
	State    DeliveryState
	InFlight bool
	// BytesPerSec and KeysPerSec are the acknowledged delivery rates over
	// the last RateWindow.
	BytesPerSec, KeysPerSec float64
	// Keys, Bytes and Batches count what the target acknowledged since
	// NewDelivery; Failures counts failed attempts.
	Keys, Bytes, Batches, Failures uint64
	// ConsecutiveFailures is the current run of failures (0 after an ack).
	ConsecutiveFailures int
	// RetryAt is when the backoff ends; zero unless backing off.
	RetryAt time.Time
	// LastAck is the time of the last acknowledged batch.
	LastAck time.Time
	// LastError and LastErrorAt describe the last failure ("" if none).
	LastError   string
	LastErrorAt time.Time
	// Tokens is the bucket's level at now, in bytes (negative: debt).
	Tokens int64
}

// Status returns d's state at now.
func (d *Delivery) Status(now time.Time) DeliveryStatus {
	bs, ks := d.rates(now)
	st := DeliveryStatus{
		Target:              d.target,
		State:               d.state,
		InFlight:            d.inFlight,
		BytesPerSec:         bs,
		KeysPerSec:          ks,
		Keys:                d.keys,
		Bytes:               d.bytes,
		Batches:             d.batches,
		Failures:            d.failed,
		ConsecutiveFailures: d.failures,
		LastAck:             d.lastAck,
		LastErrorAt:         d.errAt,
		Tokens:              floorDiv(d.tokensAt(now), nano),
	}
	if d.state == DeliveryBackoff {
		st.RetryAt = d.retryAt
	}
	if d.lastErr != nil {
		st.LastError = d.lastErr.Error()
	}
	return st
}
