package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node/api"
)

// adminRead runs the shared part of a read-only admin command: no
// arguments, a client, the request (fetch), the report header; with --json
// it prints the server's body as is, otherwise it calls render.
func adminRead(c *cli.Context, what string, fetch func(*client.Client) (*client.Response, error), render func() error) error {
	if _, err := positional(c, 0, 0, ""); err != nil {
		return err
	}
	cl, err := newClient(c, c.Duration("timeout"))
	if err != nil {
		return err
	}
	res, err := fetch(cl)
	if err != nil {
		return requestFailed(c, what, err)
	}
	report(c, res.Report)
	if c.Bool("json") {
		writeJSON(c, res.Body)
		return nil
	}
	return render()
}

func membersCommand() *cli.Command {
	return &cli.Command{
		Name:  "members",
		Usage: "list the cluster's members as the node sees them",
		Description: "Prints GET /cluster/members as a table: name, ring state (joining, valid, leaving), liveness, zone, addresses,\n" +
			"and the internode protocol versions each alive member speaks (README, Upgrades; INCOMPATIBLE: none this node speaks).",
		Flags: append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			var ms []api.Member
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				ms, res, err = cl.Members(c.Context)
				return res, err
			}
			return adminRead(c, "members", fetch, func() error {
				tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATE\tALIVE\tZONE\tHTTP\tRPC\tGOSSIP\tPROTOCOL")
				for _, m := range ms {
					zone := m.Zone
					if zone == "" {
						zone = "-"
					}
					alive := "alive"
					if !m.Alive {
						alive = "DOWN"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.State, alive, zone, m.HTTP, m.RPC, m.Gossip, protocolColumn(m))
				}
				return tw.Flush()
			})
		},
	}
}

// protocolColumn is a member's protocol versions as `dynago members`
// shows them: "1..2", "-" when unknown (not alive), and INCOMPATIBLE when
// the answering node speaks none of them.
func protocolColumn(m api.Member) string {
	if m.Protocol == nil {
		return "-"
	}
	s := strconv.Itoa(m.Protocol.Min)
	if m.Protocol.Max != m.Protocol.Min {
		s += ".." + strconv.Itoa(m.Protocol.Max)
	}
	if m.Incompatible {
		s += " INCOMPATIBLE"
	}
	return s
}

func hintsCommand() *cli.Command {
	return &cli.Command{
		Name:        "hints",
		Usage:       "show the hints the node holds for down nodes, per target, and their delivery",
		Description: "Prints GET /debug/hints as a table: target, hints, bytes, age of the oldest, delivery state and rate, delivered/refused counts (a hint older than the hint window is overdue: kept, never dropped).",
		Flags:       append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			var h *api.Hints
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				h, res, err = cl.Hints(c.Context)
				return res, err
			}
			return adminRead(c, "hints", fetch, func() error {
				fmt.Fprintf(c.App.Writer, "%s holds %d hints\n", h.Node, h.Total)
				if len(h.Targets) == 0 {
					return nil
				}
				tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "TARGET\tALIVE\tHINTS\tBYTES\tOLDEST\tSTATE\tRATE\tDELIVERED\tREFUSED\tLAST ERROR")
				for _, t := range h.Targets {
					alive := "alive"
					if !t.TargetAlive {
						alive = "DOWN"
					}
					overdue := ""
					if t.Overdue {
						overdue = " OVERDUE"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0fs%s\t%s\t%.0f B/s\t%d\t%d\t%s\n", t.Target, alive, t.Count, t.Bytes,
						t.OldestAgeSecs, overdue, t.State, t.BytesPerSec, t.Delivered, t.Refused, t.LastError)
				}
				return tw.Flush()
			})
		},
	}
}

func aaeCommand() *cli.Command {
	return &cli.Command{
		Name:  "aae",
		Usage: "show the node's anti-entropy: its Merkle trees and the last exchange with each peer",
		Description: "Prints GET /debug/aae: the node's totals (exchanges, errors, differences, keys repaired, bytes sent,\n" +
			"tombstones, reaped, rate factor, foreground p99), then a row per partition it holds a tree for (keys,\n" +
			"depth, root, tree age, tombstones) and under it a row per peer: when they last compared trees, the\n" +
			"result, and the keys compared, differences, keys repaired and bytes sent by that exchange.\n" +
			"By default it prints a summary (the totals, the trees, the last exchanges' results and their errors);\n" +
			"--partitions prints the table of every partition, --partition P only partition P's rows;\n" +
			"--json prints the whole body as the node sent it.",
		Flags: append(clientFlags(), adminTimeoutFlag(),
			&cli.BoolFlag{Name: "partitions", Usage: "print every partition's tree and its last exchange with each peer, not only the summary (a node holds up to Q partitions: 256 rows by default)"},
			&cli.IntFlag{Name: "partition", DefaultText: "all", Usage: "show only partition `P`'s rows (human output; --json prints the whole body)"},
		),
		Action: func(c *cli.Context) error {
			only := -1 // every partition
			if c.IsSet("partition") {
				if only = c.Int("partition"); only < 0 {
					return usagef(c, "--partition %d: want a partition number (0 or more)", only)
				}
			}
			var a *api.AAE
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				a, res, err = cl.AAE(c.Context)
				return res, err
			}
			return adminRead(c, "aae", fetch, func() error {
				return printAAE(c.App.Writer, a, only, c.Bool("partitions"), time.Now())
			})
		},
	}
}

