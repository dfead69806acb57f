package sim

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/memnet"
)

// Fault kinds of a schedule's events, as the history's nemesis ops name
// them (checker.PauseFault is "pause").
const (
	FaultPartition = "partition" // Groups can't reach each other (node to node only)
	FaultLinks     = "links"     // Link loss, connect loss and delay on some node pairs
	FaultHeal      = "heal"      // end every partition and link fault
	FaultCrash     = "crash"     // kill a node's process
	FaultRestart   = "restart"   // start it again on its disk
	FaultPause     = "pause"     // freeze a node's traffic
	FaultResume    = "resume"
	FaultJoin      = "join"  // start a new, empty node that joins
	FaultLeave     = "leave" // POST /cluster/leave to a node
)

// Event is one step of a schedule.
type Event struct {
	// At is when it happens, from the workload's start (virtual time).
	At    time.Duration
	Fault string
	// Nodes are the nodes it acts on (all of them for a partition).
	Nodes []string
	// Groups are a partition's sides; Shape names how they were drawn.
	Groups [][]string
	Shape  string
	// Links are a links fault's paths, from → to, and what each gets.
	Links []LinkFault
	// Key is the key of a ShapeOffKey partition.
	Key string
}

// LinkFault is what one directed path between two nodes gets.
type LinkFault struct {
	From, To string
	Link     memnet.Link
}

func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7.3fs %s", e.At.Seconds(), e.Fault)
	switch {
	case e.Shape == ShapeOffKey:
		fmt.Fprintf(&b, " %s %s", e.Shape, e.Key)
	case len(e.Groups) > 0:
		fmt.Fprintf(&b, " %s", e.Shape)
		for _, g := range e.Groups {
			fmt.Fprintf(&b, " %v", g)
		}
	case len(e.Links) > 0:
		for _, l := range e.Links {
			fmt.Fprintf(&b, " %s->%s{loss %.2f, connect loss %.2f, %v+%v}", l.From, l.To, l.Link.Loss, l.Link.ConnectLoss, l.Link.Latency, l.Link.Jitter)
		}
	case len(e.Nodes) > 0:
		fmt.Fprintf(&b, " %s", strings.Join(e.Nodes, ","))
	}
	return b.String()
}

// Schedule is everything a seed decides: the cluster's size, the run's
// length, the workload and the timeline of faults.
type Schedule struct {
	Seed uint64
	// Nodes is how many nodes boot (n1..nNodes).
	Nodes    int
	Duration time.Duration
	// ReadRepair is the nodes' read repair mode, Reap whether tombstones
	// and hints have short windows (ClusterConfig).
	ReadRepair string
	Reap       bool
	// ReadFanout is the nodes' read fanout: all on even seeds, quorum on
	// odd ones (by parity, so the random draws of older schedules stay
	// as they were).
	ReadFanout string
	// Think bounds each client's pause between its ops.
	Think     time.Duration
	Workloads []Spec
	Events    []Event
}

func (s Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d nodes, read repair %s, read fanout %s, short tombstone and hint windows %v, %v of workload (think ≤ %v):", s.Seed, s.Nodes, s.ReadRepair, s.ReadFanout, s.Reap, s.Duration, s.Think)
	for _, w := range s.Workloads {
		fmt.Fprintf(&b, " %s×%d/%dkeys", w.Kind, w.Clients, w.Keys)
	}
	for _, e := range s.Events {
		fmt.Fprintf(&b, "\n  %s", e)
	}
	return b.String()
}

// Limits of a generated schedule.
const (
	minDuration = 20 * time.Second
	maxDuration = 40 * time.Second
	minHold     = time.Second      // a fault lasts at least this
	maxHold     = 12 * time.Second // and at most this (past the short hint window)
	maxGap      = 5 * time.Second  // between one lane's faults
	settleGap   = 10 * time.Second // no process fault on a node this close to its join or leave
)

