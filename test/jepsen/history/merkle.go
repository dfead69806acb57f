package history

// Tree is one node's Merkle tree of one ring partition as GET /debug/merkle
// reports it: the root hash over the node's keys of the partition and their
// causal states. Replicas that store the same versions of every key of a
// partition report the same root (DESIGN.md §7, convergence).
type Tree struct {
	Node      string `json:"node"`
	Partition int    `json:"partition"`
	// Held is false when the node keeps no tree for the partition (its
	// root is then all zeros and means nothing).
	Held bool   `json:"held"`
	Root string `json:"root"`
	Keys int    `json:"keys"`
	// Error is set when the node's trees could not be read (for example a
	// store without GET /debug/merkle); the other fields but Node are then
	// empty.
	Error string `json:"error,omitempty"`
}
