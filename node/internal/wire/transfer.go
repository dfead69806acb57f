package wire

import "fmt"

// TransferRequest asks for the keys of a partition after a cursor.
type TransferRequest struct {
	Partition uint32
	After     []byte
}

// Marshal encodes m.
func (m TransferRequest) Marshal() []byte {
	return wbuf{wireV1}.uvarint(uint64(m.Partition)).bytes(m.After)
}

// UnmarshalTransferRequest decodes what TransferRequest.Marshal wrote.
func UnmarshalTransferRequest(p []byte) (TransferRequest, error) {
	r := rbuf{b: p}
	r.version()
	m := TransferRequest{Partition: uint32(r.int(1 << 31)), After: r.bytes()}
	return m, r.end()
}

// TransferItem is a key with its encoded state, as the source stores it.
type TransferItem struct {
	Key   []byte
	State []byte
}

// TransferBatch is one batch of a partition's keys.
type TransferBatch struct {
	Done  bool
	Items []TransferItem
}

// Marshal encodes m.
func (m TransferBatch) Marshal() []byte {
	done := uint64(0)
	if m.Done {
		done = 1
	}
	b := wbuf{wireV1}.uvarint(done).uvarint(uint64(len(m.Items)))
	for _, it := range m.Items {
		b = b.bytes(it.Key).bytes(it.State)
	}
	return b
}

// DecodedBatch is a transfer batch with its states decoded.
type DecodedBatch struct {
	Done  bool
	Items []HandoffItem
}

// UnmarshalTransferBatch decodes what TransferBatch.Marshal wrote, and
// each item's state. It refuses an empty key.
func UnmarshalTransferBatch(p []byte) (DecodedBatch, error) {
	r := rbuf{b: p}
	r.version()
	m := DecodedBatch{Done: r.int(1) == 1}
	n := r.int(MaxHandoffItems)
	if r.err == nil && n > len(r.b)/2 {
		r.fail("%d items past end", n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		key := r.bytes()
		raw := r.bytes()
		if r.err != nil {
			break
		}
		if len(key) == 0 {
			r.fail("empty key")
			break
		}
		var it HandoffItem
		it.Key = key
		if err := it.State.UnmarshalBinary(raw); err != nil {
			return m, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		m.Items = append(m.Items, it)
	}
	return m, r.end()
}
