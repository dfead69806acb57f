package hintedhandoff

import (
	"errors"
	"fmt"
	"time"
)

const mib = 1 << 20

// MaxBurst is the largest Config.Burst: Delivery counts the bucket in
// nanobytes in an int64.
const MaxBurst = 1 << 32

// Config bounds the hint queues and paces their delivery. The zero value of
// every field means its default (see DefaultConfig); negative values are
// invalid.
type Config struct {
	// MaxBytesPerTarget bounds the bytes (keys plus records) of the hints
	// queued for one target. Add refuses a hint with ErrTargetFull when
	// storing it could take the target's queue over this bound, so the
	// queue never exceeds it. It is the only bound on hint storage: hints
	// are never dropped for age.
	MaxBytesPerTarget int64
	// MaxAge is the hint window: a hint first written more than MaxAge
	// ago is overdue (TargetStats.Overdue), which node reports to the
	// operator. It is still delivered and served: a write acknowledged by
	// fallbacks alone may exist nowhere else (Dynamo §4.6 keeps it until
	// it reaches its replica, as Riak's fallback vnodes keep their data
	// until handoff succeeds). node also keeps every tombstone at least
	// MaxAge plus a margin, so that hints delivered within the window
	// find the tombstones that suppress what they hold.
	MaxAge time.Duration
	// BatchKeys is the most hints Batch returns at once.
	BatchKeys int
	// BatchBytes is the most bytes (keys plus records) Batch returns at
	// once, except that a batch always holds at least one hint, however
	// large.
	BatchBytes int
	// Rate is the delivery rate limit per target, in bytes per second
	// (a token bucket in Delivery).
	Rate int64
	// Burst is the token bucket's depth in bytes: how much a target that
	// has been idle may send at once before Rate paces it.
	Burst int64
	// BackoffMin is the wait after the first failed batch; each further
	// consecutive failure doubles it.
	BackoffMin time.Duration
	// BackoffMax caps the backoff.
	BackoffMax time.Duration
}

// DefaultConfig returns the defaults that a zero field takes.
func DefaultConfig() Config {
	return Config{
		// 256 MiB: holds the whole MaxAge window of a ~25 KB/s write
		// stream to one down node (about 250 writes/s of 100 B values),
		// yet a long outage cannot fill the fallback's disk (a full
		// queue refuses hints, so the coordinator does not count them:
		// the writes fail rather than vanish), and the queue drains in
		// about 4.5 minutes at the default Rate.
		MaxBytesPerTarget: 256 * mib,
		// 3h: Cassandra's max_hint_window. A node down longer is likely
		// being replaced: the operator should see it (its hints are
		// overdue) and remove or restore it.
		MaxAge: 3 * time.Hour,
		// 256: spreads one RPC round trip and the owner's group-committed
		// fsync over many keys, while a batch that must be resent after a
		// failure stays small.
		BatchKeys: 256,
		// 1 MiB: far below the RPC frame limit (64 MiB), and one batch a
		// second at the default Rate.
		BatchBytes: 1 * mib,
		// 1 MiB/s: thousands of small keys a second, a fraction of what
		// an owner can merge with fsync, so foreground requests keep
		// most of its disk (Dynamo §6.5: background work yields to
		// foreground work).
		Rate: 1 * mib,
		// 1 MiB: one full batch may go at once after an idle period, no
		// more.
		Burst: 1 * mib,
		// 1s: a transient failure (a timeout, an owner still starting)
		// clears fast.
		BackoffMin: time.Second,
		// 1 min: a target that keeps failing is probed at most once a
		// minute; gossip reporting it alive (Delivery.Wake) ends the wait
		// early anyway.
		BackoffMax: time.Minute,
	}
}

// WithDefaults returns c with every zero field set from DefaultConfig.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	setDefault(&c.MaxBytesPerTarget, d.MaxBytesPerTarget)
	setDefault(&c.MaxAge, d.MaxAge)
	setDefault(&c.BatchKeys, d.BatchKeys)
	setDefault(&c.BatchBytes, d.BatchBytes)
	setDefault(&c.Rate, d.Rate)
	setDefault(&c.Burst, d.Burst)
	setDefault(&c.BackoffMin, d.BackoffMin)
	setDefault(&c.BackoffMax, d.BackoffMax)
	return c
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// Validate reports fields that Open and NewDelivery would reject, after
// zero fields take their defaults: negative values, and a BackoffMin above
// BackoffMax.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	check := func(bad bool, format string, args ...any) {
		if bad {
			errs = append(errs, fmt.Errorf("hintedhandoff: config: "+format, args...))
		}
	}
	check(c.MaxBytesPerTarget < 0, "MaxBytesPerTarget %d is negative", c.MaxBytesPerTarget)
	check(c.MaxAge < 0, "MaxAge %v is negative", c.MaxAge)
	check(c.BatchKeys < 0, "BatchKeys %d is negative", c.BatchKeys)
	check(c.BatchBytes < 0, "BatchBytes %d is negative", c.BatchBytes)
	check(c.Rate < 0, "Rate %d is negative", c.Rate)
	check(c.Burst < 0 || c.Burst > MaxBurst, "Burst %d is outside [0, MaxBurst]", c.Burst)
	check(c.BackoffMin < 0, "BackoffMin %v is negative", c.BackoffMin)
	check(c.BackoffMax < 0, "BackoffMax %v is negative", c.BackoffMax)
	check(c.BackoffMin > c.BackoffMax, "BackoffMin %v exceeds BackoffMax %v", c.BackoffMin, c.BackoffMax)
	return errors.Join(errs...)
}
