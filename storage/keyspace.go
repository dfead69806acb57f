package storage

import "encoding/binary"

// Key layout. Every key a node stores starts with one prefix byte that names
// its keyspace, so keyspaces never interleave and each can be scanned alone:
//
//	'd' | partition (4 bytes, big-endian) | user key   data (DataKey)
//	'h' | ...                                          hints (reserved for hinted handoff)
//	'm' | name                                         node metadata (MetaKey): epoch, ring state
//
// Because the partition number is fixed-width and big-endian, all data keys of
// partition p sort together, after every key of partition p-1 and before every
// key of partition p+1, whatever bytes the user keys hold (empty, 0x00 or 0xff
// runs). PartitionRange gives the bounds.
const (
	// PrefixData starts data keys: 'd' | partition | user key.
	PrefixData byte = 'd'
	// PrefixHint is reserved for hinted-handoff records; the hint keyspace
	// defines the bytes after it.
	PrefixHint byte = 'h'
	// PrefixMeta starts node metadata keys: 'm' | name.
	PrefixMeta byte = 'm'
)

// dataHeaderLen is the length of a data key before the user key.
const dataHeaderLen = 1 + 4

// DataKey returns the storage key of user key key in partition partition:
// 'd' | partition (4 bytes, big-endian) | key. It returns a new slice.
func DataKey(partition uint32, key []byte) []byte {
	k := make([]byte, dataHeaderLen+len(key))
	k[0] = PrefixData
	binary.BigEndian.PutUint32(k[1:dataHeaderLen], partition)
	copy(k[dataHeaderLen:], key)
	return k
}

// SplitDataKey undoes DataKey. ok is false if k is not a data key (wrong prefix
// or shorter than the header). The returned key aliases k.
func SplitDataKey(k []byte) (partition uint32, key []byte, ok bool) {
	if len(k) < dataHeaderLen || k[0] != PrefixData {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(k[1:dataHeaderLen]), k[dataHeaderLen:], true
}

// PartitionRange returns the Scan bounds [start, end) that cover exactly the
// data keys of partition. For the last partition (math.MaxUint32) end is the
// first key after the data keyspace, {'d'+1}.
func PartitionRange(partition uint32) (start, end []byte) {
	start = DataKey(partition, nil)
	if partition == ^uint32(0) {
		return start, []byte{PrefixData + 1}
	}
	return start, DataKey(partition+1, nil)
}

// MetaKey returns the storage key of node metadata entry name: 'm' | name.
func MetaKey(name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = PrefixMeta
	copy(k[1:], name)
	return k
}
