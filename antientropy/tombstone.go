package antientropy

import "time"

// Tombstone describes a key whose versions are all deletes.
type Tombstone struct {
	// DeletedAt is the latest delete time carried by the key's tombstone
	// versions (the coordinators' clocks).
	DeletedAt time.Time
	// StoredAt is when this replica stored the current tombstone state
	// (the local clock).
	StoredAt time.Time
}

// Reapable reports whether a tombstone may be removed from this replica.
// Both must hold:
//
//   - it is old enough: now - DeletedAt >= minAge (a zero DeletedAt uses
//     StoredAt), so clients and replicas that saw the delete late have had
//     the grace period to catch up;
//   - every name in peers (the key's other replicas) has a confirmation
//     time in confirmed strictly after StoredAt: a completed exchange with
//     that peer, started after the tombstone was stored, found the
//     partitions equal, so the peer holds the same tombstone (or a state
//     that descends it). A peer missing from confirmed is unconfirmed.
//
// Reaping without the second condition lets a replica that missed the
// delete resurrect the value by anti-entropy (or read repair) after the
// tombstone is gone. With no peers (N = 1) only the age counts. A
// tombstone whose StoredAt is zero is never reapable: nothing can be shown
// to have happened after it was stored.
func Reapable(t Tombstone, now time.Time, minAge time.Duration, peers []string, confirmed map[string]time.Time) bool {
	if t.StoredAt.IsZero() {
		return false
	}
	deleted := t.DeletedAt
	if deleted.IsZero() {
		deleted = t.StoredAt
	}
	if now.Sub(deleted) < minAge {
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
