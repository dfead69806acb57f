package antientropy

import (
	"testing"
	"time"
)

func TestReapable(t *testing.T) {
	stored := t0
	deleted := t0.Add(-time.Minute) // the coordinator's delete came a minute before this replica stored it
	const grace = time.Hour
	after := stored.Add(time.Second)
	peers := []string{"n2", "n3"}
	for _, tc := range []struct {
		name      string
		ts        Tombstone
		now       time.Time
		peers     []string
		confirmed map[string]time.Time
		want      bool
	}{
		{"old and confirmed by all", Tombstone{deleted, stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after, "n3": after}, true},
		{"exactly minAge after DeletedAt", Tombstone{deleted, stored}, deleted.Add(grace), peers,
			map[string]time.Time{"n2": after, "n3": after}, true},
		{"minAge not reached", Tombstone{deleted, stored}, deleted.Add(grace - 1), peers,
			map[string]time.Time{"n2": after, "n3": after}, false},
		{"a peer missing from confirmed", Tombstone{deleted, stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after}, false},
		{"nil confirmed", Tombstone{deleted, stored}, stored.Add(2 * grace), peers, nil, false},
		{"confirmation equal to StoredAt", Tombstone{deleted, stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after, "n3": stored}, false},
		{"confirmation before StoredAt", Tombstone{deleted, stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": stored.Add(-time.Second), "n3": after}, false},
		{"confirmations of other nodes do not count", Tombstone{deleted, stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after, "n4": after, "n5": after}, false},
		{"zero DeletedAt: age from StoredAt, reached", Tombstone{StoredAt: stored}, stored.Add(grace), peers,
			map[string]time.Time{"n2": after, "n3": after}, true},
		{"zero DeletedAt: age from StoredAt, not reached", Tombstone{StoredAt: stored}, stored.Add(grace - 1), peers,
			map[string]time.Time{"n2": after, "n3": after}, false},
		{"DeletedAt in the future (clock skew)", Tombstone{stored.Add(time.Hour), stored}, stored.Add(time.Hour), peers,
			map[string]time.Time{"n2": after, "n3": after}, false},
		{"no peers: age alone", Tombstone{deleted, stored}, deleted.Add(grace), nil, nil, true},
		{"no peers, too young", Tombstone{deleted, stored}, deleted.Add(grace - 1), nil, nil, false},
		{"zero StoredAt is never reapable", Tombstone{DeletedAt: deleted}, stored.Add(100 * grace), peers,
			map[string]time.Time{"n2": after, "n3": after}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Reapable(tc.ts, tc.now, grace, tc.peers, tc.confirmed); got != tc.want {
				t.Errorf("Reapable(%+v, now=%v, peers=%v, confirmed=%v) = %v, want %v", tc.ts, tc.now, tc.peers, tc.confirmed, got, tc.want)
			}
		})
	}
	// With minAge 0 only the confirmations count.
	confirmed := map[string]time.Time{"n2": after, "n3": after}
	if !Reapable(Tombstone{deleted, stored}, stored, 0, peers, confirmed) {
		t.Error("minAge 0, all confirmed: not reapable")
	}
	confirmed["n3"] = stored
	if Reapable(Tombstone{deleted, stored}, stored, 0, peers, confirmed) {
		t.Error("minAge 0, n3 unconfirmed: reapable")
	}
}
