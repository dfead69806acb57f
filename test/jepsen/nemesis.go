package jepsen

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dynago/dynago/test/jepsen/history"
)

// Fault kinds (history.Op.Fault).
const (
	FaultPartition = "partition"
	FaultCrash     = "crash"   // SIGKILL, restart on the same data dir
	FaultPause     = "pause"   // SIGSTOP, SIGCONT
	FaultAmnesia   = "amnesia" // SIGKILL, wipe the data dir, restart with the same name
	FaultSkew      = "skew"    // offset the node's clock through /debug/clock
	FaultHeal      = "heal"    // end every fault
	// Membership changes (scenario_membership.go): start runs the change,
	// stop waits (bounded) until every node has settled on the new ring.
	FaultJoin   = "join"   // start a laid-out node with --join and an empty data dir
	FaultRemove = "remove" // POST /cluster/remove of a dead node through a live one
	// FaultLeave: start is POST /cluster/leave to the node; stop waits
	// until it has handed off, exited by itself and been forgotten
	// (cluster_deletes.go).
	FaultLeave = "leave"
	// FaultDropTables: the node ignores the ownership tables it is sent
	// (POST /debug/faults {"drop_tables": true}, --test-faults) until stop.
	FaultDropTables = "drop-tables"
)

// Partition shapes (Jepsen's).
const (
	Halves         = "halves"          // two random halves
	IsolateOne     = "isolate-one"     // one random node alone
	Bridge         = "bridge"          // two halves and one node that sees both
	MajoritiesRing = "majorities-ring" // each node sees a majority, no two the same one
)

// Event is one planned nemesis action: a fault starts or stops at At
// (from the start of the workload).
type Event struct {
	At     time.Duration `json:"at"`
	Fault  string        `json:"fault"`
	Phase  string        `json:"phase"` // start or stop
	Nodes  []string      `json:"nodes,omitempty"`
	Shape  string        `json:"shape,omitempty"`  // partitions
	Grudge Grudge        `json:"grudge,omitempty"` // partitions
	Offset time.Duration `json:"offset,omitempty"` // skew
}

// Describe is a one-line description for the history and the report.
func (e Event) Describe() string {
	switch {
	case e.Fault == FaultPartition && e.Phase == "start":
		return fmt.Sprintf("partition %s: %s", e.Shape, Components(e.Grudge, e.Nodes))
	case e.Fault == FaultPartition:
		return "heal partition"
	case e.Fault == FaultSkew && e.Phase == "start":
		return fmt.Sprintf("skew %s clock by %s", strings.Join(e.Nodes, ","), e.Offset)
	case e.Fault == FaultHeal:
		return "heal everything"
	case e.Fault == FaultJoin || e.Fault == FaultRemove:
		return describeMembership(e)
	case e.Fault == FaultLeave && e.Phase == "start":
		return "leave " + strings.Join(e.Nodes, ",") + " (POST /cluster/leave)"
	case e.Fault == FaultLeave:
		return "wait until " + strings.Join(e.Nodes, ",") + " has handed off and exited, then every other node lists the rest valid, no transfer pending"
	case e.Fault == FaultDropTables && e.Phase == "start":
		return strings.Join(e.Nodes, ",") + " drops every ownership table it is sent (POST /debug/faults drop_tables)"
	case e.Fault == FaultDropTables:
		return strings.Join(e.Nodes, ",") + " adopts ownership tables again"
	}
	verb := map[string][2]string{
		FaultCrash:   {"kill -9", "restart"},
		FaultPause:   {"kill -STOP", "kill -CONT"},
		FaultAmnesia: {"kill -9 and wipe", "restart empty"},
		FaultSkew:    {"skew", "reset clock of"},
	}[e.Fault]
	v := verb[0]
	if e.Phase == "stop" {
		v = verb[1]
	}
	return v + " " + strings.Join(e.Nodes, ",")
}

// Generator plans nemesis events for a workload of a given length over
// the given nodes, drawing every choice from rng. Generators compose with
// Compose; the same seed gives the same plan.
type Generator interface {
	Plan(rng *rand.Rand, nodes []string, length time.Duration) []Event
	String() string
}

