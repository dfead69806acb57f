package hintedhandoff

import (
	"slices"
	"time"
)

// TargetStats describes the hints queued for one target. Count, Bytes and
// Oldest describe what is stored now (rebuilt by Open); Refused and
// Delivered count events since Open. There is no expired count: hints are
// never dropped for age (Config.MaxAge).
type TargetStats struct {
	// Count is the number of hints queued (one per key).
	Count int
	// Bytes is the bytes they take in the store: keys plus records.
	Bytes int64
	// Oldest is the creation time of the oldest queued hint, rounded down
	// to the second; zero when Count is zero.
	Oldest time.Time
	// Refused counts Add calls refused with ErrTargetFull.
	Refused uint64
	// Delivered counts hints deleted by Delivered or Supersede.
	Delivered uint64
}

// Lag returns the age at now of the oldest queued hint, the delivery lag:
// zero when nothing is queued, and never negative. A lag above MaxAge
// means the target has overdue hints (see Overdue).
func (t TargetStats) Lag(now time.Time) time.Duration {
	if t.Count == 0 || t.Oldest.IsZero() || now.Before(t.Oldest) {
		return 0
	}
	return now.Sub(t.Oldest)
}

// Overdue reports whether the target has a hint older than maxAge (the
// hint window, Config.MaxAge) at now: kept, but a sign that the target
// has been out of reach for long, which an operator should see.
func (t TargetStats) Overdue(now time.Time, maxAge time.Duration) bool {
	return t.Lag(now) > maxAge
}

// target is a Store's in-memory bookkeeping for one target. Its fields are
// guarded by Store.mu.
type target struct {
	count    int
	bytes    int64
	reserved int64 // bytes promised to Adds in flight; see Store.Add
	ages     ageIndex

	// Event counters since Open.
	refused, delivered uint64
}

// entry describes one stored hint record, for bookkeeping.
type entry struct {
	ok      bool  // the record exists
	size    int64 // key plus record bytes
	created int64 // Unix nanoseconds
}

// change is what one storage.Update did to one hint key: the record it
// replaced or deleted (old) and the record it wrote (new). Absent entries
// have ok == false.
type change struct {
	old, new entry
}

// apply adds c to t. Updates of one key reach the store in some order but
// may reach apply in another, so counters can be briefly off while calls
// are in flight; they add up exactly once every call has returned.
func (t *target) apply(c change) {
	if c.old.ok {
		t.count--
		t.bytes -= c.old.size
	}
	if c.new.ok {
		t.count++
		t.bytes += c.new.size
	}
	switch {
	case c.old.ok && c.new.ok && second(c.old.created) == second(c.new.created):
		// A merge keeps the creation time: nothing moves.
	default:
		if c.old.ok {
			t.ages.add(second(c.old.created), -1)
		}
		if c.new.ok {
			t.ages.add(second(c.new.created), 1)
		}
	}
}

// stats returns t's public view. Counts that are briefly negative while
// calls are in flight (see apply) read as zero.
func (t *target) stats() TargetStats {
	s := TargetStats{
		Count:     max(t.count, 0),
		Bytes:     max(t.bytes, 0),
		Refused:   t.refused,
		Delivered: t.delivered,
	}
	if sec, ok := t.ages.oldest(); ok && s.Count > 0 {
		s.Oldest = time.Unix(sec, 0)
	}
	return s
}

// second returns the Unix second (rounded down) of Unix nanoseconds ns.
func second(ns int64) int64 { return time.Unix(0, ns).Unix() }

// ageIndex counts hints per creation second, so that the oldest hint's age
// is known without a scan. It holds one entry per distinct second of the
// stored hints' creation, so it is bounded by their count, which
// MaxBytesPerTarget bounds.
type ageIndex struct {
	secs   []int64       // sorted, distinct: the seconds with a non-zero count
	counts map[int64]int // second → hints created in it (negative briefly, see target.apply)
}

// add adds d to the count of second sec.
func (a *ageIndex) add(sec int64, d int) {
	if d == 0 {
		return
	}
	if a.counts == nil {
		a.counts = make(map[int64]int)
	}
	before := a.counts[sec]
	after := before + d
	switch {
	case before == 0 && after != 0:
		i, _ := slices.BinarySearch(a.secs, sec)
		a.secs = slices.Insert(a.secs, i, sec)
		a.counts[sec] = after
	case before != 0 && after == 0:
		i, _ := slices.BinarySearch(a.secs, sec)
		a.secs = slices.Delete(a.secs, i, i+1)
		delete(a.counts, sec)
	default:
		a.counts[sec] = after
	}
}

// oldest returns the earliest second with a positive count.
func (a *ageIndex) oldest() (int64, bool) {
	for _, s := range a.secs {
		if a.counts[s] > 0 {
			return s, true
		}
	}
	return 0, false
}
