package jepsen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/dynago/dynago/test/jepsen/checker"
	"github.com/dynago/dynago/test/jepsen/history"
)

// Synthetic histories for S15: a seeded simulation of a correct store
// (one copy, every op takes effect atomically inside its interval, so the
// history is linearizable and every checker must pass it), and anomalies
// seeded into it one at a time, each of which exactly one checker exists
// to catch.

// SynthHistory is a synthetic history with its final replica states.
type SynthHistory struct {
	Ops      []history.Op
	Replicas []history.Replica
}

type synthKey struct {
	name, workload string
	live           []string // current live values, sorted
	dots           map[string]string
}

type synthClient struct {
	id    int
	node  string
	busy  int64 // time its last op completed
	seq   int
	cache map[string][]string // key -> siblings of its last read (what its context covers)
}

// synth builds a history op by op. Every op gets an effect time strictly
// after the previous op's; its invoke and completion straddle it.
type synth struct {
	rng     *rand.Rand
	t       int64
	ops     []history.Op
	keys    map[string]*synthKey
	order   []string
	clients []*synthClient
	elems   int64
	dot     int
	pause   struct{ from, to int64 }
}

const synthStep = 10 * int64(time.Millisecond)

// Synthesize simulates a correct store under a register, a set, a delete
// and a linreg workload with six clients and one pause of n5, then takes
// final reads through every node.
func Synthesize(seed int64, ops int) SynthHistory {
	s := &synth{rng: rand.New(rand.NewPCG(uint64(seed), 15)), keys: map[string]*synthKey{}}
	for _, k := range []struct{ name, wl string }{
		{"register-0", Register}, {"register-1", Register}, {"set-0", SetWorkload},
		{"delete-0", DeleteWorkload}, {LinReg + "-0", LinReg},
	} {
		s.keys[k.name] = &synthKey{name: k.name, workload: k.wl, dots: map[string]string{}}
		s.order = append(s.order, k.name)
	}
	for i := range 6 {
		s.clients = append(s.clients, &synthClient{id: i, node: fmt.Sprintf("n%d", i%5+1), cache: map[string][]string{}})
	}
	pauseAt := int64(ops/2) * synthStep
	s.pause.from, s.pause.to = pauseAt, pauseAt+40*synthStep
	s.nemesis(s.pause.from, "start")
	pausedDone := false
	for range ops {
		if !pausedDone && s.t > s.pause.to {
			s.nemesis(s.pause.to, "stop")
			pausedDone = true
		}
		k := s.keys[s.order[s.rng.IntN(len(s.order))]]
		switch k.workload {
		case Register, LinReg:
			if s.rng.IntN(2) == 0 {
				s.read(k, false, "")
			} else {
				s.write(k, history.Write)
			}
		case SetWorkload:
			s.add(k)
		case DeleteWorkload:
			switch r := s.rng.IntN(10); {
			case r < 3:
				s.write(k, history.Write)
			case r < 7:
				s.read(k, false, "")
			default:
				s.write(k, history.Delete)
			}
		}
	}
	if !pausedDone {
		s.nemesis(s.pause.to, "stop")
	}
	for _, name := range s.order {
		for n := 1; n <= 5; n++ {
			s.read(s.keys[name], true, fmt.Sprintf("n%d", n))
		}
	}
	slices.SortStableFunc(s.ops, func(a, b history.Op) int { return int(a.Time - b.Time) })
	for i := range s.ops {
		s.ops[i].Index = i
	}
	return SynthHistory{Ops: s.ops, Replicas: s.replicas()}
}

func (s *synth) nemesis(at int64, phase string) {
	inv := history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: history.Nemesis, Fault: FaultPause,
		Phase: phase, Nodes: []string{"n5"}, Value: phase + " pause n5", Time: at}
	comp := inv.Completion(history.Info)
	comp.Time = at + 1
	s.ops = append(s.ops, inv, comp)
}

// slot picks a free client and the op's interval around the next effect
// time.
func (s *synth) slot() (c *synthClient, inv, comp int64) {
	for {
		c = s.clients[s.rng.IntN(len(s.clients))]
		if c.busy < s.t+synthStep-1 {
			inv, comp = s.slotFor(c)
			return c, inv, comp
		}
		s.t += synthStep
	}
}

