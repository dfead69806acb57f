package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/dynago/dynago/client"
	"github.com/dynago/dynago/node"
	"github.com/dynago/dynago/node/api"
	"github.com/dynago/dynago/node/security"
)

// defaultAddr is where client commands look for a node: the HTTP address
// `dynago agent` and `dynago demo` (node n1) use by default.
const defaultAddr = "http://127.0.0.1:8080"

// The client's wait for a get, put or delete: the server-side timeout it
// asks for (--timeout), or the node's default when it asks for none, plus
// a margin, so the node's own answer (a 503 naming the replicas that did
// not answer) arrives before the client gives up, and a node that does
// not answer at all is reported within seconds, not after the longest
// timeout a node allows.
const (
	// defaultServerTimeout is node.DefaultRequestTimeout, what a node
	// uses when a request names no timeout.
	defaultServerTimeout = node.DefaultRequestTimeout
	// clientMargin covers a forward to the key's coordinator and the
	// answer's trip back on a loaded machine.
	clientMargin = 5 * time.Second
)

// clientTimeoutEnv is the variable every client command's --timeout
// reads: not the agent's DYNAGO_TIMEOUT, so an environment set up for an
// agent does not change how long the CLI waits, and the other way round.
const clientTimeoutEnv = "DYNAGO_CLIENT_TIMEOUT"