// Generate draws a schedule from seed: 3 or 4 nodes booting, 20 to 40
// virtual seconds of workload, and three lanes of faults that overlap one
// another: the network (partitions of several shapes, or loss and delay on
// some links, each healed after a while), processes (a crash with a
// restart on the same disk, or a pause and resume; one node at a time),
// and membership (maybe a join of a new node, maybe a leave, never below
// N members).
func Generate(seed uint64) Schedule {
	rng := rand.New(rand.NewPCG(seed, 0x73696d2d73636864)) // "sim-schd"
	s := Schedule{
		Seed:       seed,
		Nodes:      3 + rng.IntN(2),
		Duration:   minDuration + time.Duration(rng.Int64N(int64(maxDuration-minDuration)+1)).Truncate(time.Second),
		Think:      time.Duration(200+rng.IntN(201)) * time.Millisecond,
		ReadRepair: []string{node.ReadRepairAsync, node.ReadRepairBlocking}[rng.IntN(2)],
		Reap:       rng.IntN(2) == 0,
		ReadFanout: []string{node.ReadFanoutAll, node.ReadFanoutQuorum}[seed%2],
		Workloads: []Spec{
			{Kind: Register, Clients: 2, Keys: 3},
			{Kind: StrictRegister, Clients: 2, Keys: 3},
			{Kind: SetKind, Clients: 2, Keys: 2},
			{Kind: DeleteKind, Clients: 2, Keys: 3},
			{Kind: Churn, Clients: 2, Keys: 6},
		},
	}
	dur := s.Duration
	hold := func() time.Duration {
		return minHold + time.Duration(rng.Int64N(int64(maxHold-minHold))).Truncate(time.Millisecond)
	}
	gap := func() time.Duration { return time.Duration(rng.Int64N(int64(maxGap))).Truncate(time.Millisecond) }

	// Membership: who is in the ring when, so the other lanes pick
	// nodes that are there.
	type span struct{ from, to time.Duration } // a node is a member in [from, to)
	life := map[string]span{}
	var names []string
	for i := 1; i <= s.Nodes; i++ {
		names = append(names, NodeName(i))
		life[NodeName(i)] = span{0, 1 << 62}
	}
	if rng.IntN(2) == 0 {
		n := NodeName(s.Nodes + 1)
		at := time.Duration(rng.Int64N(int64(dur / 2))).Truncate(time.Millisecond)
		names = append(names, n)
		life[n] = span{at, 1 << 62}
		s.Events = append(s.Events, Event{At: at, Fault: FaultJoin, Nodes: []string{n}})
	}
	if rng.IntN(3) == 0 && len(names) > 3 {
		at := dur/4 + time.Duration(rng.Int64N(int64(dur/2))).Truncate(time.Millisecond)
		// Never the founder: it is every restart's first seed too.
		var cands []string
		for _, n := range names[1:] {
			if l := life[n]; l.from+settleGap < at {
				cands = append(cands, n)
			}
		}
		if len(cands) > 0 {
			n := cands[rng.IntN(len(cands))]
			l := life[n]
			l.to = at
			life[n] = l
			s.Events = append(s.Events, Event{At: at, Fault: FaultLeave, Nodes: []string{n}})
		}
	}
	membersAt := func(t time.Duration, margin time.Duration) []string {
		var out []string
		for _, n := range names {
			if l := life[n]; l.from+margin <= t && t+margin < l.to {
				out = append(out, n)
			}
		}
		return out
	}

	// Network lane.
	for t := gap() + time.Second; t < dur; {
		h := min(hold(), dur-t)
		ms := membersAt(t, 0)
		if len(ms) < 2 {
			t += h
			continue
		}
		var e Event
		switch k := rng.IntN(10); {
		case k < 6:
			e = partition(rng, ms)
		default:
			e = links(rng, ms)
		}
		e.At = t
		s.Events = append(s.Events, e, Event{At: t + h, Fault: FaultHeal})
		t += h + gap() + 100*time.Millisecond
	}

	// Process lane: one node at a time.
	for t := gap() + time.Second; t < dur; {
		h := min(hold(), dur-t)
		ms := membersAt(t, settleGap)
		// The node must stay a member until the fault ends.
		ms = slices.DeleteFunc(ms, func(n string) bool { return t+h+settleGap >= life[n].to })
		if len(ms) == 0 {
			t += h
			continue
		}
		n := ms[rng.IntN(len(ms))]
		if rng.IntN(2) == 0 {
			s.Events = append(s.Events, Event{At: t, Fault: FaultCrash, Nodes: []string{n}}, Event{At: t + h, Fault: FaultRestart, Nodes: []string{n}})
		} else {
			s.Events = append(s.Events, Event{At: t, Fault: FaultPause, Nodes: []string{n}}, Event{At: t + h, Fault: FaultResume, Nodes: []string{n}})
		}
		t += h + gap() + 100*time.Millisecond
	}
	slices.SortStableFunc(s.Events, func(a, b Event) int { return int(a.At - b.At) })
	return s
}

