package antientropy

import (
	"encoding/binary"
	"math/bits"

	"github.com/cespare/xxhash/v2"
)

// Fanout is the number of children of every inner tree node: each level
// consumes 4 more bits of the key hash.
const Fanout = 16

// MaxDepth is the deepest tree NewTree builds: 16^5 leaves, 8 MiB of
// uint64 leaf hashes (plus 1/15 of that for the inner levels).
const MaxDepth = 5

// KeysPerLeaf is the average number of keys per leaf that DepthFor aims to
// stay under. It bounds what a single differing key costs in Entries.
const KeysPerLeaf = 8

// bitsPerLevel is log2(Fanout).
const bitsPerLevel = 4

// KeyHash returns the hash that places key in a tree: xxhash.Sum64(key)
// rotated left by 16 bits. Its top 4·level bits are the key's Bucket at each
// level. The ring places keys in partitions by the top log2(Q) <= 16 bits of
// the same xxhash, so every key of a partition shares them; rotating moves
// them to the bottom, and a partition's tree spreads its keys over all its
// leaves. Every replica must use the same function, since the trees of two
// replicas are compared node by node.
func KeyHash(key []byte) uint64 { return bits.RotateLeft64(xxhash.Sum64(key), 16) }

// EntryHash returns the hash of one (key, state) entry: xxhash64 over
// uvarint(len(key)), key, state, so that no two different (key, state)
// pairs are framed alike. state is the replica's encoded state of the key
// (every sibling and the causal context), so that two replicas holding the
// same key with different states hash differently.
//
// EntryHash never returns 0: 0 means "absent" in Tree.Update and in
// Difference, so a hash that happens to be 0 is mapped to 1.
func EntryHash(key, state []byte) uint64 {
	var n [binary.MaxVarintLen64]byte
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(n[:binary.PutUvarint(n[:], uint64(len(key)))])
	_, _ = d.Write(key)
	_, _ = d.Write(state)
	return nonzero(d.Sum64())
}

// nonzero maps 0 to 1 and leaves any other h alone.
func nonzero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// Bucket returns the index of the node at level that covers a key of hash
// keyHash: 0 at level 0 (the root), otherwise the top 4·level bits of
// keyHash. Node (level, i) is the parent of nodes (level+1, i·Fanout+c) for
// c in [0, Fanout). Bucket panics if level is not in [0, MaxDepth].
func Bucket(keyHash uint64, level int) uint32 {
	if level < 0 || level > MaxDepth {
		panic("antientropy: Bucket: level out of range [0, MaxDepth]")
	}
	if level == 0 {
		return 0
	}
	return uint32(keyHash >> (64 - bitsPerLevel*uint(level)))
}

// DepthFor returns the depth a tree for keys entries should have: the
// smallest d in [1, MaxDepth] with KeysPerLeaf·16^d >= keys, or MaxDepth
// when even that is too small.
func DepthFor(keys int) int {
	leaves := Fanout
	for d := 1; d < MaxDepth; d++ {
		if KeysPerLeaf*leaves >= keys {
			return d
		}
		leaves *= Fanout
	}
	return MaxDepth
}
