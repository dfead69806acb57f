package checker

import (
	"fmt"

	"github.com/dynago/dynago/test/jepsen/history"
)

// PauseFault is the nemesis fault name of SIGSTOP / SIGCONT.
const PauseFault = "pause"

// PausedInfo checks that a paused (SIGSTOPped) node answers nothing while
// it is stopped: every client op sent to it during a pause either ends info
// (the client timed out) or completes only after the node was resumed. A
// pause window runs from the completion of the nemesis "pause" start op to
// the invocation of its stop op.
func PausedInfo(ops []history.Operation) Result {
	res := newResult("paused ops are info")
	type window struct {
		node       string
		from, to   int64
		startIndex int
	}
	var wins []window
	open := map[string]window{}
	for i := range ops {
		op := &ops[i]
		if op.F != history.Nemesis || op.Fault != PauseFault {
			continue
		}
		for _, n := range op.Nodes {
			switch op.Phase {
			case "start":
				open[n] = window{node: n, from: op.Returned, to: history.Forever, startIndex: op.InvokeIndex}
			case "stop":
				if w, ok := open[n]; ok {
					w.to = op.Invoke
					wins = append(wins, w)
					delete(open, n)
				}
			}
		}
	}
	for _, w := range open {
		wins = append(wins, w)
	}
	res.Counts["pauses"] = len(wins)
	for _, w := range wins {
		for i := range ops {
			op := &ops[i]
			if op.Node != w.node || op.F == history.Nemesis || op.Invoke < w.from || op.Invoke >= w.to {
				continue
			}
			res.Counts["ops_sent_while_paused"]++
			if op.Type == history.Info {
				res.Counts["info"]++
				continue
			}
			if op.Returned < w.to {
				res.flag(Violation{Kind: "answered_while_paused", Key: op.Key, Ops: []int{op.InvokeIndex, w.startIndex},
					Detail: fmt.Sprintf("op %d (%s) sent to %s at %s, while it was paused, completed %s at %s, before it was resumed at %s",
						op.InvokeIndex, op.F, w.node, ms(op.Invoke), op.Type, ms(op.Returned), ms(w.to))})
				continue
			}
			res.Counts["completed_after_resume"]++
		}
	}
	return res
}