// Plan runs g with a generator seeded by seed and returns its events in
// time order.
func Plan(g Generator, seed int64, nodes []string, length time.Duration) []Event {
	if g == nil {
		return nil
	}
	ev := g.Plan(rand.New(rand.NewPCG(uint64(seed), 0x6e656d65736973)), nodes, length)
	slices.SortStableFunc(ev, func(a, b Event) int { return cmp.Compare(a.At, b.At) })
	return ev
}

// PartitionCycle starts a partition of a random shape from Shapes at
// Start, heals it On later, waits Off, and repeats while time remains.
type PartitionCycle struct {
	Shapes  []string
	Start   time.Duration
	On, Off time.Duration
}

func (p PartitionCycle) String() string {
	return fmt.Sprintf("partitions %s, %s on / %s off from %s", strings.Join(p.Shapes, " or "), p.On, p.Off, p.Start)
}

// Plan implements Generator.
func (p PartitionCycle) Plan(rng *rand.Rand, nodes []string, length time.Duration) []Event {
	var out []Event
	for t := p.Start; t+p.On <= length; t += p.On + p.Off {
		shape := p.Shapes[rng.IntN(len(p.Shapes))]
		order := shuffled(rng, nodes)
		g := Shape(shape, order)
		out = append(out,
			Event{At: t, Fault: FaultPartition, Phase: "start", Shape: shape, Grudge: g, Nodes: order},
			Event{At: t + p.On, Fault: FaultPartition, Phase: "stop", Shape: shape})
	}
	return out
}

// Periodic hits one random node with Fault every Every, from Start, and
// ends the fault Down later (restart, SIGCONT, clock reset).
type Periodic struct {
	Fault       string
	Start       time.Duration
	Every, Down time.Duration
	// MaxSkew bounds a skew's offset (either sign).
	MaxSkew time.Duration
	// SameNode hits one node, drawn once, every time (e.g. amnesia of one
	// node: wiping several would lose data legitimately).
	SameNode bool
	// Rotate hits the nodes in turn, from one drawn once (the soak: every
	// node is killed and restarted in its turn).
	Rotate bool
}

func (p Periodic) String() string {
	who := "one random node"
	switch {
	case p.SameNode:
		who = "one node (drawn once)"
	case p.Rotate:
		who = "the nodes in turn"
	}
	return fmt.Sprintf("%s %s every %s for %s from %s", p.Fault, who, p.Every, p.Down, p.Start)
}

// Plan implements Generator.
func (p Periodic) Plan(rng *rand.Rand, nodes []string, length time.Duration) []Event {
	var out []Event
	first := rng.IntN(len(nodes))
	fixed := nodes[first]
	for i, t := 0, p.Start; t+p.Down <= length; i, t = i+1, t+p.Every {
		n := fixed
		switch {
		case p.Rotate:
			n = nodes[(first+i)%len(nodes)]
		case !p.SameNode:
			n = nodes[rng.IntN(len(nodes))]
		}
		start := Event{At: t, Fault: p.Fault, Phase: "start", Nodes: []string{n}}
		if p.Fault == FaultSkew {
			max := p.MaxSkew
			if max <= 0 {
				max = time.Minute
			}
			start.Offset = time.Duration(rng.Int64N(int64(2*max))) - max
			start.Offset = start.Offset.Truncate(time.Millisecond)
		}
		out = append(out, start, Event{At: t + p.Down, Fault: p.Fault, Phase: "stop", Nodes: []string{n}})
	}
	return out
}

// Script is a fixed list of events.
type Script []Event

func (s Script) String() string { return fmt.Sprintf("%d scripted events", len(s)) }

// Plan implements Generator.
func (s Script) Plan(*rand.Rand, []string, time.Duration) []Event { return slices.Clone(s) }

// Compose runs several generators side by side.
type Compose []Generator

func (c Compose) String() string {
	parts := make([]string, len(c))
	for i, g := range c {
		parts[i] = g.String()
	}
	return strings.Join(parts, "; ")
}

