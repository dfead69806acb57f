package checker

import (
	"fmt"
	"slices"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Set is Jepsen's set checker over the set workload's keys (those with add
// ops). The final state of a key is the union of the elements of every OK
// final read (history.Op.Final) of it. Counts, as Jepsen's:
//
//	attempted   adds invoked
//	acked       adds acknowledged (ok)
//	ok          acked and present in the final state
//	lost        acked but absent: a violation
//	unexpected  present but never attempted: a violation
//	recovered   present though not acked (info adds that happened after all)
//	failed_present  present though the add definitely failed: a violation
//	                (the store answered "nothing written")
//
// A set key with no OK final read is a violation too: nothing can be
// checked for it.
func Set(ops []history.Operation) Result {
	res := newResult("set")
	type keySet struct {
		adds  map[int64]*history.Operation
		final map[int64]bool
		reads int
	}
	keys := map[string]*keySet{}
	var order []string
	get := func(k string) *keySet {
		s, ok := keys[k]
		if !ok {
			s = &keySet{adds: map[int64]*history.Operation{}, final: map[int64]bool{}}
			keys[k] = s
			order = append(order, k)
		}
		return s
	}
	for i := range ops {
		op := &ops[i]
		if op.F == history.Add {
			get(op.Key).adds[op.Element] = op
		}
	}
	for i := range ops {
		op := &ops[i]
		s, ok := keys[op.Key]
		if !ok || op.F != history.Read || !op.Final || op.Type != history.OK {
			continue
		}
		s.reads++
		for _, v := range op.Siblings {
			elems, ok := history.ParseSetValue(v)
			if !ok {
				res.flag(Violation{Kind: "bad_value", Key: op.Key, Value: v, Ops: []int{op.InvokeIndex},
					Detail: fmt.Sprintf("final read %d returned %q, not a set value", op.InvokeIndex, v)})
				continue
			}
			for _, e := range elems {
				s.final[e] = true
			}
		}
	}
	slices.Sort(order)
	for _, k := range order {
		s := keys[k]
		res.Counts["keys"]++
		if s.reads == 0 {
			res.flag(Violation{Kind: "no_final_read", Key: k, Detail: fmt.Sprintf("set key %q has no successful final read", k)})
			continue
		}
		elems := make([]int64, 0, len(s.adds))
		for e := range s.adds {
			elems = append(elems, e)
		}
		slices.Sort(elems)
		for _, e := range elems {
			add := s.adds[e]
			res.Counts["attempted"]++
			present := s.final[e]
			switch {
			case add.Type == history.OK && present:
				res.Counts["acked"]++
				res.Counts["ok"]++
			case add.Type == history.OK:
				res.Counts["acked"]++
				res.Counts["lost"]++
				res.flag(Violation{Kind: "lost", Key: k, Value: add.Value, Ops: []int{add.InvokeIndex},
					Detail: fmt.Sprintf("element %d, added by op %d via %s (acked at %s), is not in the final state", e, add.InvokeIndex, add.Node, ms(add.Complete))})
			case add.Type == history.Fail && present:
				res.Counts["failed_present"]++
				res.flag(Violation{Kind: "failed_present", Key: k, Value: add.Value, Ops: []int{add.InvokeIndex},
					Detail: fmt.Sprintf("element %d is in the final state, but its add (op %d via %s) definitely failed: %s", e, add.InvokeIndex, add.Node, add.Error)})
			case present:
				res.Counts["recovered"]++
			}
		}
		var extra []int64
		for e := range s.final {
			if _, ok := s.adds[e]; !ok {
				extra = append(extra, e)
			}
		}
		slices.Sort(extra)
		for _, e := range extra {
			res.Counts["unexpected"]++
			res.flag(Violation{Kind: "unexpected", Key: k, Detail: fmt.Sprintf("element %d is in the final state but was never added", e)})
		}
	}
	for _, c := range []string{"attempted", "acked", "ok", "lost", "unexpected", "recovered", "failed_present"} {
		res.Counts[c] += 0
	}
	return res
}
