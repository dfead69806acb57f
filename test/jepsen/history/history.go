package history

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Type is an op's place in Jepsen's model: an invocation or a completion.
type Type string

// Op types.
const (
	Invoke Type = "invoke"
	OK     Type = "ok"   // it happened
	Fail   Type = "fail" // it definitely did not happen
	Info   Type = "info" // indeterminate: it may have happened or may happen later
)

// F is the function an op applies.
type F string

// Functions.
const (
	Read    F = "read"
	Write   F = "write"   // put a value (with the context of Covered)
	Delete  F = "delete"  // a tombstone superseding Covered
	Add     F = "add"     // set workload: a write whose value is the set with Element added
	Nemesis F = "nemesis" // a fault starts or stops
)

// Special processes.
const (
	NemesisProcess   = -1 // fault injection
	ConvergeProcess  = -2 // reads that drive read repair after heal
	FinalReadProcess = -3 // the final R=N reads through every node
	// WatchProcess reads the healed state while a scenario's script still
	// runs (S17: through a restarted fallback in its first minute), once
	// every replica has acknowledged the deletes it judges (w=all), so a
	// value an acked delete removed must not be in them either.
	WatchProcess = -4
)

// Op is one line of a history.
type Op struct {
	Index   int    `json:"index"`
	Type    Type   `json:"type"`
	Process int    `json:"process"`
	F       F      `json:"f"`
	Time    int64  `json:"time"` // nanoseconds since the run started, monotonic
	Key     string `json:"key,omitempty"`
	// Workload names the workload the key belongs to (register, set,
	// delete, linreg); checkers select keys by it.
	Workload string `json:"workload,omitempty"`
	Node     string `json:"node,omitempty"`
	// Value is the value a write or add puts; for a nemesis op, a
	// description of the fault.
	Value string `json:"value,omitempty"`
	// Element is the element an add inserts (set workload).
	Element int64 `json:"element,omitempty"`
	// Covered lists the values the write's context covered: the live
	// siblings of the read it was based on, or the writer's own previous
	// value. Empty for a blind write.
	Covered []string `json:"covered,omitempty"`
	// Siblings are a read's returned values (ok reads only; empty: not found).
	Siblings []string `json:"siblings,omitempty"`
	// Context is the causal context token sent (invoke) or returned (ok).
	Context string `json:"context,omitempty"`
	// Params are the request's quorum parameters, e.g. "r=2&pr=0".
	Params string `json:"params,omitempty"`
	// Report is the X-Dynago-Report header of the answer.
	Report string `json:"report,omitempty"`
	// Error is the error code or message of a fail / info.
	Error string `json:"error,omitempty"`
	// Final marks the final R=N reads after heal.
	Final bool `json:"final,omitempty"`
	// Fault and Nodes describe a nemesis op: the fault kind (partition,
	// crash, pause, amnesia, skew, heal) and the nodes it hit.
	Fault string   `json:"fault,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
	// Phase is "start" or "stop" for a nemesis op.
	Phase string `json:"phase,omitempty"`
}

// Completion returns the completion of an invoke with type t: same process,
// function, key, node and value; the caller fills in the rest.
func (o Op) Completion(t Type) Op {
	return Op{Type: t, Process: o.Process, F: o.F, Key: o.Key, Workload: o.Workload, Node: o.Node,
		Value: o.Value, Element: o.Element, Covered: o.Covered, Params: o.Params, Final: o.Final,
		Fault: o.Fault, Nodes: o.Nodes, Phase: o.Phase}
}

// IsWrite reports whether f changes the key (write, add or delete).
func (f F) IsWrite() bool { return f == Write || f == Add || f == Delete }

// Forever is the completion time of an operation that never definitely
// completed (info or pending): it may take effect at any later time.
const Forever = int64(math.MaxInt64)

// Operation is an invoke paired with its completion.
type Operation struct {
	Process  int
	F        F
	Key      string
	Workload string
	Node     string
	Value    string
	Element  int64
	Covered  []string
	Params   string
	Final    bool
	// Type is OK, Fail or Info (an op that never completed is Info).
	Type Type
	// Invoke and Complete are the op's times; Complete is Forever for Info.
	Invoke, Complete int64
	// Returned is when the completion was recorded, whatever its type
	// (0: never completed).
	Returned int64
	// InvokeIndex and CompleteIndex are the ops' indexes (-1: no completion).
	InvokeIndex, CompleteIndex int
	// Siblings and Context are an OK read's result; Context is an OK
	// write's returned context.
	Siblings []string
	Context  string
	Error    string
	// Fault, Nodes and Phase describe a nemesis op.
	Fault string
	Nodes []string
	Phase string
}

// ErrMalformed reports a history that breaks the invariants in doc.go.
var ErrMalformed = errors.New("history: malformed")

// Complete pairs invokes with completions, in invoke order. A completion
// without an invoke, or a second invoke before a completion, is
// ErrMalformed. Nemesis ops are included like any other process's.
func Complete(ops []Op) ([]Operation, error) {
	var out []Operation
	open := map[int]int{} // process -> index in out
	for _, op := range ops {
		switch op.Type {
		case Invoke:
			if i, ok := open[op.Process]; ok {
				return nil, fmt.Errorf("%w: process %d invoked op %d before completing op %d", ErrMalformed, op.Process, op.Index, out[i].InvokeIndex)
			}
			open[op.Process] = len(out)
			out = append(out, Operation{
				Process: op.Process, F: op.F, Key: op.Key, Workload: op.Workload, Node: op.Node,
				Value: op.Value, Element: op.Element, Covered: op.Covered, Params: op.Params, Final: op.Final,
				Type: Info, Invoke: op.Time, Complete: Forever, InvokeIndex: op.Index, CompleteIndex: -1,
				Context: op.Context, Fault: op.Fault, Nodes: op.Nodes, Phase: op.Phase,
			})
		case OK, Fail, Info:
			i, ok := open[op.Process]
			if !ok {
				return nil, fmt.Errorf("%w: op %d completes nothing (process %d has no op in flight)", ErrMalformed, op.Index, op.Process)
			}
			delete(open, op.Process)
			c := &out[i]
			if op.Time < c.Invoke {
				return nil, fmt.Errorf("%w: op %d completes before its invoke", ErrMalformed, op.Index)
			}
			c.Type = op.Type
			c.CompleteIndex = op.Index
			c.Returned = op.Time
			c.Error = op.Error
			if op.Type != Info {
				c.Complete = op.Time
			}
			if op.Type == OK {
				c.Siblings = op.Siblings
				c.Context = op.Context
			}
		default:
			return nil, fmt.Errorf("%w: op %d has type %q", ErrMalformed, op.Index, op.Type)
		}
	}
	return out, nil
}

// WriteJSONL writes ops one JSON object per line.
func WriteJSONL(w io.Writer, ops []Op) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, op := range ops {
		if err := enc.Encode(op); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadJSONL reads a history written by WriteJSONL or a Recorder.
func ReadJSONL(r io.Reader) ([]Op, error) {
	var ops []Op
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var op Op
		if err := json.Unmarshal(b, &op); err != nil {
			return nil, fmt.Errorf("history: line %d: %w", line, err)
		}
		ops = append(ops, op)
	}
	return ops, sc.Err()
}

// SetValue encodes a set workload value: a unique write id, then the set's
// elements, e.g. "c3-17|1,5,9".
func SetValue(id string, elems []int64) string {
	s := slices.Clone(elems)
	slices.Sort(s)
	s = slices.Compact(s)
	var b strings.Builder
	b.WriteString(id)
	b.WriteByte('|')
	for i, e := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(e, 10))
	}
	return b.String()
}

// ParseSetValue decodes a value made by SetValue.
func ParseSetValue(v string) (elems []int64, ok bool) {
	i := strings.IndexByte(v, '|')
	if i < 0 {
		return nil, false
	}
	rest := v[i+1:]
	if rest == "" {
		return nil, true
	}
	for _, f := range strings.Split(rest, ",") {
		e, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, false
		}
		elems = append(elems, e)
	}
	return elems, true
}