// slotFor is slot for a given client.
func (s *synth) slotFor(c *synthClient) (inv, comp int64) {
	s.t += synthStep
	for c.busy >= s.t-1 {
		s.t += synthStep
	}
	effect := s.t
	lo := max(c.busy+1, effect-synthStep*3/2)
	inv = lo + s.rng.Int64N(effect-lo)
	comp = effect + 1 + s.rng.Int64N(synthStep*3/2)
	c.busy = comp
	return inv, comp
}

func (s *synth) paused(node string, t int64) bool {
	return node == "n5" && t >= s.pause.from && t < s.pause.to
}

func (s *synth) record(inv history.Op, comp history.Op, invT, compT int64) {
	inv.Time, comp.Time = invT, compT
	s.ops = append(s.ops, inv, comp)
}

// read returns the key's state at the effect time.
func (s *synth) read(k *synthKey, final bool, node string) {
	if final {
		s.t += synthStep
		inv := history.Op{Type: history.Invoke, Process: history.FinalReadProcess, F: history.Read, Key: k.name, Workload: k.workload, Node: node, Final: true}
		comp := inv.Completion(history.OK)
		comp.Siblings = slices.Clone(k.live)
		s.record(inv, comp, s.t, s.t+1)
		return
	}
	c, invT, compT := s.slot()
	s.readAt(c, k, invT, compT)
}

func (s *synth) readAt(c *synthClient, k *synthKey, invT, compT int64) {
	inv := history.Op{Type: history.Invoke, Process: c.id, F: history.Read, Key: k.name, Workload: k.workload, Node: c.node}
	if s.paused(c.node, invT) {
		s.record(inv, inv.Completion(history.Info), invT, invT+int64(ClientTimeout))
		c.busy = invT + int64(ClientTimeout)
		return
	}
	comp := inv.Completion(history.OK)
	comp.Siblings = slices.Clone(k.live)
	c.cache[k.name] = slices.Clone(k.live)
	s.record(inv, comp, invT, compT)
}

// write applies a write or delete with the client's cached context.
func (s *synth) write(k *synthKey, f history.F) {
	c, invT, compT := s.slot()
	covered := c.cache[k.name]
	if f == history.Delete && len(covered) == 0 {
		s.readAt(c, k, invT, compT) // nothing read yet to delete: read instead
		return
	}
	if f == history.Write && k.workload != DeleteWorkload && s.rng.IntN(10) == 0 {
		covered = nil // blind
	}
	if f == history.Write && k.workload == DeleteWorkload {
		covered = nil
	}
	c.seq++
	val := ""
	if f == history.Write {
		val = fmt.Sprintf("c%d-%d", c.id, c.seq)
	}
	s.apply(c, k, f, val, 0, covered, invT, compT)
}

func (s *synth) add(k *synthKey) {
	c, invT, compT := s.slot()
	s.readAt(c, k, invT, compT)
	if len(s.ops) > 0 && s.ops[len(s.ops)-1].Type != history.OK {
		return // the read timed out: no add
	}
	invT, compT = s.slotFor(c)
	var elems []int64
	for _, v := range c.cache[k.name] {
		e, _ := history.ParseSetValue(v)
		elems = append(elems, e...)
	}
	s.elems++
	c.seq++
	val := history.SetValue(fmt.Sprintf("c%d-%d", c.id, c.seq), append(elems, s.elems))
	s.apply(c, k, history.Add, val, s.elems, c.cache[k.name], invT, compT)
}

func (s *synth) apply(c *synthClient, k *synthKey, f history.F, val string, elem int64, covered []string, invT, compT int64) {
	inv := history.Op{Type: history.Invoke, Process: c.id, F: f, Key: k.name, Workload: k.workload, Node: c.node,
		Value: val, Element: elem, Covered: slices.Clone(covered)}
	if s.paused(c.node, invT) {
		// A paused node never answers: the op ends info and never happens.
		s.record(inv, inv.Completion(history.Info), invT, invT+int64(ClientTimeout))
		c.busy = invT + int64(ClientTimeout)
		return
	}
	var next []string
	for _, v := range k.live {
		if !slices.Contains(covered, v) {
			next = append(next, v)
		}
	}
	if f != history.Delete {
		next = append(next, val)
		s.dot++
		k.dots[val] = fmt.Sprintf("n1.1:%d", s.dot)
		c.cache[k.name] = []string{val}
	} else {
		delete(c.cache, k.name)
	}
	slices.Sort(next)
	k.live = next
	s.record(inv, inv.Completion(history.OK), invT, compT)
}

