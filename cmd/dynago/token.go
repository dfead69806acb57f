package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/node/auth"
)

// tokenCommand is `dynago token create`: client tokens for nodes run
// with --token-file (README "Tokens and roles").
func tokenCommand() *cli.Command {
	create := &cli.Command{
		Name:      "create",
		Usage:     "make a new client token, print it once, and append its hash to a token file",
		UsageText: "dynago token create --role ROLE --name NAME --token-file FILE",
		Description: "Prints a new random token (256 bits) on stdout, once: the token file keeps only its SHA-256 hash,\n" +
			"so store the token now. The file is created with mode 0600 if missing. Running agents pick the new\n" +
			"token up on SIGHUP (kill -HUP <pid>).",
		Flags: withEnv([]cli.Flag{
			&cli.StringFlag{Name: "role", Usage: "`ROLE`: read (GET keys), write (also PUT and DELETE keys) or admin (everything: cluster operations, /debug/*)"},
			&cli.StringFlag{Name: "name", Usage: "principal `NAME` that logs and the audit log show for the token's requests (letters, digits, ._@:-)"},
			&cli.StringFlag{Name: "token-file", Aliases: []string{"file"}, Usage: "token `FILE` to append to, the one agents read with --token-file"},
		}),
		OnUsageError: onUsageError,
		Action:       runTokenCreate,
	}
	return &cli.Command{
		Name:        "token",
		Usage:       "manage client tokens (token create)",
		Subcommands: []*cli.Command{create},
		Action: func(c *cli.Context) error {
			return usagef(c, "usage: dynago token create --role ROLE --name NAME --token-file FILE")
		},
	}
}

func runTokenCreate(c *cli.Context) error {
	bad := func(format string, args ...any) error {
		return &usageError{cmd: "token", err: fmt.Errorf(format, args...)}
	}
	if c.NArg() > 0 {
		return bad("token create takes no arguments, got %q (flags need a leading --)", c.Args().First())
	}
	role, err := auth.ParseRole(c.String("role"))
	if err != nil {
		return bad("--role %q: want read, write or admin", c.String("role"))
	}
	name, file := c.String("name"), c.String("token-file")
	if err := auth.CheckName(name); err != nil {
		return bad("--name: %v", err)
	}
	if file == "" {
		return bad("--token-file is required (or DYNAGO_TOKEN_FILE): the file agents read")
	}
	tok := auth.NewToken()
	if err := auth.Append(file, tok, role, name); err != nil {
		return fmt.Errorf("token create: %w", err)
	}
	fmt.Fprintln(c.App.Writer, tok)
	fmt.Fprintf(c.App.ErrWriter, "dynago: a token with role %s for %q was added to %s; it is shown only now (the file keeps its hash). "+
		"Send running agents SIGHUP to load it; clients pass it with --token or DYNAGO_TOKEN.\n", role, name, file)
	return nil
}

// openTokenFile opens the agent's --token-file; a file others may read
// is only warned about (it holds hashes, but who may do what is the
// operator's business).
func openTokenFile(path string, log *slog.Logger) (*auth.Authenticator, error) {
	a, err := auth.Open(path)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the token file may be read by other users; chmod 600 it", "file", path, "mode", fi.Mode().Perm().String())
	}
	return a, nil
}

// reloadTokens reloads the token file (on SIGHUP) and logs the outcome:
// a file that fails to load keeps the tokens in use, and the log says
// why.
func reloadTokens(a *auth.Authenticator, log *slog.Logger) error {
	if err := a.Reload(); err != nil {
		log.Error("token file refused; keeping the previous tokens", "file", a.Path(), "err", err)
		return err
	}
	log.Info("token file reloaded", "file", a.Path(), "tokens", a.Tokens())
	return nil
}

// watchSIGHUP reloads a's file on every SIGHUP until the returned stop
// is called (which waits for its goroutine).
func watchSIGHUP(a *auth.Authenticator, log *slog.Logger) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				_ = reloadTokens(a, log)
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		cancel()
		<-done
	}
}
