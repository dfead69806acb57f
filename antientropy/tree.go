package antientropy

import "fmt"

// Tree is a fixed-shape hash tree over one partition's (key, state)
// entries.
//
// Every node's hash is the XOR of the entry hashes of the keys below it,
// so a write updates one node per level in O(depth) (XOR out the old entry
// hash, XOR in the new one), updates commute (the order in which deltas are
// applied does not matter), and a parent equals the XOR of its children.
// Level l has 16^l nodes; a key sits under node Bucket(KeyHash(key), l) at
// every level l.
//
// The zero Tree is not usable; call NewTree. A Tree is not safe for
// concurrent use: its owner serializes Update with reads, and hands a Clone
// to an exchange that must not see later writes.
type Tree struct {
	all    []uint64   // every level, root first, in one allocation
	levels [][]uint64 // levels[l] = the 16^l hashes of level l, slices of all
	keys   int        // entries present (nonzero entry hash)
}

// NewTree returns an empty tree (every hash 0) with levels 0..depth.
// It panics if depth is not in [1, MaxDepth].
func NewTree(depth int) *Tree {
	if depth < 1 || depth > MaxDepth {
		panic(fmt.Sprintf("antientropy: NewTree: depth %d not in [1, %d]", depth, MaxDepth))
	}
	total, width := 0, 1
	for range depth + 1 {
		total += width
		width *= Fanout
	}
	t := &Tree{all: make([]uint64, total)}
	t.slice(depth)
	return t
}

// slice points t.levels into t.all.
func (t *Tree) slice(depth int) {
	t.levels = make([][]uint64, depth+1)
	off, width := 0, 1
	for l := range t.levels {
		t.levels[l] = t.all[off : off+width : off+width]
		off += width
		width *= Fanout
	}
}

// Depth returns the level of the leaves; the tree has Depth()+1 levels.
func (t *Tree) Depth() int { return len(t.levels) - 1 }

// Keys returns the number of present entries, as counted by Update: +1
// when an entry appears (old == 0), -1 when one disappears (new == 0).
func (t *Tree) Keys() int { return t.keys }

// Root returns the hash of the whole tree: the XOR of every entry hash.
// Two trees over the same entries have the same root whatever their depth.
func (t *Tree) Root() uint64 { return t.levels[0][0] }

// Hash returns the hash of node index at level. It panics if level is not
// in [0, Depth()] or index is not in [0, 16^level).
func (t *Tree) Hash(level int, index uint32) uint64 {
	t.checkLevel("Hash", level, t.Depth())
	return t.levels[level][index]
}

// Children returns a copy of the Fanout hashes at level+1 under node
// (level, index). It panics if level is not in [0, Depth()) or index is not
// in [0, 16^level).
func (t *Tree) Children(level int, index uint32) []uint64 {
	t.checkLevel("Children", level, t.Depth()-1)
	base := int(index) * Fanout
	return append([]uint64(nil), t.levels[level+1][base:base+Fanout]...)
}

func (t *Tree) checkLevel(op string, level, max int) {
	if level < 0 || level > max {
		panic(fmt.Sprintf("antientropy: Tree.%s: level %d not in [0, %d]", op, level, max))
	}
}

// Update records that the entry of the key with hash keyHash changed from
// entry hash old to entry hash new, where 0 means absent: (0, h) inserts,
// (h, 0) deletes, (h1, h2) updates. It XORs old^new into the key's node at
// every level. It is a no-op when old == new.
//
// old must be the entry hash the tree last recorded for the key (0 if
// none); a wrong old leaves garbage in the tree until the next rebuild.
func (t *Tree) Update(keyHash, old, new uint64) {
	if old == new {
		return
	}
	delta := old ^ new
	for l, level := range t.levels {
		level[Bucket(keyHash, l)] ^= delta
	}
	if old == 0 {
		t.keys++
	}
	if new == 0 {
		t.keys--
	}
}

// NeedsResize reports whether the tree has grown past its depth:
// DepthFor(Keys()) > Depth(). The owner then rebuilds it from storage at
// the new depth. Trees never shrink on their own.
func (t *Tree) NeedsResize() bool { return DepthFor(t.keys) > t.Depth() }

// Clone returns an independent copy of t, for an exchange to compare
// against while t keeps taking updates.
func (t *Tree) Clone() *Tree {
	c := &Tree{all: append([]uint64(nil), t.all...), keys: t.keys}
	c.slice(t.Depth())
	return c
}