// printAAE writes the human form of GET /debug/aae: a summary line, the
// totals, then, with table, each partition (only that one if only >= 0)
// with its peers indented under it, else a summary of the trees and
// exchanges (aaeSummary). Ages are relative to now.
func printAAE(w io.Writer, a *api.AAE, only int, table bool, now time.Time) error {
	state := "on"
	if !a.Enabled {
		state = "OFF"
	}
	fmt.Fprintf(w, "%s: anti-entropy %s, exchanges every %s, tombstone grace %s\n", a.Node, state,
		seconds(a.IntervalSecs), seconds(a.TombstoneGraceSecs))
	t := a.Totals
	fmt.Fprintf(w, "totals: exchanges %d  errors %d  differences %d  keys repaired %d  bytes sent %d  "+
		"tombstones %d  reaped %d  rate factor %.2f  foreground p99 %.1fms\n",
		t.Exchanges, t.ExchangeErrors, t.Differences, t.KeysRepaired, t.BytesSent,
		t.Tombstones, t.TombstonesReaped, a.RateFactor, a.ForegroundP99Millis)
	if only < 0 && !table {
		aaeSummary(w, a, now)
		return nil
	}
	parts := a.Partitions
	if only >= 0 {
		parts = nil
		for _, p := range a.Partitions {
			if p.Partition == only {
				parts = append(parts, p)
			}
		}
		if len(parts) == 0 {
			fmt.Fprintf(w, "%s holds no tree for partition %d\n", a.Node, only)
			return nil
		}
	}
	if len(parts) == 0 {
		fmt.Fprintf(w, "%s holds no trees\n", a.Node)
		return nil
	}
	// Partitions and peers are two tables, each aligned on its own and
	// interleaved: a partition's row, then its peers' rows indented.
	var partRows, peerRows []string
	for _, p := range parts {
		partRows = append(partRows, fmt.Sprintf("%d\t%d\t%d\t%s\t%s\t%d", p.Partition, p.Keys, p.Depth, p.Root,
			seconds(p.TreeAgeSecs), p.Tombstones))
		for _, pe := range p.Peers {
			result := pe.Result
			if result == "" {
				result = "-"
			}
			peerRows = append(peerRows, fmt.Sprintf("%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s", pe.Peer, lastExchange(pe, now),
				result, pe.KeysCompared, pe.Differences, pe.KeysRepaired, pe.BytesSent, pe.Error))
		}
	}
	partLines, err := align("PARTITION\tKEYS\tDEPTH\tROOT\tTREE AGE\tTOMBSTONES", partRows)
	if err != nil {
		return err
	}
	peerLines, err := align("PEER\tLAST EXCHANGE\tRESULT\tCOMPARED\tDIFFERENCES\tREPAIRED\tBYTES\tERROR", peerRows)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, partLines[0])
	fmt.Fprintln(w, "  "+peerLines[0])
	next := 1
	for i, p := range parts {
		fmt.Fprintln(w, partLines[1+i])
		for range p.Peers {
			fmt.Fprintln(w, "  "+peerLines[next])
			next++
		}
	}
	return nil
}

// aaeSummary writes what a node's per-partition anti-entropy state adds
// up to: trees held, the results of the last exchange of every partition
// with every peer (and the oldest of them), and the first few errors.
func aaeSummary(w io.Writer, a *api.AAE, now time.Time) {
	if len(a.Partitions) == 0 {
		fmt.Fprintf(w, "%s holds no trees\n", a.Node)
		return
	}
	var keys, tombstones int64
	results := map[string]int{}
	peers := map[string]bool{}
	var oldest time.Time
	var errs []string
	for _, p := range a.Partitions {
		keys += int64(p.Keys)
		tombstones += int64(p.Tombstones)
		for _, pe := range p.Peers {
			peers[pe.Peer] = true
			at, ok, err := pe.LastExchangeTime()
			switch {
			case err != nil || !ok:
				results["never"]++
				continue
			case oldest.IsZero() || at.Before(oldest):
				oldest = at
			}
			r := pe.Result
			if r == "" {
				r = "-"
			}
			results[r]++
			if pe.Error != "" {
				errs = append(errs, fmt.Sprintf("partition %d with %s: %s", p.Partition, pe.Peer, pe.Error))
			}
		}
	}
	ps := strings.Join(sortedKeys(peers), ", ")
	if ps == "" {
		ps = "none"
	}
	fmt.Fprintf(w, "trees: %d partitions, %d keys, %d tombstones; peers: %s\n", len(a.Partitions), keys, tombstones, ps)
	var rs []string
	for _, r := range sortedKeys(results) {
		rs = append(rs, fmt.Sprintf("%d %s", results[r], r))
	}
	if len(rs) == 0 {
		rs = []string{"none"}
	}
	last := "last exchanges (partition x peer): " + strings.Join(rs, ", ")
	if !oldest.IsZero() {
		last += "; oldest " + age(now.Sub(oldest)) + " ago"
	}
	fmt.Fprintln(w, last)
	const shown = 3
	for i, e := range errs {
		if i == shown {
			fmt.Fprintf(w, "  ... and %d more errors\n", len(errs)-shown)
			break
		}
		fmt.Fprintf(w, "  error: %s\n", e)
	}
	fmt.Fprintln(w, "every partition: dynago aae --partitions (one: --partition P)")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// align lays out header and rows (cells separated by tabs) as a table and
// returns its lines, header first, without trailing spaces.
func align(header string, rows []string) ([]string, error) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range append([]string{header}, rows...) {
		fmt.Fprintln(tw, r+"\t")
	}
	if err := tw.Flush(); err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines, nil
}