// Plan implements Generator.
func (c Compose) Plan(rng *rand.Rand, nodes []string, length time.Duration) []Event {
	var out []Event
	for _, g := range c {
		out = append(out, g.Plan(rng, nodes, length)...)
	}
	return out
}

func shuffled(rng *rand.Rand, nodes []string) []string {
	out := slices.Clone(nodes)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Shape builds the grudge of a partition shape over nodes, in the order
// given (callers shuffle it): halves cuts nodes[:n/2] from the rest;
// isolate-one cuts nodes[0] from all; bridge cuts nodes[:n/2] from
// nodes[n/2+1:] while nodes[n/2] sees both; majorities-ring lets each node
// see only its ring neighbours (for 5 nodes, itself and two others: a
// majority, and no two nodes see the same one).
func Shape(shape string, nodes []string) Grudge {
	n := len(nodes)
	g := Grudge{}
	cut := func(a, b string) {
		g[a] = append(g[a], b)
		g[b] = append(g[b], a)
	}
	switch shape {
	case Halves:
		for _, a := range nodes[:n/2] {
			for _, b := range nodes[n/2:] {
				cut(a, b)
			}
		}
	case IsolateOne:
		for _, b := range nodes[1:] {
			cut(nodes[0], b)
		}
	case Bridge:
		for _, a := range nodes[:n/2] {
			for _, b := range nodes[n/2+1:] {
				cut(a, b)
			}
		}
	case MajoritiesRing:
		for i := range n {
			for j := i + 1; j < n; j++ {
				if d := min(j-i, n-(j-i)); d > 1 {
					cut(nodes[i], nodes[j])
				}
			}
		}
	default:
		panic("jepsen: unknown partition shape " + shape)
	}
	for k := range g {
		slices.Sort(g[k])
	}
	return g
}

// Components describes what each node can reach under g: "n1,n2 | n3,n4,n5"
// for a clean split, else the list of cuts.
func Components(g Grudge, nodes []string) string {
	sorted := slices.Sorted(slices.Values(nodes))
	reach := func(a string) []string {
		var out []string
		for _, b := range sorted {
			if !slices.Contains(g[a], b) {
				out = append(out, b)
			}
		}
		return out
	}
	var groups []string
	seen := map[string]bool{}
	for _, a := range sorted {
		if seen[a] {
			continue
		}
		r := reach(a)
		for _, b := range r {
			if !slices.Equal(reach(b), r) {
				return "cuts " + g.String()
			}
			seen[b] = true
		}
		groups = append(groups, strings.Join(r, ","))
	}
	return strings.Join(groups, " | ")
}

// Nemesis executes planned events against a cluster and records each as
// a nemesis op (invoke, then info) in the history.
type Nemesis struct {
	c   *Cluster
	rec *history.Recorder
	log func(string, ...any)

	mu struct {
		sync.Mutex
		errors []string
	}
}

// NewNemesis returns a nemesis for c recording into rec.
func NewNemesis(c *Cluster, rec *history.Recorder, logf func(string, ...any)) *Nemesis {
	return &Nemesis{c: c, rec: rec, log: logf}
}

// Errors returns the faults that could not be applied.
func (n *Nemesis) Errors() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.mu.errors)
}

// Run applies events at their times, measured from start, until they are
// done or stop is closed.
func (n *Nemesis) Run(ctx context.Context, start time.Time, events []Event, stop <-chan struct{}) {
	for _, e := range events {
		wait := time.Until(start.Add(e.At))
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-stop:
				return
			case <-ctx.Done():
				return
			}
		}
		n.Apply(ctx, e)
	}
}

// Apply executes one event now and records it. It returns the event's
// error, which Errors also keeps (callers that plan further steps on it,
// scripts, may stop on it).
func (n *Nemesis) Apply(ctx context.Context, e Event) error {
	desc := e.Describe()
	inv := n.rec.Append(history.Op{Type: history.Invoke, Process: history.NemesisProcess, F: history.Nemesis,
		Fault: e.Fault, Phase: e.Phase, Nodes: e.Nodes, Value: desc})
	err := n.apply(ctx, e)
	comp := inv.Completion(history.Info)
	if err != nil {
		comp.Error = err.Error()
		n.mu.Lock()
		n.mu.errors = append(n.mu.errors, desc+": "+err.Error())
		n.mu.Unlock()
		n.log("nemesis: %s: %v", desc, err)
	} else {
		n.log("nemesis: %s", desc)
	}
	n.rec.Append(comp)
	return err
}

