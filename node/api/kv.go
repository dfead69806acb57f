package api

// Sibling is one live value of a key in a JSON answer; Value is standard
// base64 in the JSON.
type Sibling struct {
	Value []byte `json:"value"`
}

// Object is a key's live state as JSON: the answer of GET /kv/{key} with
// Accept: application/json (200, 300 or 404 alike) and of a write with
// ?returnbody=true. Siblings are in the server's order and never null.
type Object struct {
	// Found is false when the key has no live value (none, or only
	// tombstones).
	Found bool `json:"found"`
	// Context is the causal context of the state read (also in
	// HeaderContext).
	Context  string    `json:"context"`
	Siblings []Sibling `json:"siblings"`
}

// Siblings is the body of a 300 Multiple Choices answer to GET /kv/{key}
// without Accept: application/json: the key has several concurrent live
// values. Write back with Context to resolve them.
type Siblings struct {
	Context  string    `json:"context"`
	Siblings []Sibling `json:"siblings"`
}

// Version is one stored version of a key in GET /debug/replica/{key}.
type Version struct {
	Value   []byte `json:"value"`
	Deleted bool   `json:"deleted"`
	// Dot names the write that made the version ("actor:counter").
	Dot string `json:"dot"`
	// Context is the version's causal context: counter per actor.
	Context map[string]uint64 `json:"context"`
}

// Replica is GET /debug/replica/{key}: the versions of key that the
// answering node stores itself, without coordination.
type Replica struct {
	Node      string `json:"node"`
	Key       string `json:"key"`
	Partition int    `json:"partition"`
	// Context is the stored state's causal context (counter per actor),
	// ContextToken the same as the opaque token a read answers.
	Context      map[string]uint64 `json:"context"`
	ContextToken string            `json:"context_token"`
	Versions     []Version         `json:"versions"`
}

// PreflistEntry is one node of a key's preference list in GET
// /debug/preflist/{key}.
type PreflistEntry struct {
	Node    string `json:"node"`
	Primary bool   `json:"primary"`
	Alive   bool   `json:"alive"`
	// For is the primary a fallback stands in for.
	For string `json:"for,omitempty"`
}

// KeyPreflist is GET /debug/preflist/{key}: the key's partition, its
// primaries (Preflist, null when the ring is empty), the fallbacks that
// would stand in for the down ones, and the extended preference list the
// fallbacks are taken from.
type KeyPreflist struct {
	Key       string          `json:"key"`
	Partition int             `json:"partition"`
	N         int             `json:"n"`
	Preflist  []PreflistEntry `json:"preflist"`
	Fallbacks []PreflistEntry `json:"fallbacks"`
	Extended  []string        `json:"extended"`
}