// lastExchange is when p last exchanged, as an age relative to now
// ("4s ago"), "never", or the server's text if it is not RFC 3339.
func lastExchange(p api.AAEPeer, now time.Time) string {
	at, ok, err := p.LastExchangeTime()
	switch {
	case err != nil:
		return p.LastExchange
	case !ok:
		return "never"
	}
	return age(now.Sub(at)) + " ago"
}

// seconds formats a duration the server gave in seconds, like age.
func seconds(s float64) string {
	return age(time.Duration(s * float64(time.Second)))
}

// age formats d for people, to two units at most: "4s", "3m12s", "2h5m",
// "3d4h". A negative d (the server's clock ahead of ours) counts as 0.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
	}
}

// ringOwnership counts, for each node, the partitions it is the primary of
// (first in the preference list) and the partitions it replicates (anywhere
// in the list). Nodes are sorted by name.
type ringOwnership struct {
	Node    string
	Primary int
	Replica int
}

func ownership(rg *api.Ring) []ringOwnership {
	by := map[string]*ringOwnership{}
	get := func(n string) *ringOwnership {
		o, ok := by[n]
		if !ok {
			o = &ringOwnership{Node: n}
			by[n] = o
		}
		return o
	}
	for _, pl := range rg.Preflists {
		for i, n := range pl.Nodes {
			o := get(n)
			o.Replica++
			if i == 0 {
				o.Primary++
			}
		}
	}
	out := make([]ringOwnership, 0, len(by))
	for _, o := range by {
		out = append(out, *o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}

func ringCommand() *cli.Command {
	return &cli.Command{
		Name:  "ring",
		Usage: "show the ring: partitions and who owns them",
		Description: "Prints Q (partitions), N (replicas) and, per node, how many partitions it is the primary of and how\n" +
			"many it holds a replica of (with its share of Q). --table also lists every partition's preference list.",
		Flags: append(clientFlags(), adminTimeoutFlag(),
			&cli.BoolFlag{Name: "table", Usage: "also print every partition's preference list"},
		),
		Action: func(c *cli.Context) error {
			var rg *api.Ring
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				rg, res, err = cl.Ring(c.Context)
				return res, err
			}
			return adminRead(c, "ring", fetch, func() error {
				own := ownership(rg)
				w := c.App.Writer
				fmt.Fprintf(w, "partitions: %d  n: %d  nodes: %d\n", rg.Partitions, rg.N, len(own))
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NODE\tPRIMARY\tSHARE\tREPLICA")
				for _, o := range own {
					share := 0.0
					if rg.Partitions > 0 {
						share = 100 * float64(o.Primary) / float64(rg.Partitions)
					}
					fmt.Fprintf(tw, "%s\t%d\t%.1f%%\t%d\n", o.Node, o.Primary, share, o.Replica)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if c.Bool("table") {
					tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "\nPARTITION\tPREFERENCE LIST")
					for _, pl := range rg.Preflists {
						fmt.Fprintf(tw, "%d\t%s\n", pl.Partition, strings.Join(pl.Nodes, " "))
					}
					return tw.Flush()
				}
				return nil
			})
		},
	}
}

// printAdminResult prints a successful cluster operation: the server's JSON
// with --json, else msg and any message the server gave.
func printAdminResult(c *cli.Context, res *client.Response, msg string) {
	report(c, res.Report)
	if c.Bool("json") {
		if len(res.Body) > 0 {
			writeJSON(c, res.Body)
		} else {
			writeJSON(c, []byte(fmt.Sprintf(`{"status":%d}`, res.Status)))
		}
		return
	}
	fmt.Fprintln(c.App.Writer, msg)
	var extra map[string]any
	if json.Unmarshal(res.Body, &extra) == nil {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b, _ := json.Marshal(extra[k])
			fmt.Fprintf(c.App.Writer, "  %s: %s\n", k, b)
		}
	}
}

