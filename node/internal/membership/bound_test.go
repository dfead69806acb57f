package membership

import "testing"

// The name-takeover rule: a known name is bound to its addresses,
// whatever the status, version or generation of a record claiming it.
func TestBound(t *testing.T) {
	known := Record{Name: "n3", Status: StatusValid, Version: 5, Gossip: "10.0.0.3:7946", RPC: "10.0.0.3:7947", HTTP: "10.0.0.3:8080"}
	c := State{Members: map[string]Record{"n3": known, "old": {Name: "old", Status: StatusRemoved}}}
	for _, tc := range []struct {
		name string
		r    Record
		want bool
	}{
		{"same addresses, newer", Record{Name: "n3", Status: StatusValid, Version: 9, Gossip: known.Gossip, RPC: known.RPC, HTTP: known.HTTP}, false},
		{"unknown name", Record{Name: "n4", Status: StatusJoining, Version: 1, Gossip: "10.0.0.4:7946"}, false},
		{"other gossip", Record{Name: "n3", Status: StatusValid, Version: 9, Gossip: "10.0.0.9:7946", RPC: known.RPC, HTTP: known.HTTP}, true},
		{"other rpc", Record{Name: "n3", Status: StatusValid, Version: 9, Gossip: known.Gossip, RPC: "10.0.0.9:7947", HTTP: known.HTTP}, true},
		{"other http", Record{Name: "n3", Status: StatusValid, Version: 9, Gossip: known.Gossip, RPC: known.RPC, HTTP: "10.0.0.9:8080"}, true},
		{"higher generation", Record{Name: "n3", Status: StatusJoining, Gen: 1, Version: 1, Gossip: "10.0.0.9:7946"}, true},
		{"known without addresses", Record{Name: "old", Status: StatusJoining, Gen: 1, Gossip: "10.0.0.9:7946"}, false},
		{"record without addresses", Record{Name: "n3", Status: StatusRemoved, Version: 9}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Bound(tc.r); got != tc.want {
				t.Errorf("Bound(%+v) = %v, want %v", tc.r, got, tc.want)
			}
		})
	}
}
