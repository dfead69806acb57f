package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/internal/buildinfo"
)

func main() {
	// The first SIGINT/SIGTERM cancels ctx (agent, demo and bench shut down
	// cleanly); stop then restores the default, so a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	code := run(ctx, newApp(), os.Args)
	stop()
	os.Exit(code)
}

// usageError is bad usage: exit code 2. cmd names the command whose help
// explains the right usage ("" for the app).
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError for the command of c.
func usagef(c *cli.Context, format string, args ...any) error {
	return &usageError{cmd: commandName(c), err: fmt.Errorf(format, args...)}
}

func commandName(c *cli.Context) string {
	if c == nil || c.Command == nil {
		return ""
	}
	return c.Command.Name
}

// exitCode maps an error returned by the app to the process exit code.
// This is the only place that decides exit codes.
func exitCode(err error) int {
	var ue *usageError
	var nd *notDynago
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		return 2
	case errors.As(err, &nd):
		// --addr answered, but not as dynago (a web server, a proxy's
		// error page): not "not found", which a script would believe.
		return 3
	default:
		// A failed request, a node that could not start, an interrupted
		// run: the command was used correctly but did not succeed.
		return 1
	}
}

// run runs app with args, prints a failure to app.ErrWriter, and returns
// the exit code. Tests call it with buffers as Writer and ErrWriter.
func run(ctx context.Context, app *cli.App, args []string) int {
	err := app.RunContext(ctx, args)
	code := exitCode(err)
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "dynago") {
			msg = "dynago: " + msg
		}
		fmt.Fprintln(app.ErrWriter, msg)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		if ue.cmd != "" && app.Command(ue.cmd) != nil {
			fmt.Fprintf(app.ErrWriter, "Run 'dynago %s --help' for usage.\n", ue.cmd)
		} else {
			fmt.Fprintln(app.ErrWriter, "Run 'dynago --help' for usage.")
		}
	}
	return code
}

// newApp builds the CLI. Every call returns fresh flag values, so tests
// can run several apps. Its ExitErrHandler is a no-op: the app never exits
// the process itself, run does, through exitCode.
func newApp() *cli.App {
	app := &cli.App{
		Name:  "dynago",
		Usage: "a Dynamo-style leaderless replicated key-value store",
		Description: "Run a node with 'dynago agent', a local 3-node cluster with 'dynago demo', and talk to any node\n" +
			"with the client commands. Every flag also reads DYNAGO_<FLAG> (e.g. --data-dir: DYNAGO_DATA_DIR).\n" +
			"Flags go before arguments. Exit codes: 0 success, 1 failed request, 2 bad usage (including a request\n" +
			"the node refused as malformed, 400), 3 --addr answered but is not a dynago node.",
		HideVersion:    true,
		Reader:         os.Stdin,
		Writer:         os.Stdout,
		ErrWriter:      os.Stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			agentCommand(),
			demoCommand(),
			getCommand(),
			putCommand(),
			deleteCommand(),
			membersCommand(),
			healthCommand(),
			hintsCommand(),
			aaeCommand(),
			transfersCommand(),
			planCommand(),
			stageCommand(),
			commitCommand(),
			ringCommand(),
			joinCommand(),
			leaveCommand(),
			removeCommand(),
			keyringCommand(),
			benchCommand(),
			tokenCommand(),
			certCommand(),
			versionCommand(),
			backupCommand(),
			restoreCommand(),
		},
		// --version: urfave's own flag would also take -v, which the client
		// commands use for --verbose.
		Flags: []cli.Flag{&cli.BoolFlag{Name: "version", Usage: "print the version, commit and Go version (as 'dynago version')"}},
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				if c.NArg() > 0 {
					return usagef(c, "--version takes no arguments")
				}
				printVersion(c, buildinfo.Get())
				return nil
			}
			if c.NArg() > 0 {
				return usagef(c, "unknown command %q", c.Args().First())
			}
			_ = cli.ShowAppHelp(c)
			return usagef(c, "a command is required")
		},
	}
	app.OnUsageError = onUsageError
	for _, cmd := range app.Commands {
		prepare(cmd)
	}
	return app
}