func joinCommand() *cli.Command {
	return &cli.Command{
		Name:        "join",
		Usage:       "make the node at --addr join the cluster that SEED belongs to",
		ArgsUsage:   "SEED...",
		Description: "SEED is the gossip address (host:port) of an existing member; give several in case one is down.",
		Flags:       append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			seeds, err := positional(c, 1, -1, "SEED...")
			if err != nil {
				return err
			}
			for _, s := range seeds {
				if !strings.Contains(s, ":") {
					return usagef(c, "seed %q: want a gossip host:port", s)
				}
			}
			cl, err := newClient(c, c.Duration("timeout"))
			if err != nil {
				return err
			}
			// A success whose body is not the contract's is still a
			// success: printAdminResult shows the body as it is.
			_, res, err := cl.Join(c.Context, seeds)
			if res == nil {
				return requestFailed(c, "join", err)
			}
			printAdminResult(c, res, fmt.Sprintf("joined the cluster of %s", strings.Join(seeds, ", ")))
			return nil
		},
	}
}

func leaveCommand() *cli.Command {
	return &cli.Command{
		Name:  "leave",
		Usage: "make the node at --addr hand its partitions to the new owners and leave the ring",
		Description: "Asks the node to leave (POST /cluster/leave; asking a node that is already leaving resumes its leave),\n" +
			"then follows the handoff every --poll (GET /debug/transfers): partitions handed off, bytes handed off,\n" +
			"rate and ETA, on one redrawn line on a terminal, else a line every 2s. It exits 0 once the node has\n" +
			"handed off all its partitions, 1 if the node stops answering before that (restart it and run leave\n" +
			"again to resume) or after --timeout-leave (the leave goes on on the node; watch it with\n" +
			"'dynago transfers'). --no-wait returns as soon as the node has accepted. --json prints the node's\n" +
			"answer, then the last GET /debug/transfers body.",
		Flags: append(clientFlags(), adminTimeoutFlag(),
			&cli.BoolFlag{Name: "no-wait", Usage: "return once the node has accepted the leave, without following the handoff"},
			&cli.DurationFlag{Name: "poll", Value: 500 * time.Millisecond, Usage: "ask the node for its handoff progress every `DURATION`"},
			&cli.DurationFlag{Name: "timeout-leave", Value: time.Hour, Usage: "follow the handoff for at most `DURATION`; the leave goes on on the node after that"},
		),
		Action: func(c *cli.Context) error {
			if _, err := positional(c, 0, 0, ""); err != nil {
				return err
			}
			poll, limit := c.Duration("poll"), c.Duration("timeout-leave")
			if poll <= 0 {
				return usagef(c, "--poll %s: want a duration above 0", poll)
			}
			if limit <= 0 {
				return usagef(c, "--timeout-leave %s: want a duration above 0", limit)
			}
			cl, err := newClient(c, c.Duration("timeout"))
			if err != nil {
				return err
			}
			ack, res, err := cl.Leave(c.Context)
			if res == nil {
				return requestFailed(c, "leave", err)
			}
			report(c, res.Report)
			node := "" // the name is only for messages: a body without it is not a failure
			if ack != nil {
				node = ack.Node
			}
			if node == "" {
				node = "the node at " + cl.Nodes()[0]
			}
			switch {
			case c.Bool("json") && len(res.Body) > 0:
				writeJSON(c, res.Body)
			case c.Bool("json"):
				writeJSON(c, []byte(fmt.Sprintf(`{"status":%d}`, res.Status)))
			case c.Bool("no-wait"):
				fmt.Fprintf(c.App.Writer, "%s is leaving: it hands its partitions to the new owners; follow with 'dynago transfers'\n", node)
			default:
				fmt.Fprintf(c.App.Writer, "%s is leaving: handing its partitions to the new owners\n", node)
			}
			if c.Bool("no-wait") {
				return nil
			}
			return followLeave(c, cl, node, poll, limit)
		},
	}
}

// leaveLogEvery is how often progress is printed when stdout is not a
// terminal: often enough to see it move in a log, rarely enough not to
// flood it over an hour-long leave.
const leaveLogEvery = 2 * time.Second

// followLeave polls GET /debug/transfers every poll, for at most limit,
// showing the handoff progress of node (human output) until the node
// reports it has handed off everything. With --json it prints the last
// body it got instead, whatever the outcome.
func followLeave(c *cli.Context, cl *client.Client, node string, poll, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(c.Context, limit)
	defer cancel()
	var view *leaveView
	if !c.Bool("json") {
		view = &leaveView{w: c.App.Writer, tty: isTerminal(c.App.Writer)}
	}
	var (
		last     *api.Transfers
		lastBody []byte
		rate     leaveRate
	)
	finish := func() {
		if view != nil {
			view.finish()
		}
		if lastBody != nil && c.Bool("json") {
			writeJSON(c, lastBody)
		}
	}
	watch := fmt.Sprintf("the leave goes on on the node: watch it with 'dynago transfers --addr %s'", cl.Nodes()[0])
	timer := time.NewTimer(0) // the first poll at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			finish()
			return leaveCut(c.Context, node, last, limit, watch)
		case <-timer.C:
		}
		t, res, err := cl.Transfers(ctx)
		now := time.Now()
		switch {
		case err != nil && ctx.Err() != nil:
			finish()
			return leaveCut(c.Context, node, last, limit, watch)
		case errors.Is(err, client.ErrNoResponse):
			finish()
			return fmt.Errorf("leave: %s stopped answering before its partitions were handed off (%s): %w\n"+
				"restart it and run 'dynago leave' again to resume", node, handedOff(last), err)
		case err != nil:
			// The node answers but can't report progress (an error status, a
			// body that is not the contract's): the leave itself goes on.
			var se *client.Error
			if errors.As(err, &se) {
				report(c, se.Report)
			}
			finish()
			return fmt.Errorf("leave: following the handoff: %w\n%s", err, watch)
		}
		report(c, res.Report)
		last, lastBody = t, res.Body
		if t.Node != "" {
			node = t.Node
		}
		if t.Leaving != nil {
			rate.observe(now, t.Leaving.BytesDone())
		}
		if view != nil {
			view.show(now, leaveLine(node, t, rate))
		}
		switch {
		case (t.Leaving != nil && t.Leaving.Done) || t.Status == "left":
			// The node may exit at once: no more polls.
			finish()
			if view != nil {
				fmt.Fprintf(c.App.Writer, "%s handed off all its partitions and left\n", node)
			}
			return nil
		case t.Status == "removed":
			finish()
			return fmt.Errorf("leave: %s was removed from the ring before its partitions were handed off (%s); "+
				"the other nodes rebuild them from replicas", node, handedOff(last))
		}
		timer.Reset(poll)
	}
}