// Partition shapes.
const (
	ShapeHalves   = "halves"   // two random sides of near-equal size
	ShapeIsolate  = "isolate"  // one node alone
	ShapeBridge   = "bridge"   // two sides that can both reach one bridge node
	ShapeOneWay   = "one-way"  // one node's traffic to another is dropped, not back
	ShapeMajority = "majority" // each node sees a different majority (ring of cuts)
	// ShapeOffKey cuts the nodes that are not primaries of Key off from
	// those that are (drawn when applied, from the ring of the moment).
	// Generate never draws it; a test that needs fallbacks to take a
	// key's writes does.
	ShapeOffKey = "off-key"
)

// partition draws a partition of members.
func partition(rng *rand.Rand, members []string) Event {
	ms := slices.Clone(members)
	rng.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	e := Event{Fault: FaultPartition, Nodes: sorted(ms)}
	switch k := rng.IntN(5); {
	case k == 0:
		e.Shape, e.Groups = ShapeHalves, [][]string{sorted(ms[:len(ms)/2]), sorted(ms[len(ms)/2:])}
	case k == 1 && len(ms) >= 3:
		e.Shape, e.Groups = ShapeBridge, [][]string{sorted(ms[1 : 1+(len(ms)-1)/2]), sorted(ms[1+(len(ms)-1)/2:]), {ms[0]}}
	case k == 2:
		e.Shape, e.Groups = ShapeOneWay, [][]string{{ms[0]}, {ms[1]}}
	case k == 3 && len(ms) >= 4:
		e.Shape, e.Groups = ShapeMajority, [][]string{ms}
	default:
		e.Shape, e.Groups = ShapeIsolate, [][]string{{ms[0]}, sorted(ms[1:])}
	}
	return e
}

// cuts returns the directed node pairs a partition event drops.
func (e Event) cuts() [][2]string {
	var out [][2]string
	both := func(a, b string) { out = append(out, [2]string{a, b}, [2]string{b, a}) }
	switch e.Shape {
	case ShapeOneWay:
		out = append(out, [2]string{e.Groups[0][0], e.Groups[1][0]})
	case ShapeBridge:
		for _, a := range e.Groups[0] {
			for _, b := range e.Groups[1] {
				both(a, b)
			}
		}
	case ShapeMajority:
		// Node i can't reach the node "opposite" it on the ring
		// (i+len/2): each sees a majority, no two the same.
		ms := e.Groups[0]
		for i := range ms {
			j := (i + (len(ms)+1)/2) % len(ms)
			if i != j {
				out = append(out, [2]string{ms[i], ms[j]}, [2]string{ms[j], ms[i]})
			}
		}
	default:
		for gi, g := range e.Groups {
			for _, h := range e.Groups[gi+1:] {
				for _, a := range g {
					for _, b := range h {
						both(a, b)
					}
				}
			}
		}
	}
	return out
}

// links draws loss and delay on a few directed node pairs.
func links(rng *rand.Rand, members []string) Event {
	e := Event{Fault: FaultLinks}
	for _, a := range members {
		for _, b := range members {
			if a == b || rng.IntN(3) != 0 {
				continue
			}
			l := memnet.Link{Latency: time.Duration(rng.IntN(50)) * time.Millisecond, Jitter: time.Duration(1+rng.IntN(100)) * time.Millisecond}
			if rng.IntN(2) == 0 {
				l.Loss = float64(rng.IntN(50)) / 100
				l.ConnectLoss = float64(rng.IntN(30)) / 100
			}
			e.Links = append(e.Links, LinkFault{From: a, To: b, Link: l})
		}
	}
	if len(e.Links) == 0 {
		e.Links = append(e.Links, LinkFault{From: members[0], To: members[1], Link: memnet.Link{Loss: 0.5, Latency: 20 * time.Millisecond}})
	}
	for _, l := range e.Links {
		e.Nodes = append(e.Nodes, l.From)
	}
	e.Nodes = slices.Compact(sorted(e.Nodes))
	return e
}
