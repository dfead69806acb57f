package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/cmd/dynago/internal/client"
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
		Name:        "members",
		Usage:       "list the cluster's members as the node sees them",
		Description: "Prints GET /cluster/members as a table: name, ring state (joining, valid, leaving), liveness, zone, addresses.",
		Flags:       append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			var ms []client.Member
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				ms, res, err = cl.Members(c.Context)
				return res, err
			}
			return adminRead(c, "members", fetch, func() error {
				tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tSTATE\tALIVE\tZONE\tHTTP\tRPC\tGOSSIP")
				for _, m := range ms {
					zone := m.Zone
					if zone == "" {
						zone = "-"
					}
					alive := "alive"
					if !m.Alive {
						alive = "DOWN"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.State, alive, zone, m.HTTP, m.RPC, m.Gossip)
				}
				return tw.Flush()
			})
		},
	}
}

func hintsCommand() *cli.Command {
	return &cli.Command{
		Name:        "hints",
		Usage:       "show the hints the node holds for down nodes, per target, and their delivery",
		Description: "Prints GET /debug/hints as a table: target, hints, bytes, age of the oldest, delivery state and rate, delivered/refused/expired counts.",
		Flags:       append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			var h *client.Hints
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
				fmt.Fprintln(tw, "TARGET\tALIVE\tHINTS\tBYTES\tOLDEST\tSTATE\tRATE\tDELIVERED\tREFUSED\tEXPIRED\tLAST ERROR")
				for _, t := range h.Targets {
					alive := "alive"
					if !t.TargetAlive {
						alive = "DOWN"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.0fs\t%s\t%.0f B/s\t%d\t%d\t%d\t%s\n", t.Target, alive, t.Count, t.Bytes,
						t.OldestAgeSecs, t.State, t.BytesPerSec, t.Delivered, t.Refused, t.Expired, t.LastError)
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
			"--partition P shows only partition P; --json prints the whole body as the node sent it.",
		Flags: append(clientFlags(), adminTimeoutFlag(),
			&cli.IntFlag{Name: "partition", DefaultText: "all", Usage: "show only partition `P` (human output; --json prints the whole body)"},
		),
		Action: func(c *cli.Context) error {
			only := -1 // every partition
			if c.IsSet("partition") {
				if only = c.Int("partition"); only < 0 {
					return usagef(c, "--partition %d: want a partition number (0 or more)", only)
				}
			}
			var a *client.AAE
			fetch := func(cl *client.Client) (res *client.Response, err error) {
				a, res, err = cl.AAE(c.Context)
				return res, err
			}
			return adminRead(c, "aae", fetch, func() error {
				return printAAE(c.App.Writer, a, only, time.Now())
			})
		},
	}
}

// printAAE writes the human form of GET /debug/aae: a summary line, the
// totals, then each partition (only that one if only >= 0) with its peers
// indented under it. Ages are relative to now.
func printAAE(w io.Writer, a *client.AAE, only int, now time.Time) error {
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
func lastExchange(p client.AAEPeer, now time.Time) string {
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

func ownership(rg *client.Ring) []ringOwnership {
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
			var rg *client.Ring
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
			res, err := cl.Join(c.Context, seeds)
			if err != nil {
				return requestFailed(c, "join", err)
			}
			printAdminResult(c, res, fmt.Sprintf("joined the cluster of %s", strings.Join(seeds, ", ")))
			return nil
		},
	}
}

func leaveCommand() *cli.Command {
	return &cli.Command{
		Name:        "leave",
		Usage:       "make the node at --addr hand its data to the new owners and leave the ring",
		Description: "The node answers 202 at once; follow the handoff with 'dynago members' (state leaving, then gone).",
		Flags:       append(clientFlags(), adminTimeoutFlag()),
		Action: func(c *cli.Context) error {
			if _, err := positional(c, 0, 0, ""); err != nil {
				return err
			}
			cl, err := newClient(c, c.Duration("timeout"))
			if err != nil {
				return err
			}
			res, err := cl.Leave(c.Context)
			if err != nil {
				return requestFailed(c, "leave", err)
			}
			printAdminResult(c, res, "leaving: the node hands its data to the new owners; follow with 'dynago members'")
			return nil
		},
	}
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
			res, err := cl.Remove(c.Context, args[0])
			if err != nil {
				return requestFailed(c, "remove "+args[0], err)
			}
			printAdminResult(c, res, fmt.Sprintf("removed %s from the ring", args[0]))
			return nil
		},
	}
}
