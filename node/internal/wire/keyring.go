package wire

// Keyring operations (KeyringRequest.Op).
const (
	KeyringList    uint8 = 0 // change nothing; answer the keys
	KeyringInstall uint8 = 1 // add Key (it decrypts)
	KeyringUse     uint8 = 2 // make the installed Key the primary (it encrypts)
	KeyringRemove  uint8 = 3 // remove Key (never the primary)
)

// MaxKeyringKeys bounds a keyring on the wire (and so its decoding).
const MaxKeyringKeys = 64

// maxKeyBytes bounds one gossip key on the wire (AES-256's is 32).
const maxKeyBytes = 64

// KeyringRequest is MethodKeyring's request: an operation and its key
// (none for KeyringList).
type KeyringRequest struct {
	Op  uint8
	Key []byte
}

// Marshal encodes m.
func (m KeyringRequest) Marshal() []byte {
	return wbuf{wireV1}.uvarint(uint64(m.Op)).bytes(m.Key)
}

// UnmarshalKeyringRequest decodes what KeyringRequest.Marshal wrote. It
// refuses an unknown operation and a key longer than any gossip key.
func UnmarshalKeyringRequest(p []byte) (KeyringRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := KeyringRequest{Op: uint8(r.int(int(KeyringRemove))), Key: r.bytes()}
	if r.err == nil && len(m.Key) > maxKeyBytes {
		r.fail("key of %d bytes", len(m.Key))
	}
	return m, r.end()
}

// KeyringResponse is MethodKeyring's answer: the receiver's keys after the
// operation, the primary first.
type KeyringResponse struct {
	Keys [][]byte
}

// Marshal encodes m.
func (m KeyringResponse) Marshal() []byte {
	b := wbuf{wireV1}.uvarint(uint64(len(m.Keys)))
	for _, k := range m.Keys {
		b = b.bytes(k)
	}
	return b
}

// UnmarshalKeyringResponse decodes what KeyringResponse.Marshal wrote.
func UnmarshalKeyringResponse(p []byte) (KeyringResponse, error) {
	r := rbuf{b: p}
	r.version()
	n := r.int(MaxKeyringKeys)
	var m KeyringResponse
	for i := 0; i < n && r.err == nil; i++ {
		k := r.bytes()
		if r.err == nil && (len(k) == 0 || len(k) > maxKeyBytes) {
			r.fail("key of %d bytes", len(k))
		}
		m.Keys = append(m.Keys, k)
	}
	return m, r.end()
}
