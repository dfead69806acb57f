package antientropy

import (
	"testing"
	"time"
)

func TestReapable(t *testing.T) {
	stored := t0
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
		{"old and confirmed by all", Tombstone{stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after, "n3": after}, true},
		{"exactly minAge after StoredAt", Tombstone{stored}, stored.Add(grace), peers,
			map[string]time.Time{"n2": after, "n3": after}, true},
		{"minAge not reached", Tombstone{stored}, stored.Add(grace - 1), peers,
			map[string]time.Time{"n2": after, "n3": after}, false},
		{"a peer missing from confirmed", Tombstone{stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after}, false},
		{"nil confirmed", Tombstone{stored}, stored.Add(2 * grace), peers, nil, false},
		{"confirmation equal to StoredAt", Tombstone{stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after, "n3": stored}, false},
		{"confirmation before StoredAt", Tombstone{stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": stored.Add(-time.Second), "n3": after}, false},
		{"confirmations of other nodes do not count", Tombstone{stored}, stored.Add(2 * grace), peers,
			map[string]time.Time{"n2": after, "n4": after, "n5": after}, false},
		{"no peers: age alone", Tombstone{stored}, stored.Add(grace), nil, nil, true},
		{"no peers, too young", Tombstone{stored}, stored.Add(grace - 1), nil, nil, false},
		{"zero StoredAt is never reapable", Tombstone{}, stored.Add(100 * grace), peers,
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
	if !Reapable(Tombstone{stored}, stored, 0, peers, confirmed) {
		t.Error("minAge 0, all confirmed: not reapable")
	}
	confirmed["n3"] = stored
	if Reapable(Tombstone{stored}, stored, 0, peers, confirmed) {
		t.Error("minAge 0, n3 unconfirmed: reapable")
	}
}
