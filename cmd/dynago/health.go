package main

import (
	"fmt"
	"net"
	"time"

	"github.com/urfave/cli/v2"
)

// healthCommand is `dynago health`: GET /health, exit 0 when the node is
// ready and 1 otherwise. Container images have no curl, so Docker's
// HEALTHCHECK (and any other probe) runs this.
func healthCommand() *cli.Command {
	return &cli.Command{
		Name:  "health",
		Usage: "check that a node is ready (GET /health): exit 0 if it is, 1 if not",
		Description: "For container health checks and scripts. Without --addr (or DYNAGO_ADDR) it asks the agent of\n" +
			"the same environment: http(s)://DYNAGO_HTTP (https when DYNAGO_TLS_CERT is set; 0.0.0.0 becomes\n" +
			"127.0.0.1), else " + defaultAddr + ". Prints the status, and the warning of an --insecure node.\n" +
			"Over https, --ca-cert (DYNAGO_CA_CERT) must trust the agent's certificate for that address.",
		Flags: append(clientFlags(),
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, EnvVars: []string{clientTimeoutEnv}, Usage: "how long to wait for the answer, e.g. `5s` (a ready node answers at once; Docker's default check timeout is 30s)"},
			// The agent's own flags, read from its environment (DYNAGO_HTTP,
			// DYNAGO_TLS_CERT) so a container's check needs no arguments.
			&cli.StringFlag{Name: "http", Usage: "without --addr: the agent's --http `IP:PORT` to ask (DYNAGO_HTTP, as the agent reads it; 0.0.0.0 is asked on 127.0.0.1)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "without --addr: the agent's --tls-cert `FILE`; when set, --http is asked over https"}),
		Action: func(c *cli.Context) error {
			if _, err := positional(c, 0, 0, ""); err != nil {
				return err
			}
			if !c.IsSet("addr") {
				if err := c.Set("addr", agentAddr(c.String("http"), c.String("tls-cert") != "")); err != nil {
					return err
				}
			}
			cl, err := newClient(c, c.Duration("timeout"))
			if err != nil {
				return err
			}
			h, res, err := cl.Health(c.Context)
			if err != nil {
				return requestFailed(c, "health "+c.String("addr"), err)
			}
			if c.Bool("json") {
				writeJSON(c, res.Body)
				return nil
			}
			fmt.Fprintln(c.App.Writer, h.Status)
			if h.Warning != "" {
				fmt.Fprintln(c.App.ErrWriter, "warning:", h.Warning)
			}
			return nil
		},
	}
}

// agentAddr is the URL of an agent whose --http is listen (empty: the
// default address); an unspecified host (0.0.0.0, ::) is reached on
// loopback.
func agentAddr(listen string, tls bool) string {
	if listen == "" {
		return defaultAddr
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return defaultAddr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
