package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/node/security"
)

// certCommand makes the certificates of a cluster (node/security): a CA,
// node certificates (internode mutual TLS, and HTTPS/RESP) and client
// certificates.
func certCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Value: ".", Usage: "`DIR` holding ca.crt/ca.key and where new files are written (the current directory, like other certificate tools)"}
	return &cli.Command{
		Name:  "cert",
		Usage: "create a cluster CA, node certificates and client certificates (PEM files)",
		Description: "create-ca writes ca.crt and ca.key; create-node NAME writes NAME.crt and NAME.key (the node's name as\n" +
			"DNS SAN, --ip as IP SANs; for --node-cert/--node-key and --tls-cert/--tls-key); create-client NAME --role ROLE\n" +
			"writes client.NAME.crt and client.NAME.key (for --client-cert/--client-key) granting ROLE (read, write, admin). Existing files are never\n" +
			"overwritten; keys are written readable by their owner only (0600).",
		Subcommands: []*cli.Command{
			{
				Name:         "create-ca",
				OnUsageError: onUsageError,
				Usage:        "create the cluster CA: ca.crt and ca.key in --dir",
				ArgsUsage:    " ",
				Flags:        withEnv([]cli.Flag{dirFlag, &cli.StringFlag{Name: "ca-name", Value: "dynago CA", Usage: "the CA's common `NAME` (shown by TLS tools; nothing checks it)"}}),
				Action: func(c *cli.Context) error {
					if _, err := positional(c, 0, 0, ""); err != nil {
						return err
					}
					crt, key, err := security.CreateCA(c.String("ca-name"), time.Now(), 0)
					if err != nil {
						return err
					}
					return writePair(c, "ca", crt, key)
				},
			},
			{
				Name:         "create-node",
				OnUsageError: onUsageError,
				Usage:        "create a node certificate signed by the CA in --dir: NAME.crt and NAME.key",
				ArgsUsage:    "NAME",
				Flags: withEnv([]cli.Flag{dirFlag,
					&cli.StringSliceFlag{Name: "ip", Usage: "`IP` address SAN(s) for clients that check the node's address (repeat or comma-separate; default none: internode TLS checks the name)"}}),
				Action: func(c *cli.Context) error {
					args, err := positional(c, 1, 1, "NAME")
					if err != nil {
						return err
					}
					var ips []net.IP
					for _, s := range c.StringSlice("ip") {
						for _, p := range strings.Split(s, ",") {
							if p = strings.TrimSpace(p); p == "" {
								continue
							}
							ip := net.ParseIP(p)
							if ip == nil {
								return usagef(c, "--ip %q is not an IP address", p)
							}
							ips = append(ips, ip)
						}
					}
					ca, err := loadCA(c)
					if err != nil {
						return err
					}
					crt, key, err := security.CreateNode(ca, args[0], ips, time.Now(), 0)
					if err != nil {
						return usagef(c, "%v", err)
					}
					return writePair(c, args[0], crt, key)
				},
			},
			{
				Name:         "create-client",
				OnUsageError: onUsageError,
				Usage:        "create a client certificate signed by the CA in --dir: client.NAME.crt and client.NAME.key, with the --role its holder has",
				ArgsUsage:    "NAME",
				Flags: withEnv([]cli.Flag{dirFlag,
					&cli.StringFlag{Name: "role", Usage: "`ROLE` the certificate grants on the HTTP API and RESP: read, write or admin (required: a credential's power is chosen, never defaulted)"}}),
				Action: func(c *cli.Context) error {
					args, err := positional(c, 1, 1, "NAME")
					if err != nil {
						return err
					}
					role := c.String("role")
					if !slices.Contains(security.ClientRoleNames, role) {
						return usagef(c, "create-client needs --role read, write or admin (got %q)", role)
					}
					ca, err := loadCA(c)
					if err != nil {
						return err
					}
					crt, key, err := security.CreateClient(ca, args[0], role, time.Now(), 0)
					if err != nil {
						return usagef(c, "%v", err)
					}
					return writePair(c, "client."+args[0], crt, key)
				},
			},
		},
		Action: func(c *cli.Context) error {
			return usagef(c, "cert needs a subcommand: create-ca, create-node or create-client")
		},
	}
}

// loadCA reads ca.crt and ca.key from --dir; a missing or bad CA is bad
// usage (create-ca first).
func loadCA(c *cli.Context) (*security.CA, error) {
	dir := c.String("dir")
	ca, err := security.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, usagef(c, "no usable CA in %s (run `dynago cert create-ca --dir %s` first): %v", dir, dir, err)
	}
	return ca, nil
}

// writePair writes base.crt (0644) and base.key (0600) into --dir,
// refusing to overwrite either, and says what it wrote.
func writePair(c *cli.Context, base string, crt, key []byte) error {
	if strings.ContainsAny(base, `/\`) || base == "." || base == ".." {
		return usagef(c, "name %q must not contain a path separator", base)
	}
	dir := c.String("dir")
	crtPath, keyPath := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	for _, p := range []string{crtPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return usagef(c, "%s exists; not overwriting it", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := writeNew(keyPath, key, 0o600); err != nil {
		return err
	}
	if err := writeNew(crtPath, crt, 0o644); err != nil {
		os.Remove(keyPath)
		return err
	}
	fmt.Fprintf(c.App.Writer, "wrote %s and %s\n", crtPath, keyPath)
	return nil
}

// writeNew creates path (failing if it exists) with perm and writes b.
func writeNew(path string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