func (s *synth) replicas() []history.Replica {
	var out []history.Replica
	for _, name := range s.order {
		k := s.keys[name]
		for _, n := range []string{"n1", "n2", "n3"} {
			r := history.Replica{Key: name, Workload: k.workload, Node: n, Versions: []history.Version{}}
			for _, v := range k.live {
				r.Versions = append(r.Versions, history.Version{Value: v, Dot: k.dots[v]})
			}
			out = append(out, r)
		}
	}
	return out
}

// Anomaly is one seeded violation: Seed changes a clean synthetic history
// so that exactly one property breaks, and Check and Kind say which
// checker must flag it and how.
type Anomaly struct {
	Name    string
	Checker string // a checker name (CheckerFuncs)
	Kind    string // the violation kind it must report
	// Counter names the count that must equal Count ("" means violations).
	Counter string
	Count   int
	Seed    func(h *SynthHistory) string // returns the value the violation names ("" if none)
}

// Anomalies lists S15's seeded anomalies, one per property.
func Anomalies() []Anomaly {
	return []Anomaly{
		{Name: "phantom value", Checker: CheckP0, Kind: "never_written", Count: 1, Seed: func(h *SynthHistory) string {
			k := "register-0"
			appendRead(h, k, append(lastLive(h, k), "ghost"))
			return "ghost"
		}},
		{Name: "value with its ancestor", Checker: CheckP0a, Kind: "ancestor_sibling", Count: 1, Seed: func(h *SynthHistory) string {
			k, v, parent := chainEnd(h)
			appendRead(h, k, []string{v, parent})
			return parent
		}},
		{Name: "stale read after an ack", Checker: CheckP1, Kind: "stale_read", Counter: "stale_reads", Count: 1, Seed: func(h *SynthHistory) string {
			k, v, parent := chainEnd(h)
			appendRead(h, k, []string{parent}) // misses v, acked long before
			return v
		}},
		{Name: "acknowledged write lost", Checker: CheckDurable, Kind: "lost_write", Counter: "missing_values", Count: 1, Seed: func(h *SynthHistory) string {
			k := "register-1"
			live := lastLive(h, k)
			// Acked before the final reads, which still return the old state.
			insertBeforeFinal(h, history.Op{Type: history.Invoke, Process: 905, F: history.Write, Key: k, Workload: Register, Node: "n3", Value: "lost-one", Covered: live},
				history.Op{Type: history.OK, Process: 905, F: history.Write, Key: k, Workload: Register, Node: "n3", Value: "lost-one"})
			return "lost-one"
		}},
		{Name: "superseded value comes back", Checker: CheckP2, Kind: "reverted", Count: 1, Seed: func(h *SynthHistory) string {
			k, _, parent := chainEnd(h)
			appendRead(h, k, []string{parent})
			return parent
		}},
		{Name: "read goes back in time", Checker: CheckP3, Kind: "non_monotonic", Count: 1, Seed: func(h *SynthHistory) string {
			k := "register-1"
			live := lastLive(h, k)
			t := lastTime(h)
			inv := history.Op{Type: history.Invoke, Process: 900, F: history.Write, Key: k, Workload: Register, Node: "n1", Value: "inflight", Time: t + 1}
			h.Ops = append(h.Ops, inv) // never completes: info
			appendReadAt(h, k, append(slices.Clone(live), "inflight"), t+2)
			appendReadAt(h, k, live, t+10)
			return "inflight"
		}},
		{Name: "acknowledged add lost", Checker: CheckSet, Kind: "lost", Count: 1, Seed: func(h *SynthHistory) string {
			k := "set-0"
			live := lastLive(h, k)
			var elems []int64
			for _, v := range live {
				e, _ := history.ParseSetValue(v)
				elems = append(elems, e...)
			}
			val := history.SetValue("c901-1", append(elems, 999_999))
			// Acked before the final reads, but they still return the old state.
			insertBeforeFinal(h, history.Op{Type: history.Invoke, Process: 901, F: history.Add, Key: k, Workload: SetWorkload, Node: "n2", Value: val, Element: 999_999, Covered: live},
				history.Op{Type: history.OK, Process: 901, F: history.Add, Key: k, Workload: SetWorkload, Node: "n2", Value: val, Element: 999_999})
			return val
		}},
		{Name: "element never added", Checker: CheckSet, Kind: "unexpected", Count: 1, Seed: func(h *SynthHistory) string {
			k := "set-0"
			live := lastLive(h, k)
			var elems []int64
			for _, v := range live {
				e, _ := history.ParseSetValue(v)
				elems = append(elems, e...)
			}
			val := history.SetValue("c902-1", append(elems, 888_888))
			// A plain write (not an add) smuggles element 888888 in; the final reads return it.
			insertBeforeFinal(h, history.Op{Type: history.Invoke, Process: 902, F: history.Write, Key: k, Workload: SetWorkload, Node: "n2", Value: val, Covered: live},
				history.Op{Type: history.OK, Process: 902, F: history.Write, Key: k, Workload: SetWorkload, Node: "n2", Value: val})
			for i := range h.Ops {
				if h.Ops[i].Final && h.Ops[i].Key == k && h.Ops[i].Type == history.OK {
					h.Ops[i].Siblings = []string{val}
				}
			}
			for i := range h.Replicas {
				if h.Replicas[i].Key == k {
					h.Replicas[i].Versions = []history.Version{{Value: val, Dot: "n2.1:1"}}
				}
			}
			return ""
		}},
		{Name: "replicas diverge", Checker: CheckConvergence, Kind: "divergent", Count: 1, Seed: func(h *SynthHistory) string {
			for i := range h.Replicas {
				if h.Replicas[i].Key == "register-0" && h.Replicas[i].Node == "n3" {
					h.Replicas[i].Versions = append(h.Replicas[i].Versions, history.Version{Dot: "n3.7:1", Deleted: true})
				}
			}
			return ""
		}},
		{Name: "reused dot (kv679)", Checker: CheckConvergence, Kind: "dot_conflict", Counter: "dot_conflicts", Count: 1, Seed: func(h *SynthHistory) string {
			for i := range h.Replicas {
				r := &h.Replicas[i]
				if r.Key == "register-1" && r.Node == "n2" && len(r.Versions) > 0 {
					r.Versions[0].Value = "reused"
				}
			}
			return "reused"
		}},
		{Name: "deleted value resurrected", Checker: CheckNoResurrection, Kind: "resurrected", Count: 1, Seed: func(h *SynthHistory) string {
			v := lastDeleted(h, "delete-0")
			for i := range h.Replicas {
				r := &h.Replicas[i]
				if r.Key == "delete-0" && r.Node == "n1" {
					r.Versions = append(r.Versions, history.Version{Value: v, Dot: "n9.9:9"})
				}
			}
			return v
		}},
		{Name: "paused node answers", Checker: CheckPaused, Kind: "answered_while_paused", Count: 1, Seed: func(h *SynthHistory) string {
			var from int64
			for _, op := range h.Ops {
				if op.F == history.Nemesis && op.Phase == "start" && op.Type == history.Info {
					from = op.Time
				}
			}
			insertAt(h, history.Op{Type: history.Invoke, Process: 903, F: history.Read, Key: "register-0", Workload: Register, Node: "n5"},
				history.Op{Type: history.OK, Process: 903, F: history.Read, Key: "register-0", Workload: Register, Node: "n5"}, from+5, from+6)
			return ""
		}},
		{Name: "not linearizable", Checker: CheckLinearizable, Kind: "not_linearizable", Count: 1, Seed: func(h *SynthHistory) string {
			k := LinReg + "-0"
			live := lastLive(h, k)
			t := lastTime(h)
			inv := history.Op{Type: history.Invoke, Process: 904, F: history.Write, Key: k, Workload: LinReg, Node: "n1", Value: "lin-late", Covered: live, Time: t + 1}
			comp := inv.Completion(history.OK)
			comp.Time = t + 2
			h.Ops = append(h.Ops, inv, comp)
			appendReadAt(h, k, live, t+3) // the acked write is invisible afterwards
			return ""
		}},
	}
}