func (n *Nemesis) apply(ctx context.Context, e Event) error {
	nodes := make([]*Node, 0, len(e.Nodes))
	for _, name := range e.Nodes {
		if nd := n.c.Node(name); nd != nil {
			nodes = append(nodes, nd)
		}
	}
	var errs []error
	each := func(f func(*Node) error) error {
		for _, nd := range nodes {
			if err := f(nd); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("%v", errs)
		}
		return nil
	}
	switch {
	case e.Fault == FaultPartition && e.Phase == "start":
		return n.c.FW.Apply(ctx, e.Grudge)
	case e.Fault == FaultPartition:
		if c, err := n.c.FW.Counters(ctx); err == nil {
			n.log("firewall before heal (packets dropped per rule):\n%s", strings.TrimSpace(c))
		}
		return n.c.FW.Heal(ctx)
	case (e.Fault == FaultCrash || e.Fault == FaultAmnesia) && e.Phase == "start":
		return each(func(nd *Node) error {
			if err := n.c.Kill(nd); err != nil {
				return err
			}
			if e.Fault == FaultAmnesia {
				return n.c.Wipe(nd)
			}
			return nil
		})
	case e.Fault == FaultCrash || e.Fault == FaultAmnesia:
		return each(func(nd *Node) error { return n.c.Start(ctx, nd, nil) })
	case e.Fault == FaultPause && e.Phase == "start":
		return each(n.c.Pause)
	case e.Fault == FaultPause:
		return each(n.c.Resume)
	case e.Fault == FaultSkew && e.Phase == "start":
		return each(func(nd *Node) error {
			if !nd.Running() {
				return fmt.Errorf("jepsen: %s is not running (another fault has it down)", nd.Name)
			}
			return n.c.Skew(ctx, nd, e.Offset)
		})
	case e.Fault == FaultSkew:
		return each(func(nd *Node) error {
			if !nd.Running() {
				return nil // it restarts with a true clock
			}
			return n.c.Skew(ctx, nd, 0)
		})
	case e.Fault == FaultHeal:
		return n.healAll(ctx)
	case e.Fault == FaultJoin || e.Fault == FaultRemove:
		return n.membership(ctx, e)
	case e.Fault == FaultLeave:
		return n.leaving(ctx, e)
	case e.Fault == FaultDropTables:
		return each(func(nd *Node) error { return n.c.DropTables(ctx, nd, e.Phase == "start") })
	}
	return fmt.Errorf("jepsen: unknown nemesis event %+v", e)
}

// HealAll ends every fault: flush the firewall, SIGCONT paused nodes,
// restart stopped ones, reset every clock (and, with --test-faults, clear
// every injected fault). It is recorded as one event.
func (n *Nemesis) HealAll(ctx context.Context) {
	n.Apply(ctx, Event{Fault: FaultHeal, Phase: "start", Nodes: n.c.Names()})
}

func (n *Nemesis) healAll(ctx context.Context) error {
	var errs []string
	if err := n.c.FW.Heal(ctx); err != nil {
		errs = append(errs, err.Error())
	}
	for _, nd := range n.c.Nodes {
		if nd.Running() && nd.Paused() {
			if err := n.c.Resume(nd); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, nd := range n.c.Nodes {
		if !nd.Running() {
			wg.Go(func() {
				if err := n.c.Start(ctx, nd, nil); err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	for _, nd := range n.c.Nodes {
		if !nd.Running() {
			continue // its restart failed; reported above
		}
		if err := n.c.Skew(ctx, nd, 0); err != nil {
			errs = append(errs, err.Error())
		}
		if slices.Contains(n.c.cfg.AgentArgs, "--test-faults") {
			if err := n.c.DropTables(ctx, nd, false); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
