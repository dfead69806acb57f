package checker

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/dynago/dynago/test/jepsen/history"
)

// NoPhantom checks P0: every value an OK read returned was written to that
// key by a write or add that began before the read ended and did not
// definitely fail, and no read returned one value twice (one write stored
// as two versions).
func NoPhantom(ops []history.Operation) Result {
	res := newResult("P0 no phantom")
	a := analyze(ops)
	for _, k := range a.keys {
		for _, r := range k.reads {
			res.Counts["reads"]++
			seen := map[string]bool{}
			for _, s := range r.Siblings {
				res.Counts["values_read"]++
				if seen[s] {
					res.flag(Violation{Kind: "duplicated", Key: k.key, Value: s, Ops: []int{r.InvokeIndex},
						Detail: fmt.Sprintf("read %d via %s returned %q twice: one write stored as two versions", r.InvokeIndex, r.Node, s)})
					continue
				}
				seen[s] = true
				w := k.writer[k.idx[s]]
				switch {
				case w == nil && a.valueKey[s] != "":
					res.flag(Violation{Kind: "wrong_key", Key: k.key, Value: s, Ops: []int{r.InvokeIndex},
						Detail: fmt.Sprintf("read %d returned %q, which was written to key %q", r.InvokeIndex, s, a.valueKey[s])})
				case w == nil:
					res.flag(Violation{Kind: "never_written", Key: k.key, Value: s, Ops: []int{r.InvokeIndex},
						Detail: fmt.Sprintf("read %d via %s returned %q, which no client wrote", r.InvokeIndex, r.Node, s)})
				case w.Invoke > r.Complete:
					res.flag(Violation{Kind: "written_later", Key: k.key, Value: s, Ops: []int{r.InvokeIndex, w.InvokeIndex},
						Detail: fmt.Sprintf("read %d ended at %s but returned %q, written by op %d invoked at %s", r.InvokeIndex, ms(r.Complete), s, w.InvokeIndex, ms(w.Invoke))})
				case w.Type == history.Fail:
					res.flag(Violation{Kind: "failed_write_visible", Key: k.key, Value: s, Ops: []int{r.InvokeIndex, w.InvokeIndex},
						Detail: fmt.Sprintf("read %d returned %q, whose write (op %d via %s) definitely failed: %s", r.InvokeIndex, s, w.InvokeIndex, w.Node, w.Error)})
				}
			}
		}
	}
	return res
}

// Antichain checks P0': no OK read returns a value together with one of
// its causal ancestors.
func Antichain(ops []history.Operation) Result {
	res := newResult("P0' antichain")
	a := analyze(ops)
	for _, k := range a.keys {
		for _, r := range k.reads {
			res.Counts["reads"]++
			if len(r.Siblings) > 1 {
				res.Counts["reads_with_siblings"]++
			}
			for _, x := range r.Siblings {
				anc := k.ancestors(k.idx[x])
				for _, y := range r.Siblings {
					if x != y && anc.has(k.idx[y]) {
						res.flag(Violation{Kind: "ancestor_sibling", Key: k.key, Value: y, Ops: []int{r.InvokeIndex},
							Detail: fmt.Sprintf("read %d via %s returned %q together with its successor %q", r.InvokeIndex, r.Node, y, x)})
					}
				}
			}
		}
	}
	return res
}

// Visibility checks P1: an OK read that began after a write or add was
// acknowledged returns that value or a causal successor of it, unless a
// delete covering it may already have taken effect (tombstones are not
// returned, so the read cannot show them).
func Visibility(ops []history.Operation) Result {
	return visibility(ops, "P1 visibility after ack", false)
}

// Durable checks that no acknowledged write was lost: the final reads
// (history.Op.Final, after heal and convergence) return every acked write
// or add, or a causal successor, unless a delete covering it may have taken
// effect. It is P1 restricted to the final reads, and holds wherever
// dynago promises that an acknowledged write is never lost (sloppy quorum
// and a lost disk included), where P1 itself may not.
func Durable(ops []history.Operation) Result {
	return visibility(ops, "durable", true)
}