// prepare gives cmd and its subcommands (keyring list, cert create-ca, ...)
// the same usage errors, DYNAGO_* variables and JSON outcomes.
func prepare(cmd *cli.Command) {
	cmd.OnUsageError = onUsageError
	cmd.Flags = withEnv(cmd.Flags)
	if hasFlag(cmd, "json") && cmd.Action != nil {
		cmd.Action = jsonOutcomes(cmd.Action)
	}
	for _, sub := range cmd.Subcommands {
		prepare(sub)
	}
}

// onUsageError turns a flag parsing failure (unknown flag, bad value, bad
// environment value) into a usageError.
func onUsageError(c *cli.Context, err error, _ bool) error {
	return &usageError{cmd: commandName(c), err: err}
}

// envName returns the environment variable a flag reads: DYNAGO_<FLAG>.
func envName(flag string) string {
	return "DYNAGO_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnv sets EnvVars on every flag from its name, so no flag can forget,
// unless the flag names its variable itself (the client commands'
// --timeout reads DYNAGO_CLIENT_TIMEOUT, not the agent's DYNAGO_TIMEOUT).
func withEnv(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		name := f.Names()[0]
		env := []string{envName(name)}
		if ev, ok := f.(interface{ GetEnvVars() []string }); ok && len(ev.GetEnvVars()) > 0 {
			continue
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = env
		case *cli.StringSliceFlag:
			f.EnvVars = env
		case *cli.IntFlag:
			f.EnvVars = env
		case *cli.Int64Flag:
			f.EnvVars = env
		case *cli.Uint64Flag:
			f.EnvVars = env
		case *cli.Float64Flag:
			f.EnvVars = env
		case *cli.BoolFlag:
			f.EnvVars = env
		case *cli.DurationFlag:
			f.EnvVars = env
		default:
			panic(fmt.Sprintf("dynago: flag %q has a type withEnv does not know: %T", name, f))
		}
	}
	return flags
}

func hasFlag(cmd *cli.Command, name string) bool {
	for _, f := range cmd.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// jsonOutcomes makes a command with --json print JSON for every outcome:
// when it fails without having printed the node's own JSON (no answer, a
// key not found, bad usage found after the flags were read, not a dynago
// node), it prints {"error", "code", "exit"} on stdout; the message goes
// to stderr as always.
func jsonOutcomes(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		err := action(c)
		var shown *shownAsJSON
		if err == nil || !c.Bool("json") || errors.As(err, &shown) {
			return err
		}
		out := struct {
			Error string `json:"error"`
			Code  string `json:"code"`
			Exit  int    `json:"exit"`
		}{err.Error(), outcomeCode(err), exitCode(err)}
		if jerr := marshalJSON(c, out); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
}

// outcomeCode is the "code" of a failure's JSON when the node gave none.
func outcomeCode(err error) string {
	var ue *usageError
	var nd *notDynago
	switch {
	case errors.As(err, &ue):
		return "bad_usage"
	case errors.As(err, &nd):
		return "not_dynago"
	case errors.Is(err, errNotFound):
		return "not_found"
	case errors.Is(err, client.ErrIndeterminate):
		return "indeterminate"
	case errors.Is(err, client.ErrNoResponse):
		return "no_response"
	}
	return "failed"
}

// positional checks c's positional arguments: at least min, at most max
// (max < 0: unbounded), and none that is one of the command's own flags
// (Go's flag parsing stops at the first argument, so a flag after it would
// silently become an argument).
func positional(c *cli.Context, min, max int, names string) ([]string, error) {
	args := c.Args().Slice()
	for _, a := range args {
		if isOwnFlag(c, a) {
			return nil, usagef(c, "flags must come before arguments: move %q before %s", a, names)
		}
	}
	switch {
	case len(args) < min:
		return nil, usagef(c, "missing argument: usage: dynago %s %s", c.Command.Name, names)
	case max >= 0 && len(args) > max:
		return nil, usagef(c, "unexpected argument %q: usage: dynago %s %s", args[max], c.Command.Name, names)
	}
	return args, nil
}

func isOwnFlag(c *cli.Context, a string) bool {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return false
	}
	name := strings.TrimLeft(a, "-")
	name, _, _ = strings.Cut(name, "=")
	if name == "h" || name == "help" {
		return true
	}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}
