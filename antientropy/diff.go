package antientropy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// Sentinel errors of Diff. Returned errors wrap them with detail; test with
// errors.Is.
var (
	// ErrBadRemote means the remote replica answered Diff with something
	// that cannot be right: a depth out of range, the wrong number of hash
	// lists or hashes, an entry outside the buckets asked for, an entry hash
	// of 0, or the same key twice. The exchange should be abandoned.
	ErrBadRemote = errors.New("antientropy: bad reply from remote")
	// ErrBadLocal means Local listed an entry outside the buckets asked
	// for, an entry hash of 0, or the same key twice.
	ErrBadLocal = errors.New("antientropy: bad local listing")
)

// Entry is one key and its entry hash (EntryHash of the key and the
// replica's state of it; never 0).
type Entry struct {
	Key  []byte
	Hash uint64
}

// Remote is the other replica in an exchange. node implements it over RPC
// against a snapshot (Clone) of the peer's tree for the same partition and
// the peer's storage. Its methods may block; Diff calls them one at a time.
// Diff owns the returned slices: it may reorder them and keeps references
// to the keys in the Differences it returns.
type Remote interface {
	// Children returns, for each index at level, the Fanout hashes of its
	// children at level+1 (Tree.Children), in the order of indices.
	Children(level int, indices []uint32) ([][]uint64, error)
	// Entries returns every key whose Bucket(KeyHash(key), level) is in
	// buckets, with its entry hash, in any order.
	Entries(level int, buckets []uint32) ([]Entry, error)
}

// Local lists this replica's entries whose Bucket(KeyHash(key), level) is
// in buckets, in any order (node scans its storage). Diff owns the returned
// slice, as for Remote.
type Local func(level int, buckets []uint32) ([]Entry, error)

// Difference is a key whose entry differs between the replicas. Local and
// Remote are the entry hashes on each side; 0 means the key is absent on
// that side.
type Difference struct {
	Key           []byte
	Local, Remote uint64
}

// DiffStats counts the work of one Diff: what crossed the network, in
// units. node turns them into bytes and metrics.
type DiffStats struct {
	Rounds          int // Remote calls made
	HashesReceived  int // child hashes received from Remote
	EntriesReceived int // entries received from Remote
	EntriesLocal    int // entries listed locally
	Buckets         int // differing buckets whose entries were compared
}