// Helpers for seeding anomalies. They append ops after everything else
// (or just before the final reads), with fresh processes.

func lastTime(h *SynthHistory) int64 {
	var t int64
	for _, op := range h.Ops {
		t = max(t, op.Time)
	}
	return t
}

func lastLive(h *SynthHistory, key string) []string {
	var live []string
	for _, op := range h.Ops {
		if op.Key == key && op.F == history.Read && op.Type == history.OK {
			live = op.Siblings
		}
	}
	return slices.Clone(live)
}

var synthProc = 1000

func appendRead(h *SynthHistory, key string, sibs []string) {
	appendReadAt(h, key, sibs, lastTime(h)+1)
}

func appendReadAt(h *SynthHistory, key string, sibs []string, t int64) {
	synthProc++
	wl := h.workloadOf(key)
	inv := history.Op{Type: history.Invoke, Process: synthProc, F: history.Read, Key: key, Workload: wl, Node: "n4", Time: t}
	comp := inv.Completion(history.OK)
	comp.Siblings, comp.Time = sibs, t+1
	h.Ops = append(h.Ops, inv, comp)
	h.reindex()
}

func (h *SynthHistory) workloadOf(key string) string {
	for _, op := range h.Ops {
		if op.Key == key && op.Workload != "" {
			return op.Workload
		}
	}
	return ""
}