func visibility(ops []history.Operation, name string, finalOnly bool) Result {
	res := newResult(name)
	a := analyze(ops)
	for _, k := range a.keys {
		acked := ackedByCompletion(k.writes)
		dels := newDeleteUnion(k)
		need := newBitset(len(k.names))
		needOp := map[int]*history.Operation{}
		missed := map[int]bool{}
		j := 0
		for _, r := range k.reads {
			for j < len(acked) && acked[j].Complete < r.Invoke {
				i := k.idx[acked[j].Value]
				need.set(i)
				needOp[i] = acked[j]
				j++
			}
			if finalOnly && !r.Final {
				continue
			}
			res.Counts["reads"]++
			vis := k.visible(r)
			vis.or(dels.before(r.Complete))
			missing := need.andNot(vis).members()
			if len(missing) == 0 {
				continue
			}
			res.Counts["stale_reads"]++
			for _, m := range missing {
				w := needOp[m]
				if !missed[m] {
					missed[m] = true
					res.Counts["missing_values"]++
				}
				kind := "stale_read"
				if finalOnly {
					kind = "lost_write"
				}
				res.flag(Violation{Kind: kind, Key: k.key, Value: k.names[m], Ops: []int{r.InvokeIndex, w.InvokeIndex},
					Detail: fmt.Sprintf("read %d via %s (%s) began at %s after write %d via %s (%s) of %q was acked at %s, but returned [%s], neither it nor a successor",
						r.InvokeIndex, r.Node, r.Params, ms(r.Invoke), w.InvokeIndex, w.Node, w.Params, k.names[m], ms(w.Complete), joinSorted(r.Siblings))})
			}
		}
	}
	return res
}

// NoRevert checks P2: once a write, add or delete whose context covered v
// was acknowledged, no OK read that begins later returns v.
func NoRevert(ops []history.Operation) Result {
	res := newResult("P2 no revert")
	a := analyze(ops)
	for _, k := range a.keys {
		acked := ackedByCompletion(append(slices.Clone(k.writes), k.deletes...))
		superseded := newBitset(len(k.names))
		by := map[int]*history.Operation{}
		j := 0
		for _, r := range k.reads {
			for j < len(acked) && acked[j].Complete < r.Invoke {
				c := k.coverOf(acked[j])
				for _, m := range c.andNot(superseded).members() {
					by[m] = acked[j]
				}
				superseded.or(c)
				j++
			}
			res.Counts["reads"]++
			for _, s := range r.Siblings {
				i := k.idx[s]
				if superseded.has(i) {
					w := by[i]
					res.flag(Violation{Kind: "reverted", Key: k.key, Value: s, Ops: []int{r.InvokeIndex, w.InvokeIndex},
						Detail: fmt.Sprintf("read %d via %s began at %s and returned %q, which %s %d via %s had superseded (acked at %s)",
							r.InvokeIndex, r.Node, ms(r.Invoke), s, w.F, w.InvokeIndex, w.Node, ms(w.Complete))})
				}
			}
		}
	}
	return res
}

// MonotonicReads checks P3: an OK read returns every value that a read
// completed before it began returned, or a causal successor, unless a
// delete may have removed it. dynago claims this only with blocking read
// repair.
func MonotonicReads(ops []history.Operation) Result {
	res := newResult("P3 monotonic reads")
	a := analyze(ops)
	for _, k := range a.keys {
		done := slices.Clone(k.reads)
		slices.SortStableFunc(done, func(x, y *history.Operation) int { return cmp.Compare(x.Complete, y.Complete) })
		dels := newDeleteUnion(k)
		seen := newBitset(len(k.names))
		first := map[int]*history.Operation{}
		j := 0
		for _, r := range k.reads {
			for j < len(done) && done[j].Complete < r.Invoke {
				for _, s := range done[j].Siblings {
					i := k.idx[s]
					if !seen.has(i) {
						seen.set(i)
						first[i] = done[j]
					}
				}
				j++
			}
			res.Counts["reads"]++
			vis := k.visible(r)
			vis.or(dels.before(r.Complete))
			missing := seen.andNot(vis).members()
			if len(missing) > 0 {
				res.Counts["non_monotonic_reads"]++
			}
			for _, m := range missing {
				p := first[m]
				res.flag(Violation{Kind: "non_monotonic", Key: k.key, Value: k.names[m], Ops: []int{r.InvokeIndex, p.InvokeIndex},
					Detail: fmt.Sprintf("read %d via %s began at %s and returned [%s], but read %d via %s had returned %q (completed %s) and nothing supersedes it",
						r.InvokeIndex, r.Node, ms(r.Invoke), joinSorted(r.Siblings), p.InvokeIndex, p.Node, k.names[m], ms(p.Complete))})
			}
		}
	}
	return res
}

// ackedByCompletion returns the OK ops of ops sorted by completion time.
func ackedByCompletion(ops []*history.Operation) []*history.Operation {
	var out []*history.Operation
	for _, op := range ops {
		if op.Type == history.OK {
			out = append(out, op)
		}
	}
	slices.SortStableFunc(out, func(x, y *history.Operation) int { return cmp.Compare(x.Complete, y.Complete) })
	return out
}

func joinSorted(s []string) string {
	out := ""
	for i, v := range sortedCopy(s) {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
