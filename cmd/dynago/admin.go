package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

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
