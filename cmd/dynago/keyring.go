package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/api"
)

// gossipKeyFlags are the agent's gossip encryption flags (README,
// "Gossip encryption and key rotation").
func gossipKeyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "gossip-key", Usage: "gossip encryption `KEY`, base64 of 16, 24 or 32 bytes (AES-GCM; `dynago keyring generate` makes one): a node without it can't join or listen in (empty: gossip in the clear, for loopback demos and tests)"},
		&cli.StringFlag{Name: "gossip-keyring-file", Usage: "`FILE` keeping the installed gossip keys (0600), so a rotated key survives a restart; it wins over --gossip-key once it exists (default: gossip-keyring.json in --data-dir, none with --in-memory)"},
		&cli.StringFlag{Name: "cluster-label", Usage: "`LABEL` on every gossip packet; nodes with another label are ignored, so clusters sharing a network (or a key) never merge (empty: no label, what nodes before labels send)"},
	}
}

// gossipKeyFromFlags sets cfg's gossip encryption from the flags.
func gossipKeyFromFlags(c *cli.Context, cfg *node.Config) error {
	if s := c.String("gossip-key"); s != "" {
		k, err := node.ParseGossipKey(s)
		if err != nil {
			return usagef(c, "--gossip-key: %v", err)
		}
		cfg.GossipKey = k
	}
	cfg.GossipKeyringFile = c.String("gossip-keyring-file")
	if cfg.GossipKeyringFile == "" && cfg.DataDir != "" {
		cfg.GossipKeyringFile = filepath.Join(cfg.DataDir, "gossip-keyring.json")
	}
	cfg.ClusterLabel = c.String("cluster-label")
	return nil
}

func keyringCommand() *cli.Command {
	change := func(op, usage string) *cli.Command {
		return &cli.Command{
			Name:      op,
			Usage:     usage,
			ArgsUsage: "KEY",
			Flags:     append(clientFlags(), adminTimeoutFlag()),
			Action: func(c *cli.Context) error {
				args, err := positional(c, 1, 1, "KEY")
				if err != nil {
					return err
				}
				if _, err := node.ParseGossipKey(args[0]); err != nil {
					return usagef(c, "KEY: %v", err)
				}
				cl, err := newClient(c, c.Duration("timeout"))
				if err != nil {
					return err
				}
				kr, res, err := cl.ChangeKeyring(c.Context, op, args[0])
				if err != nil {
					return requestFailed(c, "keyring "+op, err)
				}
				return printKeyring(c, res, kr)
			},
		}
	}
	return &cli.Command{
		Name:  "keyring",
		Usage: "generate, list and rotate the gossip encryption keys of every live member",
		Description: "Rotates the gossip key of a running cluster, like `consul keyring`: install the new key (every member\n" +
			"decrypts with it), use it (every member encrypts with it), then remove the old one. list, install, use and\n" +
			"remove go to one node (--addr), which applies them to itself and to every live member and prints a row per\n" +
			"member; use refuses a key not installed everywhere, remove refuses a primary key. Exit 1 if a member failed.",
		Subcommands: []*cli.Command{
			{
				Name:  "generate",
				Usage: "print a new random 32-byte key (AES-256), base64",
				Action: func(c *cli.Context) error {
					if _, err := positional(c, 0, 0, ""); err != nil {
						return err
					}
					k := make([]byte, 32)
					if _, err := rand.Read(k); err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, base64.StdEncoding.EncodeToString(k))
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "list the keys of every live member, the primary first",
				Flags: append(clientFlags(), adminTimeoutFlag()),
				Action: func(c *cli.Context) error {
					if _, err := positional(c, 0, 0, ""); err != nil {
						return err
					}
					cl, err := newClient(c, c.Duration("timeout"))
					if err != nil {
						return err
					}
					kr, res, err := cl.Keyring(c.Context)
					if err != nil {
						return requestFailed(c, "keyring list", err)
					}
					return printKeyring(c, res, kr)
				},
			},
			change(api.KeyringInstall, "install KEY on every live member (it decrypts; the primary still encrypts)"),
			change(api.KeyringUse, "make the installed KEY every live member's primary (it encrypts)"),
			change(api.KeyringRemove, "remove KEY from every live member (never a primary key)"),
		},
	}
}

// printKeyring prints a keyring answer (its JSON with --json) and fails
// (exit 1) if a member reported an error.
func printKeyring(c *cli.Context, res *client.Response, kr *api.Keyring) error {
	report(c, res.Report)
	var failed []string
	for _, row := range kr.Nodes {
		if row.Error != "" {
			failed = append(failed, row.Node+": "+row.Error)
		}
	}
	if c.Bool("json") {
		writeJSON(c, res.Body)
	} else {
		tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tPRIMARY\tKEYS")
		for _, row := range kr.Nodes {
			if row.Error != "" {
				fmt.Fprintf(tw, "%s\t-\tERROR: %s\n", row.Node, row.Error)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", row.Node, row.Primary, strings.Join(row.Keys, ","))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return errors.New("keyring: some members failed: " + strings.Join(failed, "; "))
	}
	return nil
}
