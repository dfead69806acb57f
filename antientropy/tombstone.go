package antientropy

import "time"

// Tombstone describes a key whose versions are all deletes, as one replica
// holds it.
type Tombstone struct {
	// StoredAt is when this replica stored the current tombstone state,
	// on this replica's own steady clock (the same clock as Reapable's now
	// and confirmed times). The delete's own time, on whichever node
	// coordinated it, plays no part: two nodes' clocks are never compared.
	StoredAt time.Time
}

// Reapable reports whether a tombstone may be removed from this replica.
// Both must hold:
//
//   - it is old enough: now - StoredAt >= minAge, measured on this
//     replica's clock, so requests, hints and replicas that saw the delete
//     late have had the grace period to catch up (StoredAt is no earlier
//     than the delete, so this errs late, never early);
//   - every name in peers (the key's other replicas, and any node that may
//     still hold a copy) has a confirmation time in confirmed strictly
//     after StoredAt: a completed exchange with that peer, started after
//     the tombstone was stored, left the peer holding the same tombstone
//     (or a state that descends it) or nothing. A peer missing from
//     confirmed is unconfirmed.
//
// Reaping without the second condition lets a replica that missed the
// delete resurrect the value by anti-entropy (or read repair) after the
// tombstone is gone. With no peers (N = 1) only the age counts. A
// tombstone whose StoredAt is zero is never reapable: nothing can be shown
// to have happened after it was stored.
func Reapable(t Tombstone, now time.Time, minAge time.Duration, peers []string, confirmed map[string]time.Time) bool {
	if t.StoredAt.IsZero() || now.Sub(t.StoredAt) < minAge {
		return false
	}
	for _, p := range peers {
		c, ok := confirmed[p]
		if !ok || !c.After(t.StoredAt) {
			return false
		}
	}
	return true
}