// Diff compares own (a snapshot) with a remote tree of depth remoteDepth
// and root remoteRoot, and returns the keys whose entries differ.
//
// If the roots are equal it returns at once with no calls. Otherwise it
// descends level by level, only into differing subtrees: one
// Remote.Children call per level, with all differing indices of that level
// in ascending order, down to level L = min(own.Depth(), remoteDepth).
// Levels up to L mean the same in both trees whatever their depths (a node
// is the XOR of the entries under it), so trees of different depths compare
// at the shallower one's leaves. Diff then asks Remote.Entries and Local
// for the differing buckets of level L (one call each) and returns the keys
// whose entry hashes differ or that exist on one side only, sorted by key
// (bytes.Compare).
//
// maxBuckets > 0 caps the differing buckets examined: the lowest-numbered
// ones are kept, at every level, so the buckets compared are the
// lowest-numbered differing leaves. truncated reports that more differing
// buckets remained; the caller repairs what was returned and exchanges
// again. maxBuckets <= 0 means no cap.
//
// Diff validates what Remote and Local return: wrong counts, entries
// outside the buckets asked for, zero entry hashes and duplicate keys give
// an error wrapping ErrBadRemote or ErrBadLocal, never a panic. An error
// from Remote or Local is returned wrapped. On error, diffs is nil and st
// counts the work done until then.
func Diff(own *Tree, remoteRoot uint64, remoteDepth int, remote Remote, local Local, maxBuckets int) (diffs []Difference, st DiffStats, truncated bool, err error) {
	if remoteDepth < 1 || remoteDepth > MaxDepth {
		return nil, st, false, fmt.Errorf("%w: depth %d not in [1, %d]", ErrBadRemote, remoteDepth, MaxDepth)
	}
	if own.Root() == remoteRoot {
		return nil, st, false, nil
	}
	depth := min(own.Depth(), remoteDepth)
	cut := func(idx []uint32) []uint32 {
		if maxBuckets > 0 && len(idx) > maxBuckets {
			truncated = true
			return idx[:maxBuckets]
		}
		return idx
	}

	// Descend. frontier holds the differing nodes of level, ascending.
	frontier := []uint32{0}
	for level := 0; level < depth; level++ {
		frontier = cut(frontier)
		st.Rounds++
		lists, err := remote.Children(level, frontier)
		if err != nil {
			return nil, st, false, fmt.Errorf("antientropy: remote children at level %d: %w", level, err)
		}
		if len(lists) != len(frontier) {
			return nil, st, false, fmt.Errorf("%w: %d hash lists for %d indices at level %d", ErrBadRemote, len(lists), len(frontier), level)
		}
		mine := own.levels[level+1]
		var next []uint32
		for i, idx := range frontier {
			hs := lists[i]
			if len(hs) != Fanout {
				return nil, st, false, fmt.Errorf("%w: %d child hashes for node %d at level %d, want %d", ErrBadRemote, len(hs), idx, level, Fanout)
			}
			st.HashesReceived += Fanout
			base := idx * Fanout
			for c, h := range hs {
				if mine[base+uint32(c)] != h {
					next = append(next, base+uint32(c))
				}
			}
		}
		frontier = next
		if len(frontier) == 0 {
			// The remote's children agree with ours although its parent
			// did not: it changed under us. Nothing left to compare.
			return nil, st, truncated, nil
		}
	}
	buckets := cut(frontier)
	st.Buckets = len(buckets)

	st.Rounds++
	theirs, err := remote.Entries(depth, buckets)
	if err != nil {
		return nil, st, false, fmt.Errorf("antientropy: remote entries at level %d: %w", depth, err)
	}
	st.EntriesReceived = len(theirs)
	if err := checkEntries(theirs, depth, buckets, ErrBadRemote); err != nil {
		return nil, st, false, err
	}
	ours, err := local(depth, buckets)
	if err != nil {
		return nil, st, false, fmt.Errorf("antientropy: local entries at level %d: %w", depth, err)
	}
	st.EntriesLocal = len(ours)
	if err := checkEntries(ours, depth, buckets, ErrBadLocal); err != nil {
		return nil, st, false, err
	}
	return merge(ours, theirs), st, truncated, nil
}

// checkEntries sorts es by key and checks that every entry is in one of
// buckets (ascending) at level, has a nonzero hash and a key of its own.
func checkEntries(es []Entry, level int, buckets []uint32, bad error) error {
	for _, e := range es {
		if e.Hash == 0 {
			return fmt.Errorf("%w: key %q with entry hash 0", bad, e.Key)
		}
		b := Bucket(KeyHash(e.Key), level)
		if _, ok := slices.BinarySearch(buckets, b); !ok {
			return fmt.Errorf("%w: key %q is in bucket %d at level %d, which was not asked for", bad, e.Key, b, level)
		}
	}
	slices.SortFunc(es, func(a, b Entry) int { return bytes.Compare(a.Key, b.Key) })
	for i := 1; i < len(es); i++ {
		if bytes.Equal(es[i-1].Key, es[i].Key) {
			return fmt.Errorf("%w: key %q listed twice", bad, es[i].Key)
		}
	}
	return nil
}

// merge returns the differences between two key-sorted entry lists.
func merge(ours, theirs []Entry) []Difference {
	var out []Difference
	i, j := 0, 0
	for i < len(ours) || j < len(theirs) {
		var c int
		switch {
		case i == len(ours):
			c = 1
		case j == len(theirs):
			c = -1
		default:
			c = bytes.Compare(ours[i].Key, theirs[j].Key)
		}
		switch {
		case c < 0:
			out = append(out, Difference{Key: ours[i].Key, Local: ours[i].Hash})
			i++
		case c > 0:
			out = append(out, Difference{Key: theirs[j].Key, Remote: theirs[j].Hash})
			j++
		default:
			if ours[i].Hash != theirs[j].Hash {
				out = append(out, Difference{Key: ours[i].Key, Local: ours[i].Hash, Remote: theirs[j].Hash})
			}
			i++
			j++
		}
	}
	return out
}