// leaveCut is the error of a leave whose following ended before the
// handoff did: parent was cancelled (an interrupt) or limit passed.
func leaveCut(parent context.Context, node string, last *api.Transfers, limit time.Duration, watch string) error {
	if parent.Err() != nil {
		return fmt.Errorf("leave: interrupted while %s hands off its partitions (%s); %s", node, handedOff(last), watch)
	}
	return fmt.Errorf("leave: %s has not handed off all its partitions after --timeout-leave %s (%s); %s",
		node, limit, handedOff(last), watch)
}

// handedOff says how far the handoff got by the last progress seen.
func handedOff(t *api.Transfers) string {
	if t == nil || t.Leaving == nil {
		return "no handoff progress reported yet"
	}
	return fmt.Sprintf("%d/%d partitions handed off", t.Leaving.PartitionsHandedOff, t.Leaving.PartitionsTotal)
}

// leaveLine is one progress report: partitions handed off, bytes handed
// off of the total, rate and ETA ("-" while unknown).
func leaveLine(node string, t *api.Transfers, r leaveRate) string {
	l := t.Leaving
	if l == nil {
		return fmt.Sprintf("%s: %s, waiting for the handoff to start", node, t.Status)
	}
	pct := 100.0
	if l.BytesTotal > 0 {
		pct = 100 * float64(l.BytesDone()) / float64(l.BytesTotal)
	}
	rate, eta := "-", "-"
	if bps, ok := r.rate(); ok {
		rate = byteSize(int64(bps)) + "/s"
	}
	switch d, ok := r.eta(l.BytesRemaining); {
	case l.Done || l.BytesRemaining <= 0:
		eta = "0s"
	case ok && d < time.Second:
		eta = "<1s"
	case ok:
		eta = age(d)
	}
	return fmt.Sprintf("%s: %d/%d partitions handed off, %s of %s (%.0f%%), %s, ETA %s", node,
		l.PartitionsHandedOff, l.PartitionsTotal, byteSize(l.BytesDone()), byteSize(l.BytesTotal), pct, rate, eta)
}

// leaveRateTau is the time constant of the handoff rate's smoothing: a
// poll's share of the estimate decays by e every leaveRateTau, so one slow
// or fast batch does not swing the ETA, and a real change shows in seconds.
const leaveRateTau = 5 * time.Second

// leaveRate estimates the handoff rate in bytes per second from successive
// polls: the bytes handed off between two polls over the time between them,
// smoothed exponentially (leaveRateTau). The zero value has seen nothing.
type leaveRate struct {
	at      time.Time // last observation; zero before the first
	done    int64     // bytes handed off at
	bps     float64
	samples int // rates measured (observations after the first)
}

// observe records that done bytes had been handed off at now.
func (r *leaveRate) observe(now time.Time, done int64) {
	if r.at.IsZero() {
		r.at, r.done = now, done
		return
	}
	dt := now.Sub(r.at).Seconds()
	if dt <= 0 {
		return
	}
	// The total can grow while the node leaves (writes keep coming): a
	// negative change counts as no progress.
	inst := max(0, float64(done-r.done)/dt)
	if r.samples == 0 {
		r.bps = inst
	} else {
		r.bps += (1 - math.Exp(-dt/leaveRateTau.Seconds())) * (inst - r.bps)
	}
	r.samples++
	r.at, r.done = now, done
}

// rate returns the smoothed rate; ok is false before two observations.
func (r leaveRate) rate() (bps float64, ok bool) { return r.bps, r.samples > 0 }

// eta is how long remaining bytes take at the smoothed rate; ok is false
// while the rate is unknown or zero.
func (r leaveRate) eta(remaining int64) (time.Duration, bool) {
	if r.samples == 0 || r.bps <= 0 {
		return 0, false
	}
	return time.Duration(float64(remaining) / r.bps * float64(time.Second)), true
}

