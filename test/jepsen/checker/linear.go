package checker

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dynago/dynago/test/jepsen/history"
)

// LinearizableWorkload is the workload whose keys Linearizable checks.
const LinearizableWorkload = "linreg"

// mvInput is a multi-value register operation: a read, or a write of Value
// that supersedes Covers (its context: the values it covered, with their
// ancestors).
type mvInput struct {
	Key    string
	Read   bool
	Value  string
	Covers []string
}

// mvModel is a multi-value register: the state is the sorted set of live
// values. A write removes what its context covers and adds its value; a
// read returns the whole set. A strict-quorum run with R = W = N behaves
// like this when nothing fails; a looser one need not (new-old inversion).
var mvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(mvInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		slices.Sort(keys)
		out := make([][]porcupine.Operation, len(keys))
		for i, k := range keys {
			out[i] = byKey[k]
		}
		return out
	},
	Init: func() any { return []string{} },
	Step: func(state, input, output any) (bool, any) {
		st := state.([]string)
		in := input.(mvInput)
		if in.Read {
			return slices.Equal(st, output.([]string)), st
		}
		next := make([]string, 0, len(st)+1)
		for _, v := range st {
			if !slices.Contains(in.Covers, v) {
				next = append(next, v)
			}
		}
		next = append(next, in.Value)
		slices.Sort(next)
		return true, next
	},
	Equal: func(a, b any) bool { return slices.Equal(a.([]string), b.([]string)) },
	DescribeOperation: func(input, output any) string {
		in := input.(mvInput)
		if in.Read {
			return fmt.Sprintf("read() -> {%s}", strings.Join(output.([]string), ", "))
		}
		if len(in.Covers) == 0 {
			return fmt.Sprintf("write(%s)", in.Value)
		}
		return fmt.Sprintf("write(%s over %s)", in.Value, strings.Join(in.Covers, ", "))
	},
	DescribeState: func(state any) string { return "{" + strings.Join(state.([]string), ", ") + "}" },
}

// porcupineHistory turns the history of the linreg keys (all of them, or
// only key when key != "") into porcupine operations: OK reads, and writes
// that did not definitely fail (info writes may take effect at any time
// after their invocation).
func porcupineHistory(ops []history.Operation, key string) []porcupine.Operation {
	a := analyze(ops)
	clients := map[int]int{}
	var out []porcupine.Operation
	for _, k := range a.keys {
		if k.workload != LinearizableWorkload || (key != "" && k.key != key) {
			continue
		}
		add := func(op *history.Operation, in mvInput, output any) {
			c, ok := clients[op.Process]
			if !ok {
				c = len(clients)
				clients[op.Process] = c
			}
			out = append(out, porcupine.Operation{ClientId: c, Input: in, Call: op.Invoke, Output: output, Return: op.Complete})
		}
		for _, r := range k.reads {
			add(r, mvInput{Key: k.key, Read: true}, sortedCopy(r.Siblings))
		}
		for _, w := range k.writes {
			if w.Type == history.Fail {
				continue
			}
			var covers []string
			for _, m := range k.ancestors(k.idx[w.Value]).members() {
				covers = append(covers, k.names[m])
			}
			slices.Sort(covers)
			add(w, mvInput{Key: k.key, Value: w.Value, Covers: covers}, nil)
		}
	}
	return out
}

// Linearizable checks the linreg keys' histories against a multi-value
// register with porcupine, per key. A check that runs out of time counts as
// unknown (not a violation).
func Linearizable(ops []history.Operation, timeout time.Duration) Result {
	res := newResult("linearizable")
	h := porcupineHistory(ops, "")
	res.Counts["ops"] = len(h)
	keys := map[string]bool{}
	for _, op := range h {
		keys[op.Input.(mvInput).Key] = true
	}
	res.Counts["keys"] = len(keys)
	res.Counts["unknown"] = 0
	if len(h) == 0 {
		return res
	}
	// Per key, so a failure names its key (porcupine's partitions already
	// run in parallel; one key at a time keeps the timeout meaningful).
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		kh := porcupineHistory(ops, k)
		switch porcupine.CheckOperationsTimeout(mvModel, kh, timeout) {
		case porcupine.Ok:
			res.Counts["linearizable_keys"]++
		case porcupine.Unknown:
			res.Counts["unknown"]++
		case porcupine.Illegal:
			res.flag(Violation{Kind: "not_linearizable", Key: k,
				Detail: fmt.Sprintf("the %d operations on %q have no linearization as a multi-value register; see linearizability-%s.html", len(kh), k, FileSafe(k))})
		}
	}
	return res
}

// LinearizableVisualize checks one key again and writes porcupine's HTML
// visualisation of its history (with the longest partial linearizations)
// to path.
func LinearizableVisualize(ops []history.Operation, key, path string, timeout time.Duration) error {
	h := porcupineHistory(ops, key)
	_, info := porcupine.CheckOperationsVerbose(mvModel, h, timeout)
	return porcupine.VisualizePath(mvModel, info, path)
}

// FileSafe maps a key to a string usable in a file name.
func FileSafe(key string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, key)
}
