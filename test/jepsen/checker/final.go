package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Convergence checks that after heal every replica of every key stores the
// same versions (same dots, values and tombstones), that no dot names two
// different values (a reused counter: Riak's kv679), and that the final
// R=N reads through every node returned exactly the replicas' live values.
func Convergence(ops []history.Operation, replicas []history.Replica) Result {
	res := newResult("convergence")
	byKey := map[string][]history.Replica{}
	var keys []string
	for _, r := range replicas {
		if _, ok := byKey[r.Key]; !ok {
			keys = append(keys, r.Key)
		}
		byKey[r.Key] = append(byKey[r.Key], r)
	}
	finals := map[string][]*history.Operation{}
	for i := range ops {
		op := &ops[i]
		if op.F == history.Read && op.Final {
			if _, ok := byKey[op.Key]; !ok {
				keys = append(keys, op.Key)
				byKey[op.Key] = nil
			}
			finals[op.Key] = append(finals[op.Key], op)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		reps := byKey[k]
		slices.SortFunc(reps, func(a, b history.Replica) int { return cmp.Compare(a.Node, b.Node) })
		res.Counts["keys"]++
		converged := len(reps) > 0
		errs := 0
		sigs := map[string]bool{}
		dots := map[string]string{}
		conflicted := map[string]bool{}
		for _, r := range reps {
			res.Counts["replicas"]++
			if r.Error != "" {
				errs++
				res.Counts["replica_errors"]++
				res.flag(Violation{Kind: "replica_unreadable", Key: k, Detail: fmt.Sprintf("replica %s of %q could not be read: %s", r.Node, k, r.Error)})
				continue
			}
			sigs[signature(r)] = true
			for _, v := range r.Versions {
				if old, ok := dots[v.Dot]; ok && old != v.Value && !conflicted[v.Dot] {
					conflicted[v.Dot] = true
					res.Counts["dot_conflicts"]++
					res.flag(Violation{Kind: "dot_conflict", Key: k, Value: v.Value,
						Detail: fmt.Sprintf("dot %s names two values, %q and %q (a reused counter)", v.Dot, old, v.Value)})
				}
				if _, ok := dots[v.Dot]; !ok {
					dots[v.Dot] = v.Value
				}
			}
		}
		switch {
		case len(reps) == 0:
			converged = false
			res.flag(Violation{Kind: "no_replicas", Key: k, Detail: fmt.Sprintf("no replica state was collected for %q", k)})
		case errs > 0:
			converged = false
		case len(sigs) > 1:
			converged = false
			var b strings.Builder
			for _, r := range reps {
				fmt.Fprintf(&b, " %s={%s}", r.Node, signature(r))
			}
			res.flag(Violation{Kind: "divergent", Key: k, Detail: fmt.Sprintf("replicas of %q differ:%s", k, b.String())})
		}
		if converged {
			res.Counts["converged"]++
		} else {
			res.Counts["divergent"]++
		}
		var live []string
		if len(reps) > 0 {
			live = sortedCopy(reps[0].Live())
		}
		for _, f := range finals[k] {
			res.Counts["final_reads"]++
			if f.Type != history.OK {
				res.Counts["final_read_failures"]++
				res.flag(Violation{Kind: "final_read_failed", Key: k, Ops: []int{f.InvokeIndex},
					Detail: fmt.Sprintf("final read %d of %q via %s did not succeed: %s", f.InvokeIndex, k, f.Node, f.Error)})
				continue
			}
			if converged && !slices.Equal(sortedCopy(f.Siblings), live) {
				res.Counts["final_read_mismatches"]++
				res.flag(Violation{Kind: "final_read_mismatch", Key: k, Ops: []int{f.InvokeIndex},
					Detail: fmt.Sprintf("final read %d of %q via %s returned [%s] but the replicas hold [%s]", f.InvokeIndex, k, f.Node, joinSorted(f.Siblings), strings.Join(live, ", "))})
			}
		}
	}
	for _, c := range []string{"converged", "divergent", "dot_conflicts", "final_read_failures", "final_read_mismatches"} {
		res.Counts[c] += 0
	}
	return res
}

// signature is a replica's versions in a canonical form.
func signature(r history.Replica) string {
	vs := make([]string, len(r.Versions))
	for i, v := range r.Versions {
		d := ""
		if v.Deleted {
			d = "†"
		}
		vs[i] = v.Dot + "=" + v.Value + d
	}
	slices.Sort(vs)
	return strings.Join(vs, " ")
}

// NoResurrection checks that no value covered by an acknowledged delete is
// in the final state: neither in an OK final read nor live on a replica. A
// watch read (history.WatchProcess: the healed state read while a script
// still runs) is judged too, against the deletes acked before it began.
func NoResurrection(ops []history.Operation, replicas []history.Replica) Result {
	res := newResult("no resurrection")
	a := analyze(ops)
	for _, k := range a.keys {
		gone := newBitset(len(k.names))
		by := map[int]*history.Operation{}
		acked := ackedByCompletion(k.deletes)
		for _, d := range acked {
			res.Counts["acked_deletes"]++
			c := k.coverOf(d)
			for _, m := range c.andNot(gone).members() {
				by[m] = d
			}
			gone.or(c)
		}
		res.Counts["deleted_values"] += len(gone.members())
		check := func(v, where string, opIdx []int, before int64) {
			i, ok := k.idx[v]
			if !ok || !gone.has(i) || by[i].Complete >= before {
				return
			}
			d := by[i]
			res.flag(Violation{Kind: "resurrected", Key: k.key, Value: v, Ops: append(opIdx, d.InvokeIndex),
				Detail: fmt.Sprintf("%q was removed by delete %d via %s (acked at %s) but is live in %s", v, d.InvokeIndex, d.Node, ms(d.Complete), where)})
		}
		for _, r := range k.reads {
			switch {
			case r.Final:
				for _, s := range r.Siblings {
					check(s, fmt.Sprintf("final read %d via %s", r.InvokeIndex, r.Node), []int{r.InvokeIndex}, history.Forever)
				}
			case r.Process == history.WatchProcess:
				res.Counts["watch_reads"]++
				for _, s := range r.Siblings {
					check(s, fmt.Sprintf("watch read %d via %s (%s) at %s", r.InvokeIndex, r.Node, r.Params, ms(r.Invoke)), []int{r.InvokeIndex}, r.Invoke)
				}
			}
		}
		for _, rep := range replicas {
			if rep.Key != k.key {
				continue
			}
			for _, v := range rep.Live() {
				check(v, "replica "+rep.Node, nil, history.Forever)
			}
		}
	}
	return res
}
