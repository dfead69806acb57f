package history

// Replica is one replica's stored state of one key after the run, from
// GET /debug/replica/{key} (no coordination: exactly what that node has).
type Replica struct {
	Key      string `json:"key"`
	Workload string `json:"workload,omitempty"`
	Node     string `json:"node"`
	// Error is set when the replica could not be read; Versions is then empty.
	Error    string    `json:"error,omitempty"`
	Versions []Version `json:"versions"`
}

// Version is one stored version: a live value or a tombstone, with the dot
// (actor:counter) of the write that made it.
type Version struct {
	Value   string `json:"value"`
	Deleted bool   `json:"deleted,omitempty"`
	Dot     string `json:"dot"`
}

// Live returns the values of the replica's live (not deleted) versions.
func (r Replica) Live() []string {
	var out []string
	for _, v := range r.Versions {
		if !v.Deleted {
			out = append(out, v.Value)
		}
	}
	return out
}
