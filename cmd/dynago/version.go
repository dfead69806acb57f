package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/internal/buildinfo"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version, commit and Go version of this binary",
		Description: "Prints which build this is: the release or module version (\"dev\" for a build from a clone),\n" +
			"the VCS commit it was built from (\"unknown\" when built without VCS information) and the Go toolchain.\n" +
			"A node shows the same on GET /health and as the dynago_build_info metric. 'dynago --version' is the same.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print {\"version\", \"commit\", \"go_version\", ...} (for scripts)"}},
		Action: doVersion,
	}
}

func doVersion(c *cli.Context) error {
	if _, err := positional(c, 0, 0, ""); err != nil {
		return err
	}
	b := buildinfo.Get()
	if c.Bool("json") {
		return marshalJSON(c, b)
	}
	printVersion(c, b)
	return nil
}

func printVersion(c *cli.Context, b buildinfo.Info) {
	w := c.App.Writer
	fmt.Fprintf(w, "dynago %s\n", b.Version)
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(w, "commit: %s\n", commit)
	if b.CommitTime != "" {
		fmt.Fprintf(w, "commit time: %s\n", b.CommitTime)
	}
	fmt.Fprintf(w, "go: %s\n", b.GoVersion)
}
