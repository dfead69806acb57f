package api

// PathKeyring is the gossip encryption keyring of every live member: GET
// lists it, POST changes it (KeyringRequest). Both answer a Keyring.
const PathKeyring = "/cluster/keyring"

// Keyring operations (KeyringRequest.Op), as `consul keyring` names them.
const (
	KeyringInstall = "install" // add the key on every live member: it decrypts
	KeyringUse     = "use"     // make it every live member's primary: it encrypts
	KeyringRemove  = "remove"  // remove it from every live member
)

// KeyringRequest is POST /cluster/keyring's body: an operation and a
// base64 key (16, 24 or 32 bytes). "use" is refused (409, code
// key_not_installed) unless every live member has the key; "remove" is
// refused (409, code primary_key) for a member's primary key.
type KeyringRequest struct {
	Op  string `json:"op"`
	Key string `json:"key"`
}

// Keyring is the answer of GET and POST /cluster/keyring: a row per live
// member, the answering node first. A POST applied on some members and
// failed on others still answers 200: each row says how it went.
type Keyring struct {
	Nodes []KeyringNode `json:"nodes"`
}

// KeyringNode is one member's keyring after the request: its keys in
// base64, the primary first, or the error it answered.
type KeyringNode struct {
	Node    string   `json:"node"`
	Primary string   `json:"primary,omitempty"`
	Keys    []string `json:"keys,omitempty"`
	Error   string   `json:"error,omitempty"`
}