// leaveView prints progress lines. On a terminal it redraws one line with
// \r; otherwise it prints a line at most every leaveLogEvery, and the last
// one on finish.
type leaveView struct {
	w       io.Writer
	tty     bool
	width   int       // tty: length of the line on screen
	printed time.Time // not a tty: when a line was last printed
	pending string    // not a tty: the last line, if not printed yet
}

func (v *leaveView) show(now time.Time, line string) {
	if v.tty {
		pad := max(0, v.width-len(line))
		fmt.Fprintf(v.w, "\r%s%s", line, strings.Repeat(" ", pad))
		v.width = len(line)
		return
	}
	if !v.printed.IsZero() && now.Sub(v.printed) < leaveLogEvery {
		v.pending = line
		return
	}
	fmt.Fprintln(v.w, line)
	v.printed, v.pending = now, ""
}

// finish ends the progress output: the terminal line is closed with a
// newline; otherwise the last line is printed if it was held back.
func (v *leaveView) finish() {
	switch {
	case v.tty && v.width > 0:
		fmt.Fprintln(v.w)
		v.width = 0
	case !v.tty && v.pending != "":
		fmt.Fprintln(v.w, v.pending)
		v.pending = ""
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// byteSize formats n bytes for people: "512 B", "1.4 MiB".
func byteSize(n int64) string {
	const unit = 1024
	if n > -unit && n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), -1
	for math.Abs(f) >= unit && i < len("KMGTPE")-1 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTPE"[i])
}

func transfersCommand() *cli.Command {
	return &cli.Command{
		Name:  "transfers",
		Usage: "show the partitions the node is pulling and, while it leaves, its handoff",
		Description: "Prints GET /debug/transfers: the node's ring status, partitions ready and pending, its transfer rate\n" +
			"limit, what it has pulled since it started, a row per partition it is pulling (state, sources done,\n" +
			"keys, bytes, error) and, while it leaves, how far the handoff of its own partitions has got.\n" +
			"--json prints the body as the node sent it.",
		Flags: append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			var t *api.Transfers
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				t, res, err = cl.Transfers(c.Context)
				return res, err
			}
			return adminRead(c, "transfers", fetch, func() error {
				return printTransfers(c.App.Writer, t)
			})
		},
	}
}

// printTransfers writes the human form of GET /debug/transfers: a summary
// line, the totals, a row per job and, while leaving, the handoff.
func printTransfers(w io.Writer, t *api.Transfers) error {
	fmt.Fprintf(w, "%s: %s, partitions ready %d, pending %d, transfer rate limit %s/s\n", t.Node, t.Status,
		t.PartitionsReady, t.PartitionsPending, byteSize(t.RateBytesPerSec))
	fmt.Fprintf(w, "totals: partitions %d  keys %d  bytes %d\n", t.Totals.Partitions, t.Totals.Keys, t.Totals.Bytes)
	if t.Totals.StaleKeysDropped > 0 || t.Totals.StaleKeysPushed > 0 {
		fmt.Fprintf(w, "partitions no longer held: %d keys deleted, %d pushed to a primary that lacked them\n",
			t.Totals.StaleKeysDropped, t.Totals.StaleKeysPushed)
	}
	if len(t.Jobs) == 0 {
		fmt.Fprintf(w, "%s is pulling no partitions\n", t.Node)
	} else {
		rows := make([]string, 0, len(t.Jobs))
		for _, j := range t.Jobs {
			rows = append(rows, fmt.Sprintf("%d\t%s\t%d/%d\t%s\t%d\t%d\t%s", j.Partition, j.State, len(j.Done), len(j.Sources),
				strings.Join(j.Sources, ","), j.Keys, j.Bytes, j.Error))
		}
		lines, err := align("PARTITION\tSTATE\tDONE\tSOURCES\tKEYS\tBYTES\tERROR", rows)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, strings.Join(lines, "\n"))
	}
	if l := t.Leaving; l != nil {
		state := fmt.Sprintf("%s of %s remaining, %d of %d keys", byteSize(l.BytesRemaining), byteSize(l.BytesTotal),
			l.KeysRemaining, l.KeysTotal)
		if l.Done {
			state = "done"
		}
		fmt.Fprintf(w, "leaving: %d/%d partitions handed off, %s\n", l.PartitionsHandedOff, l.PartitionsTotal, state)
	}
	return nil
}

func removeCommand() *cli.Command {
	return &cli.Command{
		Name:        "remove",
		Usage:       "force-remove a dead node from the ring",
		ArgsUsage:   "NODE",
		Description: "For a node that will never come back: its partitions move to the others, which rebuild them from replicas.",
		Flags:       append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			args, err := positional(c, 1, 1, "NODE")
			if err != nil {
				return err
			}
			cl, err := newClient(c, c.Duration("timeout"))
			if err != nil {
				return err
			}
			_, res, err := cl.Remove(c.Context, args[0])
			if res == nil {
				return requestFailed(c, "remove "+args[0], err)
			}
			printAdminResult(c, res, fmt.Sprintf("removed %s from the ring", args[0]))
			return nil
		},
	}
}

