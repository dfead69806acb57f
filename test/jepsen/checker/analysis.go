package checker

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"

	"github.com/dynago/dynago/test/jepsen/history"
)

// MaxExamples bounds the violations a Result lists.
const MaxExamples = 10

// Result is one checker's verdict.
type Result struct {
	Name  string `json:"name"`
	Valid bool   `json:"valid"`
	// Counts are the checker's tallies, e.g. reads checked, violations.
	Counts map[string]int `json:"counts"`
	// Examples are up to MaxExamples violations.
	Examples []Violation `json:"examples,omitempty"`
}

// Violation is one example of a broken property.
type Violation struct {
	Kind  string `json:"kind"`
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	// Ops are the history indexes of the ops involved (invokes).
	Ops    []int  `json:"ops,omitempty"`
	Detail string `json:"detail"`
}

func newResult(name string) Result {
	return Result{Name: name, Valid: true, Counts: map[string]int{}}
}

// flag records one violation: counted always, listed while there is room.
func (r *Result) flag(v Violation) {
	r.Valid = false
	r.Counts["violations"]++
	if len(r.Examples) < MaxExamples {
		r.Examples = append(r.Examples, v)
	}
}

// bitset is a set of small integers (value indexes of one key).
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) or(o bitset) {
	for i := range o {
		b[i] |= o[i]
	}
}
func (b bitset) clone() bitset { return slices.Clone(b) }
func (b bitset) andNot(o bitset) bitset {
	out := b.clone()
	for i := range o {
		out[i] &^= o[i]
	}
	return out
}

func (b bitset) members() []int {
	var out []int
	for w, x := range b {
		for x != 0 {
			t := bits.TrailingZeros64(x)
			out = append(out, w*64+t)
			x &^= 1 << t
		}
	}
	return out
}

// keyHistory is everything the checkers need about one key.
type keyHistory struct {
	key      string
	workload string
	idx      map[string]int // value -> index
	names    []string       // index -> value
	writer   []*history.Operation
	reads    []*history.Operation // OK reads, in invoke order
	writes   []*history.Operation // writes and adds (they carry a value), invoke order
	deletes  []*history.Operation // deletes, invoke order
	anc      []bitset             // memoized ancestors per value; nil: not computed
	state    []uint8              // DFS state: 0 new, 1 in progress, 2 done
	// dups are values with more than one writing op (a harness bug).
	dups []string
}

func (k *keyHistory) value(v string) int {
	if i, ok := k.idx[v]; ok {
		return i
	}
	i := len(k.names)
	k.idx[v] = i
	k.names = append(k.names, v)
	return i
}

// ancestors returns the causal ancestors of value i (not i itself).
func (k *keyHistory) ancestors(i int) bitset {
	switch k.state[i] {
	case 2:
		return k.anc[i]
	case 1: // a cycle: only a corrupt history has one; stop here
		return newBitset(len(k.names))
	}
	k.state[i] = 1
	a := newBitset(len(k.names))
	if w := k.writer[i]; w != nil {
		for _, c := range w.Covered {
			ci := k.idx[c]
			a.set(ci)
			if ci != i {
				a.or(k.ancestors(ci))
			}
		}
	}
	k.anc[i], k.state[i] = a, 2
	return a
}

// coverOf is what an op's context covered, with ancestors.
func (k *keyHistory) coverOf(op *history.Operation) bitset {
	out := newBitset(len(k.names))
	for _, c := range op.Covered {
		ci := k.idx[c]
		out.set(ci)
		out.or(k.ancestors(ci))
	}
	return out
}

// visible is what a read shows: its siblings and all their ancestors.
func (k *keyHistory) visible(r *history.Operation) bitset {
	out := newBitset(len(k.names))
	for _, s := range r.Siblings {
		si := k.idx[s]
		out.set(si)
		out.or(k.ancestors(si))
	}
	return out
}

// analysis indexes a history by key.
type analysis struct {
	keys  []*keyHistory // sorted by key
	byKey map[string]*keyHistory
	// valueKey maps every written value to the key it was written to.
	valueKey map[string]string
}

func analyze(ops []history.Operation) *analysis {
	a := &analysis{byKey: map[string]*keyHistory{}, valueKey: map[string]string{}}
	get := func(op *history.Operation) *keyHistory {
		k, ok := a.byKey[op.Key]
		if !ok {
			k = &keyHistory{key: op.Key, idx: map[string]int{}}
			a.byKey[op.Key] = k
			a.keys = append(a.keys, k)
		}
		if k.workload == "" {
			k.workload = op.Workload
		}
		return k
	}
	for i := range ops {
		op := &ops[i]
		if op.F == history.Nemesis || op.Key == "" {
			continue
		}
		k := get(op)
		switch {
		case op.F == history.Read:
			if op.Type == history.OK {
				k.reads = append(k.reads, op)
				for _, s := range op.Siblings {
					k.value(s)
				}
			}
		case op.F == history.Delete:
			k.deletes = append(k.deletes, op)
			for _, c := range op.Covered {
				k.value(c)
			}
		case op.F.IsWrite():
			k.writes = append(k.writes, op)
			k.value(op.Value)
			a.valueKey[op.Value] = op.Key
			for _, c := range op.Covered {
				k.value(c)
			}
		}
	}
	slices.SortFunc(a.keys, func(x, y *keyHistory) int { return cmp.Compare(x.key, y.key) })
	for _, k := range a.keys {
		n := len(k.names)
		k.writer = make([]*history.Operation, n)
		k.anc = make([]bitset, n)
		k.state = make([]uint8, n)
		for _, w := range k.writes {
			i := k.idx[w.Value]
			if k.writer[i] != nil {
				k.dups = append(k.dups, w.Value)
				continue
			}
			k.writer[i] = w
		}
		byInvoke := func(x, y *history.Operation) int { return cmp.Compare(x.Invoke, y.Invoke) }
		slices.SortStableFunc(k.reads, byInvoke)
		slices.SortStableFunc(k.writes, byInvoke)
		slices.SortStableFunc(k.deletes, byInvoke)
	}
	return a
}

// deleteUnion answers "what may tombstones already have removed by the
// time a read completes": the union of the covers of every delete that was
// invoked before t and did not definitely fail.
type deleteUnion struct {
	invokes []int64
	prefix  []bitset // prefix[i]: union over deletes[0:i]
}

func newDeleteUnion(k *keyHistory) deleteUnion {
	var d deleteUnion
	acc := newBitset(len(k.names))
	d.prefix = append(d.prefix, acc.clone())
	for _, del := range k.deletes {
		if del.Type == history.Fail {
			continue
		}
		acc.or(k.coverOf(del))
		d.invokes = append(d.invokes, del.Invoke)
		d.prefix = append(d.prefix, acc.clone())
	}
	return d
}

func (d deleteUnion) before(t int64) bitset {
	i, _ := slices.BinarySearch(d.invokes, t) // deletes invoked strictly before t
	return d.prefix[i]
}

func ms(t int64) string {
	if t == history.Forever {
		return "never"
	}
	return fmt.Sprintf("%.3fs", float64(t)/1e9)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