// clientFlags are the flags every client command has.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "addr", Value: defaultAddr, Usage: "`URL` of the node to talk to; for get, put and delete any node will do (where agent and demo n1 listen)"},
		&cli.BoolFlag{Name: "json", Usage: "print the server's JSON instead of human-readable output (for scripts)"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print the X-Dynago-Report consistency header to stderr"},
		&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` for a node started with --token-file (`dynago token create` makes one; empty: none, as nodes without authentication need); prefer DYNAGO_TOKEN, which stays out of the process list"},
		// TLS (an https:// --addr): node/security.ClientConfig.
		&cli.StringFlag{Name: "ca-cert", Usage: "PEM `FILE` of the CA to trust for an https:// --addr (empty: the system's roots)"},
		&cli.StringFlag{Name: "client-cert", Usage: "PEM `FILE` of the client certificate to present to a node that requires one (with --client-key; empty: none)"},
		&cli.StringFlag{Name: "client-key", Usage: "PEM `FILE` of --client-cert's key"},
	}
}

// kvTimeoutFlag is --timeout of get, put and delete.
func kvTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", EnvVars: []string{clientTimeoutEnv},
		Usage: "server-side request timeout, e.g. `2s`, sent as ?timeout= in ms; the CLI waits 5s longer for the answer (0: the node's own --timeout, and the CLI waits 5s past the agent's default 5s)"}
}

// adminTimeoutFlag is --timeout of the cluster commands.
func adminTimeoutFlag() cli.Flag {
	return &cli.DurationFlag{Name: "timeout", Value: 30 * time.Second, EnvVars: []string{clientTimeoutEnv}, Usage: "how long to wait for the node's answer, e.g. `30s` (joins and removals gossip before answering)"}
}

// newClient returns a client for --addr whose HTTP timeout is d.
func newClient(c *cli.Context, d time.Duration) (*client.Client, error) {
	hc, err := httpClient(c, d)
	if err != nil {
		return nil, err
	}
	cl, err := client.New([]string{c.String("addr")}, client.WithHTTPClient(hc), client.WithToken(c.String("token")))
	if err != nil {
		return nil, usagef(c, "--addr: %v", err)
	}
	return cl, nil
}

// httpClient returns the HTTP client of --ca-cert, --client-cert and
// --client-key whose timeout is d (0: none).
func httpClient(c *cli.Context, d time.Duration) (*http.Client, error) {
	hc := &http.Client{Timeout: d}
	if c.String("ca-cert") != "" || c.String("client-cert") != "" || c.String("client-key") != "" {
		tc, err := security.ClientConfig(c.String("ca-cert"), c.String("client-cert"), c.String("client-key"))
		if err != nil {
			return nil, usagef(c, "%v", err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		hc.Transport = tr
	}
	return hc, nil
}

// kvHTTPTimeout is how long a get/put/delete waits: a little more than the
// server-side timeout, so the server's 503 arrives before our own timeout.
func kvHTTPTimeout(server time.Duration) time.Duration {
	if server <= 0 {
		server = defaultServerTimeout
	}
	return server + clientMargin
}

// quorumParam checks an r/w/pr/pw value: empty (node default), one,
// quorum, all, or an integer >= min.
func quorumParam(c *cli.Context, name string, min int) (client.Count, error) {
	v := client.Count(c.String(name))
	switch v {
	case client.Default, client.One, client.Quorum, client.All:
		return v, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < min {
		return "", usagef(c, "--%s %q: want an integer >= %d, one, quorum or all", name, v, min)
	}
	return v, nil
}

// keyArgs checks a key command's arguments: a valid KEY first, at most max
// in all.
func keyArgs(c *cli.Context, max int, usage string) ([]string, error) {
	args, err := positional(c, 1, max, usage)
	if err != nil {
		return nil, err
	}
	if err := checkKey(c, args[0]); err != nil {
		return nil, err
	}
	return args, nil
}

func checkKey(c *cli.Context, key string) error {
	if len(key) == 0 || len(key) > api.MaxKeyBytes {
		return usagef(c, "a key must be 1 to %d bytes, got %d", api.MaxKeyBytes, len(key))
	}
	return nil
}

// report prints the consistency report in verbose mode.
func report(c *cli.Context, r string) {
	if c.Bool("verbose") && r != "" {
		fmt.Fprintf(c.App.ErrWriter, "report: %s\n", r)
	}
}

// requestFailed reports a failed request: the report header (verbose), the
// server's JSON body on stdout in --json mode, and the error, which says
// what the failure means for the data: a write refused before anything
// was written (definite: retrying is safe) is told from one that may have
// been stored (indeterminate). A request the node refused as malformed
// (400) is bad usage (exit 2), as the same mistake caught before sending
// is; an answer from something that is not a dynago node is notDynago.
func requestFailed(c *cli.Context, what string, err error) error {
	if nd := checkDynago(c, nil, err); nd != nil {
		return nd
	}
	var se *client.Error
	if errors.As(err, &se) {
		report(c, se.Report)
		if c.Bool("json") && len(se.Body) > 0 && json.Valid(se.Body) {
			writeJSON(c, se.Body)
			err = &shownAsJSON{err}
		}
		switch {
		case se.Status == http.StatusBadRequest && isErrorShape(se.Body):
			return &usageError{cmd: commandName(c), err: fmt.Errorf("%s: %w\nthe node refused the request as malformed (a parameter, the key or the context): nothing happened", what, err)}
		case se.Status == http.StatusUnauthorized:
			return fmt.Errorf("%s: %w\nthe node requires a token: set --token or DYNAGO_TOKEN (an operator makes one with `dynago token create`)", what, err)
		case se.Status == http.StatusForbidden:
			return fmt.Errorf("%s: %w\nthe token's role does not allow this (read: get; write: also put and delete; admin: cluster and debug commands): set --token or DYNAGO_TOKEN to a token with that role", what, err)
		}
		if errors.Is(err, client.ErrDiskFull) {
			outcome := "nothing was written"
			if errors.Is(err, client.ErrIndeterminate) {
				outcome = "the write is indeterminate: it is stored on some replicas and may appear later"
			}
			full := "the node's disk is"
			if len(se.Details.DiskFull) > 0 {
				full = "the disks of " + strings.Join(se.Details.DiskFull, ", ") + " are"
			}
			return fmt.Errorf("%s: %w\n%s full (below the free space reserve, --disk-reserve): %s; writes succeed again once space is freed (reads go on)", what, err, full, outcome)
		}
	}
	isWrite := se != nil && (se.Method == http.MethodPut || se.Method == http.MethodDelete)
	switch {
	case isWrite && errors.Is(err, client.ErrUnavailable):
		return fmt.Errorf("%s: %w\nthe write failed before anything was written (definite): retrying is safe", what, err)
	case errors.Is(err, client.ErrIndeterminate):
		if timedOut(err) {
			return fmt.Errorf("%s: %w\nno answer within %s (--timeout, or the node's default %s, plus %s); the write is indeterminate: it may be stored on some replicas and may appear later",
				what, err, kvHTTPTimeout(c.Duration("timeout")), defaultServerTimeout, clientMargin)
		}
		return fmt.Errorf("%s: %w\nthe write is indeterminate: it may be stored on some replicas and may appear later", what, err)
	case timedOut(err):
		return fmt.Errorf("%s: %w\nthe node did not answer in time (raise --timeout or %s)", what, err, clientTimeoutEnv)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// timedOut reports whether err is the client's own timeout (no answer in
// time), not an answer.
func timedOut(err error) bool {
	var te interface{ Timeout() bool }
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
}

// shownAsJSON is an error whose JSON form --json already printed (the
// node's own body), so jsonOutcomes does not print another.
type shownAsJSON struct{ error }

func (e *shownAsJSON) Unwrap() error { return e.error }

// notDynago is an answer from something that is not a dynago node: every
// answer a node gives carries X-Dynago-Report, and its errors are the
// contract's JSON. Exit code 3, so a script tells a wrong --addr from a
// key that is not there.
type notDynago struct {
	addr   string
	status int
	body   string
}

func (e *notDynago) Error() string {
	return fmt.Sprintf("%s is not a dynago node: it answered %d %s without dynago's X-Dynago-Report header (body: %q); check --addr or DYNAGO_ADDR",
		e.addr, e.status, http.StatusText(e.status), e.body)
}

// checkDynago returns a *notDynago when the answer (res on success, or
// err's *client.Error) did not come from a dynago node, else nil.
func checkDynago(c *cli.Context, res *client.Response, err error) error {
	var status int
	var body []byte
	var se *client.Error
	var de *client.DecodeError
	switch {
	case errors.As(err, &de) && de.Response != nil:
		// A 2xx answer to an admin request that is not the contract's JSON.
		if de.Response.Report != "" {
			return nil
		}
		status, body = de.Response.Status, de.Response.Body
	case res != nil && err == nil:
		if res.Report != "" {
			return nil
		}
		status, body = res.Status, res.Body
	case errors.As(err, &se):
		if se.Report != "" || isErrorShape(se.Body) || goServerError(se.Status, se.Body) {
			return nil
		}
		status, body = se.Status, se.Body
	default:
		return nil
	}
	b := string(body)
	if len(b) > 80 {
		b = b[:80] + "..."
	}
	return &notDynago{addr: c.String("addr"), status: status, body: b}
}

func responseOf(res *client.Result) *client.Response {
	if res == nil {
		return nil
	}
	return &res.Response
}

// isErrorShape reports whether body is the contract's error JSON:
// {"error": "...", "code": "..."} (an answer a node gave before its routes,
// e.g. a 503 overloaded, has no report header but this body).
func isErrorShape(body []byte) bool {
	var e struct {
		Error *string `json:"error"`
		Code  *string `json:"code"`
	}
	return json.Unmarshal(body, &e) == nil && e.Error != nil && e.Code != nil
}

// goServerError reports whether body is one net/http's server writes
// itself before any handler runs ("431 Request Header Fields Too Large"):
// a dynago node answers those too.
func goServerError(status int, body []byte) bool {
	return strings.HasPrefix(string(body), strconv.Itoa(status)+" "+http.StatusText(status)) ||
		// A node serving HTTPS, asked over plain HTTP (crypto/tls's answer).
		strings.HasPrefix(string(body), "Client sent an HTTP request to an HTTPS server")
}

// writeJSON prints a JSON document on its own line.
func writeJSON(c *cli.Context, b []byte) {
	w := c.App.Writer
	_, _ = w.Write(b)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		_, _ = io.WriteString(w, "\n")
	}
}

func marshalJSON(c *cli.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeJSON(c, b)
	return nil
}

// errNotFound is the failure of a get (or delete) of a key with no live value.
var errNotFound = errors.New("not found")

func getCommand() *cli.Command {
	return &cli.Command{
		Name:      "get",
		Usage:     "read a key",
		ArgsUsage: "KEY",
		Description: "Prints the value raw on stdout and its causal context on stderr (\"context: TOKEN\"; pass it to\n" +
			"put --context or delete --context). Concurrent values (siblings, HTTP 300) are listed with the context\n" +
			"that resolves them. A missing key prints \"not found\" and exits 1. --json prints the server's JSON\n" +
			"({\"found\", \"context\", \"siblings\": [{\"value\": base64}]}).",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "r", Usage: "`R` replies to wait for: 1..N, one, quorum or all (empty: the node's --r)"},
			&cli.StringFlag{Name: "pr", Usage: "`PR`: how many replies must come from primary replicas (empty: the node's --pr)"},
			kvTimeoutFlag(),
		),
		Action: doGet,
	}
}

func doGet(c *cli.Context) error {
	args, err := keyArgs(c, 1, "KEY")
	if err != nil {
		return err
	}
	key := args[0]
	p := client.ReadOptions{Timeout: c.Duration("timeout"), AcceptJSON: c.Bool("json")}
	if p.R, err = quorumParam(c, "r", 1); err != nil {
		return err
	}
	if p.PR, err = quorumParam(c, "pr", 0); err != nil {
		return err
	}
	cl, err := newClient(c, kvHTTPTimeout(p.Timeout))
	if err != nil {
		return err
	}
	asJSON := p.AcceptJSON
	res, err := cl.Get(c.Context, key, &p)
	if nd := checkDynago(c, responseOf(res), err); nd != nil {
		return nd
	}
	var notFound *client.Error
	switch {
	case errors.Is(err, client.ErrNotFound) && errors.As(err, &notFound):
		// An outcome, not a failed request: the key has no live value.
		report(c, notFound.Report)
		if asJSON {
			if len(notFound.Body) > 0 && json.Valid(notFound.Body) {
				writeJSON(c, notFound.Body)
			} else if err := marshalJSON(c, getOutput(false, notFound.Context, nil)); err != nil {
				return err
			}
			return &shownAsJSON{fmt.Errorf("get %s: %w", key, errNotFound)}
		} else if notFound.Context != "" {
			fmt.Fprintf(c.App.ErrWriter, "context: %s\n", notFound.Context)
		}
		return fmt.Errorf("get %s: %w", key, errNotFound)
	case err != nil:
		return requestFailed(c, "get "+key, err)
	}
	report(c, res.Report)
	if asJSON {
		if res.Status == http.StatusOK && len(res.Siblings) == 1 && !json.Valid(res.Body) {
			// The server answered raw despite Accept: JSON; give scripts JSON anyway.
			if err := marshalJSON(c, getOutput(true, res.Context, res.Siblings)); err != nil {
				return err
			}
		} else if len(res.Body) > 0 {
			writeJSON(c, res.Body)
		} else if err := marshalJSON(c, getOutput(true, res.Context, res.Siblings)); err != nil {
			return err
		}
		return nil
	}
	w, ew := c.App.Writer, c.App.ErrWriter
	switch {
	case len(res.Siblings) == 1:
		_, _ = w.Write(res.Siblings[0])
		fmt.Fprintf(ew, "context: %s\n", res.Context)
	default:
		fmt.Fprintf(w, "%d siblings (concurrent values) of %q:\n", len(res.Siblings), key)
		for i, v := range res.Siblings {
			fmt.Fprintf(w, "--- sibling %d (%d bytes)\n%s\n", i+1, len(v), printable(v))
		}
		fmt.Fprintf(w, "context: %s\n", res.Context)
		fmt.Fprintf(w, "resolve with: dynago put --context %s %s VALUE\n", res.Context, shellQuote(key))
	}
	return nil
}

// getOutput is the JSON form of a read (the contract's Accept: JSON shape).
func getOutput(found bool, vctx string, values [][]byte) api.Object {
	out := api.Object{Found: found, Context: vctx, Siblings: []api.Sibling{}}
	for _, v := range values {
		out.Siblings = append(out.Siblings, api.Sibling{Value: v})
	}
	return out
}

// printable returns v as text when it is UTF-8 without control characters
// (other than newline and tab), else "base64:" and its encoding.
func printable(v []byte) string {
	if utf8.Valid(v) {
		ok := true
		for _, r := range string(v) {
			if unicode.IsControl(r) && r != '\n' && r != '\t' {
				ok = false
				break
			}
		}
		if ok {
			return string(v)
		}
	}
	return "base64:" + base64.StdEncoding.EncodeToString(v)
}

// shellQuote quotes s for a copy-pasted shell command when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_' || r == '.' || r == '/' || r == ':') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

func putCommand() *cli.Command {
	return &cli.Command{
		Name:      "put",
		Usage:     "write a value",
		ArgsUsage: "KEY [VALUE|-]",
		Description: "Writes VALUE under KEY; with VALUE '-' or absent, the value is read from stdin. Pass the context of\n" +
			"the read you are updating with --context: without it the write is blind and becomes a sibling of any\n" +
			"value it did not see. Prints the new context. A failed write says which of two kinds it is: \"definite\"\n" +
			"(503 unavailable: too few replicas were alive, so nothing was written; retrying is safe) or\n" +
			"\"indeterminate\" (503 write_indeterminate, or no answer in time: it may be stored on some replicas and\n" +
			"may appear later; read before retrying a write that must not apply twice). Both exit 1.",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "w", Usage: "`W` acks to wait for: 1..N, one, quorum or all (empty: the node's --w)"},
			&cli.StringFlag{Name: "pw", Usage: "`PW`: how many acks must come from primary replicas (empty: the node's --pw)"},
			&cli.StringFlag{Name: "context", Usage: "causal context `TOKEN` from a get: the versions this write supersedes (empty: a blind write)"},
			kvTimeoutFlag(),
		),
		Action: doPut,
	}
}

// writeParams reads a write's flags (not --context).
func writeParams(c *cli.Context) (client.WriteOptions, error) {
	p := client.WriteOptions{Timeout: c.Duration("timeout")}
	var err error
	if p.W, err = quorumParam(c, "w", 1); err != nil {
		return p, err
	}
	p.PW, err = quorumParam(c, "pw", 0)
	return p, err
}

func doPut(c *cli.Context) error {
	args, err := keyArgs(c, 2, "KEY [VALUE|-]")
	if err != nil {
		return err
	}
	key := args[0]
	p, err := writeParams(c)
	if err != nil {
		return err
	}
	var value []byte
	if len(args) == 2 && args[1] != "-" {
		value = []byte(args[1])
	} else {
		if value, err = io.ReadAll(c.App.Reader); err != nil {
			return fmt.Errorf("put %s: reading the value from stdin: %w", key, err)
		}
	}
	cl, err := newClient(c, kvHTTPTimeout(p.Timeout))
	if err != nil {
		return err
	}
	p.Context = c.String("context")
	res, err := cl.Put(c.Context, key, value, &p)
	if err != nil {
		return requestFailed(c, "put "+key, err)
	}
	if nd := checkDynago(c, res, nil); nd != nil {
		return nd
	}
	report(c, res.Report)
	return writeResult(c, res, "stored")
}

// writeResult prints the outcome of a successful put or delete.
func writeResult(c *cli.Context, res *client.Response, done string) error {
	if c.Bool("json") {
		if json.Valid(res.Body) && len(res.Body) > 0 {
			writeJSON(c, res.Body)
			return nil
		}
		return marshalJSON(c, struct {
			Status  int    `json:"status"`
			Context string `json:"context"`
			Report  string `json:"report"`
		}{res.Status, res.Context, res.Report})
	}
	if res.Context != "" {
		fmt.Fprintf(c.App.Writer, "%s; context: %s\n", done, res.Context)
	} else {
		fmt.Fprintln(c.App.Writer, done)
	}
	return nil
}

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a key",
		ArgsUsage: "KEY",
		Description: "Writes a tombstone that supersedes the versions the context covers. Without --context, delete first\n" +
			"reads the key (with --r) and deletes what that read saw; a key with no live value is \"not found\" (exit 1).",
		Flags: append(clientFlags(),
			&cli.StringFlag{Name: "context", Usage: "causal context `TOKEN` of the versions to delete (empty: read the key first and use its context)"},
			&cli.StringFlag{Name: "w", Usage: "`W` acks to wait for: 1..N, one, quorum or all (empty: the node's --w)"},
			&cli.StringFlag{Name: "pw", Usage: "`PW`: how many acks must come from primary replicas (empty: the node's --pw)"},
			&cli.StringFlag{Name: "r", Usage: "without --context: `R` replies the preliminary read waits for (empty: the node's --r)"},
			kvTimeoutFlag(),
		),
		Action: doDelete,
	}
}

func doDelete(c *cli.Context) error {
	args, err := keyArgs(c, 1, "KEY")
	if err != nil {
		return err
	}
	key := args[0]
	p, err := writeParams(c)
	if err != nil {
		return err
	}
	r, err := quorumParam(c, "r", 1)
	if err != nil {
		return err
	}
	cl, err := newClient(c, kvHTTPTimeout(p.Timeout))
	if err != nil {
		return err
	}
	p.Context = c.String("context")
	if p.Context == "" {
		res, err := cl.Get(c.Context, key, &client.ReadOptions{R: r, Timeout: p.Timeout})
		if nd := checkDynago(c, responseOf(res), err); nd != nil {
			return nd
		}
		var notFound *client.Error
		switch {
		case errors.Is(err, client.ErrNotFound) && errors.As(err, &notFound):
			report(c, notFound.Report)
			return fmt.Errorf("delete %s: %w (nothing to delete)", key, errNotFound)
		case err != nil:
			return requestFailed(c, "delete "+key+": reading its context", err)
		}
		report(c, res.Report)
		p.Context = res.Context
		if c.Bool("verbose") {
			fmt.Fprintf(c.App.ErrWriter, "deleting %d version(s) seen with context %s\n", len(res.Siblings), p.Context)
		}
	}
	res, err := cl.Delete(c.Context, key, &p)
	if err != nil {
		return requestFailed(c, "delete "+key, err)
	}
	if nd := checkDynago(c, res, nil); nd != nil {
		return nd
	}
	report(c, res.Report)
	return writeResult(c, res, "deleted")
}