func stageCommand() *cli.Command {
	return stagingCommand("stage", "stage cluster changes: joins, leaves and removes wait for `dynago commit`",
		"Turns staging on for the whole cluster (POST /cluster/stage). Joins, leaves and removes made afterwards\n"+
			"change the membership, but no partition moves: a joining node owns nothing yet, a leaving node keeps\n"+
			"serving its partitions. `dynago plan` (no change flags) shows what they would move together, and\n"+
			"`dynago commit` places them all at once, as Riak's cluster plan / commit.",
		func(cl *client.Client, ctx context.Context) (*api.Staging, *client.Response, error) {
			return cl.Stage(ctx)
		})
}

func commitCommand() *cli.Command {
	return stagingCommand("commit", "place the staged cluster changes all at once and stop staging",
		"Turns staging off (POST /cluster/commit): the claimant places every pending join, leave and remove in one\n"+
			"new placement, and transfers start. Follow them with `dynago transfers` and `dynago members`.",
		func(cl *client.Client, ctx context.Context) (*api.Staging, *client.Response, error) {
			return cl.Commit(ctx)
		})
}

func stagingCommand(name, usage, desc string, call func(*client.Client, context.Context) (*api.Staging, *client.Response, error)) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, Description: desc,
		Flags: append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			if _, err := positional(c, 0, 0, ""); err != nil {
				return err
			}
			cl, err := newClient(c, c.Duration("timeout"))
			if err != nil {
				return err
			}
			st, res, err := call(cl, c.Context)
			if err != nil {
				return requestFailed(c, name, err)
			}
			report(c, res.Report)
			if c.Bool("json") {
				writeJSON(c, res.Body)
				return nil
			}
			var chs []string
			for _, ch := range st.Pending {
				chs = append(chs, ch.Op+" "+ch.Node)
			}
			pending := "none"
			if len(chs) > 0 {
				pending = strings.Join(chs, ", ")
			}
			if st.Staged {
				fmt.Fprintf(c.App.Writer, "staging: changes wait for `dynago commit`; pending: %s\n", pending)
			} else {
				fmt.Fprintf(c.App.Writer, "committed: %s\n", pending)
			}
			fmt.Fprintf(c.App.Writer, "told %d of %d other live members at once; gossip tells the rest\n", st.Acknowledged, st.Told)
			return nil
		},
	}
}

// planOps are the plan command's change flags, in the order they are
// checked.
var planOps = []string{api.PlanJoin, api.PlanLeave, api.PlanRemove}

func planCommand() *cli.Command {
	return &cli.Command{
		Name:  "plan",
		Usage: "show what a join, leave or remove (or the pending changes) would move, without changing anything",
		Description: "Asks the node at --addr for GET /cluster/plan: how each node's partitions (the ones it holds a\n" +
			"replica of) would change, how many partitions, keys and bytes would move and an estimated time at the\n" +
			"transfer rate (each node pulls its new partitions at that rate, all nodes at once: the estimate is the\n" +
			"busiest node's), the balance after the change, and warnings (a preference list short of n nodes or\n" +
			"with two replicas in one zone, a node above the 1.25x balance bound, a member that is down). Keys are\n" +
			"counted by the members' Merkle trees; bytes are estimated from the asked node's average key size.\n" +
			"Give one of --join, --leave or --remove (--zone goes with --join), or none for the pending changes: those\n" +
			"made but not placed yet, all staged ones after `dynago stage` until `dynago commit`. --json prints the\n" +
			"node's answer.\n" +
			"Like every flag these read DYNAGO_JOIN, DYNAGO_LEAVE, DYNAGO_REMOVE and DYNAGO_ZONE, but a change on\n" +
			"the command line wins over them: the variables count only when no --join, --leave or --remove is given\n" +
			"(an agent's environment sets DYNAGO_JOIN and DYNAGO_ZONE for the agent), and DYNAGO_ZONE counts only\n" +
			"for a join.",
		Flags: append(clientFlags(), adminTimeoutFlag(),
			&cli.StringFlag{Name: "join", Usage: "plan the join of the node `NAME`"},
			&cli.StringFlag{Name: "zone", Usage: "the joining node's `ZONE` (with --join)"},
			&cli.StringFlag{Name: "leave", Usage: "plan the leave of the node `NAME`"},
			&cli.StringFlag{Name: "remove", Usage: "plan the removal of the (dead) node `NAME`"},
		),
		Action: func(c *cli.Context) error {
			if _, err := positional(c, 0, 0, ""); err != nil {
				return err
			}
			ch, err := planChange(c)
			if err != nil {
				return err
			}
			var p *api.Plan
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				p, res, err = cl.Plan(c.Context, ch)
				return res, err
			}
			return adminRead(c, "plan", fetch, func() error {
				return printPlan(c.App.Writer, p)
			})
		},
	}
}

