package storage

import "encoding/binary"

// Hint keys. The hint keyspace (PrefixHint) holds hinted-handoff records
// (package hintedhandoff): a value a node keeps on behalf of another node,
// the owner, that was down when the value was written (Dynamo §4.6).
//
//	'h' | len(owner) (2 bytes, big-endian) | owner | partition (4 bytes, big-endian) | user key
//
// The owner's length comes first, so the hints held for one owner sort
// together and never interleave with another owner's, even when one owner's
// name is a prefix of the other's ("n1", "n10"): HintOwnerRange gives the
// bounds. Within one owner, hints sort by partition, then by user key, like
// data keys.

// MaxHintOwner is the longest owner name a hint key can hold, in bytes.
const MaxHintOwner = 1<<16 - 1

// hintOwnerLen is the length of the owner-length field.
const hintOwnerLen = 2

// HintKey returns the storage key of the hint for user key key in partition
// partition, held on behalf of owner. It returns a new slice. It panics if
// owner is longer than MaxHintOwner, which is a caller bug.
func HintKey(owner string, partition uint32, key []byte) []byte {
	if len(owner) > MaxHintOwner {
		panic("storage: hint owner longer than MaxHintOwner")
	}
	k := make([]byte, 1+hintOwnerLen+len(owner)+4+len(key))
	k[0] = PrefixHint
	binary.BigEndian.PutUint16(k[1:], uint16(len(owner)))
	n := 1 + hintOwnerLen + copy(k[1+hintOwnerLen:], owner)
	binary.BigEndian.PutUint32(k[n:], partition)
	copy(k[n+4:], key)
	return k
}

// SplitHintKey undoes HintKey. ok is false if k is not a hint key (wrong
// prefix, or shorter than its header says). The returned key aliases k;
// owner is a copy.
func SplitHintKey(k []byte) (owner string, partition uint32, key []byte, ok bool) {
	if len(k) < 1+hintOwnerLen || k[0] != PrefixHint {
		return "", 0, nil, false
	}
	n := int(binary.BigEndian.Uint16(k[1:]))
	rest := k[1+hintOwnerLen:]
	if len(rest) < n+4 {
		return "", 0, nil, false
	}
	return string(rest[:n]), binary.BigEndian.Uint32(rest[n:]), rest[n+4:], true
}

// HintOwnerRange returns the Scan bounds [start, end) that cover exactly the
// hint keys held for owner. It panics if owner is longer than MaxHintOwner.
func HintOwnerRange(owner string) (start, end []byte) {
	if len(owner) > MaxHintOwner {
		panic("storage: hint owner longer than MaxHintOwner")
	}
	start = make([]byte, 1+hintOwnerLen+len(owner))
	start[0] = PrefixHint
	binary.BigEndian.PutUint16(start[1:], uint16(len(owner)))
	copy(start[1+hintOwnerLen:], owner)
	return start, prefixEnd(start)
}

// HintRange returns the Scan bounds [start, end) of the whole hint keyspace.
func HintRange() (start, end []byte) {
	return []byte{PrefixHint}, []byte{PrefixHint + 1}
}

// prefixEnd returns the smallest key greater than every key that starts with
// p: p with trailing 0xff bytes dropped and its last byte incremented. p must
// hold a byte below 0xff (hint prefixes start with 'h').
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	panic("storage: prefixEnd of an all-0xff prefix")
}
