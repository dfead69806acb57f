package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/cmd/dynago/internal/demo"
)

func demoCommand() *cli.Command {
	d := demo.DefaultConfig()
	return &cli.Command{
		Name:  "demo",
		Usage: "run a local cluster in this process until Ctrl-C",
		Description: "Starts --nodes nodes on 127.0.0.1 with badger storage in a temporary directory (removed on exit).\n" +
			"Node i listens for HTTP on --base-port+2(i-1), RPC on the port after it, and gossip on\n" +
			"--gossip-base-port+(i-1): n1 8080/8081/7946, n2 8082/8083/7947, n3 8084/8085/7948, ...\n" +
			"Nodes 2..N join n1. Once n1 lists every node alive, prints the addresses and example commands.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: d.Nodes, Usage: "number of nodes `N` (3: the smallest cluster where N=3, R=W=2 survives a node down)"},
			&cli.IntFlag{Name: "base-port", Value: d.BasePort, Usage: "n1's HTTP `PORT`; node i uses PORT+2(i-1) for HTTP and the next port for RPC (8080: the client commands' default --addr)"},
			&cli.IntFlag{Name: "gossip-base-port", Value: d.GossipBasePort, Usage: "n1's gossip `PORT`; node i uses PORT+i-1 (memberlist's standard port)"},
			&cli.BoolFlag{Name: "sync", Value: d.Sync, Usage: "fsync every replica write before acknowledging it (same durability as an agent)"},
			&cli.DurationFlag{Name: "wait", Value: d.ReadyTimeout, Usage: "how long to wait for every node to be ready and seen alive, e.g. `30s` (gossip converges in seconds)"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "nodes' log `LEVEL`: debug, info, warn or error (warn: only problems, so the demo's output stays readable)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "`FORMAT`: text or json (text for people)"},
		},
		Action: runDemo,
	}
}

// demoConfig maps the demo's flags to a demo.Config.
func demoConfig(c *cli.Context) (demo.Config, error) {
	cfg := demo.DefaultConfig()
	cfg.Nodes = c.Int("nodes")
	cfg.BasePort = c.Int("base-port")
	cfg.GossipBasePort = c.Int("gossip-base-port")
	cfg.Sync = c.Bool("sync")
	cfg.ReadyTimeout = c.Duration("wait")
	log, err := newLogger(c.String("log-level"), c.String("log-format"), c.App.ErrWriter)
	if err != nil {
		return cfg, usagef(c, "%v", err)
	}
	cfg.Logger = log
	if err := cfg.Validate(); err != nil {
		return cfg, usagef(c, "%v", err)
	}
	return cfg, nil
}

func runDemo(c *cli.Context) error {
	if _, err := positional(c, 0, 0, ""); err != nil {
		return err
	}
	cfg, err := demoConfig(c)
	if err != nil {
		return err
	}
	w := c.App.Writer
	fmt.Fprintf(w, "starting %d nodes...\n", cfg.Nodes)
	cl, err := demo.Start(c.Context, cfg)
	if err != nil {
		return err
	}
	printDemo(c, cl)
	var runErr error
	select {
	case <-c.Context.Done():
		fmt.Fprintln(w, "\nstopping...")
	case runErr = <-cl.Failed():
		fmt.Fprintf(c.App.ErrWriter, "%v; stopping the others\n", runErr)
	}
	if err := cl.Stop(); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintln(w, "stopped; data removed")
	return nil
}

func printDemo(c *cli.Context, cl *demo.Cluster) {
	w := c.App.Writer
	fmt.Fprintf(w, "dynago demo: %d nodes, data in %s (removed on exit)\n", len(cl.Nodes), cl.Dir)
	for _, a := range cl.Nodes {
		fmt.Fprintf(w, "  %-4s %-24s rpc %-16s gossip %s\n", a.Name, a.URL(), a.RPC, a.Gossip)
	}
	urls := cl.URLs()
	first, last := urls[0], urls[len(urls)-1]
	self, note := selfCommand()
	fmt.Fprintf(w, "\ntry (in another terminal):\n")
	fmt.Fprintf(w, "  curl -i -X PUT --data-binary hello %s/kv/greeting\n", first)
	fmt.Fprintf(w, "  curl -i %s/kv/greeting\n", last)
	fmt.Fprintf(w, "  %s put --addr %s greeting hello\n", self, first)
	fmt.Fprintf(w, "  %s get --addr %s greeting\n", self, last)
	fmt.Fprintf(w, "  %s members --addr %s\n", self, first)
	fmt.Fprintf(w, "  %s ring --addr %s\n", self, first)
	fmt.Fprintf(w, "  %s bench --addr %s --duration 2s --rounds 1\n", self, strings.Join(urls, ","))
	fmt.Fprintf(w, "\nweb console: %s/ui/\n", first)
	if note != "" {
		fmt.Fprintf(w, "\n%s\n", note)
	}
	fmt.Fprintf(w, "\npress Ctrl-C to stop\n")
}

// selfCommand is how the printed examples run this binary: "dynago" when
// that name on PATH is this very binary, else this binary's absolute path
// (under `go run ./cmd/dynago demo` it is a temporary build that lives as
// long as the demo, and there may be no dynago on PATH at all), with a
// note saying how to get a dynago of one's own.
func selfCommand() (cmd, note string) {
	exe, err := os.Executable()
	if err != nil {
		return "dynago", ""
	}
	if p, err := exec.LookPath("dynago"); err == nil && sameFile(p, exe) {
		return "dynago", ""
	}
	return shellQuote(exe), "(that path is this demo's own dynago binary; `go install ./cmd/dynago` puts one on your PATH, in $(go env GOPATH)/bin)"
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