// chainEnd appends, after everything else, two acked writes to a
// register key, parent over the key's final state and child over parent,
// and a read that returns child: the key's state is then exactly [child],
// whose ancestors are parent and everything acked on the key before.
func chainEnd(h *SynthHistory) (key, child, parent string) {
	key, parent, child = "register-0", "chain-parent", "chain-child"
	live := lastLive(h, key)
	t := lastTime(h)
	for i, w := range []struct {
		v       string
		covered []string
	}{{parent, live}, {child, []string{parent}}} {
		inv := history.Op{Type: history.Invoke, Process: 910 + i, F: history.Write, Key: key, Workload: Register, Node: "n1",
			Value: w.v, Covered: w.covered, Time: t + int64(10*i) + 1}
		comp := inv.Completion(history.OK)
		comp.Time = inv.Time + 5
		h.Ops = append(h.Ops, inv, comp)
	}
	appendReadAt(h, key, []string{child}, t+30)
	return key, child, parent
}

func lastDeleted(h *SynthHistory, key string) string {
	ops, _ := history.Complete(h.Ops)
	v := ""
	for _, op := range ops {
		if op.Key == key && op.F == history.Delete && op.Type == history.OK && len(op.Covered) > 0 {
			v = op.Covered[0]
		}
	}
	if v == "" {
		panic("jepsen: synthetic history has no acked delete; use more ops")
	}
	return v
}

// insertBeforeFinal places an op pair just before the first final read.
func insertBeforeFinal(h *SynthHistory, inv, comp history.Op) {
	first := int64(-1)
	for _, op := range h.Ops {
		if op.Final {
			first = op.Time
			break
		}
	}
	// Shift the final reads later to make room.
	for i := range h.Ops {
		if h.Ops[i].Time >= first {
			h.Ops[i].Time += 10
		}
	}
	insertAt(h, inv, comp, first+1, first+2)
}

func insertAt(h *SynthHistory, inv, comp history.Op, invT, compT int64) {
	inv.Time, comp.Time = invT, compT
	h.Ops = append(h.Ops, inv, comp)
	slices.SortStableFunc(h.Ops, func(a, b history.Op) int { return int(a.Time - b.Time) })
	h.reindex()
}

func (h *SynthHistory) reindex() {
	for i := range h.Ops {
		h.Ops[i].Index = i
	}
}

// Clone deep-copies the parts anomalies change.
func (h SynthHistory) Clone() SynthHistory {
	out := SynthHistory{Ops: slices.Clone(h.Ops), Replicas: slices.Clone(h.Replicas)}
	for i := range out.Ops {
		out.Ops[i].Siblings = slices.Clone(out.Ops[i].Siblings)
	}
	for i := range out.Replicas {
		out.Replicas[i].Versions = slices.Clone(out.Replicas[i].Versions)
	}
	return out
}

// RunChecker runs one named checker over a history and replica states.
func RunChecker(name string, ops []history.Operation, reps []history.Replica) checker.Result {
	f, ok := CheckerFuncs[name]
	if !ok {
		panic("jepsen: unknown checker " + name)
	}
	return f(ops, reps)
}