// planChange reads the change from the flags: exactly one of --join,
// --leave and --remove, with a node name; --zone only with --join. A change
// on the command line wins over the environment: DYNAGO_JOIN, DYNAGO_LEAVE
// and DYNAGO_REMOVE count only when none of the three flags is on the
// command line, and DYNAGO_ZONE is ignored unless the change is a join (an
// agent's environment sets DYNAGO_JOIN and DYNAGO_ZONE for the agent).
func planChange(c *cli.Context) (api.PlanChange, error) {
	var given, env []string // ops set on the command line, from the environment
	for _, op := range planOps {
		switch {
		case !c.IsSet(op):
		case fromEnv(c, op):
			env = append(env, op)
		default:
			given = append(given, op)
		}
	}
	if len(given) == 0 {
		given = env
	}
	switch len(given) {
	case 0:
		if c.IsSet("zone") && !fromEnv(c, "zone") {
			return api.PlanChange{}, usagef(c, "--zone goes with --join")
		}
		return api.PlanChange{Op: api.PlanPending}, nil
	case 1:
	default:
		return api.PlanChange{}, usagef(c, "%s and %s: plan one change at a time", flagSource(c, given[0]), flagSource(c, given[1]))
	}
	ch := api.PlanChange{Op: given[0], Node: c.String(given[0])}
	if ch.Node == "" {
		return ch, usagef(c, "%s: want a node name", flagSource(c, ch.Op))
	}
	switch {
	case !c.IsSet("zone"):
	case ch.Op == api.PlanJoin:
		ch.Zone = c.String("zone")
	case !fromEnv(c, "zone"):
		return ch, usagef(c, "--zone goes with --join: a node that leaves or is removed keeps its zone")
	}
	return ch, nil
}

// fromEnv reports whether flag name of c has its value from its DYNAGO_
// variable (a value given on the command line equal to the variable's
// counts as from the variable).
func fromEnv(c *cli.Context, name string) bool {
	v, ok := os.LookupEnv(envName(name))
	return ok && v == c.String(name)
}

// flagSource names where flag name got its value, for messages: "--join",
// or "DYNAGO_JOIN" when it came from the environment.
func flagSource(c *cli.Context, name string) string {
	if fromEnv(c, name) {
		return envName(name)
	}
	return "--" + name
}

// describeChange says what a plan is for: "join n4 in zone b".
func describeChange(ch api.PlanChange) string {
	switch {
	case ch.Op == api.PlanPending:
		return "the pending changes"
	case ch.Op == api.PlanJoin && ch.Zone != "":
		return fmt.Sprintf("join %s in zone %s", ch.Node, ch.Zone)
	case ch.Op == api.PlanRemove:
		return fmt.Sprintf("remove %s (its partitions are rebuilt from the other replicas)", ch.Node)
	case ch.Op == api.PlanLeave:
		return fmt.Sprintf("leave %s (it hands its partitions to their new owners)", ch.Node)
	}
	return fmt.Sprintf("%s %s", ch.Op, ch.Node)
}

// planTime formats the estimated transfer time of a plan.
func planTime(secs float64, rate int64) string {
	switch {
	case rate <= 0:
		return "unknown (no transfer rate)"
	case secs <= 0:
		return "0s"
	case secs < 1:
		return "<1s"
	}
	return seconds(secs)
}

// printPlan writes the human form of GET /cluster/plan: the change, a row
// per node (partitions before -> after, gained and lost), the moves, the
// balance and each warning on its own line.
func printPlan(w io.Writer, p *api.Plan) error {
	fmt.Fprintf(w, "plan: %s\n", describeChange(p.Change))
	if p.Change.Op == api.PlanPending {
		var chs []string
		for _, ch := range p.Pending {
			chs = append(chs, ch.Op+" "+ch.Node)
		}
		switch {
		case len(chs) == 0:
			fmt.Fprintln(w, "pending: none (every change made is placed)")
		case p.Staged:
			fmt.Fprintf(w, "pending: %s; staged: nothing changes until `dynago commit`\n", strings.Join(chs, ", "))
		default:
			fmt.Fprintf(w, "pending: %s; not staged: the claimant is placing them now\n", strings.Join(chs, ", "))
		}
		fmt.Fprintf(w, "ring: %d partitions, n=%d\n", p.Partitions, p.N)
	} else {
		fmt.Fprintf(w, "ring: %d partitions, n=%d; nothing changes until the %s is made\n", p.Partitions, p.N, p.Change.Op)
	}
	rows := make([]string, 0, len(p.Nodes))
	for _, nd := range p.Nodes {
		zone := nd.Zone
		if zone == "" {
			zone = "-"
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%d -> %d\t+%d\t-%d", nd.Node, zone, nd.PartitionsBefore, nd.PartitionsAfter,
			len(nd.Gain), len(nd.Lose)))
	}
	lines, err := align("NODE\tZONE\tPARTITIONS\tGAIN\tLOSE", rows)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	m := p.Moves
	fmt.Fprintf(w, "moves: %d partitions, %d keys, %s; estimated time %s (per node: each pulls its new partitions at %s/s, all at once)\n",
		m.Partitions, m.Keys, byteSize(m.Bytes), planTime(m.Seconds, p.TransferRate), byteSize(p.TransferRate))
	over := ""
	if p.Balance.MaxShare > p.Balance.Bound {
		over = ": ABOVE the bound"
	}
	fmt.Fprintf(w, "balance: the fullest node holds %.2fx its fair share (bound %.2fx)%s\n", p.Balance.MaxShare, p.Balance.Bound, over)
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}
